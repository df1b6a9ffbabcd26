"""Experiments score through the one scoring protocol: plain and async functions, wb.scorers.custom
(plain or async), objects with ``ascore`` and LLM judges, all against the in-process mock provider."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench import testing
from workbench._portal import run_sync

CASES = pd.DataFrame({"id": ["a", "b", "c"], "q": ["one", "two", "three"], "expected": ["one", "two", "four"]})
PROMPT = wb.Prompt(user="{q}")


@pytest.fixture
def model(fresh_providers) -> str:
    return testing.script("answers")  # unscripted: echoes the question


def _experiment(model, runner, scorers, **kwargs) -> wb.Experiment:
    return wb.Experiment(PROMPT, models=model, cases=CASES, scorers=scorers, runner=runner, **kwargs)


def test_a_bare_async_function_is_a_scorer_and_runs_concurrently(model, runner):
    in_flight, most = 0, 0

    async def matches_expected(output, case):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return output == case["expected"], f"{output!r} vs {case['expected']!r}"

    results = _experiment(model, runner, [matches_expected]).run(progress=False, verbose=False)
    assert list(results["matches_expected"]) == [1.0, 1.0, 0.0]
    assert list(results["matches_expected_passed"]) == [True, True, False]
    assert results["matches_expected_explanation"].iloc[2] == "'three' vs 'four'"
    assert most == 3  # the three answers were scored at the same time, not one after another


def test_bare_plain_functions_and_lambdas_are_scorers(model, runner):
    def length(output):
        return np.int64(len(output))

    results = _experiment(model, runner, [length, lambda out, case: np.bool_(out.startswith("t"))]).run(
        progress=False, verbose=False)
    assert list(results["length"]) == [3.0, 3.0, 5.0] and results["length"].dtype == float
    assert list(results["custom"]) == [0.0, 1.0, 1.0] and list(results["custom_passed"]) == [False, True, True]
    assert results.attrs["scorers"] == ["length", "custom"]


def test_custom_async_scorer_that_calls_a_model(model, runner):
    referee = testing.script("referee", default=lambda messages, params: "yes")

    async def referee_says_yes(output, case):
        answer = await wb.acomplete(referee, f"Is {output!r} a number word?", runner=runner, cache=False)
        return answer.text == "yes"

    results = _experiment(model, runner, [wb.scorers.custom(referee_says_yes, name="referee")]).run(
        progress=False, verbose=False)
    assert list(results["referee"]) == [1.0, 1.0, 1.0]
    assert sorted(c.messages[-1]["content"] for c in testing.calls("referee")) == [
        "Is 'one' a number word?", "Is 'three' a number word?", "Is 'two' a number word?"]


def test_judges_async_and_plain_scorers_together(model, runner, log):
    judge_model = testing.script("judge", default=lambda messages, params: "SCORE: 5\nfine")
    judge = wb.scorers.llm_judge("Is it right?", model=judge_model)

    class Shouting:
        """A scorer object with an ascore method (like the judge), given the experiment's runner."""

        name = "shouting"

        def __init__(self) -> None:
            self.runners = []

        async def ascore(self, output, case, *, runner=None):
            self.runners.append(runner)
            return (float(output.isupper()), "upper" if output.isupper() else "not upper")

    async def is_short(output, case):
        return len(output) <= 3

    shouting = Shouting()
    exp = _experiment(model, runner, [judge, shouting, is_short, wb.scorers.exact_match()], name="mixed")
    results = exp.run(progress=False, verbose=False)
    assert list(results["judge"]) == [1.0, 1.0, 1.0] and list(results["shouting"]) == [0.0, 0.0, 0.0]
    assert list(results["is_short"]) == [1.0, 1.0, 0.0] and list(results["exact_match"]) == [1.0, 1.0, 0.0]
    assert len(shouting.runners) == 3 and all(r is runner for r in shouting.runners)
    # the judge still runs as a logged batch through the runner (and resumes)
    assert log.calls(experiment_id="mixed")["tags_json"].str.contains('"judge"').sum() == 3
    exp.run(progress=False, verbose=False)
    assert exp.last_run["judge_reused"] == 3 and len(testing.calls("judge")) == 3


def test_a_scorer_returning_text_stops_the_run_naming_the_scorer(model, runner):
    async def label(output, case):
        return "positive"

    def plain_label(output, case):
        return "positive"

    for scorer in (label, plain_label):
        with pytest.raises(wb.ScorerError, match=rf"'{scorer.__name__}' returned str \('positive'\)"):
            _experiment(model, runner, [scorer]).run(progress=False, verbose=False)


def test_a_scorer_that_raises_is_reported_on_its_row(model, runner):
    async def fragile(output, case):
        if output == "two":
            raise ValueError("cannot read 'two'")
        return 1.0

    results = _experiment(model, runner, [fragile]).run(progress=False, verbose=False)
    assert list(results["fragile"].isna()) == [False, True, False]
    assert results["fragile_explanation"].iloc[1] == "scorer 'fragile' raised ValueError: cannot read 'two'"


def test_arun_inside_the_portal_runs_plain_scorers_off_the_loop(model, runner):
    """In arun, a plain scorer that calls wb.complete (synchronous) works: it runs in a worker thread."""
    referee = testing.script("referee-sync", default=lambda messages, params: "yes")
    threads = set()

    def referee_agrees(output, case):
        threads.add(threading.current_thread().name)
        return wb.complete(referee, f"ok {output}?", runner=runner, cache=False).text == "yes"

    results = run_sync(_experiment(model, runner, [referee_agrees]).arun(progress=False, verbose=False))
    assert list(results["referee_agrees"]) == [1.0, 1.0, 1.0]
    assert "workbench-portal" not in threads


def test_run_scores_plain_scorers_in_the_callers_thread(model, runner):
    threads = set()

    def where(output, case):
        threads.add(threading.current_thread())
        return 1

    _experiment(model, runner, [where]).run(progress=False, verbose=False)
    assert threads == {threading.current_thread()}
