"""Issue 11, items 11, 13-16: wrong results, crashes and messages found by an adversarial test."""

from __future__ import annotations

import pytest

import workbench as wb
from workbench import testing

# Item 11: the judge's stated denominator is not ignored.

@pytest.mark.parametrize("answer", ["Score: 3/10", "SCORE: 3 / 10\nclose enough", "3/10"])
def test_judge_score_out_of_another_maximum_is_not_read_on_the_rubric_scale(answer):
    judge = wb.scorers.llm_judge("The answer is correct.", "mock:judge", scale=(1, 5))
    score = judge.parse(answer)
    assert score.value is None and score.passed is None  # not 0.5, not a pass
    assert "3/10" in score.explanation.replace(" ", "") and "1-5" in score.explanation


@pytest.mark.parametrize("answer", ["Score: 4/5 good", "SCORE: 4", "4/5"])
def test_judge_score_on_the_rubric_scale_still_reads(answer):
    judge = wb.scorers.llm_judge("The answer is correct.", "mock:judge", scale=(1, 5))
    score = judge.parse(answer)
    assert score.value == pytest.approx(0.75) and score.passed is True


# Item 13: scorer names that collide with derived columns; plain scorers checked before any call.

def _experiment(runner, model, scorers, cases=None, **kwargs):
    cases = cases or [{"x": "1", "expected": "yes"}, {"x": "2", "expected": "no"}]
    return wb.Experiment(prompts={"a": "Say {x}"}, models=[model], cases=cases, scorers=scorers,
                         runner=runner, **kwargs)


def test_scorer_named_like_another_scorers_passed_column_is_refused(runner):
    model = testing.script("clash", [], default="yes")

    def fmt(output, case):
        return 0.0

    def fmt_passed(output, case):
        return 1.0

    with pytest.raises(wb.ScorerError) as err:
        _experiment(runner, model, [fmt, fmt_passed]).run()
    message = str(err.value)
    assert "'fmt'" in message and "'fmt_passed'" in message and "Fix" in message
    assert testing.calls("clash") == []


def test_scorer_whose_explanation_column_is_a_case_column_is_refused(runner):
    model = testing.script("clash-case", [], default="yes")
    cases = [{"x": "1", "fmt_explanation": "a note"}]
    with pytest.raises(wb.ScorerError, match=r"fmt_explanation.*Fix"):
        _experiment(runner, model, [wb.scorers.custom(lambda out: 1.0, name="fmt")], cases=cases).run()
    assert testing.calls("clash-case") == []


def test_plain_scorer_returning_text_is_refused_before_any_call(runner):
    model = testing.script("text-scorer", [], default="yes")

    def verdict(output, case):
        return "good"

    with pytest.raises(wb.ScorerError, match=r"'verdict'.*str.*Fix"):
        _experiment(runner, model, [verdict]).run()
    assert testing.calls("text-scorer") == []  # nothing was paid for


def test_plain_scorer_returning_numpy_bool_scores(runner):
    import numpy as np

    model = testing.script("np-scorer", [], default="yes")
    results = _experiment(runner, model, [lambda out, case: np.bool_(out == case["expected"])]).run()
    assert results["custom"].tolist() == [1.0, 0.0] and results["custom_passed"].tolist() == [True, False]


def test_plain_scorer_that_raises_on_the_probe_is_not_refused(runner):
    model = testing.script("picky", [], default="yes")

    def picky(output, case):
        if output != "yes":
            raise ValueError("only real answers")
        return 1.0

    results = _experiment(runner, model, [picky]).run()
    assert results["picky"].tolist() == [1.0, 1.0] and len(testing.calls("picky")) == 2


# Item 14: a '$' in a case id, variant or scorer name is text, not mathtext; a failing plot is a note.

def _dollar_results():
    from tests.results_factory import make_results

    results = make_results({("$x_$", "m"): [[1.0], [0.0], [1.0]], ("plain", "m"): [[0.0], [1.0], [0.0]]},
                           scorer="q$_1$", cost={"$x_$": 0.01, "plain": 0.02})
    results["case_id"] = results["case_id"].map({0: "$x_$", 1: "a$b", 2: "$$"})
    return results


@pytest.mark.parametrize("plot", ["scores", "distribution", "heatmap", "pareto", "sweep"])
def test_plots_draw_labels_with_dollar_signs(plot):
    import io

    results = _dollar_results()
    if plot == "sweep":
        results["temperature"] = results["case_id"].map({"$x_$": 0.0, "a$b": 0.5, "$$": 1.0})
        results.attrs["params"] = ["temperature"]
    fig = getattr(wb.plots, plot)(results, scorer="q$_1$")
    fig.savefig(io.BytesIO(), format="png")  # drawing is where mathtext failed
    texts = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels()]
    assert plot not in ("scores", "heatmap") or any("x_" in t for t in texts)


def test_report_with_dollar_signs_is_written_and_a_failing_plot_becomes_a_note(tmp_path, monkeypatch):
    results = _dollar_results()
    path = wb.report_html(results, tmp_path / "ok.html")
    assert path.read_text(encoding="utf-8").count("<img") >= 3

    def broken(*args, **kwargs):
        raise ValueError("a plot that cannot be drawn")

    monkeypatch.setattr(wb.plots, "heatmap", broken)
    html = wb.report_html(results, tmp_path / "note.html").read_text(encoding="utf-8")
    assert "a plot that cannot be drawn" in html and "per case" in html  # the note names the plot and why
    assert html.count("<img") >= 2 and "plain" in html  # the rest of the report is there


# Item 15: a lone surrogate cannot be sent (no UTF-8 for it): refused before any call, naming where it is.

def test_lone_surrogate_in_a_variable_is_a_prompt_error_before_any_call(runner):
    model = testing.script("surrogate-var", [], default="yes")
    with pytest.raises(wb.PromptError, match=r"'text'.*surrogate.*Fix"):
        wb.complete(model, "Summarise {text}", variables={"text": "ok \ud800 ok"}, runner=runner)
    with pytest.raises(wb.PromptError, match=r"surrogate.*Fix"):
        wb.complete(model, "Say \udfff {text}", variables={"text": "fine"}, runner=runner)
    assert testing.calls("surrogate-var") == []


def test_lone_surrogate_in_a_stop_string_is_a_params_error_before_any_call(runner):
    model = testing.script("surrogate-stop", [], default="yes")
    with pytest.raises(wb.ParamsError, match=r"stop.*surrogate.*Fix"):
        wb.complete(model, "Say hi", stop=["\ud800"], runner=runner)
    assert testing.calls("surrogate-stop") == []


def test_lone_surrogate_in_a_case_names_the_case_before_any_call(runner):
    model = testing.script("surrogate-case", [], default="yes")
    cases = [{"id": "fine", "x": "1"}, {"id": "broken", "x": "a\ud800"}]
    with pytest.raises((wb.PromptError, wb.CasesError), match=r"'broken'.*'x'.*surrogate.*Fix"):
        wb.Experiment(prompts={"a": "Say {x}"}, models=[model], cases=cases, runner=runner).run()
    assert testing.calls("surrogate-case") == []


# Item 16 (the parameter part): every refused parameter says the fix; nothing odd is accepted silently.

@pytest.mark.parametrize("params", [{"max_tokens": float("inf")}, {"seed": float("nan")}, {"max_tokens": True},
                                    {"temperature": False}, {"stop": ""}])
def test_odd_parameters_are_refused_with_the_fix(params):
    name = next(iter(params))
    with pytest.raises(wb.ParamsError, match=rf"{name}=.*Fix"):
        wb.Params.build(**params)


@pytest.mark.parametrize("budget", [float("nan"), "1", True])
def test_odd_budgets_are_refused_with_the_fix(runner, budget):
    model = testing.script("budget", [], default="yes")
    with pytest.raises(wb.ParamsError, match=r"budget_usd=.*Fix"):
        wb.Experiment(prompts={"a": "Say {x}"}, models=[model], cases=[{"x": "1"}], runner=runner, budget_usd=budget)
    assert testing.calls("budget") == []
