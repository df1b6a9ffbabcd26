"""Does the model's confidence predict being right? Confidence columns, AUROC, Brier score, reliability.

With ``logprobs=True`` an experiment's results gain, per answer:

``confidence``        mean token probability of the answer (``Response.confidence``)
``confidence_min``    the least likely token's probability
``confidence_first``  the first non-blank token's probability
``p_<label>``         for label tasks (a ``label_match`` scorer): the probability the first
                      non-blank answer token gives each label, summed over the alternatives
                      that begin it (``" Pos"`` counts for ``positive``)

:func:`calibration` measures a confidence column against a scorer's pass/fail:
AUROC (the chance a right answer is more confident than a wrong one; 0.5 is no
signal), the Brier score (mean squared gap between confidence and being right;
lower is better, 0.25 is what always saying 0.5 earns), each with a percentile
bootstrap CI over answers, and a reliability table (confidence bins against
accuracy). Abstention (:func:`coverage_curve`): answer only above a threshold
and trade coverage for accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._errors import WorkbenchError
from ._tokens import Token
from ._types import Response

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Calibration", "calibration", "confidence_columns", "label_probabilities", "auroc", "brier",
           "coverage_curve", "CONFIDENCE_COLUMNS"]

CONFIDENCE_COLUMNS = ("confidence", "confidence_min", "confidence_first")


def _first_word(tokens: Sequence[Token]) -> Token | None:
    return next((t for t in tokens if t.text.strip()), None)


def label_probabilities(tokens: Sequence[Token] | None, labels: Sequence[str]) -> dict[str, float]:
    """Per label, the probability the first non-blank answer token gives it (see the module docstring)."""
    first = _first_word(tokens or [])
    out = {label: 0.0 for label in labels}
    if first is None:
        return {label: math.nan for label in labels}
    options = first.top or ((first.text, first.logprob),)
    for text, lp in options:
        start = text.strip().lower()
        if not start:
            continue
        for label in labels:
            if label.lower().startswith(start):
                out[label] += math.exp(lp)
    return out


def confidence_columns(response: Response, labels: Sequence[str] = ()) -> dict[str, float]:
    """The confidence columns of one answer (``{}`` when the call did not ask for logprobs)."""
    tokens = response.tokens
    if not tokens:
        return {}
    c = response.confidence
    assert c is not None
    first = _first_word(tokens)
    row = {"confidence": float(c), "confidence_min": c.min,
           "confidence_first": first.prob if first is not None else math.nan}
    row.update({f"p_{label}": p for label, p in label_probabilities(tokens, labels).items()})
    return row


def auroc(correct: Sequence[bool] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``correct`` (Mann-Whitney, ties count one half)."""
    y = np.asarray(correct, dtype=bool)
    s = np.asarray(score, dtype=float)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def brier(correct: Sequence[bool] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    y = np.asarray(correct, dtype=float)
    s = np.asarray(score, dtype=float)
    return float(np.mean((s - y) ** 2)) if len(y) else math.nan


@dataclass(frozen=True)
class Calibration:
    """How well a confidence column predicts a scorer's pass/fail (see the module docstring)."""

    scorer: str
    confidence: str
    n: int
    accuracy: float
    auroc: float
    auroc_ci: tuple[float, float]
    brier: float
    brier_ci: tuple[float, float]
    reliability: Any  # DataFrame: bin, mean_confidence, accuracy, n
    level: float

    def __repr__(self) -> str:
        pct = f"{self.level:.0%}"
        return (f"Calibration of {self.confidence} against {self.scorer} on {self.n} answers "
                f"(accuracy {self.accuracy:.0%}): AUROC {self.auroc:.2f} ({pct} CI {self.auroc_ci[0]:.2f} to "
                f"{self.auroc_ci[1]:.2f}; 0.5 = no signal), Brier {self.brier:.3f} ({pct} CI {self.brier_ci[0]:.3f} "
                f"to {self.brier_ci[1]:.3f}; lower is better)")

    def to_dict(self) -> dict[str, Any]:
        return {"scorer": self.scorer, "confidence": self.confidence, "n": self.n, "accuracy": self.accuracy,
                "auroc": self.auroc, "auroc_ci": list(self.auroc_ci), "brier": self.brier,
                "brier_ci": list(self.brier_ci)}


def _pairs(results: pd.DataFrame, scorer: str | None, confidence: str) -> tuple[str, np.ndarray, np.ndarray]:
    from ._stats import _passed, pick_scorer

    if confidence not in results.columns:
        have = [c for c in results.columns if c in CONFIDENCE_COLUMNS or str(c).startswith("p_")]
        raise WorkbenchError(
            f"No confidence column {confidence!r} in the results{f' (there are {have})' if have else ''}. "
            "Fix: run the experiment with params={'logprobs': True} (e.g. Experiment(..., params={'logprobs': "
            "True, 'top_logprobs': 5})), then pass confidence='confidence' or 'confidence_min'."
        )
    scorer = pick_scorer(results, scorer)
    passed = _passed(results, scorer).to_numpy(float)
    conf = results[confidence].astype(float).to_numpy()
    keep = ~np.isnan(passed) & ~np.isnan(conf)
    if keep.sum() < 2:
        raise WorkbenchError(f"Only {int(keep.sum())} answers have both a {scorer} score and a {confidence}. "
                             "Fix: run more cases (with logprobs=True).")
    return scorer, passed[keep] >= 0.5, conf[keep]


def calibration(results: pd.DataFrame, scorer: str | None = None, confidence: str = "confidence", *,
                bins: int = 5, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Calibration:
    """AUROC and Brier score of ``confidence`` for ``scorer``'s pass/fail, bootstrap CIs, a reliability table."""
    import pandas as pd

    scorer, y, s = _pairs(results, scorer, confidence)
    rng = np.random.default_rng(seed)
    aucs, briers = [], []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        a = auroc(y[idx], s[idx])
        if not math.isnan(a):
            aucs.append(a)
        briers.append(brier(y[idx], s[idx]))
    alpha = (1 - level) / 2

    def ci(values: list[float]) -> tuple[float, float]:
        if not values:
            return (math.nan, math.nan)
        low, high = np.quantile(values, [alpha, 1 - alpha])
        return float(low), float(high)

    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(s, edges[1:-1]), 0, bins - 1)
    table = pd.DataFrame([{"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                           "mean_confidence": float(s[which == b].mean()) if (which == b).any() else math.nan,
                           "accuracy": float(y[which == b].mean()) if (which == b).any() else math.nan,
                           "n": int((which == b).sum())} for b in range(bins)])
    return Calibration(scorer, confidence, len(y), float(y.mean()), auroc(y, s), ci(aucs), brier(y, s), ci(briers),
                       table, level)


def coverage_curve(results: pd.DataFrame, scorer: str | None = None, confidence: str = "confidence",
                   thresholds: Sequence[float] | None = None) -> pd.DataFrame:
    """Abstaining below each threshold: the share answered (coverage) and the accuracy on those answered."""
    import pandas as pd

    _, y, s = _pairs(results, scorer, confidence)
    cuts = sorted(set(thresholds)) if thresholds is not None else sorted({0.0, *np.quantile(s, np.linspace(0, .9, 10))})
    rows = []
    for t in cuts:
        answered = s >= t
        rows.append({"threshold": float(t), "coverage": float(answered.mean()),
                     "accuracy_answered": float(y[answered].mean()) if answered.any() else math.nan,
                     "answered": int(answered.sum())})
    return pd.DataFrame(rows)
