"""Skill exercises: the learner submits code or data, not a prompt, and the grader explains what is wrong.

A prompt exercise (:mod:`workbench._grader`) grades a prompt by running it. The
skills of prompt *engineering* are elsewhere too: writing a scorer that agrees
with people, splitting cases so that a held-out score means something, changing
one thing at a time, building a test set that can tell two versions apart,
calibrating a judge, and laying a prompt out so that a prompt cache can reuse it.
A :class:`SkillExercise` grades such a submission (a function, a pair of
prompts, a list of cases) deterministically and at once, without calling a
model, and returns a :class:`SkillResult` shaped like the grader's
``CheckResult``: a verdict, a score against a pass mark, one finding per case
or requirement, and the next step.

Scorers and judges go through the one scoring protocol (:mod:`workbench._scoring`:
plain or async functions, ``wb.scorers`` objects); the statistics are the
project's own (:mod:`workbench._stats`: Cohen's kappa, the paired sign-flip test,
Wilson intervals). The starter and reference of each exercise are source code
(``wb.exercises.starter(id).code()``), so that the learner reads exactly what is
graded; :meth:`SkillExercise.build` runs it to get the submission.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ._errors import CasesError, ParamsError
from ._grader import ExerciseError, _code_html, _code_text, _left, _md_inline, _resolve_prompt, _short, _wrap
from ._params import Params
from ._prompt import Prompt
from ._scoring import Score, ascore
from ._stats import _kappa_words, cohen_kappa, sign_flip_test, wilson_ci

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SkillExercise", "SkillResult", "SkillSolution", "Finding", "Grade", "exercises"]


# --- what a grade is ------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One graded item or requirement: what was checked, whether it held, and why."""

    label: str
    passed: bool
    detail: str
    note: str = ""  # what makes the item tricky ("the right city, negated")


@dataclass(frozen=True)
class Grade:
    """What an exercise's rule returns: a score, the verdict, the findings and extra lines (a table)."""

    score: float
    passed: bool
    summary: str  # one line: "your scorer agrees with the person on 19/20 answers = 95%"
    findings: tuple[Finding, ...]
    details: tuple[str, ...] = ()  # shown after the failures, e.g. a confusion table


Rule = Callable[["SkillExercise", Any, Any], Awaitable[Grade]]


@dataclass(frozen=True)
class SkillExercise:
    """A graded exercise whose submission is code or data (see the module docstring).

    ``submit_as`` is the expression, evaluated after the starter or reference
    source has run, that gives the submission (``"scorer"``, ``"(baseline, variant)"``).
    ``rule(exercise, submission, runner)`` grades it. ``rows`` are the data the
    learner reads (labelled answers, tickets; ``frame()`` gives them as a table)
    and ``given`` anything else the exercise hands over (the two versions to separate).
    """

    id: str
    title: str
    notebook: str
    task: str
    submit: str  # what the learner submits, in words: "a function scorer(output, case)"
    submit_as: str
    starter: str
    solution: str
    rule: Rule
    pass_mark: str  # in words: "90% agreement", "kappa >= 0.6"
    threshold: float  # the number the pass mark names (for the catalog)
    hints: tuple[str, ...] = ()
    how: str = ""
    explanation: str = ""
    rows: tuple[Mapping[str, Any], ...] = ()
    given: Mapping[str, Any] = field(default_factory=dict)

    kind: ClassVar[str] = "skill"

    def __post_init__(self) -> None:
        problems = []
        if not re.fullmatch(r"\d\d-[a-z0-9-]+", self.id):
            problems.append("the id must look like '04-write-scorer'")
        if not self.id.startswith(self.notebook + "-"):
            problems.append("the id must start with its notebook")
        if not (self.starter.strip() and self.solution.strip()):
            problems.append("it needs a starter and a reference solution")
        if problems:
            raise ExerciseError(f"Skill exercise {self.id!r} is malformed: {'; '.join(problems)}.")

    @property
    def size(self) -> int:
        """How many items the grade is computed on (labelled answers, rows), or 0."""
        return len(self.rows)

    def frame(self) -> pd.DataFrame:
        """The exercise's data as a table (a copy: change it freely)."""
        import pandas as pd

        return pd.DataFrame([dict(r) for r in self.rows])

    def build(self, source: str) -> Any:
        """Run a submission's source (the starter's or the reference's) and return the submission it defines."""
        namespace: dict[str, Any] = {"__name__": f"workbench_exercise_{self.id.replace('-', '_')}"}
        exec(compile(source, f"<{self.id}>", "exec"), namespace)  # the exercise's own, shown source
        return eval(self.submit_as, namespace)

    async def grade(self, submission: Any, *, runner: Any = None) -> SkillResult:
        """Grade a submission: ``SkillResult.passed`` says whether it meets the pass mark."""
        grade = await self.rule(self, submission, runner)
        return SkillResult(self, grade)

    def __repr__(self) -> str:
        lines = [f"Exercise {self.id} (skill): {self.title}", _wrap(self.task)]
        if self.how:
            lines.append(_wrap(self.how))
        lines.append(f"Submit: {self.submit}. Pass mark: {self.pass_mark}.")
        if self.rows:
            lines.append(f"Data ({len(self.rows)} rows; wb.exercises.get({self.id!r}).frame() gives the table):")
            lines += [f"  {_row_text(r)}" for r in self.rows[:_PREVIEW]]
            if len(self.rows) > _PREVIEW:
                lines.append(f"  ... {len(self.rows) - _PREVIEW} more")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        table = ""
        if self.rows:
            columns = list(self.rows[0])
            head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(_short(str(r.get(c, '')), 90))}</td>" for c in columns)
                           + "</tr>" for r in self.rows[:_PREVIEW])
            more = (f"<p style='opacity:.7'>... {len(self.rows) - _PREVIEW} more rows: "
                    f"<code>wb.exercises.get({self.id!r}).frame()</code></p>") if len(self.rows) > _PREVIEW else ""
            table = f"<table><tr>{head}</tr>{body}</table>{more}"
        return (
            f"<div class='wb-exercise'><h4>Exercise {html.escape(self.id)}: {html.escape(self.title)}</h4>"
            f"<p>{_md_inline(self.task)}</p>"
            + (f"<p><i>{_md_inline(self.how)}</i></p>" if self.how else "")
            + f"<p>Submit: {_md_inline(self.submit)}. Pass mark: {html.escape(self.pass_mark)}.</p>{_left(table)}</div>"
        )


_PREVIEW = 20


def _row_text(row: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_short(str(v), 50)!r}" for k, v in row.items())


@dataclass
class SkillResult:
    """The verdict on a skill submission: ``passed``, ``score``, and a finding per item or requirement."""

    exercise: SkillExercise
    grade: Grade

    kind: ClassVar[str] = "skill"

    @property
    def passed(self) -> bool:
        return self.grade.passed

    @property
    def score(self) -> float:
        return self.grade.score

    @property
    def findings(self) -> list[Finding]:
        return list(self.grade.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.grade.findings if not f.passed]

    def to_frame(self) -> pd.DataFrame:
        """One row per finding: what was checked, whether it held, why, and what makes it tricky."""
        import pandas as pd

        return pd.DataFrame([{"item": f.label, "passed": f.passed, "why": f.detail, "note": f.note}
                             for f in self.grade.findings])

    def feedback(self, limit: int = 8) -> list[str]:
        """What went wrong, one line per failed finding, in the exercise's order."""
        lines = [f"{f.label}{f' [{f.note}]' if f.note else ''}: {f.detail}" for f in self.failures]
        if len(lines) > limit:
            lines = lines[:limit] + [f"... and {len(lines) - limit} more; see result.to_frame()"]
        return lines

    def _next_step(self) -> str:
        if self.passed:
            return "Passed, though not on every item: read what still fails." if self.failures else ""
        return f"Fix what failed and check again; wb.exercises.hint({self.exercise.id!r}) gives a hint."

    def _head(self) -> str:
        ex = self.exercise
        return f"{ex.id} ({ex.title}): {self.grade.summary} (pass mark: {ex.pass_mark})"

    def __repr__(self) -> str:
        lines = [f"{'PASSED' if self.passed else 'NOT YET'}: {self._head()}"]
        fb = self.feedback()
        if fb:
            lines.append("What failed:" if not self.passed else "Still failing:")
            lines += [f"  - {line}" for line in fb]
        lines += list(self.grade.details)
        step = self._next_step()
        if step:
            lines.append(step)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#b35900"
        rows = "".join(
            f"<tr><td>{'✔' if f.passed else '✘'} {html.escape(_short(f.label, 70))}"
            + (f" <i>({html.escape(f.note)})</i>" if f.note else "")
            + f"</td><td>{html.escape(f.detail)}</td></tr>"
            for f in self.grade.findings
        )
        details = "".join(f"<pre style='margin:4px 0'>{html.escape(d)}</pre>" for d in self.grade.details)
        step = self._next_step()
        return _left(
            f"<div class='wb-check'><p><b style='color:{colour}'>{'PASSED' if self.passed else 'NOT YET'}</b> "
            f"{html.escape(self._head())}</p>"
            f"<table><tr><th>item</th><th>why</th></tr>{rows}</table>{details}"
            + (f"<p>{html.escape(step)}</p>" if step else "")
            + "</div>"
        )


@dataclass(frozen=True)
class SkillSolution:
    """A skill exercise's starter or reference as source code: read it, paste it, or ``submission()`` it."""

    exercise: SkillExercise
    source: str
    explanation: str = ""

    @property
    def exercise_id(self) -> str:
        return self.exercise.id

    def code(self) -> str:
        """The submission as Python you can paste into a cell, ending with the check."""
        return f"{self.source.rstrip()}\n\nwb.exercises.check(\"{self.exercise.id}\", {self.exercise.submit_as})"

    def submission(self) -> Any:
        """The object the code defines (what ``check`` is given)."""
        return self.exercise.build(self.source)

    def __repr__(self) -> str:
        return _code_text(f"Submission for {self.exercise.id}", self.code(), self.explanation)

    def _repr_html_(self) -> str:
        return _code_html(f"Submission for {self.exercise.id}", self.code(), self.explanation)


# --- shared helpers --------------------------------------------------------------------
def _callable(exercise: SkillExercise, submission: Any) -> Any:
    if not callable(submission) and not callable(getattr(submission, "ascore", None)):
        raise ExerciseError(
            f"{exercise.id} grades {exercise.submit}, and got {type(submission).__name__}. "
            f"Fix: pass the function itself, wb.exercises.check({exercise.id!r}, {exercise.submit_as}), "
            "without calling it.")
    return submission


def _verdict_of(score: Score) -> bool | None:
    """A scorer's pass/fail (``None``: it could not score)."""
    if score.passed is not None:
        return bool(score.passed)
    return None if score.value is None else score.value >= 0.5


def _confusion(human: Sequence[bool], machine: Sequence[bool | None], who: str) -> str:
    """A 2 x 2 table (plus "no verdict" when the machine gave none) as text."""
    cols = [(True, "pass"), (False, "fail")] + ([(None, "no verdict")] if None in machine else [])
    width = max(len(who), 12)
    corner = "person \\ " + who
    lines = [f"{corner:>{width + 10}}" + "".join(f"{c:>12}" for _, c in cols)]
    for h, name in ((True, "good"), (False, "bad")):
        counts = [sum(1 for a, b in zip(human, machine, strict=True) if a is h and b is m) for m, _ in cols]
        lines.append(f"{name:>{width + 10}}" + "".join(f"{c:>12}" for c in counts))
    return "\n".join(lines)


def _plain(text: str) -> str:
    """Lower case without accents (for matching the learner's data, not their answers)."""
    decomposed = unicodedata.normalize("NFKD", str(text).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


# === 1. 04-write-scorer ===================================================================
_CITIES = {
    "Australia": ("Canberra", ("Sydney", "Melbourne")),
    "Canada": ("Ottawa", ("Toronto", "Montreal")),
    "Switzerland": ("Bern", ("Zurich", "Geneva")),
    "Turkey": ("Ankara", ("Istanbul", "Izmir")),
    "Brazil": ("Brasília", ("São Paulo", "Rio de Janeiro")),
    "Nigeria": ("Abuja", ("Lagos", "Kano")),
    "New Zealand": ("Wellington", ("Auckland", "Christchurch")),
    "Peru": ("Lima", ("Cusco", "Arequipa")),
}
# (country, the model's answer, the person's label, what makes it tricky)
_ANSWERS = (
    ("Australia", "Canberra", True, "the plain answer"),
    ("Australia", "canberra.", True, "lower case and a full stop"),
    ("Australia", "The capital of Australia is Canberra.", True, "the answer inside a sentence"),
    ("Australia", "Sydney", False, "a wrong city"),
    ("Australia", "Not Sydney: Canberra.", True, "a negated wrong city first"),
    ("Australia", "It is not Canberra, it is Sydney.", False, "the right city, negated"),
    ("Canada", "Ottawa", True, "the plain answer"),
    ("Canada", "Toronto, not Ottawa.", False, "the right city, negated"),
    ("Canada", "Ottawa (many people think it is Toronto).", True, "a wrong city named as a misconception"),
    ("Switzerland", "BERN!!!", True, "capitals and exclamation marks"),
    ("Switzerland", "Zurich is the capital of Switzerland.", False, "a wrong city in a sentence"),
    ("Turkey", "Istanbul... no wait, Ankara.", True, "corrected to the right city"),
    ("Turkey", "Ankara? Actually I think it's Istanbul.", False, "a wrong city after the right one"),
    ("Brazil", "Brasilia", True, "no accent (the expected answer is Brasília)"),
    ("Brazil", "Brasília or São Paulo, I am not sure.", False, "two cities: a hedge"),
    ("Brazil", "Rio de Janeiro", False, "a wrong city of three words"),
    ("Nigeria", "Lagos is the largest city; the capital is Abuja.", True, "a wrong city first, not as the answer"),
    ("Nigeria", "I don't know.", False, "no city at all"),
    ("New Zealand", "The capital of New Zealand is Auckland, not Wellington.", False,
     "the right city negated, after a wrong one"),
    ("Peru", "Limassol", False, "the right name inside another word"),
)


def _scorer_rows() -> tuple[dict[str, Any], ...]:
    return tuple({"question": f"What is the capital of {country}?", "expected": _CITIES[country][0],
                  "cities": _CITIES[country][1], "output": answer, "human": good, "note": note}
                 for country, answer, good, note in _ANSWERS)


_SCORER_STARTER = '''\
def scorer(output, case):
    """Pass when the expected city is in the answer."""
    return case["expected"] in output
'''

_SCORER_SOLUTION = '''\
import re
import unicodedata

NEGATIONS = ("not", "isn't", "never")


def plain(text):
    """Lower case, accents removed: 'Brasília' and 'brasilia' are the same city."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def scorer(output, case):
    """Pass when the last city the answer names (and does not negate) is the expected one."""
    text = plain(output)
    named = []  # (position, city) of every city named and not negated
    for city in [case["expected"], *case["cities"]]:
        for m in re.finditer(rf"\\b{re.escape(plain(city))}\\b", text):
            before = text[:m.start()].split()[-1:]  # the word before it
            if not any(w.strip(",.:;!?") in NEGATIONS for w in before):
                named.append((m.start(), city))
    if not named:
        return False, "names no city (or only negated ones)"
    answer = max(named)[1]
    return answer == case["expected"], f"answers {answer}"
'''


async def _grade_scorer(ex: SkillExercise, scorer: Any, runner: Any) -> Grade:
    _callable(ex, scorer)
    findings, human, machine = [], [], []
    for row in ex.rows:
        case = {k: row[k] for k in ("question", "expected", "cities")}
        score = await ascore(scorer, row["output"], case, runner=runner)
        verdict = _verdict_of(score)
        human.append(row["human"])
        machine.append(verdict)
        said = {True: "pass", False: "fail", None: "no verdict"}[verdict]
        person = "pass" if row["human"] else "fail"
        why = f" ({score.explanation})" if score.explanation and score.explanation not in ("yes", "no") else ""
        if verdict is row["human"]:
            detail = f"both say {person}{why}"
        else:
            detail = f"your scorer says {said}{why}, the person says {person} (expected {row['expected']})"
        findings.append(Finding(repr(row["output"]), verdict is row["human"], detail, row["note"]))
    agree = sum(f.passed for f in findings)
    rate = agree / len(findings)
    return Grade(rate, rate >= ex.threshold - 1e-9,
                 f"your scorer agrees with the person on {agree}/{len(findings)} answers = {rate:.0%}",
                 tuple(findings), (_confusion(human, machine, "your scorer"),))


def _write_scorer() -> SkillExercise:
    return SkillExercise(
        id="04-write-scorer",
        title="A scorer that agrees with people",
        notebook="04",
        task=("A model answered \"What is the capital of ...?\" twenty times, and a person labelled each answer "
              "right or wrong. Write `scorer(output, case)` that gives the person's verdict: the case has the "
              "`question`, the `expected` city and `cities`, the other cities of that country a model tends to "
              "answer with."),
        how=("Your scorer runs through the workbench's scoring protocol, as in an experiment: return a bool, "
             "`(bool, why)` or a `wb.scorers.Score`; it may be async. It passes at 90% agreement with the person's "
             "labels; the feedback lists every answer where you disagree, with what makes it tricky."),
        submit="a function `scorer(output, case)`",
        submit_as="scorer",
        starter=_SCORER_STARTER,
        solution=_SCORER_SOLUTION,
        rule=_grade_scorer,
        pass_mark="90% agreement with the person's labels",
        threshold=0.9,
        rows=_scorer_rows(),
        hints=(
            "Read the disagreements: most come from letters (case, accents) or from words around the city.",
            "Compare text that is lower case and without accents (unicodedata.normalize('NFKD', ...) and drop "
            "the combining marks), and match whole words (a regex with \\b), so that 'Lima' is not in 'Limassol'.",
            "Look at every city the answer names, the expected one and case['cities']; drop a city preceded by "
            "'not'; the last one left is the answer.",
        ),
        explanation=("Normalising letters fixes case and accents; whole-word matches stop 'Lima' matching "
                     "'Limassol'; dropping negated mentions and taking the last city named handles 'not Sydney', "
                     "corrections and hedges. No simple rule matches all twenty labels: 'Ottawa (many people think "
                     "it is Toronto)' still fails, which is why the pass mark is 90% and why a scorer is checked "
                     "against labelled answers before its numbers are trusted."),
    )


# === 2. 04-held-out-split ===================================================================
# (customer, labels of their tickets): customers write several tickets, "account" is rare
_CUSTOMERS = (
    ("C01", "refund refund delivery"), ("C02", "delivery delivery"), ("C03", "account refund"),
    ("C04", "refund"), ("C05", "delivery delivery delivery refund"), ("C06", "account"),
    ("C07", "refund delivery"), ("C08", "delivery"), ("C09", "refund refund"), ("C10", "account delivery"),
    ("C11", "delivery refund refund"), ("C12", "refund"), ("C13", "delivery delivery"),
    ("C14", "refund account"), ("C15", "delivery"), ("C16", "refund delivery delivery"), ("C17", "refund"),
    ("C18", "delivery refund"), ("C19", "account"), ("C20", "delivery refund"), ("C21", "refund delivery"),
)
_TICKET_TEXT = {
    "refund": "I returned order {n} two weeks ago and I am still waiting for my money.",
    "delivery": "Order {n} has not arrived yet; the tracking page has not changed for days.",
    "account": "I cannot log in to my account since I changed my e-mail address (order {n}).",
}
SPLIT_SHARE = (0.2, 0.4)
SPLIT_SEEDS = (0, 1, 2, 3, 4)


def _ticket_rows() -> tuple[dict[str, Any], ...]:
    rows, n = [], 0
    for customer, labels in _CUSTOMERS:
        for label in labels.split():
            n += 1
            rows.append({"ticket": f"T{n:02d}", "customer": customer, "label": label,
                         "text": _TICKET_TEXT[label].format(n=4100 + 37 * n)})
    return tuple(rows)


_SPLIT_STARTER = '''\
def split(df, seed):
    """30% of the tickets, drawn at random with the seed, are held out."""
    test = df.sample(frac=0.3, random_state=seed)
    train = df.drop(test.index)
    return train, test
'''

_SPLIT_SOLUTION = '''\
import numpy as np


def split(df, seed, share=0.3):
    """Hold out whole customers (about `share` of the tickets) until every label is on both sides."""
    rng = np.random.default_rng(seed)
    customers = sorted(df["customer"].unique())
    for _ in range(100):  # a draw that misses a label on one side is drawn again
        held, size = [], 0
        for customer in rng.permutation(customers):
            if size >= share * len(df):
                break
            held.append(customer)
            size += int((df["customer"] == customer).sum())
        in_test = df["customer"].isin(held)
        train, test = df[~in_test], df[in_test]
        if set(train["label"]) == set(test["label"]) == set(df["label"]):
            return train, test
    raise ValueError("no split keeps every label on both sides")
'''


def _split_once(split: Any, seed: int, frame: pd.DataFrame) -> Any:
    import pandas as pd

    given = frame.copy()
    out = split(given, seed)
    if not (isinstance(out, tuple) and len(out) == 2 and all(isinstance(x, pd.DataFrame) for x in out)):
        raise ExerciseError(
            f"split(df, seed) returned {type(out).__name__}{f' of {len(out)}' if isinstance(out, tuple) else ''}. "
            "Fix: return a pair of DataFrames, (train, test), made of the rows of df (keep its index).")
    return out, not given.equals(frame)


def _split_findings(train: pd.DataFrame, test: pd.DataFrame, frame: pd.DataFrame, seed: int) -> dict[str, str]:
    """The problems of one split, by requirement (an empty dict: none)."""
    problems: dict[str, str] = {}
    both = sorted(set(train.index) & set(test.index), key=str)
    if both:
        problems["disjoint"] = f"seed {seed}: {len(both)} row(s) in both train and test, e.g. index {both[0]!r}"
    missing = sorted(set(frame.index) - set(train.index) - set(test.index), key=str)
    foreign = sorted((set(train.index) | set(test.index)) - set(frame.index), key=str)
    if missing or foreign or train.index.has_duplicates or test.index.has_duplicates:
        what = (f"{len(missing)} row(s) in neither, e.g. index {missing[0]!r}" if missing else
                f"rows not in df, e.g. index {foreign[0]!r}" if foreign else "a row twice on one side")
        problems["complete"] = f"seed {seed}: {what}"
    share = len(test) / len(frame)
    if not SPLIT_SHARE[0] <= share <= SPLIT_SHARE[1]:
        problems["share"] = f"seed {seed}: test holds {len(test)}/{len(frame)} rows = {share:.0%}"
    if "customer" in train and "customer" in test:
        leaked = sorted(set(train["customer"]) & set(test["customer"]))
        if leaked:
            c = leaked[0]
            problems["groups"] = (f"seed {seed}: {len(leaked)} customer(s) on both sides, e.g. {c} with "
                                  f"{int((train['customer'] == c).sum())} ticket(s) in train and "
                                  f"{int((test['customer'] == c).sum())} in test")
    labels = set(frame["label"])
    for side, part in (("train", train), ("test", test)):
        absent = sorted(labels - set(part.get("label", ())))
        if absent:
            problems.setdefault("labels", f"seed {seed}: no {', '.join(absent)} ticket in {side}")
    return problems


_SPLIT_REQUIREMENTS = {
    "disjoint": "no ticket in both train and test",
    "complete": "every ticket in train or test, once",
    "share": f"test holds {SPLIT_SHARE[0]:.0%} to {SPLIT_SHARE[1]:.0%} of the tickets",
    "groups": "no customer on both sides (a customer's tickets are alike: leaked, they flatter the test score)",
    "labels": "every label on both sides",
    "same seed": "the same seed gives the same split",
    "other seed": "another seed gives another split",
    "untouched": "df is left as it was",
}


async def _grade_split(ex: SkillExercise, split: Any, runner: Any) -> Grade:
    _callable(ex, split)
    frame = ex.frame()
    problems: dict[str, str] = {}
    tests = []
    for seed in SPLIT_SEEDS:
        (train, test), changed = _split_once(split, seed, frame)
        for key, why in _split_findings(train, test, frame, seed).items():
            problems.setdefault(key, why)
        if changed:
            problems.setdefault("untouched", f"seed {seed}: split changed the frame it was given")
        tests.append(sorted(map(str, test.index)))
    (_, again), _ = _split_once(split, SPLIT_SEEDS[0], frame)
    if sorted(map(str, again.index)) != tests[0]:
        problems["same seed"] = f"seed {SPLIT_SEEDS[0]} twice gave two different test sets: use the seed for every draw"
    if all(t == tests[0] for t in tests):
        problems["other seed"] = f"seeds {SPLIT_SEEDS} all gave the same test set: the seed is not used"
    findings = tuple(Finding(req, key not in problems, problems.get(key, "ok"))
                     for key, req in _SPLIT_REQUIREMENTS.items())
    met = sum(f.passed for f in findings)
    return Grade(met / len(findings), met == len(findings),
                 f"{met}/{len(findings)} requirements met over seeds {', '.join(map(str, SPLIT_SEEDS))}", findings)


def _held_out_split() -> SkillExercise:
    return SkillExercise(
        id="04-held-out-split",
        title="A held-out split that holds out",
        notebook="04",
        task=("Forty support tickets (`wb.exercises.get('04-held-out-split').frame()`), each with a customer and "
              "a label; customers write several tickets, and the label `account` is rare. Write `split(df, seed)` "
              "returning `(train, test)`: a held-out set whose score means something on customers not seen."),
        how=(f"The grader calls your function with seeds {', '.join(map(str, SPLIT_SEEDS))} and checks each split: "
             "disjoint and complete (by the frame's index), a test share of 20% to 40%, no customer on both "
             "sides, every label on both sides; the same seed must give the same split and another seed another "
             "one. Every requirement must hold."),
        submit="a function `split(df, seed)` returning `(train, test)`",
        submit_as="split",
        starter=_SPLIT_STARTER,
        solution=_SPLIT_SOLUTION,
        rule=_grade_split,
        pass_mark="every requirement",
        threshold=1.0,
        rows=_ticket_rows(),
        hints=(
            "Read which requirement fails: a random sample of rows puts most customers on both sides.",
            "Split customers, not rows: shuffle the list of customers with np.random.default_rng(seed) and hold "
            "out whole customers until about 30% of the tickets are held out.",
            "A rare label can end up on one side only: check every label is on both sides and, if not, draw "
            "again with the same generator (deterministic, since it is seeded).",
        ),
        explanation=("Holding out whole customers keeps near-duplicate tickets of one person out of the test "
                     "set, so the held-out score is a score on new customers; redrawing until each label is on "
                     "both sides keeps the rare label measurable; one seeded generator makes the split "
                     "reproducible and another seed gives another split."),
    )


# === 3. 04-one-change ======================================================================
_BASELINE_SOURCE = '''\
import workbench as wb

baseline = (
    wb.Prompt(system="Reply with the day of the week mentioned in the message, one word, nothing else.",
              user="Message: {message}"),
    {"temperature": 0.7, "max_tokens": 12, "stop": ["\\n"]},
)
'''

_ONE_CHANGE_STARTER = _BASELINE_SOURCE + '''
# the idea to test: do two examples of the format help?
variant = (
    wb.Prompt(system="You find days. Answer with the day only.",
              user="Message: {message}",
              examples=[("Message: The parcel arrives on Monday at 9.", "Monday"),
                        ("Message: Room 4 is booked for Saturday.", "Saturday")]),
    {"temperature": 0, "max_tokens": 12, "stop": ["\\n"]},
)
'''

_ONE_CHANGE_SOLUTION = _BASELINE_SOURCE + '''
# the idea to test: do two examples of the format help? Only the examples change.
prompt, params = baseline
variant = (
    prompt.with_(examples=[("Message: The parcel arrives on Monday at 9.", "Monday"),
                           ("Message: Room 4 is booked for Saturday.", "Saturday")]),
    dict(params),
)
'''


def _version(ex: SkillExercise, item: Any, which: str) -> tuple[Prompt, dict[str, Any]]:
    """A Prompt, a ``(Prompt, params)`` pair or a Playground, as a prompt and its set parameters."""
    params: Mapping[str, Any] = {}
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Mapping):
        item, params = item
    try:
        prompt, state_params, _ = _resolve_prompt(item)
    except Exception as err:  # noqa: BLE001 - any unreadable version gets the same fix
        raise ExerciseError(f"The {which} is {type(item).__name__}, not a prompt ({err}). Fix: give a wb.Prompt, "
                            "or a pair (wb.Prompt, {parameters}).") from None
    merged = {**state_params, **params}
    try:
        return prompt, Params.build(merged).set()
    except ParamsError as err:
        raise ParamsError(f"The {which}'s parameters: {err}") from None


def _examples_change(a: Prompt, b: Prompt) -> str:
    if len(a.examples) != len(b.examples):
        added = [q for q, _ in b.examples if (q, _) not in a.examples]
        what = f"; added {_short(added[0], 50)!r}" if added and len(b.examples) > len(a.examples) else ""
        return f"{len(a.examples)} -> {len(b.examples)} examples{what}"
    changed = sum(x != y for x, y in zip(a.examples, b.examples, strict=True))
    return f"{changed} of the {len(a.examples)} examples rewritten"


def _text_change(a: str | None, b: str | None) -> str:
    if not a:
        return f"added: {_short(b or '', 60)!r}"
    if not b:
        return "removed"
    if " ".join(a.split()) == " ".join(b.split()):
        return "only spaces or line breaks differ (the model sees that too)"
    return f"{_short(a, 45)!r} -> {_short(b, 45)!r}"


def _differences(a: Prompt, pa: dict[str, Any], b: Prompt, pb: dict[str, Any]) -> list[tuple[str, str]]:
    diffs = []
    if (a.system or "") != (b.system or ""):
        diffs.append(("system message", _text_change(a.system, b.system)))
    if a.examples != b.examples:
        diffs.append(("examples", _examples_change(a, b)))
    if a.user != b.user:
        diffs.append(("user message", _text_change(a.user, b.user)))
    if a.messages != b.messages:
        diffs.append(("conversation", f"{len(a.messages)} -> {len(b.messages)} turns"))
    for name in sorted(set(pa) | set(pb)):
        if pa.get(name) != pb.get(name):
            before = repr(pa[name]) if name in pa else "unset"
            after = repr(pb[name]) if name in pb else "unset"
            diffs.append((f"parameter {name}", f"{before} -> {after}"))
    return diffs


async def _grade_one_change(ex: SkillExercise, submission: Any, runner: Any) -> Grade:
    if not (isinstance(submission, (tuple, list)) and len(submission) == 2):
        raise ExerciseError(f"{ex.id} grades a pair (baseline, variant); got {type(submission).__name__}. "
                            "Fix: wb.exercises.check('04-one-change', (baseline, variant)).")
    (a, pa), (b, pb) = _version(ex, submission[0], "baseline"), _version(ex, submission[1], "variant")
    diffs = _differences(a, pa, b, pb)
    one = len(diffs) == 1
    findings = [Finding(what, one, how) for what, how in diffs]
    if a.variables != b.variables:
        names = ", ".join("{" + v + "}" for v in sorted(a.variables ^ b.variables))
        findings.append(Finding("same variables", False, f"only one of them uses {names}: they cannot run on the "
                                                         "same cases, so they cannot be compared case by case"))
    if not diffs:
        findings.append(Finding("one change", False, "the two versions are the same: there is nothing to measure"))
    elif not one:
        findings.append(Finding("one change", False,
                                f"{len(diffs)} things differ ({', '.join(d for d, _ in diffs)}): if the score "
                                "moves, you cannot tell which change moved it. Keep one, test the others next"))
    else:
        findings.append(Finding("one change", True, f"only the {diffs[0][0]} differs"))
    ok = all(f.passed for f in findings)
    summary = ("nothing differs" if not diffs else f"{len(diffs)} thing{'s' if len(diffs) > 1 else ''} differ"
               f"{'s' if len(diffs) == 1 else ''}: {', '.join(d for d, _ in diffs)}")
    details = ("Next, measure it: run both on the same cases with repeats and wb.compare(results, 'baseline', "
               "'variant').",) if ok else ()
    return Grade(1.0 if ok else 0.0, ok, summary, tuple(findings), details)


def _one_change() -> SkillExercise:
    return SkillExercise(
        id="04-one-change",
        title="Change one thing at a time",
        notebook="04",
        task=("To learn whether an idea helps, the variant must differ from the baseline in that idea only. "
              "Give `(baseline, variant)`, each a `wb.Prompt` or a pair `(wb.Prompt, {parameters})`, that test one "
              "idea: the starter tests \"do two examples of the format help?\"."),
        how=("The grader compares the two part by part: the system message, the examples, the user message, "
             "the conversation turns and each parameter. Exactly one part may differ, and both must use the same "
             "variables, so that they run on the same cases."),
        submit="a pair `(baseline, variant)`",
        submit_as="(baseline, variant)",
        starter=_ONE_CHANGE_STARTER,
        solution=_ONE_CHANGE_SOLUTION,
        rule=_grade_one_change,
        pass_mark="exactly one difference",
        threshold=1.0,
        given={"baseline_source": _BASELINE_SOURCE},
        hints=(
            "Read the list of differences: each is a separate idea, with its own effect.",
            "Build the variant from the baseline: prompt.with_(examples=[...]) changes only the examples and "
            "keeps the system and user messages word for word; reuse the baseline's parameters.",
        ),
        explanation=("`with_` copies the baseline and changes only its examples, and the parameters are the "
                     "baseline's own, so a change in score can only come from the examples. The other changes "
                     "of the starter (a new system message, temperature 0) are ideas of their own: test each in "
                     "a later step, against the version kept."),
    )


# === 4. 04-separating-tests ================================================================
_NUMBER = r"\d+(?:[.,]\d+)?"
_CURRENCY = re.compile(rf"(?:€|EUR|\$|USD)\s*({_NUMBER})|({_NUMBER})\s*(?:€|EUR\b|euros?\b|USD\b|dollars?\b|\$)",
                       re.IGNORECASE)


def price_a(message: str) -> str:
    """Version A: the price is the first number in the message."""
    found = re.search(_NUMBER, message)
    return found.group(0) if found else ""


def price_b(message: str) -> str:
    """Version B: the price is the number next to a currency (euros, EUR, €, dollars, $), else the first number."""
    found = _CURRENCY.search(message)
    if found:
        return found.group(1) or found.group(2)
    return price_a(message)


def _number(text: Any) -> float | None:
    found = re.search(_NUMBER, str(text))
    return float(found.group(0).replace(",", ".")) if found else None


def _right(answer: str, expected: Any) -> bool:
    want = _number(expected)
    return want is not None and _number(answer) == want


_SEPARATE_STARTER = '''\
price_cases = [
    {"message": "The lamp costs 49 euros.", "expected": "49"},
    {"message": "You owe us 120 EUR.", "expected": "120"},
    {"message": "Price: 15 euros.", "expected": "15"},
    {"message": "That will be $30, please.", "expected": "30"},
    {"message": "The total is 75 euros.", "expected": "75"},
]
'''

_SEPARATE_SOLUTION = '''\
price_cases = [
    # prices after another number (a quantity, an order number, a date): where the versions may differ
    {"message": "3 chairs for 49 euros in total.", "expected": "49"},
    {"message": "Order 5521 came to 120 EUR.", "expected": "120"},
    {"message": "On 14 March we paid 15 euros.", "expected": "15"},
    {"message": "Room 12 costs $30 a night.", "expected": "30"},
    {"message": "2 tickets, 75 euros.", "expected": "75"},
    {"message": "Your 4 lamps cost 60 euros.", "expected": "60"},
    {"message": "Table 7: 82 euros, tip included.", "expected": "82"},
    {"message": "We ordered 10 boxes for 230 EUR.", "expected": "230"},
    # and ordinary ones, to show that B loses nothing there
    {"message": "The lamp costs 49 euros.", "expected": "49"},
    {"message": "You owe us 120 EUR.", "expected": "120"},
]
'''

SEPARATE_ALPHA = 0.05


def _cases_of(submission: Any) -> list[dict[str, Any]]:
    records = submission.to_dict("records") if hasattr(submission, "to_dict") and hasattr(submission, "columns") \
        else submission
    if isinstance(records, (str, bytes)) or not isinstance(records, Sequence) or not records:
        raise CasesError("04-separating-tests grades a test set: a non-empty list of dicts, or a DataFrame, with "
                         "'message' and 'expected'. Fix: price_cases = [{'message': '...', 'expected': '...'}, ...].")
    out = []
    for i, row in enumerate(records):
        if not isinstance(row, Mapping) or "message" not in row or "expected" not in row:
            raise CasesError(f"Case {i} is {_short(repr(row), 60)}: each case needs 'message' and 'expected'. "
                             "Fix: {'message': 'Order 5521 came to 120 EUR.', 'expected': '120'}.")
        if _number(row["expected"]) is None:
            raise CasesError(f"Case {i}'s expected {row['expected']!r} holds no number. Fix: the price, e.g. '120'.")
        out.append({"message": str(row["message"]), "expected": row["expected"]})
    return out


async def _grade_separating(ex: SkillExercise, submission: Any, runner: Any) -> Grade:
    cases, seen, duplicates = _cases_of(submission), set(), 0
    findings, diffs, right_a, right_b = [], [], 0, 0
    for case in cases:
        key = " ".join(_plain(case["message"]).split())
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        a, b = price_a(case["message"]), price_b(case["message"])
        ok_a, ok_b = _right(a, case["expected"]), _right(b, case["expected"])
        right_a, right_b = right_a + ok_a, right_b + ok_b
        diffs.append(float(ok_b) - float(ok_a))
        shown = f"A says {a or '-'} {'✔' if ok_a else '✘'}, B says {b or '-'} {'✔' if ok_b else '✘'}"
        if ok_a == ok_b:
            tail = ("neither finds the expected price: is the expected right?" if not ok_a
                    else "both right: it cannot tell them apart")
            findings.append(Finding(repr(case["message"]), ok_a, f"{shown}; {tail}", "no difference"))
        else:
            findings.append(Finding(repr(case["message"]), True, shown, "separates them"))
    n = len(diffs)
    p = sign_flip_test(diffs)
    diff = (right_b - right_a) / n
    (la, ha), (lb, hb) = wilson_ci(right_a, n), wilson_ci(right_b, n)
    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    passed = p < SEPARATE_ALPHA and diff > 0
    if not passed:  # then the cases that cannot tell the versions apart are what to fix
        findings = [replace(f, passed=False) if f.note == "no difference" else f for f in findings]
    details = [f"A right on {right_a}/{n} = {right_a / n:.0%} (95% CI {la:.0%} to {ha:.0%}), "
               f"B on {right_b}/{n} = {right_b / n:.0%} ({lb:.0%} to {hb:.0%}); B better on {wins} case(s), "
               f"worse on {losses}; paired sign-flip test p = {p:.3g}"]
    if duplicates:
        details.append(f"{duplicates} repeated message(s) counted once: a repeated case is not new evidence.")
    if not passed:
        informative = wins + losses
        if diff < 0:
            details.append("A scores higher than B: check the expected values (the price, not the first number).")
        need = math.ceil(1 - math.log2(SEPARATE_ALPHA))
        details.append(f"With {informative} case(s) where only one version is right, p cannot go below "
                       f"{2 / 2 ** informative if informative else 1:.3g}; at least {need} such cases, all in "
                       f"the same direction, are needed for p < {SEPARATE_ALPHA:g}.")
    summary = f"B - A = {diff:+.2f} on {n} case(s), p = {p:.3g}" + (" (real)" if passed else " (not shown to be real)")
    return Grade(diff, passed, summary, tuple(findings), tuple(details))


def _separating_tests() -> SkillExercise:
    return SkillExercise(
        id="04-separating-tests",
        title="A test set that separates two versions",
        notebook="04",
        task=("Two versions of a price extractor, A and B, stand in for two prompts (as functions, so that the "
              "grade is exact): `wb.exercises.get('04-separating-tests').given['A']('...')` tries one. On some "
              "kind of message one of them goes wrong. Build a test set, `price_cases`, a list of "
              "`{'message': ..., 'expected': <the price>}`, on which the better version wins by a difference that "
              "is real."),
        how=(f"The grader runs both versions on each distinct message and compares them case by case with the "
             f"workbench's paired sign-flip test (as `wb.compare` does): you pass when B beats A with "
             f"p < {SEPARATE_ALPHA:g}. Cases where both are right (or both wrong) cannot tell them apart; "
             "repeated messages count once."),
        submit="a list of cases (dicts with `message` and `expected`) or a DataFrame",
        submit_as="price_cases",
        starter=_SEPARATE_STARTER,
        solution=_SEPARATE_SOLUTION,
        rule=_grade_separating,
        pass_mark=f"B better than A with p < {SEPARATE_ALPHA:g} (paired)",
        threshold=SEPARATE_ALPHA,
        given={"A": price_a, "B": price_b},
        hints=(
            "Try both versions on a few messages of your own: where do their answers differ?",
            "A takes the first number it sees. Write messages where another number (a quantity, an order "
            "number, a date) comes before the price.",
            "A paired test on cases where only one version is right needs at least 6 of them, all the same way "
            "(2/2^6 = 0.031 < 0.05). Write 8 or more, each a different message.",
        ),
        explanation=("Every case with a number before the price is one that A gets wrong and B right; eight "
                     "of them, all the same way, give p = 2/2^8 = 0.008 in the paired test, while cases where "
                     "both are right add nothing to it. A test set is built for the difference you want to "
                     "detect: easy cases alone make two different versions look the same."),
    )


# === 5. 11-calibrate-judge ==================================================================
# (message, order, problem keyword, rewrite, the person's label, why it is bad)
_REWRITES = (
    ("Order 3307 arrived broken. Fix it or else!", "3307", "broken",
     "Order 3307 arrived broken. Could you please replace it?", True, ""),
    ("My parcel 4120 is a week late. Pathetic service.", "4120", "late",
     "My parcel 4120 is a week late. Pathetic service.", False, "still rude"),
    ("You sent the wrong size for order 5589. Idiots.", "5589", "size",
     "Order 5589 came in the wrong size; could you exchange it, please?", True, ""),
    ("Order 6631 never arrived and nobody answers. Useless.", "6631", "arrived",
     "Hello, I have a question about a recent purchase.", False, "drops the order number and the problem"),
    ("The blender in order 7702 smells of smoke. Disgraceful.", "7702", "smoke",
     "The blender in order 7702 smells of smoke when used. Could you advise me?", True, ""),
    ("Order 8815 is missing a lid. Do your job.", "8815", "lid",
     "Order 8815 is missing a lid. Do your job!", False, "still rude"),
    ("I paid for express shipping on order 9021 and got nothing faster. Scam.", "9021", "express",
     "I paid for express shipping on order 9021, but it was not faster. Could you refund the difference?", True, ""),
    ("Order 1148 came with a dead battery. Awful.", "1148", "battery",
     "Order 1148 came with a dead battery and a cracked case. Please replace both.", False,
     "adds a fact (a cracked case)"),
    ("Where is the refund for order 2290? I am sick of waiting.", "2290", "refund",
     "Could you tell me when the refund for order 2290 will arrive? Thank you.", True, ""),
    ("Order 3354 has a stain on the sofa. Unacceptable.", "3354", "stain",
     "Order 3354: THE SOFA HAS A STAIN. FIX IT.", False, "shouting in capitals"),
    ("The printer from order 4478 jams on every page. Junk.", "4478", "jams",
     "The printer from order 4478 jams on every page. Could you help me fix it?", True, ""),
    ("Order 5530 was delivered to the wrong address. Morons.", "5530", "address",
     "Order 5530 was delivered to the wrong address. Could you please redirect it?", True, ""),
    ("I returned order 6642 a month ago and still no refund. Thieves.", "6642", "refund",
     "I returned order 6642 a month ago; could you check the status of my refund?", True, ""),
    ("Order 7719 has scratches all over. Terrible quality.", "7719", "scratches",
     "Thank you for order 7719, I love it!", False, "changes the meaning"),
    ("The headphones in order 8863 crackle. Total rubbish.", "8863", "crackle",
     "The headphones in order 8863 crackle. Could you send a new pair, please?", True, ""),
    ("Order 9904 charged me 80 euros instead of 60. Fix it.", "9904", "charged",
     "Order 9904 charged me 80 euros instead of 60, and 20 euros for shipping. Please correct it.", False,
     "adds a fact (a shipping charge)"),
    ("My order 1276 came without the cable. Seriously??", "1276", "cable",
     "My order 1276 came without the cable. Could you send one, please?", True, ""),
    ("Order 2381 is the wrong colour, again. Can't you get anything right?", "2381", "colour",
     "Order 2381 is the wrong colour again. Can't you get anything right?", False, "still rude"),
    ("The desk from order 3495 is missing screws. Ridiculous.", "3495", "screws",
     "Could you please send the missing screws for my desk?", False, "drops the order number"),
    ("Order 4518 arrived two weeks late. Never again.", "4518", "late",
     "Order 4518 arrived two weeks late. Could you tell me why, please?", True, ""),
)
JUDGE_KAPPA = 0.6
JUDGE_BOOT = 2000


def _rewrite_rows() -> tuple[dict[str, Any], ...]:
    return tuple({"message": m, "order": o, "problem": p, "rewrite": r, "human": good, "why": why}
                 for m, o, p, r, good, why in _REWRITES)


_JUDGE_STARTER = '''\
def judge(output, case):
    """A polite rewrite says please."""
    return "please" in output.lower()
'''

_JUDGE_SOLUTION = '''\
import re

RUDE = ("pathetic", "idiots", "useless", "disgraceful", "do your job", "scam", "awful", "unacceptable", "junk",
        "morons", "thieves", "terrible", "rubbish", "seriously", "can't you", "ridiculous", "never again",
        "or else", "!")


def judge(output, case):
    """Good: no rude marker, no shouting, keeps the order number and the problem, adds no new number."""
    text = output.casefold()
    letters = [c for c in output if c.isalpha()]
    problems = [f"rude: {w!r}" for w in RUDE if w in text]
    if letters and sum(c.isupper() for c in letters) > len(letters) / 2:
        problems.append("shouts in capitals")
    problems += [f"drops {w!r}" for w in (case["order"], case["problem"]) if w.casefold() not in text]
    problems += [f"adds the number {n}" for n in re.findall(r"\\d+", output)
                 if n not in re.findall(r"\\d+", case["message"])]
    return not problems, "; ".join(problems) or "polite and faithful"
'''


def _kappa_ci(human: Sequence[bool], machine: Sequence[bool], *, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of Cohen's kappa over items (resamples where kappa is undefined are dropped)."""
    h, m = np.asarray(human, dtype=bool), np.asarray(machine, dtype=bool)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(JUDGE_BOOT):
        idx = rng.integers(0, len(h), len(h))
        k = cohen_kappa(list(h[idx]), list(m[idx]))
        if not math.isnan(k):
            values.append(k)
    if not values:
        return (math.nan, math.nan)
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


async def _grade_judge(ex: SkillExercise, judge: Any, runner: Any) -> Grade:
    _callable(ex, judge)
    findings, human, machine = [], [], []
    for row in ex.rows:
        case = {"message": row["message"], "order": row["order"], "problem": row["problem"]}
        score = await ascore(judge, row["rewrite"], case, runner=runner)
        verdict = _verdict_of(score)
        human.append(row["human"])
        machine.append(verdict)
        said = {True: "good", False: "bad", None: "no verdict"}[verdict]
        person = "good" if row["human"] else f"bad: {row['why']}"
        why = f" ({score.explanation})" if score.explanation and score.explanation not in ("yes", "no") else ""
        same = verdict is row["human"]
        detail = f"both say {said}{why}" if same else f"your judge says {said}{why}, the person says {person}"
        findings.append(Finding(repr(row["rewrite"]), same, detail, "" if row["human"] else row["why"]))
    as_bool = [bool(v) for v in machine]  # no verdict counts as "bad": an unusable answer is not a pass
    kappa = cohen_kappa(human, as_bool)
    low, high = _kappa_ci(human, as_bool)
    value = -1.0 if math.isnan(kappa) else kappa
    agree = sum(f.passed for f in findings)
    summary = (f"kappa = {kappa:.2f} ({_kappa_words(kappa)}; 95% CI {low:.2f} to {high:.2f}), raw agreement "
               f"{agree}/{len(findings)}")
    details = (_confusion(human, machine, "your judge"),
               f"The interval is wide: {len(findings)} labels pin kappa down only roughly. A judge tuned on these "
               "labels must be checked again on labels it was not tuned on.")
    return Grade(value, value >= JUDGE_KAPPA - 1e-9, summary, tuple(findings), details)


def _calibrate_judge() -> SkillExercise:
    return SkillExercise(
        id="11-calibrate-judge",
        title="Calibrate a judge against 20 human labels",
        notebook="11",
        task=("Twenty polite rewrites of angry customer messages, each labelled by a person: good (polite, keeps "
              "the order number and the problem, adds nothing) or bad. Write a judge, `judge(output, case)`, "
              "that agrees with the person: `output` is the rewrite and `case` has the `message`, the `order` "
              "number and the `problem` keyword."),
        how=(f"The judge runs through the scoring protocol (a bool, `(bool, why)` or a Score; a "
             f"`wb.scorers.llm_judge` works too, but costs calls). Its verdicts are compared with the person's "
             f"by Cohen's kappa, with a bootstrap CI over the 20 items; you pass at kappa >= {JUDGE_KAPPA}. The "
             "feedback shows the confusion table and each disagreement."),
        submit="a function `judge(output, case)`",
        submit_as="judge",
        starter=_JUDGE_STARTER,
        solution=_JUDGE_SOLUTION,
        rule=_grade_judge,
        pass_mark=f"kappa >= {JUDGE_KAPPA}",
        threshold=JUDGE_KAPPA,
        rows=_rewrite_rows(),
        hints=(
            "Read the bad rewrites' reasons in the data: rude words, missing facts, added facts, shouting.",
            "Check each reason in code: a list of rude markers, the order number and the problem keyword "
            "present, the share of capital letters.",
            "An added fact is hard to see in general, but an added number is easy: any number in the rewrite "
            "that is not in the message.",
        ),
        explanation=("Each check matches one reason a person gave for 'bad'; together they agree with the person "
                     "on 19 of the 20 rewrites (kappa about 0.9). The one miss, an added 'cracked case', is a "
                     "new fact without a number: a code judge cannot see it, which is the limit to write down "
                     "next to the judge (or the reason to calibrate a stronger, LLM judge the same way)."),
    )


# === 6. 12-cache-friendly-prompt ============================================================
_CACHE_INSTRUCTIONS = (
    "You route the messages of Velo Rapide, a bicycle shop, to the team that handles them. The teams: "
    "'returns' (returning or exchanging a product; returns are accepted within 30 days with the receipt, used "
    "parts cannot be returned, children's bikes can be exchanged for a larger size within 12 months), "
    "'repairs' (a repair, a guarantee claim, the free check-up after 2 months; repairs are guaranteed for 90 "
    "days, e-bike batteries carry a 2-year warranty), 'delivery' (delivery within the city costs 15 euros and is "
    "free above 500 euros; a late or damaged delivery), 'rentals' (rental bikes need an ID and a 200 euro "
    "deposit), and 'shop' (opening hours, Tuesday to Saturday, 9:00 to 18:30; gift cards, valid for 2 years; "
    "prices, which include VAT; trying on helmets, which must be done in the shop). Reply with the team's name "
    "only, in lower case, nothing else. If a message fits two teams, choose the team of its first request."
)
_CACHE_EXAMPLES = (
    ("Message: I bought a saddle last week and it is too narrow. Can I bring it back?", "returns"),
    ("Message: My e-bike battery stopped charging after 8 months.", "repairs"),
    ("Message: Do you open on Mondays?", "shop"),
)
_CACHE_TEXTS = (
    "My chain snapped on the way home, can you fix it today?",
    "Can I return a used chain?",
    "Is delivery free for a 300 euro bike?",
    "How long is the repair guarantee?",
    "Do rental bikes need a deposit?",
    "The cargo bike I ordered arrived with a bent wheel.",
    "My daughter outgrew her bike after 6 months. Can we swap it?",
    "Is the gift card from last Christmas still valid?",
    "I want to rent two bikes for Saturday. What do I bring?",
    "Are your prices with or without VAT?",
)
CACHE_SHARE = 0.8
CACHE_PADDING = 40  # tokens a prompt may add to the task's parts (labels, line breaks)
#: The chat template's markers, each one token (SmolLM2's ChatML; hosted APIs lay messages out the same way).
_TURN_START, _TURN_END = "<|im_start|>", "<|im_end|>"
_APPROX_TOKEN = re.compile(r"<\|im_(?:start|end)\|>|'(?:s|t|re|ve|m|ll|d)\b| ?[^\W\d]+| ?\d| ?(?:(?!<\|im_)[^\s\w])+"
                           r"|\s+(?!\S)|\s+|\S")


def approx_tokens(text: str) -> list[str]:
    """``text`` split as a BPE tokenizer's pre-tokenizer would: 12-cache-friendly-prompt's documented approximation.

    Words with their leading space, single digits, runs of punctuation, spaces, and the chat markers as one
    token each: the split GPT-2-style tokenizers (SmolLM2's among them) make before merging. The real
    tokenizer splits a rare word into a few pieces, so counts run a little low, but a share of a prefix
    moves with where the prompts differ, not with how words split. No model is needed, so the grade is the
    same everywhere.
    """
    return _APPROX_TOKEN.findall(text)


def _chat_layout(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[tuple[int, str]]]:
    """The messages as the chat template lays them out, and where each message starts (offset, role)."""
    text, starts = "", []
    for m in messages:
        starts.append((len(text), str(m["role"])))
        text += f"{_TURN_START}{m['role']}\n{m.get('content') or ''}{_TURN_END}\n"
    return text + f"{_TURN_START}assistant\n", starts


def _part_name(prompt: Prompt, index: int, role: str, total: int) -> str:
    """A rendered message's name in the prompt's own terms (the system message, example 2's question...)."""
    first = 1 if prompt.system and prompt.system.strip() else 0
    if first and index == 0:
        return "the system message"
    if index == total - 1 and role == "user" and prompt.user.strip():
        return "the user message"
    k = index - first
    if k < 2 * len(prompt.examples):
        return f"example {k // 2 + 1}'s {'question' if k % 2 == 0 else 'answer'}"
    return f"message {index + 1} ({role})"


_CACHE_STARTER = """\
import workbench as wb

task = wb.exercises.get("12-cache-friendly-prompt").given   # the instructions and examples to keep
prompt = wb.Prompt(
    system="Message to route: {text}\\n\\n" + task["instructions"],
    examples=task["examples"],
    user="Which team?",
)
"""

_CACHE_SOLUTION = """\
import workbench as wb

task = wb.exercises.get("12-cache-friendly-prompt").given
prompt = wb.Prompt(
    system=task["instructions"],     # stable: first
    examples=task["examples"],       # stable: next
    user="Message: {text}",          # what changes: last
)
"""


def _cache_prompt(ex: SkillExercise, submission: Any) -> Prompt:
    try:
        prompt, _, _ = _resolve_prompt(submission)
    except Exception as err:  # noqa: BLE001 - any unreadable submission gets the same fix
        raise ExerciseError(f"{ex.id} grades a wb.Prompt, not {type(submission).__name__} ({err}). "
                            "Fix: wb.exercises.check('12-cache-friendly-prompt', prompt) with prompt = "
                            "wb.Prompt(system=..., examples=..., user=...).") from None
    return prompt


def _first_difference(prompt: Prompt, layouts: list[tuple[str, list[tuple[int, str]]]],
                      tokens: list[list[str]], shared: int) -> str:
    """Where the first two cases that differ part ways: the token, the part of the prompt, the two texts."""
    other = next((i for i, t in enumerate(tokens) if t[shared:shared + 1] != tokens[0][shared:shared + 1]), 1)
    offset = sum(len(t) for t in tokens[0][:shared])
    (text_a, starts), (text_b, _) = layouts[0], layouts[other]
    index = max(i for i, (start, _) in enumerate(starts) if start <= offset)
    part = _part_name(prompt, index, starts[index][1], len(starts))
    into = offset - starts[index][0] - len(f"{_TURN_START}{starts[index][1]}\n")
    where = "at its start" if into <= 0 else f"{into} characters into it"
    before = text_a[max(0, offset - 30):offset].replace("\n", "\\n")
    return (f"case 1 and case {other + 1} first differ at token {shared + 1} of about {len(tokens[0])}, in "
            f"{part} ({where}): ...{before}|{_short(text_a[offset:], 30)!r} against |{_short(text_b[offset:], 30)!r}")


async def _grade_cache(ex: SkillExercise, submission: Any, runner: Any) -> Grade:
    prompt = _cache_prompt(ex, submission)
    findings: list[Finding] = []
    used = prompt.variable_order
    if used != ["text"]:
        wrong = f"it uses {', '.join('{' + v + '}' for v in used)}" if used else "it uses no variable"
        findings.append(Finding("uses {text}", False, f"{wrong}: each case's message must reach the model as "
                                                     "{text} (and nothing else is filled in)"))
        return Grade(0.0, False, "the prompt cannot be filled with the cases", tuple(findings))
    findings.append(Finding("uses {text}", True, "each case's message is filled in"))
    layouts = [_chat_layout(prompt.render({"text": t})) for t in _CACHE_TEXTS]
    flat = " ".join(layouts[0][0].split())
    kept = " ".join(ex.given["instructions"].split()) in flat
    findings.append(Finding("keeps the instructions", kept, "word for word" if kept else
                            "the instructions are not in the prompt word for word: a cache-friendly prompt "
                            "changes where things are, not what the model reads"))
    lost = [f"example {i}" for i, (q, a) in enumerate(ex.given["examples"], 1)
            if " ".join(q.split()) not in flat or " ".join(a.split()) not in flat]
    findings.append(Finding("keeps the examples", not lost, "all three" if not lost else
                            f"{', '.join(lost)} missing or changed: keep every example, question and answer"))
    tokens = [approx_tokens(text) for text, _ in layouts]
    bare = Prompt(system=ex.given["instructions"], examples=ex.given["examples"], user="{text}")
    extra = (sum(map(len, tokens)) - sum(len(approx_tokens(_chat_layout(bare.render({"text": t}))[0]))
                                         for t in _CACHE_TEXTS)) / len(tokens)
    findings.append(Finding(f"at most {CACHE_PADDING} tokens of your own", extra <= CACHE_PADDING,
                            f"{extra:.0f} tokens beyond the task's parts" + (
                                "" if extra <= CACHE_PADDING else ": padding the prompt raises the share without "
                                "saving anything; keep labels and glue short")))
    shared = 0
    while all(len(t) > shared for t in tokens) and len({t[shared] for t in tokens}) == 1:
        shared += 1
    share = shared / (sum(map(len, tokens)) / len(tokens))
    findings.append(Finding(f"shared prefix >= {CACHE_SHARE:.0%}", share >= CACHE_SHARE - 1e-9,
                            f"{shared} tokens shared by all {len(tokens)} cases = {share:.0%} of a prompt "
                            f"(about {sum(map(len, tokens)) / len(tokens):.0f} tokens)"))
    details = (_first_difference(prompt, layouts, tokens, shared),
               "Tokens are approximated (words, digits and punctuation, as a tokenizer splits before merging: "
               "wb.exercises.get('12-cache-friendly-prompt').given['tokens'](text)); the share is what a "
               "provider's prompt cache could reuse from one case to the next.")
    passed = all(f.passed for f in findings)
    summary = f"{share:.0%} of the prompt is a prefix common to all {len(tokens)} cases"
    return Grade(share, passed, summary, tuple(findings), details)


def _cache_friendly() -> SkillExercise:
    return SkillExercise(
        id="12-cache-friendly-prompt",
        title="A prompt a cache can reuse",
        notebook="12",
        task=("A router prompt has long instructions and three examples that never change "
              "(`wb.exercises.get('12-cache-friendly-prompt').given`: `instructions`, `examples`) and one thing that "
              "does, the customer's message `{text}`. Arrange them in a `wb.Prompt`, `prompt`, so that a provider's "
              "prompt cache can reuse as much of it as possible from one message to the next."),
        how=(f"The grader fills your prompt with each of the {len(_CACHE_TEXTS)} messages, lays the messages out as "
             "the chat template does, splits them into (approximate) tokens and measures the prefix all the cases "
             f"share: you pass at {CACHE_SHARE:.0%} of a prompt's tokens, with `{{text}}` still in it, the "
             f"instructions and examples kept word for word, and at most {CACHE_PADDING} tokens of your own. The "
             "feedback says where the first two cases part ways."),
        submit="a `wb.Prompt`, `prompt`, that uses `{text}`",
        submit_as="prompt",
        starter=_CACHE_STARTER,
        solution=_CACHE_SOLUTION,
        rule=_grade_cache,
        pass_mark=f"a shared prefix of {CACHE_SHARE:.0%} of the prompt",
        threshold=CACHE_SHARE,
        rows=tuple({"text": t} for t in _CACHE_TEXTS),
        given={"instructions": _CACHE_INSTRUCTIONS, "examples": list(_CACHE_EXAMPLES), "tokens": approx_tokens},
        hints=(
            "Read where the first two cases part ways: everything before that point can come from the cache, "
            "nothing after it can.",
            "A cache reuses the longest common beginning. What in this prompt changes from one call to the next, "
            "and what never does?",
            "Put the instructions in the system message, then the examples, and the message last: "
            "user='Message: {text}'.",
        ),
        explanation=("With the instructions first, the examples next and the message last, every call begins "
                     "with the same few hundred tokens and differs only in its last line, so a cache (llama.cpp's "
                     "KV cache here, OpenAI's or Anthropic's prompt cache on a hosted API) reuses nearly all of "
                     "it. Putting the message first made the prompts differ after a handful of tokens: the model "
                     "then reads the same instructions again on every call, and a hosted API bills them in full."),
    )


def exercises() -> list[SkillExercise]:
    """The course's skill exercises, in course order."""
    return [_write_scorer(), _held_out_split(), _one_change(), _separating_tests(), _calibrate_judge(),
            _cache_friendly()]
