"""Proposers: small functions that turn the current prompt into a candidate rewrite.

A *proposer* is any callable ``proposer(context) -> Edit | Prompt | None``
(a list of them is allowed too). :func:`workbench.improve` calls each one with a
:class:`Context`: the current prompt and parameters, the train cases, the
train cases it fails with the scorers' explanations, and the scorers. Returning
``None`` means "nothing to do here" (the stop sequence is already set, say);
raising :class:`ProposalError` means "I tried and failed", which the history
shows with the reason, never hidden.

The deterministic *edit operators* below work offline and each is one idea from
the course, small enough to read: state the output format the scorers check,
show few-shot examples, stop at the end of the line, ask for the answer only,
put the instructions before delimited data, lower the temperature. Add your
own by writing a function of the same shape (its ``__name__`` names it in the
history). :class:`ModelProposer` asks a model instead, with a meta-prompt you can
read and edit (:data:`DEFAULT_META_PROMPT`); its answer is parsed robustly and a
suggestion that cannot be used is reported with what was wrong.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import WorkbenchError
from ._prompt import Prompt, _escape

__all__ = [
    "Context",
    "Edit",
    "ProposalError",
    "Proposer",
    "ModelProposer",
    "DEFAULT_META_PROMPT",
    "OPERATORS",
    "add_format_instruction",
    "add_examples",
    "add_stop",
    "answer_only",
    "instructions_first",
    "lower_temperature",
    "proposer_name",
    "prompt_text",
    "parse_suggestion",
]


class ProposalError(WorkbenchError):
    """A proposer could not produce a usable candidate; the message says why (shown in the history)."""


@dataclass(frozen=True)
class Failure:
    """A train case the current prompt fails: its variables, expected answer, output and why it scored low."""

    case: Mapping[str, Any]
    output: str
    score: float
    explanations: Mapping[str, str]


@dataclass(frozen=True)
class Context:
    """What a proposer sees. ``train`` holds the train cases only: a proposer never sees the held-out ones."""

    prompt: Prompt
    params: Mapping[str, Any]
    train: Any  # pandas DataFrame of the train cases (variables and, if any, 'expected')
    failures: Sequence[Failure]
    scorers: Sequence[Any]
    round: int = 1
    seed: int = 0
    attempt: int = 0  # how many times this proposer was already asked in this round
    runner: Any = None
    model: str | None = None

    @property
    def variables(self) -> list[str]:
        return self.prompt.variable_order

    def rng(self) -> random.Random:
        """A random generator fixed by the seed, the round and the attempt (so a rerun proposes the same)."""
        return random.Random(f"{self.seed}-{self.round}-{self.attempt}")


@dataclass(frozen=True)
class Edit:
    """A candidate: the new prompt, its parameters, and a note saying how it was made."""

    prompt: Prompt
    params: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""


Proposer = Callable[[Context], Any]


def proposer_name(proposer: Any) -> str:
    """The name shown in the history: ``.name``, else the function's name."""
    return str(getattr(proposer, "name", None) or getattr(proposer, "__name__", None) or type(proposer).__name__)


# --- helpers ------------------------------------------------------------------------
def _add_to_system(prompt: Prompt, sentence: str) -> Prompt:
    system = (prompt.system or "").rstrip()
    return prompt.with_(system=f"{system}\n{sentence}".strip() if system else sentence)


def _scorer_kinds(scorers: Sequence[Any]) -> list[str]:
    """What each scorer checks, read from its description and name (e.g. 'label', 'json', 'number')."""
    kinds = []
    for s in scorers:
        text = f"{getattr(s, 'name', '')} {getattr(s, 'description', '')}".lower()
        for kind, words in (("label", ("label",)), ("json", ("json",)), ("number", ("number", "numeric")),
                            ("exact", ("equals", "exact")), ("words", ("word",)), ("length", ("length",))):
            if any(w in text for w in words):
                kinds.append(kind)
                break
    return kinds


def _expected_values(train: Any) -> list[str]:
    if train is None or "expected" not in getattr(train, "columns", ()):
        return []
    values = [str(v) for v in train["expected"].tolist() if v is not None and str(v) not in ("", "nan")]
    return list(dict.fromkeys(values))


# --- the deterministic operators ------------------------------------------------------
def add_format_instruction(ctx: Context) -> Edit | None:
    """State the output format the scorers check (the labels, JSON, a number, the exact answer)."""
    kinds = _scorer_kinds(ctx.scorers)
    labels = _expected_values(ctx.train)
    sentence = None
    if "label" in kinds and labels and len(labels) <= 12:
        sentence = f"Answer with exactly one of: {', '.join(labels)}."
    elif "json" in kinds:
        sentence = "Reply with one JSON object only, on one line, and nothing else."
    elif "number" in kinds:
        sentence = "Reply with the number only, in digits."
    elif "exact" in kinds:
        sentence = "Reply with the exact answer only, as it should be written."
    elif "words" in kinds or "length" in kinds:
        sentence = "Keep the answer short: one sentence."
    if sentence is None or sentence in (ctx.prompt.system or ""):
        return None
    return Edit(_add_to_system(ctx.prompt, _escape(sentence)), dict(ctx.params), f"system += {sentence!r}")


def add_examples(ctx: Context, k: int = 3) -> Edit | None:
    """Add ``k`` few-shot examples drawn from the train cases that have an expected answer.

    The examples come from train cases only, so scoring on train flatters this
    edit (the model has seen those answers): exactly what the held-out check is for.
    """
    train = ctx.train
    if train is None or "expected" not in getattr(train, "columns", ()) or ctx.prompt.examples:
        return None
    rows = [row for _, row in train.iterrows() if str(row.get("expected", "")) not in ("", "nan", "None")]
    if not rows:
        return None
    rng = ctx.rng()
    # prefer distinct expected answers, so the examples do not all teach the same label
    rng.shuffle(rows)
    chosen: list[Any] = []
    seen: set[str] = set()
    for row in rows:
        if str(row["expected"]) not in seen:
            chosen.append(row)
            seen.add(str(row["expected"]))
        if len(chosen) == k:
            break
    for row in rows:
        if len(chosen) >= k:
            break
        if not any(row is c for c in chosen):
            chosen.append(row)
    examples = []
    for row in chosen:
        values = {v: row[v] for v in ctx.variables}
        try:
            shown = ctx.prompt.user.format_map({v: str(x) for v, x in values.items()})
        except (KeyError, ValueError):
            return None
        examples.append((_escape(shown), _escape(str(row["expected"]))))
    return Edit(ctx.prompt.with_(examples=tuple(examples)), dict(ctx.params),
                f"{len(examples)} few-shot examples from train cases")


def add_stop(ctx: Context) -> Edit | None:
    """Stop at the end of the first line, so nothing follows the answer."""
    if ctx.params.get("stop"):
        return None
    return Edit(ctx.prompt, {**ctx.params, "stop": ["\n"]}, "stop=['\\n']")


ANSWER_ONLY = "Reply with the answer only: no explanation, no introduction, no repetition of the question."


def answer_only(ctx: Context) -> Edit | None:
    """Ask for the answer only (no preamble, no explanation)."""
    if ANSWER_ONLY in (ctx.prompt.system or ""):
        return None
    return Edit(_add_to_system(ctx.prompt, ANSWER_ONLY), dict(ctx.params), "system += answer-only constraint")


def instructions_first(ctx: Context) -> Edit | None:
    """Put the instruction first and each piece of data after it, between ``<name>`` tags."""
    user = ctx.prompt.user
    names = ctx.variables
    if not names or any(f"<{n}>" in user for n in names):
        return None
    instruction = user
    for n in names:
        instruction = instruction.replace("{" + n + "}", f"the <{n}> below")
    instruction = " ".join(instruction.split())
    if not re.search(r"[A-Za-z]{3,}", re.sub(r"the <\w+> below", "", instruction)):
        return None  # the user message is only data: no instruction to move
    blocks = "\n".join(f"<{n}>\n{{{n}}}\n</{n}>" for n in names)
    return Edit(ctx.prompt.with_(user=f"{instruction}\n\n{blocks}"), dict(ctx.params),
                "instruction first, data between tags")


def lower_temperature(ctx: Context) -> Edit | None:
    """Temperature 0: the most likely answer, the same every time."""
    if ctx.params.get("temperature") == 0:
        return None
    before = ctx.params.get("temperature", "default")
    return Edit(ctx.prompt, {**ctx.params, "temperature": 0}, f"temperature {before} -> 0")


#: The default edit operators, in the order a round tries them.
OPERATORS: tuple[Proposer, ...] = (add_examples, lower_temperature, add_stop, add_format_instruction, answer_only,
                                   instructions_first)


# --- the model proposer ------------------------------------------------------------------
DEFAULT_META_PROMPT = """You improve prompts for a language model.

Here is the current prompt. Text in curly braces, like {{text}}, is filled in with each case's data
and must stay exactly as it is.

{prompt}

The answers are checked like this: {scorers}

Some cases it gets wrong:

{failures}

Write an improved prompt that fixes these mistakes. Keep every {{variable}} placeholder.
Reply in exactly this form and nothing else:

SYSTEM:
<the new system message>
USER:
<the new user message, with the placeholders>"""


def prompt_text(prompt: Prompt) -> str:
    """The prompt as the meta-prompt shows it: SYSTEM: / USER: sections (examples as turns)."""
    parts = [f"SYSTEM:\n{prompt.system or ''}"]
    for q, a in prompt.examples:
        parts.append(f"EXAMPLE INPUT:\n{q}\nEXAMPLE OUTPUT:\n{a}")
    parts.append(f"USER:\n{prompt.user}")
    return "\n".join(parts)


_SECTION = re.compile(r"^[ \t>*#_`]*(system|user)(?:\s+message)?[ \t*_`]*:[ \t*_`]*", re.I | re.M)


def parse_suggestion(answer: str, current: Prompt) -> Prompt:
    """Read ``SYSTEM: ... USER: ...`` from a model's answer; raise :class:`ProposalError` saying what is wrong.

    Tolerates markdown (``**User:**``, code fences), a missing SYSTEM section
    (the current one is kept) and placeholders written as ``{{x}}``. Refused:
    no USER section, an empty user message, a dropped or a new placeholder, or
    text identical to the current prompt.
    """
    text = re.sub(r"```[a-z]*", "", answer or "").strip()
    if not text:
        raise ProposalError("the model's answer was empty")
    marks = list(_SECTION.finditer(text))
    sections: dict[str, str] = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        sections.setdefault(mark.group(1).lower(), text[mark.end():end].strip())
    if "user" not in sections:
        raise ProposalError(f"no 'USER:' section in the model's answer (it began {text[:80]!r})")
    user, system = sections["user"], sections.get("system", current.system or "")
    if not user.strip():
        raise ProposalError("the suggested user message is empty")
    names = current.variable_order

    def fix(template: str) -> str:
        for n in names:  # {{text}} written by a model that copied the meta-prompt's escaping
            template = template.replace("{{" + n + "}}", "{" + n + "}")
        # braces that are not one of our placeholders are literal text
        return re.sub(r"\{([^{}]*)\}", lambda m: m.group(0) if m.group(1) in names else "{{" + m.group(1) + "}}",
                      template.replace("{{", "\x00").replace("}}", "\x01")).replace("\x00", "{{").replace("\x01", "}}")

    try:
        prompt = Prompt(user=fix(user), system=fix(system) or None, examples=current.examples)
    except WorkbenchError as exc:
        raise ProposalError(f"the suggestion is not a valid prompt: {exc}") from None
    missing = [n for n in names if n not in prompt.variables]
    if missing:
        raise ProposalError(f"the suggestion dropped the placeholder(s) {', '.join('{' + n + '}' for n in missing)}")
    if prompt.hash == current.hash:
        raise ProposalError("the suggestion is the current prompt, unchanged")
    return prompt


@dataclass
class ModelProposer:
    """Ask ``model`` for a rewrite, with :attr:`meta_prompt` (read it, edit it: it is a plain string).

    The meta-prompt's ``{prompt}``, ``{failures}`` and ``{scorers}`` are filled
    with the current prompt, up to ``max_failures`` failing train cases (input,
    expected, answer, the scorers' explanations) and what the scorers check. The
    call goes through the runner and the log (seeded, so a resumed run reuses it).
    """

    model: str
    meta_prompt: str = DEFAULT_META_PROMPT
    params: Mapping[str, Any] = field(default_factory=lambda: {"temperature": 0.7, "max_tokens": 300})
    max_failures: int = 4
    name: str = ""
    last_answer: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.name = self.name or f"model:{self.model}"
        Prompt(user=self.meta_prompt)  # a malformed template fails now, not in round 1

    def fill(self, ctx: Context) -> dict[str, str]:
        """The meta-prompt's variables for ``ctx`` (what the model will read)."""
        shown = []
        for f in list(ctx.failures)[: self.max_failures]:
            inputs = "; ".join(f"{k} = {str(v)[:300]!r}" for k, v in f.case.items() if k != "expected")
            why = "; ".join(f"{k}: {v}" for k, v in f.explanations.items() if v)
            expected = f.case.get("expected")
            shown.append(f"- input: {inputs}\n  expected: {expected!r}\n  answer: {f.output[:200]!r}\n"
                         f"  why wrong: {why}")
        scorers = "; ".join(f"{getattr(s, 'name', '?')} ({getattr(s, 'description', '') or 'custom'})"
                            for s in ctx.scorers)
        return {"prompt": prompt_text(ctx.prompt), "failures": "\n".join(shown) or "(none: every train case passes)",
                "scorers": scorers}

    def __call__(self, ctx: Context) -> Edit:
        from ._params import Params
        from ._portal import run_sync
        from ._runner import get_runner

        runner = ctx.runner or get_runner()
        params = Params.build({**self.params, "seed": ctx.seed * 1000 + ctx.round * 10 + ctx.attempt})
        request = runner.prepare(self.model, Prompt(user=self.meta_prompt), self.fill(ctx), params,
                                 tags={"source": "improve-proposer", "round": ctx.round})
        response = run_sync(runner.call(request, cache=True))
        self.last_answer = response.text
        if not response.ok:
            raise ProposalError(f"the call to {self.model} failed: {response.error_type}: {response.error}")
        return Edit(parse_suggestion(response.text, ctx.prompt), dict(ctx.params), f"rewritten by {self.model}")


def as_edit(result: Any, ctx: Context) -> list[Edit]:
    """What a proposer returned, as edits: an Edit, a Prompt (parameters kept), ``(prompt, params)``, a list, None."""
    if result is None:
        return []
    if isinstance(result, Edit):
        return [result]
    if isinstance(result, Prompt):
        return [Edit(result, dict(ctx.params))]
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], Prompt):
        return [Edit(result[0], dict(result[1] or {}))]
    if isinstance(result, (list, tuple)):
        return [e for item in result for e in as_edit(item, ctx)]
    raise ProposalError(f"returned {type(result).__name__}, not an Edit, a Prompt, (prompt, params), a list or None")
