"""The one scoring protocol, shared by experiments, widgets and the grader.

A *scorer* is anything callable as ``scorer(output, case)``: a plain function,
an ``async def`` function, a :class:`workbench.scorers.Scorer`, or an object
with an ``ascore(output, case, runner=...)`` coroutine method (the LLM judge).
What it returns is turned into a :class:`Score` by :func:`to_score`, the only
such conversion in the package, so a scorer means the same thing in an
experiment, in a Sweep and in an exercise.

Scorers that call a model must not block the event loop they run on, and a
synchronous workbench call is refused inside the portal's loop. So
:func:`ascore` (what code running in the portal uses) awaits async scorers
and runs plain functions in a worker thread, where such a call works; the
synchronous :func:`score` is for code outside any loop (an experiment's
caller, a test).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import ScorerError

__all__ = ["Score", "to_score", "score", "ascore", "scorer_name", "is_async_scorer", "Case"]

Case = Mapping[str, Any]


@dataclass(frozen=True)
class Score:
    """One scorer's verdict on one answer.

    ``value`` is a float (usually in [0, 1], 1 = good) or ``None`` when the
    answer could not be scored; ``explanation`` always says why; ``passed``
    is a yes/no reading of the value (``None``: the scorer did not say).
    """

    value: float | None
    explanation: str = ""
    passed: bool | None = None

    @property
    def is_pass(self) -> bool:
        """``passed`` when the scorer said, else ``value >= 1`` (a full mark)."""
        if self.passed is not None:
            return bool(self.passed)
        return self.value is not None and self.value >= 1.0


def _as_bool(value: Any) -> bool | None:
    """``True``/``False`` for Python and NumPy booleans, else ``None``."""
    if isinstance(value, bool):
        return value
    if type(value).__name__ == "bool_" and type(value).__module__ == "numpy":
        return bool(value)
    return None


def _as_float(value: Any, name: str) -> float | None:
    """A float from a real number (NumPy scalars included); ``None`` for ``None`` or NaN."""
    if value is None:
        return None
    if isinstance(value, numbers.Real):
        number = float(value)
        return None if math.isnan(number) else number
    raise ScorerError(
        f"The scorer {name!r} gave {value!r} ({type(value).__name__}) as its value, not a number. "
        "Fix: return a number, a bool, (value, explanation) or a wb.scorers.Score."
    )


def to_score(result: Any, name: str = "scorer") -> Score:
    """Turn what a scorer returned into a :class:`Score`.

    Accepted: a ``Score``; a bool (NumPy's too: pass/fail); a real number
    (NumPy scalars too; NaN means "could not score"); ``None`` (could not
    score); ``(value, explanation)`` or ``(value, explanation, passed)``.
    Anything else raises :class:`ScorerError` naming the scorer and the fix.
    """
    if isinstance(result, Score):
        return result
    flag = _as_bool(result)
    if flag is not None:
        return Score(1.0 if flag else 0.0, "yes" if flag else "no", flag)
    if result is None:
        return Score(None, f"{name} returned None")
    if isinstance(result, numbers.Real):
        value = _as_float(result, name)
        return Score(value, "not a number (NaN)" if value is None else f"{value:g}")
    if isinstance(result, tuple) and len(result) in (2, 3):
        value, why = result[0], str(result[1])
        flag = _as_bool(value)
        if flag is not None:
            return Score(1.0 if flag else 0.0, why, flag)
        passed = _as_bool(result[2]) if len(result) == 3 else None
        if len(result) == 3 and passed is None and result[2] is not None:
            raise ScorerError(f"The scorer {name!r} gave passed={result[2]!r}, not a bool. "
                              "Fix: return (value, explanation, True/False) or (value, explanation).")
        return Score(_as_float(value, name), why, passed)
    raise ScorerError(
        f"The scorer {name!r} returned {type(result).__name__} ({str(result)[:60]!r}), not a score. "
        "Fix: return a wb.scorers.Score, a bool, a number or a (value, explanation) tuple."
    )


def scorer_name(scorer: Any) -> str:
    """A scorer's ``.name``, else its function name (``"custom"`` for a lambda)."""
    name = getattr(scorer, "name", None) or getattr(scorer, "__name__", None) or type(scorer).__name__
    return "custom" if name == "<lambda>" else str(name)


def is_async_scorer(scorer: Any) -> bool:
    """Whether calling ``scorer`` needs an event loop (an async function or an ``ascore`` method)."""
    if callable(getattr(scorer, "ascore", None)):
        return True
    target = getattr(scorer, "fn", None) or scorer
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(getattr(target, "__call__", None))


async def ascore(scorer: Callable[..., Any], output: str, case: Case | None = None, *,
                 runner: Any = None) -> Score:
    """Score one answer from async code (the portal's loop included).

    Async scorers are awaited; an ``ascore`` method gets ``runner`` (the judge
    calls through the caller's runner and log); a plain function runs in a
    worker thread, so a scorer that itself calls ``wb.complete`` works here.
    """
    name = scorer_name(scorer)
    text = "" if output is None else str(output)
    case = case or {}
    method = getattr(scorer, "ascore", None)
    if callable(method):
        result = await method(text, case, runner=runner) if runner is not None else await method(text, case)
    elif is_async_scorer(scorer):
        result = await scorer(text, case)
    else:
        result = await asyncio.to_thread(scorer, text, case)
        if inspect.isawaitable(result):  # a sync wrapper around an async function
            result = await result
    return to_score(result, name)


def score(scorer: Callable[..., Any], output: str, case: Case | None = None, *, runner: Any = None) -> Score:
    """Score one answer from synchronous code (async scorers run in the portal)."""
    if is_async_scorer(scorer):
        from ._portal import run_sync

        return run_sync(ascore(scorer, output, case, runner=runner))
    result = scorer("" if output is None else str(output), case or {})
    if inspect.isawaitable(result):
        from ._portal import run_sync

        result = run_sync(_await(result))
    return to_score(result, scorer_name(scorer))


async def _await(awaitable: Any) -> Any:
    return await awaitable
