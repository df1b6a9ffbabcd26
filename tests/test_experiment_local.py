"""Experiments on the embedded SmolLM2 model (it really runs), and resume after a SIGKILL mid-run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import workbench as wb
from tests.fakeserver import FakeServer

REPO = Path(__file__).resolve().parents[1]
LOCAL = "local:smollm2"


@pytest.mark.local_model
def test_experiment_end_to_end_on_the_local_model(runner, log, tmp_path):
    cases = pd.DataFrame({"text": ["I love this film", "This is awful", "What a great day", "I hate waiting"],
                          "expected": ["positive", "negative", "positive", "negative"]})
    vague = wb.Prompt(user="{text}")
    precise = wb.Prompt(system="Classify the sentiment. Answer with one word: positive or negative.",
                        user="Text: {text}\nSentiment:",
                        examples=[("Text: I like it\nSentiment:", "positive"),
                                  ("Text: So bad\nSentiment:", "negative")])
    exp = wb.Experiment({"vague": vague, "precise": precise}, models=LOCAL, params={"temperature": 0, "max_tokens": 8},
                        cases=cases, scorers=[wb.scorers.label_match(["positive", "negative"]),
                                              wb.scorers.word_count(max=3)], runner=runner)
    plan = exp.plan()
    assert plan.calls == 8 and plan.cost_usd == 0.0 and "$0.0000" in repr(plan)
    results = exp.run(progress=False, verbose=False)  # ~2 s on an idle 2-core machine
    assert len(results) == 8 and results["error"].isna().all()
    assert results["output"].str.strip().str.len().gt(0).all()
    assert (results["completion_tokens"] <= 8).all() and (results["latency_s"] > 0).all()
    assert (results["cost_usd"] == 0).all() and results["label_match"].notna().all()
    assert results["label_match_explanation"].str.contains("expected").all()
    assert log.count() == 8
    comparison = wb.compare(results, "vague", "precise", "label_match")
    assert comparison.n == 4 and comparison.verdict
    report = wb.report_html(results, tmp_path / "local.html")
    assert report.read_text().count("data:image/png;base64,") >= 4
    again = exp.run(progress=False, verbose=False)  # everything comes from the log now
    assert log.count() == 8 and list(again["output"]) == list(results["output"])


# --- SIGKILL mid-run, then resume ----------------------------------------------------------------
CHILD = textwrap.dedent("""
    import sys
    import pandas as pd
    import workbench as wb

    log_path, model, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if model.startswith("openai:"):
        wb.set_key("OPENAI_API_KEY", "test-key")
    runner = wb.Runner(log=log_path, progress=False, concurrency=2)
    cases = pd.DataFrame({"q": [f"Name a colour number {i}." for i in range(n)]})
    exp = wb.Experiment(wb.Prompt(user="{q}"), models=model, params={"temperature": 0, "max_tokens": 12},
                        cases=cases, name="killed", runner=runner)
    print("started", flush=True)
    exp.run(progress=False, verbose=False)
    print("finished", flush=True)
""")


def _logged(db: Path) -> list[tuple[int, str, str]]:
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT id, cell_key, status FROM calls WHERE experiment_id = 'killed' "
                               "ORDER BY id").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []


def _kill_mid_run(tmp_path: Path, model: str, n: int, kill_after: int, env: dict[str, str]) -> list[tuple]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    db = tmp_path / "killed.sqlite"
    child = subprocess.Popen([sys.executable, str(script), str(db), model, str(n)], cwd=REPO,
                             env={**os.environ, **env, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while len(_logged(db)) < kill_after:
            assert child.poll() is None, "the experiment ended before it could be killed"
            assert time.monotonic() < deadline, "the experiment logged too few calls in 90 s"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert "finished" not in child.stdout.read()
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return _logged(db)


def _resume(tmp_path: Path, model: str, n: int, before: list[tuple]) -> tuple[wb.Experiment, list[tuple]]:
    db = tmp_path / "killed.sqlite"
    runner = wb.Runner(log=db, progress=False, concurrency=2)
    cases = pd.DataFrame({"q": [f"Name a colour number {i}." for i in range(n)]})
    exp = wb.Experiment(wb.Prompt(user="{q}"), models=model, params={"temperature": 0, "max_tokens": 12},
                        cases=cases, name="killed", runner=runner)
    done_before = {key for _, key, status in before if status == "ok"}
    plan = exp.plan()
    assert plan.reused == len(done_before) and plan.to_run == n - len(done_before)
    results = exp.run(progress=False, verbose=False)
    assert len(results) == n and results["error"].isna().all()
    after = _logged(db)
    new = after[len(before):]
    assert not {key for _, key, _ in new} & done_before  # no logged cell was called again
    assert sorted(key for _, key, s in after if s == "ok") == sorted({c.key for c in exp.cells})  # each cell once
    assert runner.run_log.integrity_check() == "ok"
    return exp, new


def test_resume_after_sigkill_against_a_slow_server(tmp_path, fresh_providers, monkeypatch):
    with FakeServer(latency=0.05) as server:
        before = _kill_mid_run(tmp_path, "openai:gpt-4o-mini", 40, 8, {"OPENAI_BASE_URL": server.openai_base_url})
        assert 8 <= len(before) < 40
        seen_before_rerun = server.stats["requests"]
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)  # the rerun talks to the same server
        wb.set_key("OPENAI_API_KEY", "test-key")
        _, new = _resume(tmp_path, "openai:gpt-4o-mini", 40, before)
        assert server.stats["requests"] - seen_before_rerun == 40 - len(before) == len(new)


@pytest.mark.local_model
def test_resume_after_sigkill_on_the_local_model(tmp_path):
    before = _kill_mid_run(tmp_path, LOCAL, 12, 3, {})
    assert 3 <= len(before) < 12
    _, new = _resume(tmp_path, LOCAL, 12, before)
    assert len(new) == 12 - len(before)
