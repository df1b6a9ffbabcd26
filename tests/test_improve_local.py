"""wb.improve and wb.generate_cases on the real offline model (kept small: a few dozen short calls)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import workbench as wb
from workbench._proposers import add_examples

pytestmark = pytest.mark.local_model

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@pytest.mark.timeout(1800)
def test_improve_runs_on_smollm2_and_says_what_it_found(tmp_path):
    cases = pd.DataFrame({"message": [f"Room {i} is booked for {DAYS[i % 7]} at {i % 12 + 1} pm." for i in range(19)],
                          "expected": [DAYS[i % 7] for i in range(19)]})
    runner = wb.Runner(log=tmp_path / "runs.sqlite", progress=False)
    imp = wb.improve(wb.Prompt(user="Which day? {message}"), cases, [wb.scorers.exact_match(strip_punctuation=True)],
                     "local:smollm2", params={"temperature": 0, "max_tokens": 6}, operators=[add_examples],
                     rounds=1, candidates=1, runner=runner)
    assert imp.calls_made == 19 + 13 + (6 if imp.history["holdout_score"].notna().sum() > 1 else 0)
    base = imp.history.iloc[0]
    assert not math.isnan(base["train_score"]) and not math.isnan(base["holdout_score"])
    assert imp.verdict.startswith(("+", "No change confirmed")) and "held-out" in imp.verdict
    again = wb.improve(wb.Prompt(user="Which day? {message}"), cases, [wb.scorers.exact_match(strip_punctuation=True)],
                       "local:smollm2", params={"temperature": 0, "max_tokens": 6}, operators=[add_examples],
                       rounds=1, candidates=1, runner=runner)
    assert again.calls_made == 0 and again.verdict == imp.verdict  # resumed entirely from the log


@pytest.mark.timeout(900)
def test_generate_cases_on_smollm2_returns_cases_or_says_what_failed(tmp_path):
    runner = wb.Runner(log=tmp_path / "runs.sqlite", progress=False)
    try:
        cases = wb.generate_cases("Find the day of the week in a scheduling message", n=2, kinds=["typical"],
                                  model="local:smollm2", params={"max_tokens": 120}, max_calls=1, runner=runner,
                                  verbose=False)
    except wb.CasesError as err:
        assert "No usable case came back from local:smollm2 in 1 call(s)" in str(err) and "Fix:" in str(err)
    else:
        assert cases["generated"].all() and not cases["accepted"].any() and len(cases) >= 1
        assert cases.attrs["calls"] == 1
