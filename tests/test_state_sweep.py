"""Sweep's state: values, repeats, measures (scorers, an LLM judge included), plots and Stop, without ipywidgets."""

from __future__ import annotations

import json
import math
import time

import pandas as pd
import pytest

import workbench as wb
from workbench import state as S
from workbench import testing

from .conftest import PLANTED_KEY, wait_until


@pytest.fixture
def quick_runner(log):
    """No retries, so provider failures show at once."""
    return wb.Runner(log=log, progress=False, max_retries=0, max_wait=0.5)


def test_sweep_values_are_parsed_and_checked():
    assert S.parse_sweep_values("0, 0.5 1;1.5", "temperature") == [0.0, 0.5, 1.0, 1.5]
    assert S.parse_sweep_values([16, 64.0], "max_tokens") == [16, 64]
    with pytest.raises(wb.ParamsError, match="temperature must be"):
        S.parse_sweep_values("0, 3", "temperature")
    with pytest.raises(wb.ParamsError, match="whole numbers"):
        S.parse_sweep_values("1.5", "max_tokens")
    with pytest.raises(wb.ParamsError, match="not a number"):
        S.parse_sweep_values("0, hot", "temperature")
    with pytest.raises(wb.ParamsError, match="cannot be swept"):
        S.parse_sweep_values("1, 2", "n")


def test_sweep_plans_one_call_per_value_and_repeat(runner):
    s = S.SweepState("About {x}", "local:smollm2", values="0, 1", repeats=3, runner=runner, x="sea", max_tokens=5)
    planned = s.prepare()
    assert [(v, r) for v, r, _ in planned] == [(0.0, 0), (0.0, 1), (0.0, 2), (1.0, 0), (1.0, 1), (1.0, 2)]
    assert {req.params.temperature for _, _, req in planned} == {0.0, 1.0}
    assert len({req.cache_key for _, _, req in planned}) == 6  # repeats never answer each other
    s.set_parameter("max_tokens")
    assert s.sweep_values == [16, 64, 256]
    s.repeats = 100
    assert "repeats=100" in s.validate()


def test_sweep_measures_with_scorers_and_plots(fake_model, runner):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)

    def has_owls(output, case):
        return wb.scorers.Score(1.0 if case["topic"] in output else 0.0, "test")

    def broken(output, case):
        raise ValueError("boom")

    s = S.SweepState("Tell me about {topic}", fake_model, parameter="max_tokens", values=[2, 3, 6], repeats=2,
                     scorers=[has_owls, broken], runner=runner, topic="owls")
    s.run(timeout=60)
    summary = {r["value"]: r for r in s.summary()}
    # "Echo: Tell", "Echo: Tell me", ...
    assert {v: r["mean"] for v, r in summary.items()} == {2: 10.0, 3: 13.0, 6: 24.0}
    s.set_measure("has_owls")
    assert {r["value"]: r["mean"] for r in s.summary()} == {2: 0.0, 3: 0.0, 6: 1.0}
    s.set_measure("broken")
    assert s.measure_errors and "boom" in s.measure_errors[0]
    s.set_measure("words")
    fig = s.figure()
    ax = fig.axes[0]
    assert ax.get_xlabel() == "max_tokens" and ax.get_ylabel() == "words"
    mean_line = [line for line in ax.get_lines() if line.get_label() == "mean"][0]
    assert list(mean_line.get_xdata()) == [2, 3, 6] and list(mean_line.get_ydata()) == [2.0, 3.0, 5.0]
    assert s.png().startswith(b"\x89PNG")
    frame = s.to_frame()
    assert len(frame) == 6 and set(frame["max_tokens"]) == {2, 3, 6} and frame["call_id"].notna().all()
    s.rate(0, 1)
    assert len(runner.run_log.ratings()) == 1


@pytest.mark.local_model
def test_sweep_on_the_local_model(runner):
    s = S.SweepState("Name a colour.", "local:smollm2", values="0, 1.2", repeats=2, runner=runner, max_tokens=6)
    s.run(timeout=180)
    assert len(s.points) == 4 and all(p.answer.status == "done" for p in s.points)
    assert all(r["n"] == 2 for r in s.summary())
    assert [r.tags["value"] for r in map(runner.run_log.call, s.to_frame()["call_id"])] == [0.0, 0.0, 1.2, 1.2]


def test_stop_cancels_every_call_of_a_sweep(fake_model, quick_runner, keyed_fake):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    keyed_fake.latency = 5.0  # the sweep does not stream: hold its answers back
    sw = S.SweepState("A {x}", fake_model, values=[0, 1], repeats=2, runner=quick_runner, x="1", max_tokens=400)
    sw.start()
    time.sleep(0.3)
    assert sw.stop() and sw.wait(10) and not sw.running
    assert all(p.answer.status == "stopped" for p in sw.points)
    assert set(quick_runner.run_log.calls()["error_type"]) == {"CancelledRunError"}


# --------------------------------------------------------------------------- #
# a measure that calls a model (defect 8.1)
# --------------------------------------------------------------------------- #


def test_a_sweep_measured_by_an_llm_judge_scores_every_point(runner):
    judge_model = testing.script("judge", ["SCORE: 4\nfine"] * 4)
    judge = wb.scorers.llm_judge("The answer names a colour.", model=judge_model)
    s = S.SweepState("Name a colour.", testing.script("answers", ["red", "blue", "green", "gold"]),
                     values="0, 1", repeats=2, scorers=[judge], measure="judge", runner=runner)
    s.run(timeout=30)
    assert [p.measure for p in s.points] == [0.75] * 4, s.measure_errors
    assert s.measure_errors == []
    judged = sorted(next(w for w in ("red", "blue", "green", "gold") if w in c.messages[-1]["content"])
                    for c in testing.calls("judge"))
    assert judged == ["blue", "gold", "green", "red"]  # each answer was graded once


def test_sweep_scoring_finishes_before_the_run_is_reported_done(runner):
    judge_model = testing.script("slowjudge", ["SCORE: 5\ngreat"] * 4, delay=0.2)
    judge = wb.scorers.llm_judge("Any answer is fine.", model=judge_model)
    s = S.SweepState("Say hi.", "mock:hi", values="0, 1", repeats=2, scorers=[judge], measure="judge",
                     runner=runner)
    seen_at_end = []
    s.observe(lambda name: name == "running" and not s.running and seen_at_end.append([p.measure for p in s.points]))
    s.start()
    assert s.wait(30)
    assert [p.measure for p in s.points] == [1.0] * 4, s.measure_errors
    assert seen_at_end == [[1.0] * 4]


def test_set_measure_rescoring_from_the_kernel_thread_works_with_a_judge(runner):
    judge_model = testing.script("judge2", ["SCORE: 2\nmeh"] * 2)
    judge = wb.scorers.llm_judge("The answer is polite.", model=judge_model)
    s = S.SweepState("Say hi.", "mock:hi2", values=[0], repeats=2, scorers=[judge], runner=runner)
    s.run(timeout=30)
    assert s.measure == "length (characters)" and [p.measure for p in s.points] == [7.0, 7.0]
    s.set_measure("judge")
    assert [p.measure for p in s.points] == [0.25, 0.25], s.measure_errors
    tags = [json.loads(t) for t in runner.run_log.calls()["tags_json"]]
    assert any(t.get("judge") == "judge" for t in tags)  # the judge called through the state's runner and log


def test_async_scorers_and_unscorable_answers(runner):
    async def shouts(output, case):
        return output.isupper(), "all capitals" if output.isupper() else "not all capitals"

    def unsure(output, case):
        return None

    s = S.SweepState("Say {x}", testing.script("caps", ["HI", "hi"]), values=[0], repeats=2, runner=runner,
                     scorers=[shouts, unsure], measure="shouts", x="hi")
    s.run(timeout=10)
    assert [p.measure for p in s.points] == [1.0, 0.0] and s.measure_errors == []
    s.set_measure("unsure")
    assert [p.measure for p in s.points] == [None, None]
    assert s.measure_errors == ["unsure: unsure returned None"] * 2  # said, not hidden
    assert all(r["n"] == 0 and math.isnan(r["mean"]) for r in s.summary())


# --------------------------------------------------------------------------- #
# the figure: wb.plots.sweep_points
# --------------------------------------------------------------------------- #


def _lines(fig):
    return {line.get_label(): line for line in fig.axes[0].get_lines()}


def test_sweep_points_from_pairs_and_from_a_frame():
    pairs = [(0, 1.0), (0, 3.0), (1, 5.0), (1, None), (1, math.nan), (2, None)]
    fig = wb.plots.sweep_points(pairs, "temperature", "words")
    lines = _lines(fig)
    assert list(lines["mean"].get_xdata()) == [0.0, 1.0] and list(lines["mean"].get_ydata()) == [2.0, 5.0]
    dots = list(zip(lines["each answer"].get_xdata(), lines["each answer"].get_ydata(), strict=True))
    assert [y for _, y in dots] == [1.0, 3.0, 5.0]
    assert dots[0][0] < 0 < dots[1][0] and dots[2][0] == 1.0  # two answers at 0: nudged apart
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("temperature", "words", "words vs temperature")
    frame = pd.DataFrame({"seed": [1, 1, 2], "score": [0.0, 1.0, 1.0]})
    lines = _lines(wb.plots.sweep_points(frame, "seed", "score"))
    assert list(lines["mean"].get_ydata()) == [0.5, 1.0]
    with pytest.raises(wb.WorkbenchError, match="parameter=.*measure="):
        wb.plots.sweep_points(frame)
    empty = wb.plots.sweep_points([], values=[0, 1])
    assert "no answers yet" in [t.get_text() for t in empty.axes[0].texts]
    assert wb.plots.to_png(empty).startswith(b"\x89PNG")


def test_sweep_points_of_one_value_stay_beside_it():
    """A one-value sweep drew its two answers at the plot's left and right edges, far from the value."""
    fig = wb.plots.sweep_points([(0.7, 1.0), (0.7, 3.0)], "temperature", "words", values=[0.7])
    low, high = fig.axes[0].get_xlim()
    assert (low, high) == pytest.approx((0.2, 1.2))
    dots = _lines(fig)["each answer"].get_xdata()
    assert all(abs(x - 0.7) < 0.05 * (high - low) for x in dots)


def test_sweep_status_counts_answered_stopped_and_failed_apart(log):
    """Issue 18 item 7: after Stop, "9/9 answers" counted stopped calls as answers."""
    runner = wb.Runner(log=log, progress=False, max_retries=0, concurrency=1)
    long = " ".join(["word"] * 60)
    model = testing.script("sweep-stop", ["a short answer", testing.fault("bad_request")], delay=0.3,
                           default=long)
    sw = S.SweepState("Say {x}", model, values=[0, 1, 2], repeats=3, runner=runner, x="hi")
    sw.start()
    assert wait_until(lambda: sum(p.answer.status in ("done", "error") for p in sw.points) >= 2, 20)
    assert sw.stop() and sw.wait(10)
    counts = sw.counts()
    assert counts == {"answered": 1, "failed": 1, "stopped": 7, "total": 9}, counts
    text = sw.status_text()
    assert "1/9 answered" in text and "7 stopped" in text and "1 failed" in text, text
    assert "9/9" not in text


def test_a_pass_fail_measure_reads_as_a_pass_rate(runner):
    """Issue 18 item 9: a pass/fail scorer was labelled "mean word_count 0.0" (read as "zero words")."""
    model = testing.script("pass-rate")  # echoes "Say hi" (2 words)
    sw = S.SweepState("Say {x}", model, values=[0, 1], repeats=2, runner=runner, x="hi",
                      scorers=[wb.scorers.word_count(max=1)])
    sw.set_measure("word_count")
    sw.run(timeout=20)
    assert sw.measure_is_pass_fail()
    labels = [sw.describe(row) for row in sw.summary()]
    assert labels == ["pass rate word_count 0% (n=2)"] * 2, labels
    assert "mean word_count" not in sw.summary_text()
    sw.set_measure("length (characters)")
    assert not sw.measure_is_pass_fail()
    assert sw.describe(sw.summary()[0]).startswith("mean length (characters) 6.0")
