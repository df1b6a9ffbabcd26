"""Statistics on experiment results: means with honest intervals, paired comparisons, agreement.

Choices, and why:

* **Cases are the unit.** Repeats of one case are not independent evidence, so
  every statistic first averages a case's repeats, then treats cases as the
  sample (confidence intervals resample cases, comparisons pair cases).
* **Bootstrap intervals** (percentile, seeded) make no normality assumption,
  which matters for 0/1 scores on 20 cases.
* **Paired sign-flip permutation test** for two variants: exact for up to 16
  informative cases, Monte Carlo (seeded) beyond. It works for 0/1 and for
  graded scores; the sign test's win/loss counts are reported alongside
  because they are easy to explain.
* **"How many more cases?"** uses the normal approximation for a paired test
  (two-sided alpha, 80% power) with the observed spread of differences.

Only numpy, pandas and the standard library are needed; tests check the
figures against scipy.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from ._errors import WorkbenchError
from ._params import PARAM_NAMES

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "bootstrap_ci",
    "summarize",
    "pass_at_k",
    "repeat_variance",
    "compare",
    "Comparison",
    "cohen_kappa",
    "agreement",
    "Agreement",
    "score_columns",
    "param_columns",
    "case_means",
    "sign_flip_test",
    "sign_test",
    "cases_needed",
]

EXACT_LIMIT = 16  # informative pairs up to which the permutation test enumerates every sign pattern


# --- reading a results table ----------------------------------------------------
def score_columns(results: pd.DataFrame) -> list[str]:
    """Scorer columns: recorded by the experiment, else every ``X`` with an ``X_explanation``."""
    named = results.attrs.get("scorers")
    if named:
        return [s for s in named if s in results.columns]
    return [c[: -len("_explanation")] for c in results.columns
            if c.endswith("_explanation") and c[: -len("_explanation")] in results.columns]


def param_columns(results: pd.DataFrame) -> list[str]:
    """Parameter columns (the experiment's grid), in the order of :class:`Params`."""
    named = results.attrs.get("params")
    if named is not None:
        return [p for p in named if p in results.columns]
    return [p for p in PARAM_NAMES if p in results.columns]


def design_columns(results: pd.DataFrame) -> list[str]:
    """What defines one configuration: variant, model and parameter values."""
    return [c for c in ("variant", "model") if c in results.columns] + param_columns(results)


def pick_scorer(results: pd.DataFrame, scorer: str | None) -> str:
    """The scorer column to use; the only one if there is exactly one."""
    names = score_columns(results)
    if scorer is not None:
        if scorer not in results.columns:
            raise WorkbenchError(f"No scorer column {scorer!r} in the results{_hint(scorer, names)}. "
                                 f"Fix: use one of {names or 'the numeric columns'}.")
        return scorer
    if not names:
        raise WorkbenchError("The results have no scorer columns. Fix: run the experiment with scorers=[...], "
                             "or pass scorer='<numeric column>'.")
    return names[0]


def _hint(value: Any, options: Sequence[Any]) -> str:
    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _passed(results: pd.DataFrame, scorer: str) -> pd.Series:
    """1.0/0.0 per row (NaN where unscored): the scorer's ``passed`` column, else value >= 0.5."""
    col = f"{scorer}_passed"
    values = results[scorer].astype(float)
    if col in results.columns:
        passed = results[col].astype("boolean").astype("Float64").astype(float)
        return passed.where(passed.notna(), np.where(values.notna(), (values >= 0.5).astype(float), np.nan))
    return (values >= 0.5).astype(float).where(values.notna())


def case_means(results: pd.DataFrame, scorer: str | None = None, *, value: str = "score") -> pd.DataFrame:
    """One row per configuration and case: the mean over repeats (unscored calls excluded)."""
    scorer = pick_scorer(results, scorer)
    keys = design_columns(results) + ["case_id"]
    data = results[keys].copy()
    data[value] = results[scorer].astype(float) if value == "score" else _passed(results, scorer)
    return data.groupby(keys, dropna=False, sort=False)[value].mean().reset_index()


# --- intervals --------------------------------------------------------------------
def bootstrap_ci(values: Sequence[float] | np.ndarray, *, level: float = 0.95, n_boot: int = 10_000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (NaN values ignored)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return (math.nan, math.nan)
    if len(x) == 1 or np.all(x == x[0]):
        return (float(x[0]), float(x[0])) if len(x) == 1 else (float(x.mean()), float(x.mean()))
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    step = max(1, 2_000_000 // len(x))  # bounded memory for long inputs
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        means[start:stop] = x[rng.integers(0, len(x), (stop - start, len(x)))].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


# --- per-configuration summaries --------------------------------------------------
def summarize(results: pd.DataFrame, scorer: str | None = None, *, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per configuration (variant, model, parameters) and scorer: mean with CI, pass rate, pass@k, spread.

    ``mean`` weighs every case equally (repeats averaged first); ``ci_low`` /
    ``ci_high`` bootstrap over cases; ``pass_at_k`` uses k = the number of
    repeats; ``repeat_sd`` is the typical standard deviation across repeats
    of one case. ``errors`` counts failed calls, ``unscored`` calls that ran
    but got no score.
    """
    import pandas as pd

    scorers = [pick_scorer(results, scorer)] if scorer is not None else score_columns(results)
    design = design_columns(results)
    rows = []
    for name in scorers:
        for key, group in results.groupby(design, dropna=False, sort=False):
            rows.append({**dict(zip(design, key if isinstance(key, tuple) else (key,), strict=True)), "scorer": name,
                         **_summary_row(group, name, level, seed)})
    return pd.DataFrame(rows)


def _summary_row(group: pd.DataFrame, scorer: str, level: float, seed: int) -> dict[str, Any]:
    per_case = group.groupby("case_id", sort=False)[scorer].mean().astype(float)
    low, high = bootstrap_ci(per_case.to_numpy(), level=level, seed=seed)
    errors = int(group["error"].notna().sum()) if "error" in group else 0
    passed = _passed(group, scorer)
    repeats = int(group.groupby("case_id").size().max()) if len(group) else 0
    costs = group.get("cost_usd")
    return {
        "n_cases": int(per_case.notna().sum()),
        "n_calls": len(group),
        "errors": errors,
        "unscored": int(group[scorer].isna().sum()) - errors,
        "mean": float(per_case.mean()) if per_case.notna().any() else math.nan,
        "ci_low": low,
        "ci_high": high,
        "pass_rate": float(passed.mean()) if passed.notna().any() else math.nan,
        "pass_at_k": _pass_at_k_mean(group, scorer, repeats) if repeats > 1 else math.nan,
        "k": repeats,
        "repeat_sd": _repeat_sd(group, scorer),
        "mean_latency_s": float(group["latency_s"].mean()) if "latency_s" in group else math.nan,
        "cost_usd": (float(costs.sum()) if costs.notna().all() else math.nan) if costs is not None else math.nan,
    }


def _pass_at_k_case(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one case with ``n`` samples of which ``c`` passed (Chen et al., 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def _pass_at_k_mean(group: pd.DataFrame, scorer: str, k: int) -> float:
    passed = _passed(group, scorer)
    values = []
    for _, rows in passed.groupby(group["case_id"], sort=False):
        rows = rows.dropna()
        if len(rows) >= k:
            values.append(_pass_at_k_case(len(rows), int(rows.sum()), k))
    return float(np.mean(values)) if values else math.nan


def pass_at_k(results: pd.DataFrame, k: int | None = None, scorer: str | None = None) -> pd.DataFrame:
    """Per configuration: the chance that at least one of ``k`` repeats passes (default k = repeats).

    Uses the unbiased estimator over each case's n >= k scored repeats; cases
    with fewer are left out (``n_cases`` says how many counted).
    """
    import pandas as pd

    scorer = pick_scorer(results, scorer)
    design = design_columns(results)
    rows = []
    for key, group in results.groupby(design, dropna=False, sort=False):
        kk = k or int(group.groupby("case_id").size().max())
        if kk < 1:
            raise WorkbenchError(f"pass_at_k(k={k}) needs k >= 1. Fix: e.g. k=1 or k=3.")
        counted = group.groupby("case_id")[scorer].count()
        rows.append({**dict(zip(design, key if isinstance(key, tuple) else (key,), strict=True)), "k": kk,
                     "n_cases": int((counted >= kk).sum()), "pass_at_k": _pass_at_k_mean(group, scorer, kk)})
    return pd.DataFrame(rows)


def _repeat_sd(group: pd.DataFrame, scorer: str) -> float:
    var = group.groupby("case_id")[scorer].var(ddof=1).dropna()
    return float(math.sqrt(var.mean())) if len(var) else math.nan


def repeat_variance(results: pd.DataFrame, scorer: str | None = None) -> pd.DataFrame:
    """How much a configuration's score moves between repeats of the same case.

    ``variance`` is the mean within-case variance (ddof=1), ``sd`` its square
    root, ``inconsistent_cases`` the share of cases whose repeats did not all
    score the same. Compare rows at different temperatures to see what
    sampling costs in consistency.
    """
    import pandas as pd

    scorer = pick_scorer(results, scorer)
    design = design_columns(results)
    rows = []
    for key, group in results.groupby(design, dropna=False, sort=False):
        by_case = group.groupby("case_id")[scorer]
        var = by_case.var(ddof=1).dropna()
        spread = by_case.agg(lambda s: s.dropna().nunique() > 1)[by_case.count() >= 2]
        rows.append({**dict(zip(design, key if isinstance(key, tuple) else (key,), strict=True)),
                     "n_cases": len(var), "variance": float(var.mean()) if len(var) else math.nan,
                     "sd": float(math.sqrt(var.mean())) if len(var) else math.nan,
                     "inconsistent_cases": float(spread.mean()) if len(spread) else math.nan})
    return pd.DataFrame(rows)


# --- paired tests ------------------------------------------------------------------
def sign_flip_test(diffs: Sequence[float] | np.ndarray, *, n_perm: int = 20_000, seed: int = 0) -> float:
    """Two-sided p-value of a paired permutation test of mean difference 0.

    Under "no difference", each pair's difference is as likely to have either
    sign. Exact (every sign pattern) for up to ``EXACT_LIMIT`` non-zero
    differences, else ``n_perm`` seeded random patterns.
    """
    d = np.asarray(diffs, dtype=float)
    d = d[(d != 0) & ~np.isnan(d)]
    if len(d) == 0:
        return 1.0
    observed = abs(d.sum()) - 1e-12 * max(1.0, abs(d).sum())
    if len(d) <= EXACT_LIMIT:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
        return float(np.mean(np.abs(signs @ d) >= observed))
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_perm, 2000):
        signs = rng.choice((1.0, -1.0), size=(min(2000, n_perm - start), len(d)))
        hits += int(np.sum(np.abs(signs @ d) >= observed))
    return (hits + 1) / (n_perm + 1)


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test (binomial, p = 1/2) on wins vs losses; ties are left out."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def cases_needed(effect: float, sd: float, *, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Paired cases needed to detect a mean difference ``effect`` (normal approximation).

    ``None`` when ``effect`` is 0 (nothing to detect). When every difference
    is the same (sd 0), the smallest n at which a permutation test can reach
    ``alpha`` at all.
    """
    if effect == 0 or math.isnan(effect):
        return None
    floor = math.ceil(1 - math.log2(alpha)) if alpha > 0 else 1  # 2 / 2**n < alpha
    if sd == 0 or math.isnan(sd):
        return floor
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return max(floor, math.ceil((z * sd / abs(effect)) ** 2))


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of configurations ``a`` and ``b`` on the same cases (difference = b - a)."""

    a: Any
    b: Any
    by: str
    scorer: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    wins: int  # cases where b scored higher
    losses: int  # cases where b scored lower
    ties: int
    sign_test_p: float
    sd_diff: float
    cases_needed: int | None
    alpha: float
    verdict: str
    repeats: int = 1
    n_cases: int = 0  # distinct cases among the pairs (fewer than n when models or settings vary)
    dropped: int = 0
    power: float = 0.8
    method: str = "paired sign-flip permutation test"
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)

    def __repr__(self) -> str:
        level = f"{1 - self.alpha:.0%}"
        lines = [
            f"Comparison of {self.a} vs {self.b} ({self.by}) on {self.scorer}: {_pairs(self.n, self.n_cases)}"
            + (f", {self.repeats} repeats each averaged" if self.repeats > 1 else ""),
            f"  mean {self.a}: {self.mean_a:.3f}   mean {self.b}: {self.mean_b:.3f}",
            f"  difference ({self.b} - {self.a}): {self.diff:+.3f}, "
            f"{level} CI {self.ci_low:+.3f} to {self.ci_high:+.3f}",
            f"  {_p_text(self.p_value, 3)} ({self.method}); {self.b} better on {self.wins} cases, worse on "
            f"{self.losses}, tied on {self.ties} (sign test p = {self.sign_test_p:.3g})",
            f"  Verdict: {self.verdict}",
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Who won and by how much (or "no real difference"), the figures in a table, the verdict in words."""
        from ._htmlparts import comparison_html

        return comparison_html(self)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _resolve_side(results: pd.DataFrame, a: Any, b: Any, by: str | None) -> str:
    candidates = [by] if by else ["variant", "model", *param_columns(results)]
    for column in candidates:
        if column not in results.columns:
            continue
        values = list(results[column].dropna().unique())
        if a in values and b in values:
            return column
    if by:
        values = list(results[by].dropna().unique()) if by in results.columns else []
        missing = [x for x in (a, b) if x not in values]
        raise WorkbenchError(f"{', '.join(map(repr, missing))} not found in column {by!r}{_hint(missing[0], values)}. "
                             f"Fix: use values from {values}.")
    variants = list(results["variant"].unique()) if "variant" in results else []
    raise WorkbenchError(f"Cannot find both {a!r} and {b!r} in one column (variants: {variants}"
                         f"{_hint(a if a not in variants else b, variants)}). Fix: pass two variant names, "
                         "two models, or by='<column>'.")


def compare(results: pd.DataFrame, a: Any, b: Any, scorer: str | None = None, *, by: str | None = None,
            alpha: float = 0.05, power: float = 0.8, min_effect: float = 0.05, seed: int = 0,
            n_boot: int = 10_000, **filters: Any) -> Comparison:
    """Compare ``b`` with ``a`` (two variants, or models, or parameter values) on the same cases.

    Each case's repeats are averaged; cases are paired on everything else
    (model, parameters, case id). ``filters`` narrow the rows first, e.g.
    ``compare(results, "v1", "v2", model="local:smollm2", temperature=0)``.
    The verdict says whether the data can tell them apart and, if not,
    roughly how many cases would be needed to detect the observed difference
    (or ``min_effect``, when none was observed).
    """
    data = _filtered(results, filters)
    scorer = pick_scorer(data, scorer)
    column = _resolve_side(data, a, b, by)
    keys = [c for c in design_columns(data) if c != column] + ["case_id"]
    means = case_means(data[data[column].isin([a, b])], scorer)
    side_a = means[means[column] == a].set_index(keys)["score"]
    side_b = means[means[column] == b].set_index(keys)["score"]
    paired = side_a.to_frame("a").join(side_b.to_frame("b"), how="outer")
    dropped = int(paired.isna().any(axis=1).sum())
    paired = paired.dropna()
    if paired.empty:
        raise WorkbenchError(f"No case has a score for both {a!r} and {b!r} on {scorer!r}. "
                             "Fix: check the error column (failed calls are not scored) and the filters.")
    d = (paired["b"] - paired["a"]).to_numpy()
    low, high = bootstrap_ci(d, level=1 - alpha, n_boot=n_boot, seed=seed)
    p = sign_flip_test(d, seed=seed)
    informative = int((d != 0).sum())
    method = ("paired sign-flip permutation test, " + (
        "every pair tied" if informative == 0 else f"exact over all 2^{informative} sign patterns"
        if informative <= EXACT_LIMIT else "20,000 random sign patterns"))
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    sd = float(np.std(d, ddof=1)) if len(d) > 1 else math.nan
    diff = float(d.mean())
    effect = abs(diff) if diff != 0 else min_effect
    all_tied = wins + losses == 0  # no spread to plan with: nothing to detect
    needed = None if p < alpha or all_tied else cases_needed(effect, 0.0 if math.isnan(sd) else sd, alpha=alpha,
                                                             power=power)
    repeats = int(data.groupby(design_columns(data) + ["case_id"]).size().max())
    n_cases = int(paired.index.get_level_values("case_id").nunique())
    result = dict(a=a, b=b, by=column, scorer=scorer, n=len(d), mean_a=float(paired["a"].mean()),
                  mean_b=float(paired["b"].mean()), diff=diff, ci_low=low, ci_high=high, p_value=p, wins=wins,
                  losses=losses, ties=len(d) - wins - losses, sign_test_p=sign_test(wins, losses), sd_diff=sd,
                  cases_needed=needed, alpha=alpha, power=power, repeats=repeats, n_cases=n_cases, dropped=dropped,
                  method=method, filters=dict(filters))
    return Comparison(verdict=_verdict(result, effect, observed=diff != 0), **result)


def _filtered(results: pd.DataFrame, filters: dict[str, Any]) -> pd.DataFrame:
    data = results
    for name, value in filters.items():
        if name not in data.columns:
            raise WorkbenchError(f"Cannot filter on {name!r}: no such column{_hint(name, list(data.columns))}. "
                                 f"Fix: filter on one of {design_columns(results)}.")
        data = data[data[name] == value]
    return data


def _p_text(p: float, digits: int = 2) -> str:
    """``p = 0.031``, or ``p < 0.0001`` when no random sign pattern was as extreme (the Monte Carlo floor)."""
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.{digits}g}"


def _pairs(n: int, cases: int) -> str:
    """"20 paired cases", or "40 pairs (20 cases x models/settings)" when cases repeat across configurations."""
    return f"{n} paired cases" if cases in (0, n) else f"{n} pairs ({cases} cases x models/settings)"


def _verdict(r: dict[str, Any], effect: float, *, observed: bool) -> str:
    a, b, n, alpha = r["a"], r["b"], r["n"], r["alpha"]
    figures = (f"{r['mean_b']:.3f} vs {r['mean_a']:.3f}, difference {r['diff']:+.3f} "
               f"({1 - alpha:.0%} CI {r['ci_low']:+.3f} to {r['ci_high']:+.3f}), "
               f"{_p_text(r['p_value'])}, {_pairs(n, r['n_cases'])}")
    if r["p_value"] < alpha:
        better, worse = (b, a) if r["diff"] > 0 else (a, b)
        return (f"{better} scores higher than {worse} on {r['scorer']} ({figures}). "
                f"A difference this large is unlikely to be chance (p < {alpha:g}).")
    head = f"The data cannot tell {a} and {b} apart on {r['scorer']} ({figures})."
    needed = r["cases_needed"]
    if needed is None:
        return head + " They scored the same on every case: there is no difference to detect."
    what = f"a true difference of {effect:.3f}" if observed else f"a difference of {effect:.3f} (none was observed)"
    if needed > 100_000:
        return head + f" Detecting {what} would take more than 100,000 cases: treat them as equivalent."
    more = max(needed - n, 0)
    return (head + f" To detect {what} with {r['power']:.0%} power you would need about {needed} cases"
            f"{f' ({more} more)' if more else ''}.")


# --- agreement ---------------------------------------------------------------------
def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Cohen's kappa between two raters' labels on the same items (NaN if undefined)."""
    if len(a) != len(b):
        raise WorkbenchError(f"cohen_kappa needs two equally long lists (got {len(a)} and {len(b)}).")
    if len(a) == 0:
        return math.nan
    labels = sorted(set(a) | set(b), key=str)
    index = {x: i for i, x in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)))
    for x, y in zip(a, b, strict=True):
        table[index[x], index[y]] += 1
    n = table.sum()
    observed = np.trace(table) / n
    expected = float((table.sum(axis=1) @ table.sum(axis=0)) / n**2)
    if expected == 1:
        return 1.0 if observed == 1 else math.nan
    return float((observed - expected) / (1 - expected))


def _kappa_words(k: float) -> str:
    if math.isnan(k):
        return "undefined"
    for limit, word in ((0, "worse than chance"), (0.2, "slight"), (0.4, "fair"), (0.6, "moderate"),
                        (0.8, "substantial")):
        if k < limit:
            return word
    return "almost perfect"


@dataclass(frozen=True)
class Agreement:
    """How often an automatic scorer (usually an LLM judge) agrees with human ratings."""

    scorer: str
    n: int
    kappa: float
    observed: float
    table: Any  # DataFrame: rows = human, columns = scorer
    interpretation: str

    def __repr__(self) -> str:
        return (f"Agreement of {self.scorer} with human ratings on {self.n} rated calls: "
                f"kappa = {self.kappa:.2f} ({self.interpretation}), raw agreement {self.observed:.0%}\n{self.table}")


def agreement(results: pd.DataFrame, scorer: str | None = None, *, human: str = "rating") -> Agreement:
    """Cohen's kappa between a scorer's pass/fail and human thumbs (+1 good, -1 bad; 0 and unrated left out)."""
    import pandas as pd

    if scorer is None:
        judges = [j for j in results.attrs.get("judges", []) if j in results.columns]
        scorer = judges[0] if judges else pick_scorer(results, None)
    scorer = pick_scorer(results, scorer)
    if human not in results.columns:
        raise WorkbenchError(f"No {human!r} column in the results. Fix: rate some answers (RunLog.rate or the "
                             "widgets' thumbs), then rerun the experiment to join the ratings.")
    rated = results[results[human].isin([1, -1]) & results[scorer].notna()]
    if rated.empty:
        raise WorkbenchError("No call has both a +1/-1 human rating and a score. Fix: rate some of the scored answers.")
    judge = np.where(_passed(rated, scorer) >= 0.5, "pass", "fail")
    people = np.where(rated[human].to_numpy() > 0, "pass", "fail")
    kappa = cohen_kappa(list(people), list(judge))
    table = pd.crosstab(pd.Series(people, name="human"), pd.Series(judge, name=scorer)).reindex(
        index=["pass", "fail"], columns=["pass", "fail"], fill_value=0)
    return Agreement(scorer, len(rated), kappa, float(np.mean(judge == people)), table, _kappa_words(kappa))


def wilson_ci(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (sound at 0/n and n/n, where the normal one collapses)."""
    if n <= 0:
        return (math.nan, math.nan)
    from statistics import NormalDist  # (scipy is a test dependency only)

    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))
