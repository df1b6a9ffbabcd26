"""Item 1: a full disk while logging loses no paid answer, stops sending calls and says why in one error.

The disk is made full for real: ``PRAGMA max_page_count`` caps the log file, so SQLite itself raises
SQLITE_FULL ("database or disk is full") at the write, exactly as on a full filesystem.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import workbench as wb
from workbench import testing
from workbench._types import Request, Response

CELLS = 60
CONCURRENCY = 4


def _make_full_after(log: wb.RunLog, pages: int) -> None:
    """Cap the log's writing connection at ``pages`` more pages: the next write past them gets SQLITE_FULL."""
    used = log._conn.execute("PRAGMA page_count").fetchone()[0]
    log._conn.execute(f"PRAGMA max_page_count={used + pages}")


def _rows(path: Path, experiment_id: str) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT COUNT(*) FROM calls WHERE experiment_id = ? AND status = 'ok'",
                           (experiment_id,)).fetchone()[0]
    finally:
        con.close()


def _experiment(runner: wb.Runner, model: str, name: str) -> wb.Experiment:
    cases = pd.DataFrame({"q": [f"question {i}" for i in range(CELLS)]})
    return wb.Experiment(wb.Prompt(user="{q}"), models=model, cases=cases, name=name, runner=runner)


def test_record_on_a_full_disk_names_the_real_cause_and_keeps_the_row(tmp_path):
    log = wb.RunLog(tmp_path / "runs.sqlite")
    _make_full_after(log, 0)
    request = Request("mock:x", ({"role": "user", "content": "hi"},), wb.Params())
    with pytest.raises(wb.RunLogError) as err:
        log.record(request, Response(text="paid answer " * 500, model="mock:x", provider="mock"))
    message = str(err.value)
    assert "database or disk is full" in message and "Fix" in message
    assert "cannot rollback" not in message  # the rollback no longer hides the cause
    assert err.value.unsaved_path is not None and Path(err.value.unsaved_path).exists()
    assert "paid answer" in Path(err.value.unsaved_path).read_text()
    log._conn.execute("PRAGMA max_page_count=1073741823")  # space again
    log.close()  # writes what it kept
    assert sqlite3.connect(tmp_path / "runs.sqlite").execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 1
    assert not Path(err.value.unsaved_path).exists()


def test_full_disk_during_an_experiment_loses_nothing_and_stops_calling(tmp_path, capsys):
    path = tmp_path / "runs.sqlite"
    log = wb.RunLog(path)
    runner = wb.Runner(log=log, concurrency=CONCURRENCY, progress=False)
    model = testing.script("big", default=lambda messages, params: "answer " * 800)  # ~5.6 kB a row
    exp = _experiment(runner, model, "full")
    log.save_experiment("full", "full", exp.config())
    _make_full_after(log, 16)  # room for a few rows, then SQLITE_FULL

    with pytest.raises(wb.RunLogError) as err:
        exp.run(progress=False, verbose=False)
    paid = len(testing.calls("big"))
    logged = _rows(path, "full")
    message = str(err.value)
    with capsys.disabled():
        print(f"\ndisk full: {paid} calls paid of {CELLS}, {logged} logged before the disk filled, "
              f"{paid - logged} kept in memory and in {err.value.unsaved_path}")
    assert "database or disk is full" in message and "Fix" in message and "cannot rollback" not in message
    assert 0 < logged < CELLS
    # no call starts once the log has failed: only the calls already in flight were paid on top
    assert paid <= logged + CONCURRENCY
    # every answer that could not be written is in the fallback file named in the error
    unsaved = [json.loads(line) for line in Path(err.value.unsaved_path).read_text().splitlines()]
    assert len([u for u in unsaved if u["table"] == "calls"]) == paid - logged
    assert str(err.value.unsaved_path) in message

    # space again: the rerun writes what was kept first and pays only for the cells never called
    log._conn.execute("PRAGMA max_page_count=1073741823")
    results = exp.run(progress=False, verbose=False)
    assert results["error"].isna().all() and len(results) == CELLS
    assert len(testing.calls("big")) == CELLS  # each cell paid exactly once
    assert _rows(path, "full") == CELLS
    assert not Path(err.value.unsaved_path).exists()


CHILD = textwrap.dedent("""
    import sys, time
    import pandas as pd
    import workbench as wb
    from workbench import testing
    log = wb.RunLog(sys.argv[1])
    runner = wb.Runner(log=log, concurrency=4, progress=False)
    model = testing.script("big", default=lambda messages, params: "answer " * 800)
    cases = pd.DataFrame({"q": [f"question {i}" for i in range(60)]})
    exp = wb.Experiment(wb.Prompt(user="{q}"), models=model, cases=cases, name="killed", runner=runner)
    log.save_experiment("killed", "killed", exp.config())
    used = log._conn.execute("PRAGMA page_count").fetchone()[0]
    log._conn.execute(f"PRAGMA max_page_count={used + 16}")
    try:
        exp.run(progress=False, verbose=False)
    except wb.RunLogError:
        print(len(testing.calls("big")), flush=True)
    time.sleep(600)  # killed here, before anything else could be written
""")


def test_answers_kept_after_a_full_disk_survive_a_killed_process(tmp_path):
    path = tmp_path / "runs.sqlite"
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = child.stdout.readline()
        assert line.strip().isdigit(), f"the child did not get a RunLogError (printed {line!r})"
        paid_by_child = int(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert 0 < _rows(path, "killed") < paid_by_child  # some answers were only in memory and the fallback file

    # a new session on the same log picks the fallback file up: the rerun pays only for the rest
    runner = wb.Runner(log=wb.RunLog(path), concurrency=4, progress=False)
    model = testing.script("big", default=lambda messages, params: "answer " * 800)  # the same model as the child's
    before = len(testing.calls("big"))
    cases = pd.DataFrame({"q": [f"question {i}" for i in range(60)]})
    exp = wb.Experiment(wb.Prompt(user="{q}"), models=model, cases=cases, name="killed", runner=runner)
    results = exp.run(progress=False, verbose=False)
    assert results["error"].isna().all()
    assert len(testing.calls("big")) - before == CELLS - paid_by_child
    assert _rows(path, "killed") == CELLS


def test_a_single_call_on_a_full_disk_hands_its_answer_over_and_the_next_is_not_sent(tmp_path):
    from workbench._portal import run_sync

    log = wb.RunLog(tmp_path / "runs.sqlite")
    runner = wb.Runner(log=log, progress=False)
    model = testing.script("single-full", default=lambda messages, params: "paid answer " * 500)
    request = runner.prepare(model, wb.Prompt(user="hi"))
    _make_full_after(log, 0)
    with pytest.raises(wb.RunLogError) as err:
        run_sync(runner.call(request))
    assert [r.text for r in err.value.responses] == ["paid answer " * 500]  # the caller has the answer
    assert "database or disk is full" in str(err.value)
    with pytest.raises(wb.RunLogError):
        run_sync(runner.call(runner.prepare(model, wb.Prompt(user="again"))))
    assert len(testing.calls("single-full")) == 1  # the second call was never sent


def test_a_playground_whose_log_fills_up_shows_the_paid_answer_and_the_log_error(tmp_path):
    """The answer was paid for: the Playground shows it, with the log's failure (and its fix) beside it."""
    from workbench.state import PlaygroundState

    log = wb.RunLog(tmp_path / "runs.sqlite")
    runner = wb.Runner(log=log, progress=False)
    model = testing.script("playground-full", default=lambda messages, params: "the paid answer " * 300)
    state = PlaygroundState("Say it", model, runner=runner)
    _make_full_after(log, 0)
    state.run(timeout=30)
    assert state.answer.text == "the paid answer " * 300
    assert state.answer.error is not None and "database or disk is full" in state.answer.error
    assert "Fix" in state.answer.error
