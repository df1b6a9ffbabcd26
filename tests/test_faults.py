"""Fault injection: a 500-call experiment against a loopback server that misbehaves 15% of the time."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest

import workbench as wb
from tests.fakeserver import FakeServer

# Every retryable kind the fake can produce for a non-streamed call, plus 400, which must not be retried.
KINDS = ["429:0.05", "429-no-retry-after", "500", "502", "503", "timeout", "reset", "cut", "malformed", "empty", "400"]


@pytest.fixture
def fake(monkeypatch, fresh_providers):
    with FakeServer(hang_seconds=30.0) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        wb.set_key("OPENAI_API_KEY", "test-key")
        yield server


def test_500_calls_with_15_percent_faults_lose_nothing(fake, log, capsys):
    fake.fault_rate(0.15, kinds=KINDS, seed=7)
    runner = wb.Runner(log=log, concurrency=32, timeout=2.0, max_retries=5, max_wait=0.05, progress=False)
    cases = pd.DataFrame({"q": [f"question {i}" for i in range(100)]})
    exp = wb.Experiment(wb.Prompt(user="{q}"), models="openai:gpt-4o-mini", cases=cases, repeats=5,
                        name="faults", runner=runner)
    results = exp.run(progress=False, verbose=False)

    stats = fake.stats
    ok = results[results["error"].isna()]
    errors = results[results["error"].notna()]
    rows = log.calls(experiment_id="faults")
    attempts = rows["attempts"].sum()
    figures = {"calls": len(exp.cells), "requests seen by the server": stats["requests"],
               "faults injected": stats["faults_total"], "retries": int(attempts - len(rows)),
               "results": len(ok), "error rows": len(errors), "lost": len(exp.cells) - len(results)}
    causes = Counter(c for r in rows["retried_json"].dropna() for c in json.loads(r))
    with capsys.disabled():
        print("\nfault injection:", figures, "by kind:", stats["faults"], "retry causes:", dict(causes))

    assert len(results) == 500 and figures["lost"] == 0
    assert len(rows) == 500 and set(rows["cell_key"]) == {c.key for c in exp.cells}  # one logged row per cell
    assert stats["faults_total"] >= 50  # the plan really injected faults
    # every answer that came back is complete and right; partial answers never pass as results
    assert (ok["output"] == "Echo: " + ok["q"]).all()
    # retryable faults were retried until they succeeded; each 400 ends its call at once (never retried)
    assert set(rows.loc[rows["status"] == "error", "error_type"]) <= {"BadRequestError"}
    assert len(errors) == stats["faults"].get("400", 0)
    # every retry is logged with its cause, and every request the server saw was one of the runner's
    # attempts: nothing (no SDK, no transport) retried behind the runner's back
    assert sum(causes.values()) == figures["retries"]
    assert 500 + figures["retries"] >= stats["requests"]
    # each server-side fault was retried, and the client never invents a server error (it may see fewer:
    # an attempt that timed out on a loaded machine before the server's error reached it)
    retryable = stats["faults_total"] - len(errors)
    assert figures["retries"] >= retryable and stats["requests"] >= 500 + retryable
    kinds = stats["faults"]
    assert causes["RateLimitError"] <= kinds.get("429", 0) + kinds.get("429-no-retry-after", 0)
    assert causes["ServerError"] <= kinds.get("500", 0) + kinds.get("502", 0) + kinds.get("503", 0)
    # retries beyond the injected faults only come from the client side: a pooled connection the server
    # closed after a fault, or an answer slower than the 2 s timeout on a loaded machine
    client_side = {"ProviderTimeoutError", "ProviderConnectionError", "StreamInterruptedError"}
    assert set(causes) <= client_side | {"RateLimitError", "ServerError", "MalformedResponseError",
                                         "TruncatedResponseError"}, causes
    assert causes["TruncatedResponseError"] <= kinds.get("cut", 0)  # a body cut short is named so
    assert causes["MalformedResponseError"] <= kinds.get("malformed", 0) + kinds.get("empty", 0) + kinds.get("cut", 0)
    assert rows["attempts"].max() <= 6
    assert log.integrity_check() == "ok"


def test_rerun_after_faults_only_calls_the_failed_cells(fake, log):
    fake.script(["400", "400"])  # the first two calls fail for good
    runner = wb.Runner(log=log, concurrency=1, progress=False)
    cases = pd.DataFrame({"q": [f"q{i}" for i in range(6)]})
    exp = wb.Experiment(wb.Prompt(user="{q}"), models="openai:gpt-4o-mini", cases=cases, name="rerun",
                        runner=runner)
    first = exp.run(progress=False, verbose=False)
    assert first["error"].notna().sum() == 2 and fake.stats["requests"] == 6
    second = exp.run(progress=False, verbose=False)
    assert second["error"].isna().all() and fake.stats["requests"] == 8  # only the two failed cells again
