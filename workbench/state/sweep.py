"""Sweep's state: one prompt, one parameter over several values, each repeated, and a measure per answer.

Measures are scorers (:mod:`workbench._scoring`): built-in ones (length,
words) or any scorer given, an LLM judge included. Every answer is scored in
the portal through :func:`ascore` as it arrives (a scorer that calls a model
is awaited, a plain function runs in a worker thread), and the run is
reported finished only when every answer has its measure.
Tools, a response format and conversation prompts: see :mod:`.call_extras`.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import plots
from .._errors import ParamsError, ScorerError
from .._log import RunLog
from .._params import Params
from .._portal import portal_loop, run_sync
from .._prompt import Prompt, Turn, as_prompt
from .._runner import Runner
from .._scoring import ascore, scorer_name
from .._tool_scorers import RESPONSE_KEY
from .._types import Request, Response
from . import cards
from .answer import Answer, tally, tally_text
from .base import RunningState
from .call_extras import CallExtras, WithExtras, conversation_prompt, prompt_variables
from .inputs import (
    check_filled,
    default_model,
    friendly_error,
    missing_key,
    split_kwargs,
)
from .params_form import build_params

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["SweepState", "SweepPoint", "MEASURES", "DEFAULT_SWEEPS", "SWEEPABLE", "MAX_SWEEP_CALLS",
           "parse_sweep_values"]

#: A Sweep asking for more calls than this is refused with the figures.
MAX_SWEEP_CALLS = 200


def _length(output: str, case: Mapping[str, Any]) -> float:
    return float(len(output))


def _words(output: str, case: Mapping[str, Any]) -> float:
    return float(len(output.split()))


#: Built-in measures of an answer: name -> scorer-like callable.
MEASURES: dict[str, Callable[[str, Mapping[str, Any]], float]] = {
    "length (characters)": _length,
    "words": _words,
}

#: Parameters a Sweep can vary (``n`` changes the shape of the answer, not its value),
#: with the values offered when the parameter is chosen.
DEFAULT_SWEEPS: dict[str, tuple[float | int, ...]] = {
    "temperature": (0.0, 0.5, 1.0, 1.5),
    "top_p": (0.1, 0.5, 0.9, 1.0),
    "max_tokens": (16, 64, 256),
    "seed": (0, 1, 2, 3),
    "presence_penalty": (-1.0, 0.0, 1.0, 2.0),
    "frequency_penalty": (-1.0, 0.0, 1.0, 2.0),
}
SWEEPABLE = tuple(DEFAULT_SWEEPS)


def parse_sweep_values(text: str | Iterable[Any], parameter: str) -> list[float | int]:
    """``"0, 0.5, 1"`` -> ``[0.0, 0.5, 1.0]``, each checked against the parameter's bounds."""
    if parameter not in SWEEPABLE:
        raise ParamsError(f"{parameter!r} cannot be swept. Fix: choose one of {', '.join(SWEEPABLE)}.")
    items = [s for s in re.split(r"[,;\s]+", text.strip()) if s] if isinstance(text, str) else list(text)
    if not items:
        raise ParamsError(f"No values to sweep {parameter} over. Fix: type some, e.g. 0, 0.5, 1, 1.5.")
    whole = Params.model_fields[parameter].annotation in (int, int | None)
    out: list[float | int] = []
    for item in items:
        try:
            number = float(item)
        except (TypeError, ValueError):
            raise ParamsError(f"{item!r} is not a number. "
                              "Fix: list numbers separated by commas, e.g. 0, 0.5, 1.") from None
        if whole:
            if not number.is_integer():
                raise ParamsError(f"{parameter} takes whole numbers, not {item}. Fix: e.g. 16, 64, 256.")
            number = int(number)
        Params.build({parameter: number})  # bounds, with the friendly message
        if number not in out:
            out.append(number)
    return out


def _check_repeats(repeats: int) -> int:
    if not isinstance(repeats, int) or isinstance(repeats, bool) or not 1 <= repeats <= 50:
        raise ParamsError(f"repeats={repeats!r} is not allowed. Fix: use a whole number from 1 to 50.")
    return repeats


@dataclass(eq=False)
class SweepPoint:
    """One call of a sweep: the parameter value, the repeat index, its answer and its measure.

    ``measure`` is ``None`` until the answer is scored, or when it could not
    be; ``measure_error`` then says why.
    """

    value: float | int
    repeat: int
    answer: Answer
    measure: float | None = None
    measure_error: str | None = None
    passed: bool | None = None  # the scorer's yes/no reading of the measure, when it gives one


class SweepState(RunningState, WithExtras):
    """One prompt, one parameter swept over values, each value repeated; a measure per answer.

    The measure is ``"length (characters)"`` by default, ``"words"``, or any
    scorer given in ``scorers`` (``scorer(output, case)`` returning a number,
    a bool, ``(value, explanation)`` or a Score, sync or async, an LLM judge
    included; ``case`` holds the variables and ``expected``, if given).
    ``tools``, ``response_format`` and ``expected_tool`` add the measures ``schema_valid``,
    ``valid_tool_call`` and ``tool_called`` and the rates of :meth:`summary` (:class:`CallExtras`).
    """

    def __init__(self, prompt: Prompt | str | None = None, model: str | None = None, *,
                 parameter: str = "temperature", values: Sequence[float] | str | None = None,
                 repeats: int = 3, measure: str | Callable[..., Any] | None = None,
                 scorers: Sequence[Callable[..., Any]] | Mapping[str, Callable[..., Any]] = (),
                 expected: Any = None, variables: Mapping[str, Any] | None = None, runner: Runner | None = None,
                 log: RunLog | str | None = None, tools: Any = None, response_format: Any = None,
                 expected_tool: str | None = None, **kwargs: Any) -> None:
        p = as_prompt(prompt or "", template=True)
        param_kwargs, var_kwargs = split_kwargs(kwargs, p)
        self._init_run(runner, log)
        self.expected: Any = expected
        self.system: str = p.system or ""
        self.user: str = p.user
        self.examples: tuple[tuple[str, str], ...] = p.examples
        self.messages: tuple[Turn, ...] = p.messages  # a conversation's turns, before ``user`` if that is set
        self.variables: dict[str, str] = {k: str(v) for k, v in {**(variables or {}), **var_kwargs}.items()}
        self.model: str = model or default_model()
        self.params: dict[str, Any] = build_params(param_kwargs).set()
        self.extras = CallExtras.build(tools, response_format, expected_tool, self.params.get("tool_choice"))
        self.parameter: str = parameter
        self.sweep_values: list[float | int] = parse_sweep_values(
            DEFAULT_SWEEPS.get(parameter, ()) if values is None else values, parameter)
        self.repeats: int = _check_repeats(repeats)
        self.scorers: dict[str, Callable[..., Any]] = {**MEASURES, **self.extras.measures()}
        items = scorers.items() if isinstance(scorers, Mapping) else ((scorer_name(s), s) for s in scorers)
        for name, scorer in items:
            self.scorers[name] = scorer
        if callable(measure):
            self.scorers[scorer_name(measure)] = measure
            measure = scorer_name(measure)
        self.measure: str = measure or self.extras.default_measure() or "length (characters)"
        if self.measure not in self.scorers:
            raise ScorerError(f"Unknown measure {self.measure!r}. Fix: use one of {', '.join(self.scorers)}.")
        self.points: list[SweepPoint] = []

    # --- editing ---------------------------------------------------------
    @property
    def variable_names(self) -> list[str]:
        return prompt_variables(self.system, self.user, self.examples, self.messages)

    def set_parameter(self, name: str, values: str | Iterable[Any] | None = None) -> None:
        """Sweep ``name`` instead, over ``values`` (default: a typical range for it)."""
        chosen = parse_sweep_values(DEFAULT_SWEEPS.get(name, ()) if values is None else values, name)
        self.parameter = name
        self.sweep_values = chosen

    def set_values(self, text: str | Iterable[Any]) -> list[float | int]:
        """Set the swept values from text (``"0, 0.5, 1"``) or numbers; raises on a bad one."""
        self.sweep_values = parse_sweep_values(text, self.parameter)
        return self.sweep_values

    def prompt(self) -> Prompt:
        return conversation_prompt(self.system, self.user, self.examples, self.messages)

    @property
    def missing_key(self) -> str | None:
        return missing_key(self.model)

    def provide_key(self, value: str) -> bool:
        return self._use_key(self.missing_key, value)

    @property
    def calls(self) -> int:
        return len(self.sweep_values) * self.repeats

    def prepare(self) -> list[tuple[float | int, int, Request]]:
        """``(value, repeat, request)`` for every call, all validated before any is sent."""
        _check_repeats(self.repeats)
        values = parse_sweep_values(self.sweep_values, self.parameter)
        if self.calls > MAX_SWEEP_CALLS:
            raise ParamsError(f"This sweep would make {self.calls} calls ({len(values)} values x {self.repeats} "
                              f"repeats); the limit is {MAX_SWEEP_CALLS}. Fix: fewer values or repeats.")
        prompt = self.prompt()
        filled = check_filled(prompt.variable_order, self.variables)
        out = []
        for value in values:
            params = build_params(self.params, {self.parameter: value})
            for repeat in range(self.repeats):
                tags = {"source": "sweep", "parameter": self.parameter, "value": value}
                out.append((value, repeat, self._runner.prepare(
                    self.model, prompt, filled, params, repeat=repeat, tags=tags, **self.extras.request_kwargs())))
        return out

    # --- running ---------------------------------------------------------
    def _prepare_run(self) -> list[Request]:
        planned = self.prepare()
        self.points = [SweepPoint(v, r, Answer(label=f"repeat {r + 1}", model=self.model))
                       for v, r, _ in planned]
        return [req for _, _, req in planned]

    async def _perform(self, requests: list[Request]) -> list[Response]:
        points = list(self.points)
        for point in points:
            point.answer.begin(1)
        self.changed("points")
        scoring: list[asyncio.Task[None]] = []

        async def score(i: int) -> None:
            await self._score(points[i])
            self.changed(f"point:{i}")

        def on_result(i: int, response: Response) -> None:
            points[i].answer.finish(response)
            self.changed(f"point:{i}")
            scoring.append(asyncio.get_running_loop().create_task(score(i)))

        try:
            responses = await self._runner.run(requests, on_result=on_result, progress=False)
            await asyncio.gather(*scoring)  # the run is done when every answer has its measure
            return responses
        except asyncio.CancelledError:
            for task in scoring:
                task.cancel()
            for point in points:
                if point.answer.running:
                    point.answer.stop()
            self.changed("points")
            raise

    # --- measures --------------------------------------------------------
    @property
    def measures(self) -> list[str]:
        return list(self.scorers)

    def set_measure(self, name: str) -> None:
        """Choose the measure plotted, rescoring the answers already there.

        From the kernel (or any thread but the portal's) this returns once
        they are rescored, concurrently in the portal, so a judge works here
        too; inside the portal's loop the rescoring is scheduled instead.
        """
        if name not in self.scorers:
            raise ScorerError(f"Unknown measure {name!r}. Fix: use one of {', '.join(self.scorers)}.")
        self.measure = name
        try:
            in_portal = asyncio.get_running_loop() is portal_loop()
        except RuntimeError:
            in_portal = False
        if in_portal:
            asyncio.get_running_loop().create_task(self._rescore(notify=True))
        else:
            run_sync(self._rescore())
            self.changed("points")

    async def _rescore(self, notify: bool = False) -> None:
        await asyncio.gather(*(self._score(p) for p in list(self.points)))
        if notify:
            self.changed("points")

    async def _score(self, point: SweepPoint) -> None:
        """Score one answer with the current measure (through the state's runner: a judge's calls are logged)."""
        name = self.measure
        point.measure, point.measure_error, point.passed = None, None, None
        if point.answer.status != "done":
            return
        value: float | None = None
        scorer, case = self.scorers[name], self.case()
        case.update({RESPONSE_KEY: point.answer.response} if getattr(scorer, "needs_response", False) else {})
        try:
            score = await ascore(scorer, point.answer.text, case, runner=self._runner)
        except Exception as exc:  # noqa: BLE001 - a scorer bug is reported, not raised mid-run
            error: str | None = f"{name}: {friendly_error(exc)}"
        else:
            value = score.value
            error = None if value is not None else f"{name}: {score.explanation}"  # why there is no measure
        if name != self.measure:  # the measure changed meanwhile: set_measure rescored this point
            return
        point.measure, point.measure_error = value, error
        point.passed = getattr(score, "passed", None) if value is not None else None

    def case(self) -> dict[str, Any]:
        """What scorers receive as ``case``: the variables, plus ``expected`` when one was given."""
        case: dict[str, Any] = dict(self.variables)
        if self.expected is not None:
            case["expected"] = self.expected
        if self.expected_tool is not None:
            case["expected_tool"] = self.expected_tool
        return case

    @property
    def measure_errors(self) -> list[str]:
        return [p.measure_error for p in self.points if p.measure_error]

    # --- reading ---------------------------------------------------------
    def groups(self) -> list[tuple[float | int, list[SweepPoint]]]:
        """Points grouped by parameter value, in the order of the values."""
        order: dict[float | int, list[SweepPoint]] = {}
        for point in self.points:
            order.setdefault(point.value, []).append(point)
        return list(order.items())

    def counts(self) -> dict[str, int]:
        """Points answered, failed and stopped (a stopped call is not an answer), and the total."""
        counts = tally([p.answer for p in self.points])
        counts.pop("needs_key")
        return counts

    def status_text(self) -> str:
        """What the widget's status says: ``"6/9 answered · 3 stopped"`` (``"running… 4/9"`` while running)."""
        return tally_text({**self.counts(), "needs_key": 0}, self.running)

    def measure_is_pass_fail(self) -> bool:
        """Whether the measure is a pass/fail reading (every measured answer scored 0 or 1, with a yes/no)."""
        scored = [p for p in self.points if p.measure is not None and not math.isnan(p.measure)]
        return bool(scored) and all(p.passed is not None and p.measure in (0.0, 1.0) for p in scored)

    def describe(self, row: Mapping[str, Any]) -> str:
        """One summary row in words: ``"pass rate word_count 50% (n=2)"`` or ``"mean length 42.0 (n=2)"``."""
        if not row.get("n") or math.isnan(row["mean"]):
            return ""
        if self.measure_is_pass_fail():
            return f"pass rate {self.measure} {row['mean']:.0%} (n={row['n']})"
        return f"mean {self.measure} {row['mean']:.1f} (n={row['n']})"

    def summary(self) -> list[dict[str, Any]]:
        """Per value: mean, min, max and count of the measure (where there is one), and :meth:`CallExtras.rates`."""
        rows = []
        for value, points in self.groups():
            xs = [p.measure for p in points if p.measure is not None and not math.isnan(p.measure)]
            row: dict[str, Any] = {
                "value": value, "n": len(xs), "mean": sum(xs) / len(xs) if xs else math.nan,
                "min": min(xs) if xs else math.nan, "max": max(xs) if xs else math.nan,
                "errors": sum(1 for p in points if p.answer.status == "error"),
            }
            row.update(self.extras.rates([p.answer.response for p in points
                                          if p.answer.status == "done" and p.answer.response is not None]))
            rows.append(row)
        return rows

    def to_frame(self) -> Any:
        """One row per call: value, repeat, output, measure, tokens, latency, error, call_id."""
        import pandas as pd  # pandas is loaded only when a frame is asked for

        rows = []
        for p in self.points:
            r = p.answer.response
            rows.append({
                self.parameter: p.value, "repeat": p.repeat, "output": p.answer.text, self.measure: p.measure,
                "completion_tokens": r.usage.completion_tokens if r else None,
                "latency_s": r.latency_s if r else None, "error": p.answer.error,
                "rating": p.answer.rating, "call_id": p.answer.call_id,
                **self.extras.columns(r),
            })
        return pd.DataFrame(rows)

    def figure(self) -> Figure:
        """The measure against the parameter (:func:`workbench.plots.sweep_points`): dots and the mean."""
        return plots.sweep_points(self)

    def png(self) -> bytes:
        """:meth:`figure` as PNG bytes (what the widget's Image shows)."""
        return plots.to_png(self.figure())

    def rate(self, index: int, rating: int | None, note: str | None = None) -> None:
        """Rate the answer of point ``index``."""
        self._rate(self.points[index].answer, rating, note)

    # --- static form (see cards.py) --------------------------------------
    def summary_text(self) -> str:
        return cards.sweep_text(self)

    def summary_html(self) -> str:
        return cards.sweep_html(self)
