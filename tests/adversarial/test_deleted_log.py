"""Item 2: a log file deleted or replaced during a run is noticed, and a new log keeps what was logged."""

from __future__ import annotations

import os
import sqlite3

import pandas as pd
import pytest

import workbench as wb
from workbench import testing

CELLS = 20


def _experiment(runner: wb.Runner, model: str) -> wb.Experiment:
    cases = pd.DataFrame({"q": [f"question {i}" for i in range(CELLS)]})
    return wb.Experiment(wb.Prompt(user="{q}"), models=model, cases=cases, name="gone", runner=runner)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_log_deleted_or_replaced_mid_run_is_rebuilt_and_a_rerun_pays_nothing(tmp_path, how):
    path = tmp_path / "runs.sqlite"
    spare = tmp_path / "spare.sqlite"
    wb.RunLog(spare).close()  # an empty workbench log, to put in the old one's place
    runner = wb.Runner(log=wb.RunLog(path), concurrency=2, progress=False)

    name = f"gone-{how}"

    def answer(messages, params):
        if len(testing.calls(name)) == CELLS // 2:  # half-way through, someone cleans up
            if how == "deleted":
                for f in tmp_path.glob("runs.sqlite*"):
                    f.unlink()
            else:
                os.replace(spare, path)
        return "fine"

    model = testing.script(name, default=answer)
    with pytest.warns(RuntimeWarning, match=how) as warned:
        _experiment(runner, model).run(progress=False, verbose=False)
    assert len([w for w in warned if issubclass(w.category, RuntimeWarning)]) == 1  # warned once
    assert len(testing.calls(name)) == CELLS

    # a new session (a fresh log object on the same path) finds every answer: nothing is called again
    fresh = wb.Runner(log=wb.RunLog(path), progress=False)
    results = _experiment(fresh, model).run(progress=False, verbose=False)
    assert results["error"].isna().all() and results["cached"].all() is not None
    assert len(testing.calls(name)) == CELLS
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM calls WHERE experiment_id='gone'").fetchone()[0] == CELLS
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_log_replaced_by_a_foreign_database_keeps_every_row_and_says_where(tmp_path):
    from workbench._types import Request, Response

    path = tmp_path / "runs.sqlite"
    log = wb.RunLog(path)
    request = Request("mock:x", ({"role": "user", "content": "hi"},), wb.Params())
    log.record(request, Response(text="first", model="mock:x", provider="mock"), experiment_id="e", cell_key="a")
    foreign = tmp_path / "shop.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.commit()
    con.close()
    os.replace(foreign, path)
    with pytest.raises(wb.RunLogError) as err:
        log.record(request, Response(text="second", model="mock:x", provider="mock"), experiment_id="e",
                   cell_key="b")
    assert "another program" in str(err.value) and "recovered" in str(err.value)
    assert set(log.experiment_results("e")) == {"a", "b"}  # the old rows (kept copy) and the unwritten one
    # the foreign file goes away again: the next write rebuilds the log with both rows
    os.remove(path)
    with pytest.warns(RuntimeWarning, match="replaced"):
        log.flush()
    con = sqlite3.connect(path)
    assert sorted(r[0] for r in con.execute("SELECT cell_key FROM calls")) == ["a", "b"]
