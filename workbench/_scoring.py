"""The one scoring protocol, shared by experiments, widgets and the grader.

A *scorer* is anything callable as ``scorer(output, case)``: a plain function,
an ``async def`` function, a :class:`workbench.scorers.Scorer` (wrapping
either), or an object with an ``ascore(output, case[, runner=...])``
coroutine method (the LLM judge). What it returns is turned into a
:class:`Score` by :func:`to_score`, the only such conversion in the package,
so a scorer means the same thing in an experiment, in a Sweep and in an
exercise.

Scorers that call a model must not block the event loop they run on, and a
synchronous workbench call is refused inside the portal's loop. So
:func:`ascore` (what code running in an event loop uses, the portal's
included) awaits async scorers and runs plain functions in a worker thread,
where such a call works; the synchronous :func:`score` is for code outside
the portal's loop (an experiment's caller, a test).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import ScorerError
from ._portal import run_sync

__all__ = ["Score", "to_score", "score", "ascore", "acall", "scorer_name", "is_async_scorer", "Case"]

Case = Mapping[str, Any]

_FIX = "Fix: return a number, a bool, (value, explanation), (value, explanation, passed) or a wb.scorers.Score."


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
    kind = type(value)
    if kind.__module__ == "numpy" and kind.__name__ in ("bool_", "bool"):  # NumPy 2 calls it numpy.bool
        return bool(value)
    return None


def _as_float(value: Any, name: str) -> float | None:
    """A float from a real number (NumPy scalars included); ``None`` for ``None`` or NaN.

    Strings are refused even when they look like numbers ("0.5"): a scorer
    returning text is almost always returning the wrong thing.
    """
    if value is None:
        return None
    flag = _as_bool(value)
    if flag is not None:
        return 1.0 if flag else 0.0
    if isinstance(value, numbers.Real):
        number = float(value)
        return None if math.isnan(number) else number
    raise ScorerError(f"The scorer {name!r} gave {_show(value)} as its value, not a number. {_FIX}")


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} ({text[:60] + '...' if len(text) > 60 else text})"


def _finite(value: float | None, explanation: str) -> tuple[float | None, str]:
    """An infinite value cannot be averaged: it is reported as not scored, with the reason."""
    if value is not None and math.isinf(value):
        return None, f"{explanation + '; ' if explanation else ''}value {value} is not finite (not scored)"
    return value, explanation


def _passed(value: Any, name: str) -> bool | None:
    if value is None:
        return None
    flag = _as_bool(value)
    if flag is None:
        raise ScorerError(f"The scorer {name!r} gave passed={_show(value)}, not a bool. "
                          "Fix: return (value, explanation, True/False) or (value, explanation).")
    return flag


def to_score(result: Any, name: str = "scorer") -> Score:
    """Turn what a scorer returned into a :class:`Score`.

    Accepted: a ``Score`` (its fields normalised: NumPy scalars become Python
    ones, NaN becomes ``None``); a bool (NumPy's too: pass/fail); a real number
    (NumPy scalars too; NaN means "could not score"); ``None`` (could not
    score); ``(value, explanation)`` or ``(value, explanation, passed)``.
    An infinite value is "not scored", with the reason. Anything else raises
    :class:`ScorerError` naming the scorer and the fix.
    """
    if isinstance(result, Score):
        value, why = _finite(_as_float(result.value, name), str(result.explanation))
        passed = _passed(result.passed, name)
        if value is result.value and why is result.explanation and passed is result.passed:
            return result  # already plain (the usual case): no copy
        return Score(value, why, passed)
    flag = _as_bool(result)
    if flag is not None:
        return Score(1.0 if flag else 0.0, "yes" if flag else "no", flag)
    if result is None:
        return Score(None, f"{name} returned None")
    if isinstance(result, numbers.Real):
        value = _as_float(result, name)
        return Score(*_finite(value, "not a number (NaN)" if value is None else f"{value:g}"))
    if isinstance(result, tuple) and len(result) in (2, 3):
        raw, why = result[0], "" if result[1] is None else str(result[1])
        flag = _as_bool(raw)
        passed = _passed(result[2], name) if len(result) == 3 else flag
        value, why = _finite(_as_float(raw, name), why)
        return Score(value, why, passed)
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()  # never awaited: close it so Python does not warn later
        raise ScorerError(f"The scorer {name!r} returned a coroutine: it is async, but was called as a plain "
                          "function. Fix: score it with workbench's ascore(), or wrap it in wb.scorers.custom().")
    raise ScorerError(f"The scorer {name!r} returned {_show(result)}, not a score. {_FIX}")


def scorer_name(scorer: Any) -> str:
    """A scorer's ``.name``, else its function name (``"custom"`` for a lambda)."""
    target = scorer.func if isinstance(scorer, functools.partial) else scorer
    name = getattr(scorer, "name", None) or getattr(target, "__name__", None) or type(scorer).__name__
    return "custom" if name == "<lambda>" else str(name)


def _is_coroutine_callable(fn: Any) -> bool:
    """An ``async def`` function (partials too) or an object whose ``__call__`` is one."""
    # B004 wants callable(), but this asks whether the class's __call__ is async, not whether fn can be called
    call = getattr(type(fn), "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)


def is_async_scorer(scorer: Any) -> bool:
    """Whether calling ``scorer`` needs an event loop.

    A scorer that says so (``scorer.is_async``, as :class:`~workbench.scorers.Scorer`
    and the LLM judge do) is believed; otherwise an ``ascore`` method or an
    ``async def`` call makes it async.
    """
    flag = getattr(scorer, "is_async", None)
    if isinstance(flag, bool):
        return flag
    return callable(getattr(scorer, "ascore", None)) or _is_coroutine_callable(scorer)


def _takes_runner(method: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "runner" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


async def acall(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)`` from async code without blocking the loop: awaited when
    async, else run in a worker thread (where a synchronous ``wb.complete`` works).
    An awaitable returned by a plain function is awaited too."""
    if _is_coroutine_callable(fn):
        return await fn(*args)
    result = await asyncio.to_thread(fn, *args)
    if inspect.isawaitable(result):  # a plain function wrapping an async one
        result = await result
    return result


async def ascore(scorer: Callable[..., Any], output: str, case: Case | None = None, *,
                 runner: Any = None) -> Score:
    """Score one answer from async code (the portal's loop included).

    An ``ascore`` method is awaited (and given ``runner`` when it takes one:
    the judge calls through the caller's runner and log); an async function is
    awaited; a plain function runs in a worker thread, so a scorer that itself
    calls ``wb.complete`` works here. What the scorer raises propagates.
    """
    text = "" if output is None else str(output)
    case = case or {}
    method = getattr(scorer, "ascore", None)
    if callable(method) and is_async_scorer(scorer):
        result = await (method(text, case, runner=runner) if runner is not None and _takes_runner(method)
                        else method(text, case))
    else:
        result = await acall(scorer, text, case)
    return to_score(result, scorer_name(scorer))


def score(scorer: Callable[..., Any], output: str, case: Case | None = None, *, runner: Any = None) -> Score:
    """Score one answer from synchronous code: plain scorers run here, in the caller's
    thread; async ones run in the portal (refused, with the fix, inside the portal's loop)."""
    if is_async_scorer(scorer):
        return run_sync(ascore(scorer, output, case, runner=runner))
    result = scorer("" if output is None else str(output), case or {})
    if inspect.isawaitable(result):
        result = run_sync(_await(result))
    return to_score(result, scorer_name(scorer))


async def _await(awaitable: Any) -> Any:
    return await awaitable
