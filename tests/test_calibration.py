"""Confidence columns, calibration figures and the reliability diagram (issue 13)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench._calibration import auroc, brier, label_probabilities
from workbench._tokens import Token


def test_auroc_counts_pairs_and_ties():
    assert auroc([True, True, False, False], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert auroc([True, True, False, False], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert auroc([True, False], [0.5, 0.5]) == 0.5
    assert auroc([True, False, True, False], [0.9, 0.8, 0.3, 0.1]) == 0.75
    assert math.isnan(auroc([True, True], [0.1, 0.2]))
    assert brier([True, False], [1.0, 0.0]) == 0 and brier([True, False], [0.5, 0.5]) == 0.25


def test_label_probability_sums_the_alternatives_that_begin_each_label():
    first = Token(" Pos", math.log(0.6), ((" Pos", math.log(0.6)), ("positive", math.log(0.1)),
                                          (" Neg", math.log(0.2)), ("The", math.log(0.05))))
    probs = label_probabilities([Token(" ", -0.01), first], ["positive", "negative", "neutral"])
    assert probs["positive"] == pytest.approx(0.7) and probs["negative"] == pytest.approx(0.2)
    assert probs["neutral"] == 0.0


def _results(n: int = 200, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0, 1, n)
    passed = rng.uniform(0, 1, n) < conf  # calibrated by construction
    return pd.DataFrame({"case_id": range(n), "ok": passed.astype(float), "ok_passed": passed,
                         "ok_explanation": "", "confidence": conf})


def test_calibration_of_a_calibrated_signal():
    c = wb.calibration(_results(), scorer="ok")
    assert 0.7 < c.auroc < 0.9 and c.auroc_ci[0] < c.auroc < c.auroc_ci[1]
    assert 0.12 < c.brier < 0.22 and c.brier_ci[0] < c.brier < c.brier_ci[1]
    table = c.reliability
    assert table["n"].sum() == 200
    assert np.allclose(table["accuracy"], table["mean_confidence"], atol=0.2)
    assert "AUROC" in repr(c) and "Brier" in repr(c)


def test_calibration_of_noise_has_a_ci_around_one_half():
    data = _results()
    data["confidence"] = np.random.default_rng(7).uniform(0, 1, len(data))
    c = wb.calibration(data, scorer="ok")
    assert c.auroc_ci[0] < 0.5 < c.auroc_ci[1]


def test_no_confidence_column_names_the_fix():
    data = _results().drop(columns=["confidence"])
    with pytest.raises(wb.WorkbenchError, match=r"No confidence column 'confidence'.*Fix: run the experiment with "
                                                r"params=\{'logprobs': True\}"):
        wb.calibration(data, scorer="ok")


def test_coverage_curve_trades_coverage_for_accuracy():
    curve = wb.coverage_curve(_results(), scorer="ok", thresholds=[0.0, 0.5, 0.9])
    assert list(curve["coverage"])[0] == 1.0 and curve["coverage"].is_monotonic_decreasing
    assert curve["accuracy_answered"].iloc[2] > curve["accuracy_answered"].iloc[0]


def test_experiment_with_logprobs_gains_confidence_and_label_columns(runner):
    cases = pd.DataFrame({"text": ["positive", "negative", "positive"],
                          "expected": ["positive", "negative", "negative"]})
    exp = wb.Experiment(wb.Prompt(user="{text}"), models="mock:m", cases=cases, runner=runner,
                        scorers=[wb.scorers.label_match()], params={"logprobs": True, "top_logprobs": 3})
    res = exp.run(progress=False)
    assert {"confidence", "confidence_min", "confidence_first", "p_positive", "p_negative"} <= set(res.columns)
    assert (res["confidence"] > 0).all() and (res["confidence_min"] <= res["confidence"]).all()
    assert res.loc[0, "p_positive"] > 0 and res.loc[0, "p_negative"] == 0  # the mock answers the word itself
    fig = wb.plots.calibration(res, scorer="label_match")
    assert "AUROC" in fig.axes[0].get_title() and "Brier" in fig.axes[0].get_title()


def test_experiment_without_logprobs_has_no_confidence_columns(runner):
    cases = pd.DataFrame({"text": ["a"], "expected": ["a"]})
    res = wb.Experiment(wb.Prompt(user="{text}"), models="mock:m", cases=cases, runner=runner,
                        scorers=[wb.scorers.exact_match()]).run(progress=False)
    assert "confidence" not in res.columns


def test_a_case_column_named_confidence_is_refused():
    cases = pd.DataFrame({"text": ["a"], "confidence": [1]})
    with pytest.raises(wb.CasesError, match="confidence"):
        wb.Experiment(wb.Prompt(user="{text}"), models="mock:m", cases=cases)
