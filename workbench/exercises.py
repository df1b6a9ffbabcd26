"""Graded exercises for the course notebooks: ``wb.exercises.check(id, prompt)``.

An :class:`Exercise` is a small, fixed test: a task for the learner, the
``{variables}`` their prompt must use, a handful of cases, a deterministic
check of each answer (regex, JSON parse, exact text, token count...), how many
times each case is run, and the pass rate needed. The learner writes a prompt;
:func:`check` fills it with every case, runs each one ``runs`` times through
the runner (concurrently, logged, with seeds ``0, 1000, 2000...`` so the verdict is
reproducible and a rerun is answered from the run log), and returns a
:class:`CheckResult`: the pass rate, a verdict, and for each failed answer
what was wrong.

>>> import workbench as wb
>>> wb.exercises.catalog()                                  # doctest: +SKIP
>>> r = wb.exercises.check("01-extract-name", my_prompt, model="local:smollm2", stop=["\\n"])  # doctest: +SKIP
>>> wb.exercises.hint("01-extract-name")                    # the next hint, one at a time
>>> wb.exercises.solution("01-extract-name")                # the reference prompt, when you give up

Runs are sampled at the exercise's default parameters (shown by
``wb.exercises.get(id)``) unless you pass your own, exactly as with
``wb.complete``: ``check(id, prompt, stop=["\\n"], max_tokens=20)``. Some
exercises fix a parameter (say, ``logprobs``, which the check reads); passing it
then raises :class:`ParamsError` naming it. Where robustness is graded (a
``sampled`` exercise) every case is sampled 5 times at temperature 0.8 with the
grader's seeds: a temperature or seed you pass is reported in the result's
``notes`` and not used. The verdict shows the pass rate's 95% interval.

This is the public face of the course's exercises: the registry (built from
:func:`workbench._course.exercises` on first use, not at import), hints and
solutions. What an exercise is and how a prompt is graded live in
:mod:`workbench._grader`; everything public from there is re-exported here.

Skill exercises (:mod:`workbench._skills`) grade code or data instead of a
prompt: a scorer, a held-out split, a one-change experiment, a test set, a
judge. The same functions serve both kinds: ``check("04-write-scorer", scorer)``
grades the function ``scorer``; ``starter(id).code()`` and ``solution(id).code()``
show the source; ``catalog()`` has a ``kind`` column ("prompt" or "skill").
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _course, _skills
from ._errors import ParamsError
from ._grader import (
    SEED_STEP,
    Attempt,
    CheckResult,
    Exercise,
    ExerciseCase,
    ExerciseError,
    _code_html,
    _code_text,
    _md_inline,
    answer_equals,
    finished_cleanly,
    first_number,
    matches,
    max_completion_tokens,
    max_prompt_tokens,
    normalise_answer,
    not_containing,
)
from ._grader import acheck as _acheck_exercise
from ._portal import run_sync
from ._prompt import Prompt
from ._runner import Runner
from ._skills import Finding, SkillExercise, SkillResult, SkillSolution

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Exercise",
    "ExerciseCase",
    "CheckResult",
    "Attempt",
    "SkillExercise",
    "SkillResult",
    "SkillSolution",
    "Finding",
    "Hint",
    "Solution",
    "ExerciseError",
    "SEED_STEP",
    "check",
    "acheck",
    "hint",
    "solution",
    "get",
    "ids",
    "catalog",
    "register",
    "normalise_answer",
    "first_number",
    "starter",
    "answer_equals",
    "matches",
    "not_containing",
    "max_completion_tokens",
    "max_prompt_tokens",
    "finished_cleanly",
]


# --- the registry -----------------------------------------------------------------
AnyExercise = Exercise | SkillExercise
_REGISTRY: dict[str, AnyExercise] = {}
_hints_shown: dict[str, int] = {}
_built = False
_build_lock = threading.Lock()


def _registry() -> dict[str, AnyExercise]:
    """The registry, filled with the course's exercises (prompt and skill) the first time it is needed."""
    global _built
    if not _built:
        with _build_lock:
            if not _built:
                course: dict[str, AnyExercise] = {}
                everything: list[AnyExercise] = [*_course.exercises(), *_skills.exercises()]
                for exercise in everything:
                    if exercise.id in course:
                        raise ExerciseError(f"The course defines {exercise.id!r} twice. "
                                            "Fix: give each exercise its own id.")
                    course[exercise.id] = exercise
                _REGISTRY.update(course)
                _built = True
    return _REGISTRY


def register(exercise: AnyExercise, *, replace: bool = False) -> AnyExercise:
    """Add an exercise to the registry (``replace=True`` to redefine one, a course exercise included)."""
    registry = _registry()
    if exercise.id in registry and not replace:
        raise ExerciseError(f"An exercise {exercise.id!r} is already registered. "
                            "Fix: pick another id or pass replace=True.")
    registry[exercise.id] = exercise
    return exercise


def _kind(exercise: AnyExercise) -> str:
    return "skill" if isinstance(exercise, SkillExercise) else "prompt"


def ids(notebook: str | None = None, kind: str | None = None) -> list[str]:
    """The ids of the registered exercises (of one notebook, e.g. ``"01"``; of one kind, ``"prompt"`` or
    ``"skill"``), in course order."""
    if kind not in (None, "prompt", "skill"):
        raise ExerciseError(f"kind={kind!r}: exercises are 'prompt' or 'skill'. Fix: kind='prompt' or kind='skill'.")
    return sorted(i for i, e in _registry().items()
                  if (notebook is None or e.notebook == notebook) and (kind is None or _kind(e) == kind))


def get(exercise_id: str | AnyExercise) -> AnyExercise:
    """The exercise with this id (displays its task and cases, or its data)."""
    if isinstance(exercise_id, (Exercise, SkillExercise)):
        return exercise_id
    registry = _registry()
    try:
        return registry[exercise_id]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(exercise_id), list(registry), n=1, cutoff=0.5)
        hint_ = f" Did you mean {close[0]!r}?" if close else ""
        raise ExerciseError(
            f"There is no exercise {exercise_id!r}.{hint_} Fix: use one of {', '.join(sorted(registry))} "
            "(wb.exercises.catalog() lists them)."
        ) from None


def catalog() -> pd.DataFrame:
    """A table of the course's exercises: id, notebook, kind, title, cases, runs, pass mark."""
    import pandas as pd

    rows = [
        {"id": e.id, "notebook": e.notebook, "kind": "prompt", "title": e.title, "cases": len(e.cases),
         "runs": e.runs, "pass at": f"{e.threshold:.0%}", "hints": len(e.hints)}
        if isinstance(e, Exercise) else
        {"id": e.id, "notebook": e.notebook, "kind": "skill", "title": e.title, "cases": e.size, "runs": 1,
         "pass at": e.pass_mark, "hints": len(e.hints)}
        for e in (get(i) for i in ids())
    ]
    return pd.DataFrame(rows).set_index("id")


# --- checking -----------------------------------------------------------------------
async def acheck(exercise_id: str | AnyExercise, prompt: Any, model: str | None = None, *, runs: int | None = None,
                 runner: Runner | None = None, cache: Any = None, progress: bool = False,
                 **params: Any) -> CheckResult | SkillResult:
    """Async twin of :func:`check`."""
    ex = get(exercise_id)
    if isinstance(ex, SkillExercise):
        given = [name for name, value in (("model", model), ("runs", runs)) if value is not None] + list(params)
        if given:
            raise ParamsError(f"Exercise {ex.id} grades {ex.submit}, not a prompt: it takes no "
                              f"{', '.join(given)}. Fix: wb.exercises.check({ex.id!r}, {ex.submit_as}).")
        return await ex.grade(prompt, runner=runner)
    return await _acheck_exercise(ex, prompt, model, runs=runs, runner=runner, cache=cache,
                                  progress=progress, **params)


def check(exercise_id: str | AnyExercise, prompt: Any, model: str | None = None, *, runs: int | None = None,
          runner: Runner | None = None, cache: Any = None, progress: bool = False,
          **params: Any) -> CheckResult | SkillResult:
    """Grade ``prompt`` on an exercise: run every case ``runs`` times and report the pass rate.

    ``prompt`` is a :class:`wb.Prompt` (or a string: the user message, or a
    Playground: its prompt, parameters and model) that uses the exercise's
    ``{variables}``. Keyword arguments are parameters, as for ``wb.complete``
    (``temperature=0``, ``stop=["\\n"]``...). ``runs`` defaults to the
    exercise's. Run ``r`` uses ``seed=1000*r`` unless you fix a seed, so the same
    prompt always gets the same verdict, and checking it again is answered
    from the run log.

    A skill exercise grades what its task asks for instead of a prompt (a
    function, a pair of prompts, a list of cases: ``get(id)`` says), with no
    model call and no parameters, and returns a :class:`SkillResult`.
    """
    return run_sync(acheck(exercise_id, prompt, model, runs=runs, runner=runner, cache=cache,
                           progress=progress, **params))


# --- hints and solutions --------------------------------------------------------------
@dataclass(frozen=True)
class Hint:
    exercise_id: str
    number: int
    total: int
    text: str

    def __repr__(self) -> str:
        more = "" if self.number == self.total else f"  (next: wb.exercises.hint({self.exercise_id!r}))"
        return f"Hint {self.number}/{self.total} for {self.exercise_id}: {self.text}{more}"

    def _repr_html_(self) -> str:
        more = "" if self.number == self.total else (
            f" <span style='opacity:.6'>(next: <code>wb.exercises.hint({self.exercise_id!r})</code>)</span>")
        return f"<div class='wb-hint'><b>Hint {self.number}/{self.total}</b>: {_md_inline(self.text)}{more}</div>"


def hint(exercise_id: str, n: int | None = None) -> Hint:
    """The next hint for an exercise (or hint number ``n``, from 1); hints go from gentle to explicit."""
    ex = get(exercise_id)
    if not ex.hints:
        raise ExerciseError(f"Exercise {ex.id!r} has no hints. Fix: wb.exercises.solution({ex.id!r}) shows the answer.")
    if n is None:
        n = min(_hints_shown.get(ex.id, 0) + 1, len(ex.hints))
    if not 1 <= n <= len(ex.hints):
        raise ExerciseError(f"Exercise {ex.id!r} has hints 1 to {len(ex.hints)}, not {n}. Fix: pass n between them.")
    _hints_shown[ex.id] = max(_hints_shown.get(ex.id, 0), n)
    return Hint(ex.id, n, len(ex.hints), ex.hints[n - 1])


@dataclass(frozen=True)
class Solution:
    """A reference prompt with its parameters: ``check(id, s.prompt, **s.params)`` passes."""

    exercise_id: str
    prompt: Prompt
    params: Mapping[str, Any]
    explanation: str = ""

    def code(self) -> str:
        """The solution as Python you can paste into a cell."""
        parts = []
        if self.prompt.system:
            parts.append(f"    system={self.prompt.system!r},")
        if self.prompt.examples:
            ex = ",\n".join(f"        ({q!r}, {a!r})" for q, a in self.prompt.examples)
            parts.append(f"    examples=[\n{ex},\n    ],")
        parts.append(f"    user={self.prompt.user!r},")
        params = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return ("prompt = wb.Prompt(\n" + "\n".join(parts) + "\n)\n"
                f"wb.exercises.check({self.exercise_id!r}, prompt, model=MODEL{params})")

    def __repr__(self) -> str:
        return _code_text(f"Reference solution for {self.exercise_id}", self.code(), self.explanation)

    def _repr_html_(self) -> str:
        return _code_html(f"Reference solution for {self.exercise_id}", self.code(), self.explanation)


def solution(exercise_id: str) -> Solution | SkillSolution:
    """Reveal the reference prompt and parameters of an exercise, or a skill exercise's reference code
    (try the hints first)."""
    ex = get(exercise_id)
    if isinstance(ex, SkillExercise):
        return SkillSolution(ex, ex.solution, ex.explanation)
    return Solution(ex.id, ex.solution, dict(ex.solution_params), ex.explanation)


def starter(exercise_id: str) -> Solution | SkillSolution:
    """The naive first attempt the notebook starts from (it is meant to fail)."""
    ex = get(exercise_id)
    if isinstance(ex, SkillExercise):
        return SkillSolution(ex, ex.starter)
    return Solution(ex.id, ex.starter, dict(ex.starter_params), "")
