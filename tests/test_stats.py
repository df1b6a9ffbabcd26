"""Statistics against hand-computed values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

import workbench as wb
from workbench import _stats

from .results_factory import make_results, two_variants


# --- bootstrap ---------------------------------------------------------------------------
def test_bootstrap_ci_matches_scipy_percentile_bootstrap():
    x = np.random.default_rng(3).normal(0.6, 0.2, 60)
    low, high = _stats.bootstrap_ci(x, n_boot=20_000, seed=1)
    ref = sp.bootstrap((x,), np.mean, n_resamples=20_000, method="percentile", random_state=2).confidence_interval
    assert low == pytest.approx(ref.low, abs=0.006) and high == pytest.approx(ref.high, abs=0.006)
    assert low < x.mean() < high


def test_bootstrap_ci_is_seeded_and_handles_degenerate_input():
    x = [0, 1, 1, 0, 1, 1, 1, 0]
    assert _stats.bootstrap_ci(x, seed=5) == _stats.bootstrap_ci(x, seed=5)
    assert _stats.bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)
    assert _stats.bootstrap_ci([0.7]) == (0.7, 0.7)
    assert all(math.isnan(v) for v in _stats.bootstrap_ci([]))
    assert _stats.bootstrap_ci([1.0, float("nan"), 1.0]) == (1.0, 1.0)


# --- paired tests ----------------------------------------------------------------------------
def test_sign_flip_test_exact_hand_value():
    assert _stats.sign_flip_test([1, 1, 1, 1, 1]) == pytest.approx(2 / 32)
    assert _stats.sign_flip_test([0, 0, 0]) == 1.0
    assert _stats.sign_flip_test([1, -1]) == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sign_flip_test_matches_scipy_exact_permutation_test(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0, 1, 12), rng.uniform(0.1, 1.1, 12)
    ours = _stats.sign_flip_test(b - a)
    ref = sp.permutation_test((b, a), lambda x, y: np.mean(x - y), permutation_type="samples",
                              n_resamples=np.inf, alternative="two-sided").pvalue
    assert ours == pytest.approx(ref, abs=1e-9)


def test_sign_flip_monte_carlo_close_to_scipy_for_many_pairs():
    rng = np.random.default_rng(9)
    d = rng.normal(0.15, 1.0, 40)
    ours = _stats.sign_flip_test(d, n_perm=40_000, seed=3)
    ref = sp.permutation_test((d, np.zeros_like(d)), lambda x, y: np.mean(x - y), permutation_type="samples",
                              n_resamples=40_000, alternative="two-sided", random_state=4).pvalue
    assert ours == pytest.approx(ref, abs=0.015)


@pytest.mark.parametrize("wins, losses", [(9, 1), (5, 5), (0, 7), (12, 3)])
def test_sign_test_matches_scipy_binomtest(wins, losses):
    assert _stats.sign_test(wins, losses) == pytest.approx(sp.binomtest(wins, wins + losses, 0.5).pvalue)
    assert _stats.sign_test(0, 0) == 1.0


def test_cases_needed_normal_approximation():
    # ((1.959964 + 0.841621) * 0.5 / 0.1) ** 2 = 196.2 -> 197
    assert _stats.cases_needed(0.1, 0.5) == 197
    assert _stats.cases_needed(0.0, 0.5) is None
    assert _stats.cases_needed(0.3, 0.0) == 6  # 2 / 2**6 < 0.05: the permutation test's own floor


def test_compare_significant_difference_with_verdict():
    a = [0] * 16 + [1] * 4
    b = [1] * 16 + [1] * 4
    result = wb.compare(two_variants(a, b), "v1", "v2")
    assert (result.n, result.wins, result.losses, result.ties) == (20, 16, 0, 4)
    assert result.mean_a == pytest.approx(0.2) and result.mean_b == pytest.approx(1.0)
    assert result.diff == pytest.approx(0.8)
    assert result.p_value == pytest.approx(2 / 2**16)  # exact: 16 informative pairs, all the same sign
    assert result.sign_test_p == pytest.approx(sp.binomtest(16, 16).pvalue)
    assert result.ci_low <= 0.8 <= result.ci_high and result.ci_low > 0.5
    assert result.significant and result.cases_needed is None
    assert result.verdict.startswith("v2 scores higher than v1") and "unlikely to be chance" in result.verdict
    text = repr(result)
    assert "difference (v2 - v1): +0.800" in text and "v2 better on 16 cases" in text
    assert "p < 0.0001 (paired sign-flip permutation test, exact over all 2^16 sign patterns)" in text


def test_compare_cannot_tell_apart_and_says_how_many_cases():
    a = [1, 0, 1, 0, 1, 1, 0, 1]
    b = [1, 1, 1, 0, 1, 1, 1, 0]
    result = wb.compare(two_variants(a, b), "v1", "v2")
    d = np.array(b) - np.array(a)
    assert result.diff == pytest.approx(d.mean()) and result.sd_diff == pytest.approx(d.std(ddof=1))
    assert not result.significant and result.p_value > 0.05
    assert result.cases_needed == _stats.cases_needed(abs(d.mean()), d.std(ddof=1))
    assert "cannot tell v1 and v2 apart" in result.verdict
    assert f"about {result.cases_needed} cases ({result.cases_needed - 8} more)" in result.verdict


def test_compare_identical_variants_uses_min_effect():
    same = [1, 0, 1, 1, 0]
    result = wb.compare(two_variants(same, same), "v1", "v2")
    assert result.diff == 0 and result.p_value == 1.0 and result.cases_needed is None
    assert "no difference to detect" in result.verdict
    mixed = wb.compare(two_variants([1, 0, 1, 0], [0, 1, 1, 0]), "v1", "v2", min_effect=0.1)
    assert mixed.diff == 0 and mixed.cases_needed == _stats.cases_needed(0.1, mixed.sd_diff)
    assert "none was observed" in mixed.verdict


def test_compare_averages_repeats_and_pairs_on_model_and_params():
    results = make_results({
        ("v1", "m1", 0.0): [[0, 0], [1, 0]], ("v2", "m1", 0.0): [[1, 1], [1, 1]],
        ("v1", "m2", 0.0): [[0, 1], [0, 0]], ("v2", "m2", 0.0): [[1, 0], [1, 1]],
    }, params=["temperature"])
    result = wb.compare(results, "v1", "v2")
    assert result.n == 4 and result.repeats == 2  # (model, temperature, case) pairs
    assert result.mean_a == pytest.approx((0 + 0.5 + 0.5 + 0) / 4) and result.mean_b == pytest.approx(0.875)
    only_m1 = wb.compare(results, "v1", "v2", model="m1")
    assert only_m1.n == 2 and only_m1.mean_a == pytest.approx(0.25)
    by_model = wb.compare(results, "m1", "m2")
    assert by_model.by == "model" and by_model.n == 4


def test_compare_errors_name_the_fix():
    results = two_variants([1, 0], [0, 1])
    with pytest.raises(wb.WorkbenchError, match="did you mean 'v2'"):
        wb.compare(results, "v1", "v3")
    with pytest.raises(wb.WorkbenchError, match="No scorer column 'qualty'"):
        wb.compare(results, "v1", "v2", scorer="qualty")
    with pytest.raises(wb.WorkbenchError, match="Cannot filter"):
        wb.compare(results, "v1", "v2", modle="m")


def test_compare_skips_unscored_cases_and_counts_them():
    results = two_variants([1, float("nan"), 0], [1, 1, 1])
    result = wb.compare(results, "v1", "v2")
    assert result.n == 2 and result.dropped == 1


# --- summaries ----------------------------------------------------------------------------
def test_summarize_weighs_cases_equally_and_reports_pass_at_k():
    results = make_results({("v1", "m"): [[1, 1, 1], [0, 0, 1], [0, 0, 0], [1, 0, 0]]})
    row = wb.summarize(results).iloc[0]
    assert row["n_cases"] == 4 and row["n_calls"] == 12 and row["errors"] == 0
    assert row["mean"] == pytest.approx((1 + 1 / 3 + 0 + 1 / 3) / 4)
    assert row["pass_rate"] == pytest.approx(5 / 12)
    # pass@3 with n = 3: a case passes if any repeat passed -> 3 of 4
    assert row["k"] == 3 and row["pass_at_k"] == pytest.approx(0.75)
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]


def test_pass_at_k_unbiased_estimator_hand_values():
    results = make_results({("v1", "m"): [[1, 0, 0], [1, 1, 0], [0, 0, 0]]})
    table = wb.pass_at_k(results, k=2)
    # 1 - C(n-c, k) / C(n, k): c=1 -> 1 - 1/3; c=2 -> 1; c=0 -> 0
    assert table.iloc[0]["pass_at_k"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert wb.pass_at_k(results, k=1).iloc[0]["pass_at_k"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)


def test_repeat_variance_per_temperature():
    results = make_results({("v1", "m", 0.0): [[1, 1], [0, 0]], ("v1", "m", 1.0): [[1, 0], [0.5, 0.5]]},
                           params=["temperature"])
    table = wb.repeat_variance(results).set_index("temperature")
    assert table.loc[0.0, "variance"] == 0 and table.loc[0.0, "inconsistent_cases"] == 0
    assert table.loc[1.0, "variance"] == pytest.approx((0.5 + 0) / 2)  # var([1, 0], ddof=1) = 0.5
    assert table.loc[1.0, "inconsistent_cases"] == 0.5


def test_errors_are_counted_not_dropped():
    results = two_variants([1, 1, 0], [1, 0, 0])
    results.loc[0, "error"] = "ServerError: boom"
    results.loc[0, "quality"] = np.nan
    row = wb.summarize(results).set_index("variant").loc["v1"]
    assert row["errors"] == 1 and row["n_calls"] == 3 and row["n_cases"] == 2 and row["unscored"] == 0


# --- agreement ---------------------------------------------------------------------------------
def test_cohen_kappa_hand_value_and_against_definition():
    # 2x2 table [[20, 5], [10, 15]]: po = 0.7, pe = (25*30 + 25*20) / 50**2 = 0.5 -> kappa 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert _stats.cohen_kappa(a, b) == pytest.approx(0.4)
    assert _stats.cohen_kappa(a, a) == 1.0
    assert _stats.cohen_kappa(["y", "n"], ["n", "y"]) == pytest.approx(-1.0)


def test_agreement_of_a_scorer_with_human_ratings():
    results = make_results({("v1", "m"): [[1], [1], [0], [0], [1], [0]]})
    results["rating"] = [1, 1, -1, 1, -1, 0]  # the last one is neutral: left out
    result = wb.agreement(results, "quality")
    assert result.n == 5
    judge = ["pass", "pass", "fail", "fail", "pass"]
    human = ["pass", "pass", "fail", "pass", "fail"]
    assert result.kappa == pytest.approx(_stats.cohen_kappa(human, judge))
    assert result.table.loc["pass", "pass"] == 2 and result.table.loc["fail", "pass"] == 1
    assert "kappa" in repr(result)
    with pytest.raises(wb.WorkbenchError, match="rate some"):
        wb.agreement(results.assign(rating=np.nan), "quality")
