"""Item 4: two processes running the same experiment on one log pay once per cell, not twice."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import workbench as wb
from tests.fakeserver import FakeServer

CELLS = 40

CHILD = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    import pandas as pd
    import workbench as wb
    path, url, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    os.environ["OPENAI_BASE_URL"] = url
    wb.set_key("OPENAI_API_KEY", "test-key")
    runner = wb.Runner(log=wb.RunLog(path), concurrency=4, progress=False)
    cases = pd.DataFrame({"q": [f"question {i}" for i in range(40)]})
    exp = wb.Experiment(wb.Prompt(user="{q}"), models="openai:gpt-4o-mini", cases=cases, name="shared",
                        runner=runner)
    while not go.exists():  # both processes start together
        time.sleep(0.005)
    results = exp.run(progress=False, verbose=False)
    print(json.dumps({"rows": len(results), "errors": int(results["error"].notna().sum()),
                      "ok": sorted(results["output"].dropna())}), flush=True)
""")


def test_two_processes_on_one_experiment_pay_once_per_cell(tmp_path, capsys):
    import json

    path = tmp_path / "runs.sqlite"
    wb.RunLog(path).close()
    go = tmp_path / "go"
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    with FakeServer(latency=0.05) as server:
        children = [subprocess.Popen([sys.executable, "-c", CHILD, str(path), server.openai_base_url, str(go)],
                                     stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
        time.sleep(0.5)
        go.touch()
        outputs = [json.loads(child.communicate(timeout=180)[0]) for child in children]
        requests = server.stats["requests"]
    with capsys.disabled():
        print(f"\ntwo processes, {CELLS} cells: {requests} requests reached the server")
    assert [c.returncode for c in children] == [0, 0]
    expected = sorted(f"Echo: question {i}" for i in range(CELLS))
    for out in outputs:  # each process got every answer...
        assert out["rows"] == CELLS and out["errors"] == 0 and out["ok"] == expected
    assert requests == CELLS  # ...and each cell was paid for once (80 before)


def _claim(path, experiment_id: str, cell_key: str, owner: str, expires_at: float) -> None:
    import sqlite3

    con = sqlite3.connect(path)
    with con:
        con.execute("INSERT INTO claims VALUES (?, ?, ?, 'then', ?)", (experiment_id, cell_key, owner, expires_at))
    con.close()


def test_claims_of_a_dead_owner_or_past_their_lease_are_taken_over(tmp_path):
    import socket

    import pandas as pd

    from workbench import testing

    path = tmp_path / "runs.sqlite"
    runner = wb.Runner(log=wb.RunLog(path), progress=False)
    model = testing.script("stale-claims", default="fine")
    exp = wb.Experiment(wb.Prompt(user="{q}"), models=model, cases=pd.DataFrame({"q": list("abcd")}),
                        name="stale", runner=runner)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _claim(path, "stale", exp.cells[0].key, f"{socket.gethostname()}|{dead.pid}|gone", time.time() + 3600)
    _claim(path, "stale", exp.cells[1].key, "another-host|1|far", time.time() - 1)  # lease ran out
    started = time.monotonic()
    results = exp.run(progress=False, verbose=False)
    assert results["error"].isna().all() and len(testing.calls("stale-claims")) == 4
    assert time.monotonic() - started < 20  # taken over at once, not after a lease
    assert runner.run_log.claims().empty  # every claim was released with its row


def test_a_cell_claimed_by_a_live_owner_is_waited_for_and_its_answer_reused(tmp_path):
    import socket
    import threading

    import pandas as pd

    from workbench import testing

    path = tmp_path / "runs.sqlite"
    runner = wb.Runner(log=wb.RunLog(path), progress=False)
    model = testing.script("live-claim", default="mine")
    exp = wb.Experiment(wb.Prompt(user="{q}"), models=model, cases=pd.DataFrame({"q": list("abcd")}),
                        name="live", runner=runner)
    cell = exp.cells[0]
    # another owner (alive: this very process, another token) is calling cell 0 and logs it after 1 s
    _claim(path, "live", cell.key, f"{socket.gethostname()}|{os.getpid()}|other", time.time() + 3600)
    other = wb.RunLog(path)

    def finish_elsewhere() -> None:
        time.sleep(1.0)
        other.record(cell.request, wb.Response(text="theirs", model=model, provider="mock"),
                     experiment_id="live", cell_key=cell.key)

    threading.Thread(target=finish_elsewhere, daemon=True).start()
    results = exp.run(progress=False, verbose=False)
    assert len(testing.calls("live-claim")) == 3  # cell 0 was not paid for again
    assert results.loc[results["q"] == "a", "output"].item() == "theirs"
    assert results["error"].isna().all()
