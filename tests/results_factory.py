"""Synthetic experiment results with known scores, for the statistics, plot and export tests.

They have the columns and ``attrs`` that ``Experiment.run`` produces, without
running a model, so every expected figure can be worked out by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


def make_results(scores: Mapping[tuple[Any, ...], Sequence[Sequence[float]]], *, params: Sequence[str] = (),
                 scorer: str = "quality", cost: Mapping[str, float] | None = None,
                 latency: Mapping[str, float] | None = None) -> pd.DataFrame:
    """``scores[(variant, model, *param_values)][case][repeat]`` -> a results DataFrame."""
    rows = []
    for key, per_case in scores.items():
        variant, model, *values = key
        for case_id, repeats in enumerate(per_case):
            for repeat, value in enumerate(repeats):
                row = {"experiment_id": "synthetic", "variant": variant, "model": model,
                       **dict(zip(params, values, strict=True)), "case_id": case_id, "repeat": repeat,
                       "text": f"case {case_id}", "expected": "yes", "output": f"answer {value}",
                       scorer: value, f"{scorer}_passed": None if np.isnan(value) else bool(value >= 0.5),
                       f"{scorer}_explanation": "synthetic", "prompt_tokens": 10, "completion_tokens": 5,
                       "latency_s": (latency or {}).get(variant, 0.1), "cost_usd": (cost or {}).get(variant, 0.0),
                       "cached": False, "error": None, "call_id": len(rows) + 1, "rating": np.nan}
                rows.append(row)
    frame = pd.DataFrame(rows)
    frame[f"{scorer}_passed"] = frame[f"{scorer}_passed"].astype("boolean")
    frame.attrs.update({"experiment_id": "synthetic", "name": "synthetic", "scorers": [scorer], "judges": [],
                        "params": list(params), "variants": list(dict.fromkeys(k[0] for k in scores)),
                        "models": list(dict.fromkeys(k[1] for k in scores))})
    return frame


def two_variants(a: Sequence[float], b: Sequence[float], *, repeats: int = 1) -> pd.DataFrame:
    """Variants v1 and v2 on the same cases; each case's score repeated ``repeats`` times."""
    return make_results({("v1", "m"): [[x] * repeats for x in a], ("v2", "m"): [[x] * repeats for x in b]})
