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
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
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
