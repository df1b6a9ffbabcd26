"""The grader: what an exercise is, and how a prompt is checked against one.

An :class:`Exercise` is a small, fixed test: a task for the learner, the
``{variables}`` their prompt must use, a handful of cases, deterministic
checks of each answer (regex, JSON parse, exact text, token count...), how
many times each case is run, and the pass rate needed. :func:`acheck` fills
the learner's prompt with every case, runs each one ``runs`` times through the
runner (concurrently, logged, with seeds ``0, 1000, 2000...`` chosen by the
grader, so the verdict is reproducible, a rerun is answered from the run log,
and a learner's own seed cannot collapse the samples into one), scores each answer
with the exercise's checks through the one scoring protocol
(:mod:`workbench._scoring`: a check may be a plain or an async function and
return a Score, a bool or ``(value, explanation)``), and returns a
:class:`CheckResult`.

This module knows nothing of the course: the course's exercises are defined
in :mod:`workbench._course` (which imports only this module), and the public
:mod:`workbench.exercises` keeps the registry, hints and solutions.
"""

from __future__ import annotations

import difflib
import html
import json
import math
import re
import textwrap
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._errors import ParamsError, PromptError, WorkbenchError
from ._params import PARAM_NAMES, Params
from ._prompt import Prompt, as_prompt
from ._runner import Runner, get_runner
from ._scoring import Score, acall, scorer_name, to_score
from ._stats import wilson_ci
from ._types import Response
from .providers import default_model

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Exercise",
    "ExerciseCase",
    "CheckResult",
    "Attempt",
    "ExerciseError",
    "Check",
    "SEED_STEP",
    "acheck",
    "normalise_answer",
    "first_number",
    "answer_equals",
    "matches",
    "not_containing",
    "max_completion_tokens",
    "max_prompt_tokens",
    "finished_cleanly",
    # re-exported so that the course's definitions need no other workbench module
    "Prompt",
    "Response",
    "Score",
]

Mode = Literal["each", "agree", "vote"]
#: Run ``r`` of a case uses ``seed = SEED_STEP * r`` (the grader's seeds; a learner's seed is reported and
#: replaced, except in ``mode="agree"``, where fixing a seed is one way to make the runs agree).
SEED_STEP = 1000
#: A ``sampled`` exercise grades robustness: at least this temperature (fixed) and this many runs per case.
SAMPLED_MIN_TEMPERATURE = 0.7
SAMPLED_MIN_RUNS = 5
#: A check looks at one answer: ``check(output, case, response)``, plain or async, returning
#: anything :func:`workbench._scoring.to_score` accepts (a Score, a bool, ``(bool, why)``...).
Check = Callable[[str, "ExerciseCase", Response], Any]


class ExerciseError(WorkbenchError, LookupError):
    """An unknown exercise id, or an exercise defined inconsistently."""


# --- definitions --------------------------------------------------------------
@dataclass(frozen=True)
class ExerciseCase:
    """One test case: the values of the prompt's variables and what a good answer is."""

    vars: Mapping[str, str]
    expected: Any = None
    id: str = ""
    note: str = ""  # shown in feedback, e.g. "the text hides an instruction"

    def label(self) -> str:
        return self.id or ", ".join(f"{k}={_short(str(v), 40)}" for k, v in self.vars.items())


@dataclass(frozen=True)
class Exercise:
    """A graded exercise. Build one with keyword arguments (``wb.exercises.register`` adds it to the course).

    ``checks`` all have to pass for an answer to pass; each returns a
    :class:`~workbench.scorers.Score` (or a bool, or ``(bool, explanation)``)
    and the failing explanations are the feedback. ``mode`` says how the
    runs of a case are judged: ``"each"`` (every answer on its own),
    ``"agree"`` (each answer must also be identical to the case's other runs),
    ``"vote"`` (the answer of a run is the majority of its ``n`` samples, each
    sample voting for ``vote_key(sample)``: self-consistency). ``params`` are
    the defaults the learner may override, except the names in ``fixed``.

    ``sampled=True`` says robustness is what is graded: every case is sampled
    ``runs`` (≥ 5) times at the exercise's temperature (≥ 0.7) with the
    grader's seeds. A learner's ``temperature`` or ``seed`` is then reported and
    not used, because at temperature 0 or with one seed every sample is the same
    answer and "the pass rate over samples" would mean nothing.
    """

    id: str
    title: str
    notebook: str
    task: str
    variables: tuple[str, ...]
    cases: tuple[ExerciseCase, ...]
    checks: tuple[Check, ...]
    solution: Prompt
    starter: Prompt
    solution_params: Mapping[str, Any] = field(default_factory=dict)
    starter_params: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    fixed: frozenset[str] = frozenset()
    runs: int = 3
    threshold: float = 0.75
    mode: Mode = "each"
    hints: tuple[str, ...] = ()
    vote_key: Callable[[str], str] | None = None  # mode "vote": the answer a sample votes for
    how: str = ""  # how the learner's prompt is used, in one or two sentences
    explanation: str = ""  # why the reference works (shown with the solution)
    #: Tools and a response format every call of the exercise gets unless ``check(..., tools=,
    #: response_format=)`` gives others (``@wb.tool`` functions or raw definitions; a JSON schema or
    #: a pydantic model): the lessons on tool calling and structured output grade with them.
    tools: tuple[Any, ...] = ()
    response_format: Any = None
    sampled: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not re.fullmatch(r"\d\d-[a-z0-9-]+", self.id):
            problems.append("the id must look like '01-extract-name'")
        if not self.cases:
            problems.append("it has no cases")
        if not self.checks:
            problems.append("it has no checks")
        if not 0 < self.threshold <= 1:
            problems.append("threshold must be in (0, 1]")
        if self.runs < 1:
            problems.append("runs must be at least 1")
        if self.mode not in ("each", "agree", "vote"):
            problems.append("mode must be 'each', 'agree' or 'vote'")
        if self.sampled and (self.params.get("temperature", 0) < SAMPLED_MIN_TEMPERATURE
                             or self.runs < SAMPLED_MIN_RUNS):
            problems.append(f"a sampled exercise needs temperature >= {SAMPLED_MIN_TEMPERATURE} in params and "
                            f"runs >= {SAMPLED_MIN_RUNS}")
        for case in self.cases:
            if set(case.vars) != set(self.variables):
                problems.append(f"case {case.label()} has variables {sorted(case.vars)}, not {sorted(self.variables)}")
        for name in {*self.params, *self.fixed}:
            if name not in PARAM_NAMES:
                problems.append(f"{name!r} is not a parameter")
        if problems:
            raise ExerciseError(f"Exercise {self.id!r} is malformed: {'; '.join(problems)}.")
        Params.build(self.params)  # bounds checked now

    def _fixed_text(self) -> str:
        """' (fixed: ...)': what the learner cannot change, ``fixed`` and, if ``sampled``, temperature and seed."""
        locked = {*self.fixed, *(("temperature", "seed") if self.sampled else ())}
        return f" (fixed: {', '.join(sorted(locked))})" if locked else ""

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(c.id)}</td><td>{_vars_html(c.vars)}</td><td><code>{html.escape(_show(c.expected))}</code></td></tr>"
            for c in self.cases
        )
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items()) or "the model's defaults"
        fixed = self._fixed_text()
        return _left(
            f"<div class='wb-exercise'><h4>Exercise {html.escape(self.id)}: {html.escape(self.title)}</h4>"
            f"<p>{_md_inline(self.task)}</p>"
            + (f"<p><i>{_md_inline(self.how)}</i></p>" if self.how else "")
            + f"<p>Your prompt must use: {', '.join('<code>{' + html.escape(v) + '}</code>' for v in self.variables)}. "
            f"Each of the {len(self.cases)} cases runs {self.runs} time{'s' if self.runs > 1 else ''} "
            f"at {html.escape(params)}{html.escape(fixed)}; you pass at {self.threshold:.0%}.</p>"
            f"<table><tr><th>case</th><th>input</th><th>expected</th></tr>{rows}</table></div>"
        )

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items()) or "model defaults"
        lines = [
            f"Exercise {self.id}: {self.title}",
            _wrap(self.task),
        ]
        if self.how:
            lines.append(_wrap(self.how))
        lines += [
            f"Variables your prompt must use: {', '.join('{' + v + '}' for v in self.variables)}",
            f"{len(self.cases)} cases x {self.runs} runs at {params}"
            + self._fixed_text()
            + f"; pass at {self.threshold:.0%}.",
        ]
        for c in self.cases:
            lines.append(f"  {c.id or '-'}: {_vars_text(c.vars)} -> {_show(c.expected)}")
        return "\n".join(lines)


# --- checking ---------------------------------------------------------------------
@dataclass
class Attempt:
    """One graded answer: which case, which run, what came back and why it passed or not."""

    case: ExerciseCase
    run: int
    output: str
    passed: bool
    explanation: str
    response: Response
    votes: list[tuple[str, int]] | None = None


@dataclass
class CheckResult:
    """The grader's verdict: ``passed``, ``pass_rate``, and every attempt with feedback."""

    exercise: Exercise
    model: str
    prompt: Prompt
    params: dict[str, Any]
    runs: int
    attempts: list[Attempt]
    #: What the grader did not use, and why (a learner's seed; on a sampled exercise, their temperature).
    notes: list[str] = field(default_factory=list)

    @property
    def n_passed(self) -> int:
        return sum(a.passed for a in self.attempts)

    @property
    def pass_rate(self) -> float:
        return self.n_passed / len(self.attempts) if self.attempts else 0.0

    @property
    def ci(self) -> tuple[float, float]:
        """95% Wilson interval of the pass rate: how far the verdict could move on another set of samples."""
        return wilson_ci(self.n_passed, len(self.attempts))

    def _ci_text(self) -> str:
        low, high = self.ci
        return f"95% CI {low:.0%}-{high:.0%}" if self.attempts else "no answers"

    @property
    def passed(self) -> bool:
        return bool(self.attempts) and self.pass_rate >= self.exercise.threshold - 1e-9

    @property
    def failures(self) -> list[Attempt]:
        return [a for a in self.attempts if not a.passed]

    @property
    def errors(self) -> list[Attempt]:
        return [a for a in self.attempts if not a.response.ok]

    def case_rates(self) -> dict[str, float]:
        """Pass rate of each case across its runs."""
        out: dict[str, list[bool]] = {}
        for a in self.attempts:
            out.setdefault(a.case.id or a.case.label(), []).append(a.passed)
        return {k: sum(v) / len(v) for k, v in out.items()}

    def to_frame(self) -> pd.DataFrame:
        """One row per answer: case, run, output, passed, explanation, tokens, latency."""
        import pandas as pd

        return pd.DataFrame([
            {"case": a.case.id, "run": a.run, "output": a.output, "expected": _show(a.case.expected),
             "passed": a.passed, "explanation": a.explanation,
             "completion_tokens": a.response.usage.completion_tokens, "latency_s": a.response.latency_s,
             "cached": a.response.cached, "call_id": a.response.call_id}
            for a in self.attempts
        ])

    def feedback(self, limit: int = 6) -> list[str]:
        """What went wrong, one line per failed case (the first failing run of each), most useful first."""
        lines, seen = [], set()
        for a in self.failures:
            key = a.case.id or a.case.label()
            if key in seen:
                continue
            seen.add(key)
            note = f" [{a.case.note}]" if a.case.note else ""
            lines.append(f"{key}{note}: {a.explanation} (answer: {_short(a.output)})")
        if len(lines) > limit:
            lines = lines[:limit] + [f"... and {len(lines) - limit} more case(s); see result.to_frame()"]
        return lines

    def _summary(self) -> str:
        ex = self.exercise
        verdict = "PASSED" if self.passed else "NOT YET"
        return (f"{verdict}: {ex.id} ({ex.title}) on {self.model}: {self.n_passed}/{len(self.attempts)} answers passed "
                f"= {self.pass_rate:.0%} ({self._ci_text()}; pass mark {ex.threshold:.0%}; "
                f"{len(ex.cases)} cases x {self.runs} runs)")

    def _next_step(self) -> str:
        if self.passed:
            if not self.failures:
                return ""
            return "Passed, though not every answer: read the failures to see what is still fragile."
        if self.errors:
            return f"{len(self.errors)} call(s) failed with an error: {self.errors[0].response.error}"
        return f"Improve the prompt and check again; wb.exercises.hint({self.exercise.id!r}) gives a hint."

    def __repr__(self) -> str:
        lines = [self._summary()]
        if self.params:
            lines.append("parameters: " + ", ".join(f"{k}={v!r}" for k, v in self.params.items()))
        lines += [f"Note: {note}" for note in self.notes]
        fb = self.feedback()
        if fb:
            lines.append("What failed:")
            lines += [f"  - {line}" for line in fb]
        step = self._next_step()
        if step:
            lines.append(step)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#b35900"
        bar = (f"<span style='background:#eee;width:240px;height:10px;display:inline-block;vertical-align:middle'>"
               f"<span style='background:{colour};width:{self.pass_rate * 240:.0f}px;height:10px;display:block'>"
               "</span></span>")
        rows = []
        for case_id, rate in self.case_rates().items():
            attempts = [a for a in self.attempts if (a.case.id or a.case.label()) == case_id]
            first_bad = next((a for a in attempts if not a.passed), None)
            shown = first_bad or attempts[0]
            mark = "✔" if first_bad is None else "✘"
            note = f" <i>({html.escape(shown.case.note)})</i>" if shown.case.note else ""
            rows.append(
                f"<tr><td style='white-space:nowrap'>{mark} {html.escape(case_id)}{note}</td><td>{rate:.0%}</td>"
                f"<td><code>{html.escape(_short(shown.output, 80))}</code></td>"
                f"<td>{html.escape(shown.explanation)}</td></tr>"
            )
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        step = self._next_step()
        return _left(
            f"<div class='wb-check'><p><b style='color:{colour}'>{'PASSED' if self.passed else 'NOT YET'}</b> "
            f"{html.escape(self.exercise.id)}: {self.pass_rate:.0%} {bar} "
            f"<span style='opacity:.7'>({html.escape(self._ci_text())}; pass mark {self.exercise.threshold:.0%}; "
            f"{len(self.exercise.cases)} cases × "
            f"{self.runs} runs on {html.escape(self.model)}{'; ' + html.escape(params) if params else ''})</span></p>"
            f"<table><tr><th>case</th><th>passed</th><th>answer (first failing run)</th><th>why</th></tr>"
            f"{''.join(rows)}</table>"
            + "".join(f"<p><i>Note: {html.escape(note)}</i></p>" for note in self.notes)
            + (f"<p>{html.escape(step)}</p>" if step else "")
            + "</div>"
        )


def _resolve_prompt(prompt: Any) -> tuple[Prompt, dict[str, Any], str | None]:
    """Accept a Prompt, a string, a list of messages, a Playground or its state."""
    state = getattr(prompt, "state", prompt)
    if callable(getattr(state, "prompt", None)) and isinstance(getattr(state, "params", None), Mapping):
        return state.prompt(), dict(state.params), getattr(state, "model", None)
    return as_prompt(prompt, template=True), {}, None


def _check_prompt(ex: Exercise, prompt: Prompt) -> None:
    missing = [v for v in ex.variables if v not in prompt.variables]
    extra = [v for v in prompt.variable_order if v not in ex.variables]
    if missing:
        placeholders = ", ".join("{" + v + "}" for v in missing)
        raise PromptError(
            f"Your prompt does not use {placeholders}, so the model would never see "
            f"the case's {' and '.join(missing)}. Fix: put {placeholders} where it belongs "
            f"in the prompt."
        )
    if extra:
        raise PromptError(
            f"Your prompt uses {', '.join('{' + v + '}' for v in extra)}, but this exercise only fills "
            f"{', '.join('{' + v + '}' for v in ex.variables)}. Fix: remove it, or double the braces "
            "({{ and }}) if you meant literal braces, say in a JSON example."
        )


def _sampling_notes(ex: Exercise, given: dict[str, Any]) -> list[str]:
    """Take the learner's seed (and, on a sampled exercise, temperature) out of ``given``; say why."""
    notes = []
    temperature = given.pop("temperature", None) if ex.sampled else None
    if temperature is not None and temperature != ex.params["temperature"]:
        notes.append(f"temperature={temperature!r} was not used: this exercise grades robustness, so every case "
                     f"is sampled at temperature {ex.params['temperature']!r}. Make the prompt robust instead.")
    seed = given.pop("seed", None) if ex.mode != "agree" else None
    if seed is not None:
        notes.append(f"seed={seed!r} was not used: the grader samples run r of each case with seed {SEED_STEP}*r, "
                     f"so that the runs of a case are different samples.")
    return notes


def _run_params(ex: Exercise, given: Mapping[str, Any]) -> dict[str, Any]:
    unknown = [k for k in given if k not in PARAM_NAMES]
    if unknown:
        close = difflib.get_close_matches(unknown[0], PARAM_NAMES, n=1, cutoff=0.6)
        did = f" Did you mean {close[0]!r}?" if close else ""
        raise ParamsError(f"Unknown parameter {unknown[0]!r}.{did} Allowed parameters: {', '.join(PARAM_NAMES)}.")
    locked = [k for k in given if k in ex.fixed and given[k] != ex.params.get(k)]
    if locked:
        shown = ", ".join(f"{k}={ex.params.get(k)!r}" for k in locked)
        raise ParamsError(
            f"Exercise {ex.id} fixes {shown}: that is part of the test. "
            f"Fix: remove {', '.join(k + '=' for k in locked)} "
            "and change the prompt instead."
        )
    params = {**ex.params, **{k: v for k, v in given.items() if v is not None}}
    if ex.mode != "vote" and params.get("n", 1) != 1:
        raise ParamsError(f"Exercise {ex.id} grades one answer per call. Fix: remove n= (or set n=1).")
    Params.build(params)  # raises a friendly ParamsError on a bad value
    return params


async def acheck(exercise: Exercise, prompt: Any, model: str | None = None, *, runs: int | None = None,
                 runner: Runner | None = None, cache: Any = None, progress: bool = False,
                 tools: Any = None, response_format: Any = None, **params: Any) -> CheckResult:
    """Grade ``prompt`` on ``exercise``: run every case ``runs`` times, check each answer, report.

    ``prompt`` is a :class:`wb.Prompt`, a string (the user message), or a
    Playground (its prompt, parameters and model). Keyword arguments are
    parameters, as for ``wb.complete``. Run ``r`` uses ``seed=SEED_STEP*r``; a learner's seed
    (and, on a sampled exercise, temperature) is reported in ``notes`` and not used. ``tools`` and
    ``response_format`` replace the exercise's own, as for
    ``wb.complete``. (``wb.exercises.check`` is the public entry point.)
    """
    ex = exercise
    p, state_params, state_model = _resolve_prompt(prompt)
    _check_prompt(ex, p)
    given = {**state_params, **params}
    notes = _sampling_notes(ex, given)
    merged = _run_params(ex, given)
    model = model or state_model or default_model()
    runs = ex.runs if runs is None else int(runs)
    if runs < 1:
        raise ParamsError(f"runs={runs}: at least one run is needed. Fix: runs=1 or more.")
    runner = runner or get_runner()
    tools = ex.tools if tools is None else tools
    response_format = ex.response_format if response_format is None else response_format
    requests, keys = [], []
    for case in ex.cases:
        for run in range(runs):
            values = dict(merged)
            # a fixed seed per run: reproducible, and a rerun comes from the log; 1000 apart so that
            # the n samples of one run (seeds s, s+1, ...) never overlap another run's
            values.setdefault("seed", SEED_STEP * run)
            requests.append(runner.prepare(model, p, case.vars, Params.build(values), repeat=run,
                                           tags={"exercise": ex.id, "case": case.id, "run": run},
                                           tools=tools, response_format=response_format))
            keys.append((case, run))
    responses = await runner.run(requests, cache=cache, progress=progress)
    attempts = [await _grade(ex, case, run, response) for (case, run), response in zip(keys, responses, strict=True)]
    if ex.mode == "agree":
        attempts = _require_agreement(attempts)
    return CheckResult(ex, model, p, merged, runs, attempts, notes)


# --- grading ------------------------------------------------------------------------
async def _grade_text(ex: Exercise, case: ExerciseCase, output: str, response: Response) -> tuple[bool, str]:
    """Every check runs (through the scoring protocol: async checks awaited, plain ones in a worker
    thread); the explanation lists what failed (or, if nothing did, what passed)."""
    passed: list[str] = []
    failed: list[str] = []
    for fn in ex.checks:
        score = to_score(await acall(fn, output, case, response), scorer_name(fn))
        (passed if score.is_pass else failed).append(score.explanation)
    if failed:
        return False, "; ".join(failed)
    return True, "; ".join(r for r in passed if r and r != "ok") or "ok"


async def _grade(ex: Exercise, case: ExerciseCase, run: int, response: Response) -> Attempt:
    if not response.ok:
        return Attempt(case, run, response.text, False, f"the call failed: {response.error_type}: {response.error}",
                       response)
    if ex.mode == "vote":
        choices = response.choices or [response.text]
        key = ex.vote_key or normalise_answer
        counts = Counter(k for k in (key(c) for c in choices) if k)
        if not counts:
            return Attempt(case, run, response.text, False, f"no usable answer in {len(choices)} sample(s)",
                           response, votes=[])
        winner, votes = counts.most_common(1)[0]
        ok, why = await _grade_text(ex, case, winner, response)
        if len(choices) > 1:
            why = f"majority of {len(choices)} samples ({votes} votes for {winner!r}): {why}"
        return Attempt(case, run, winner, ok, why, response, votes=counts.most_common())
    ok, why = await _grade_text(ex, case, response.text, response)
    return Attempt(case, run, response.text, ok, why, response)


def _require_agreement(attempts: list[Attempt]) -> list[Attempt]:
    by_case: dict[int, list[Attempt]] = {}
    for a in attempts:
        by_case.setdefault(id(a.case), []).append(a)
    for group in by_case.values():
        distinct = Counter(a.output.strip() for a in group)
        if len(distinct) > 1:
            for a in group:
                if a.passed:
                    a.passed = False
                    a.explanation = f"the {len(group)} runs gave {len(distinct)} different answers: not reproducible"
                else:
                    a.explanation += f" (and the runs gave {len(distinct)} different answers)"
    return attempts


def first_number(text: str) -> str:
    """The first number in a text, as written (``"I'd say 12 boxes"`` -> ``"12"``), or ``""``."""
    match = re.search(r"-?\d+(?:[.,]\d+)?", text)
    return match.group(0) if match else ""


def normalise_answer(text: str) -> str:
    """Lower case, no surrounding punctuation or spaces, single spaces: how votes are counted."""
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    text = re.sub(r"\s+", " ", text)
    return text.strip(" .,;:!?\"'`")


# --- checks the course uses (small, deterministic, each explaining itself) -------------
def _named(fn: Check, name: str) -> Check:
    """Give a check built by a factory the factory's name (feedback and errors quote it)."""
    fn.__name__ = fn.__qualname__ = name
    return fn


def answer_equals(*, case_sensitive: bool = True, strip_period: bool = True) -> Check:
    """The whole answer (spaces around it ignored) equals the case's expected text."""

    def fn(output: str, case: ExerciseCase, response: Response) -> Score:
        got = output.strip()
        if strip_period and got.endswith(".") and not str(case.expected).endswith("."):
            got = got[:-1].rstrip()
        want = str(case.expected)
        same = got == want if case_sensitive else got.casefold() == want.casefold()
        if same:
            return Score(1.0, f"equals {want!r}", True)
        if want.casefold() in got.casefold():
            return Score(0.0, f"contains {want!r} but also other words: answer with it alone", False)
        return Score(0.0, f"expected exactly {want!r}", False)

    return _named(fn, "answer_equals")


def matches(pattern: str, what: str) -> Check:
    """The whole answer matches a regular expression (``what`` describes it for the feedback)."""
    compiled = re.compile(pattern)

    def fn(output: str, case: ExerciseCase, response: Response) -> Score:
        ok = compiled.fullmatch(output.strip()) is not None
        return Score(1.0 if ok else 0.0, f"is {what}" if ok else f"is not {what}", ok)

    return _named(fn, "matches")


def not_containing(text: str, why: str) -> Check:
    """The answer does not contain ``text`` (case-insensitive)."""

    def fn(output: str, case: ExerciseCase, response: Response) -> Score:
        bad = text.casefold() in output.casefold()
        return Score(0.0 if bad else 1.0, f"contains {text!r}: {why}" if bad else f"no {text!r}", not bad)

    return _named(fn, "not_containing")


def max_completion_tokens(limit: int) -> Check:
    """The answer used at most ``limit`` output tokens."""

    def fn(output: str, case: ExerciseCase, response: Response) -> Score:
        used = response.usage.completion_tokens
        ok = used <= limit
        return Score(1.0 if ok else 0.0, f"{used} output tokens (budget {limit})", ok)

    return _named(fn, "max_completion_tokens")


def max_prompt_tokens(limit: int) -> Check:
    """The prompt, with the case filled in, is at most ``limit`` tokens."""

    def fn(output: str, case: ExerciseCase, response: Response) -> Score:
        used = response.usage.prompt_tokens
        ok = used <= limit
        return Score(1.0 if ok else 0.0, f"the prompt is {used} tokens (budget {limit})", ok)

    return _named(fn, "max_prompt_tokens")


def finished_cleanly() -> Check:
    """The model stopped by itself or at a stop sequence, not because max_tokens cut it."""

    def fn(output: str, case: ExerciseCase, response: Response) -> Score:
        ok = response.finish_reason == "stop"
        return Score(1.0 if ok else 0.0, "ended cleanly" if ok else
                     f"cut off by max_tokens (finish_reason={response.finish_reason!r})", ok)

    return _named(fn, "finished_cleanly")


# --- display helpers -------------------------------------------------------------------
def _short(text: str, limit: int = 60) -> str:
    text = " ".join(str(text).split()) if "\n" not in str(text) else str(text).replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (list, tuple)):
        return " | ".join(map(str, value))
    if isinstance(value, Mapping):
        return json.dumps(dict(value), ensure_ascii=False)
    return str(value)


def _vars_text(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_short(str(v), 70)!r}" for k, v in values.items())


def _vars_html(values: Mapping[str, Any]) -> str:
    return "<br>".join(f"<b>{html.escape(k)}</b>: {html.escape(_short(str(v), 120))}" for k, v in values.items())


_LEFT = "text-align:left;vertical-align:top"


def _left(page: str) -> str:
    """Left-align a result table's cells: JupyterLab right-aligns table cells (made for numbers), which
    leaves short answers and reasons floating far from their case (seen in the verdict's screenshot)."""
    page = page.replace("<td style='", f"<td style='{_LEFT};").replace("<td>", f"<td style='{_LEFT}'>")
    return page.replace("<th>", f"<th style='{_LEFT}'>")


def _code_text(title: str, code: str, explanation: str) -> str:
    """A solution or submission as text: its title, the code to paste, and why it works."""
    return f"{title}:\n\n{code}" + (f"\n\nWhy it works: {explanation}" if explanation else "")


def _code_html(title: str, code: str, explanation: str) -> str:
    """The same as :func:`_code_text`, as the notebook shows it."""
    why = f"<p><b>Why it works:</b> {_md_inline(explanation)}</p>" if explanation else ""
    return f"<div class='wb-solution'><b>{html.escape(title)}</b><pre>{html.escape(code)}</pre>{why}</div>"


def _md_inline(text: str) -> str:
    """Escape text and render `code` spans, which is all the Markdown task texts use."""
    escaped = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _wrap(text: str, width: int = 100) -> str:
    return "\n".join(textwrap.fill(p, width) for p in text.split("\n"))

