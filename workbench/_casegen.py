"""Drafting test cases with a model: typical, edge and adversarial ones, to review before use.

A held-out check needs cases, and writing thirty by hand is where most
evaluations stall. :func:`generate_cases` asks a model for them, kind by kind,
with a generator prompt you can read and edit (:data:`GENERATOR_PROMPT`),
parses what comes back robustly (a JSON array, one JSON object per line, or
``input: ... / expected: ...`` blocks), drops near-duplicates (rapidfuzz), and
returns a DataFrame marked ``generated`` and ``accepted=False``: nothing is used
until a person has reviewed it (``wb.ReviewCases(cases)`` is the table to edit,
delete and accept). Generated expected answers are the model's guesses, which
is why they are reviewed. With a small offline model the output is poor; what
could not be parsed is reported in ``cases.attrs["problems"]``, never dropped
silently, and when nothing at all is usable a :class:`CasesError` says what failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._errors import CasesError, ParamsError
from ._params import Params
from ._portal import run_sync
from ._prompt import Prompt
from ._runner import Runner, get_runner
from .providers import default_model, resolve

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["generate_cases", "GENERATOR_PROMPT", "KINDS", "parse_cases", "dedupe_cases"]

#: What each kind of case asks the model for.
KINDS: dict[str, str] = {
    "typical": "ordinary, realistic inputs of the kind the task sees every day",
    "edge": "unusual but valid inputs: very short or long, ambiguous, mixed, missing parts, odd formatting",
    "adversarial": "inputs that try to mislead: misleading words, instructions hidden in the data, traps",
}

#: The generator's prompt (edit it, or pass ``prompt=``): ``{task}``, ``{count}``, ``{kind}``,
#: ``{kind_description}``, ``{keys}`` and ``{example}`` are filled in.
GENERATOR_PROMPT = """You write test cases for this task:

{task}

Write {count} different test cases that are {kind}: {kind_description}.
Each test case is one line of JSON with the keys {keys}. "expected" is the correct answer.
Reply with the {count} lines of JSON only, like this:
{example}"""

#: At most this many cases are asked for in one call (small models lose the thread in long lists).
PER_CALL = 8


def _task_and_columns(task: Any) -> tuple[str, list[str]]:
    """The task text the generator reads, and the input columns the cases need."""
    if isinstance(task, Prompt):
        names = task.variable_order or ["input"]
        shown = str(task)
        return (f"The prompt below is filled in with each case's {', '.join(names)}:\n{shown}", names)
    if isinstance(task, str) and task.strip():
        return task.strip(), ["input"]
    raise CasesError(f"generate_cases needs a task description (a sentence) or a wb.Prompt, not {task!r}. "
                     "Fix: e.g. generate_cases('Classify customer e-mails into billing, bug, other', n=30).")


def _example(columns: list[str]) -> str:
    return json.dumps({**{c: f"<{c}>" for c in columns}, "expected": "<the correct answer>"})


# --- parsing ---------------------------------------------------------------------------
def _objects(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every JSON object in ``text`` (an array, or one per line), and the lines that were not JSON."""
    stripped = re.sub(r"```[a-zA-Z]*", "", text).strip()
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, list):
        return [d for d in data if isinstance(d, dict)], []
    if isinstance(data, dict):
        return [data], []
    found, bad = [], []
    for line in stripped.splitlines():
        line = line.strip().rstrip(",")
        if not line or line in ("[", "]"):
            continue
        match = re.search(r"\{.*\}", line)
        if match:
            try:
                obj = json.loads(match.group(0))
            except json.JSONDecodeError:
                bad.append(line)
                continue
            if isinstance(obj, dict):
                found.append(obj)
                continue
        bad.append(line)
    return found, bad


_KEY_LINE = re.compile(r"^\s*(?:[-*\d.)\s]*)?\**([A-Za-z_ ]{2,20})\**\s*[:=]\s*(.+)$")


def _blocks(lines: list[str], columns: list[str]) -> list[dict[str, Any]]:
    """``input: ... / expected: ...`` pairs written as lines (what small models often do instead of JSON)."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    wanted = {c.lower(): c for c in [*columns, "expected"]}
    wanted.setdefault("input", columns[0])
    wanted.setdefault("answer", "expected")
    wanted.setdefault("output", "expected")
    for line in lines:
        match = _KEY_LINE.match(line)
        if not match:
            continue
        key = wanted.get(match.group(1).strip().lower())
        if key is None:
            continue
        if key in current:
            out.append(current)
            current = {}
        current[key] = match.group(2).strip().strip('"')
    if current:
        out.append(current)
    return out


def parse_cases(text: str, columns: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Cases (dicts with ``columns`` and ``expected``) read from a model's answer, and what could not be read."""
    columns = list(columns)
    objects, bad = _objects(text or "")
    objects += _blocks(bad, columns)
    cases, problems = [], []
    for obj in objects:
        lowered = {str(k).strip().lower(): v for k, v in obj.items()}
        if len(columns) == 1 and columns[0] not in lowered and "input" in lowered:
            lowered[columns[0]] = lowered["input"]
        missing = [c for c in columns if not str(lowered.get(c.lower(), "")).strip()]
        if missing:
            problems.append(f"a case without {', '.join(missing)}: {json.dumps(obj)[:80]}")
            continue
        value = lowered.get("expected", lowered.get("answer"))
        cases.append({**{c: str(lowered[c.lower()]).strip() for c in columns},
                      "expected": None if value is None or str(value).strip() == "" else str(value).strip()})
    unread = [line for line in bad if not _KEY_LINE.match(line)]
    if unread:
        problems.append(f"{len(unread)} line(s) were neither JSON nor 'key: value', e.g. {unread[0][:80]!r}")
    if not objects and not unread:
        problems.append("the answer was empty")
    return cases, problems


def dedupe_cases(cases: list[dict[str, Any]], columns: Sequence[str], *, threshold: float = 90.0
                 ) -> tuple[list[dict[str, Any]], int]:
    """Drop cases whose inputs are near-duplicates of an earlier one (rapidfuzz token-sort ratio >= threshold)."""
    from rapidfuzz import fuzz

    kept: list[dict[str, Any]] = []
    texts: list[str] = []
    dropped = 0
    for case in cases:
        text = " | ".join(str(case[c]).casefold() for c in columns)
        if any(fuzz.token_sort_ratio(text, other) >= threshold for other in texts):
            dropped += 1
            continue
        kept.append(case)
        texts.append(text)
    return kept, dropped


# --- generating --------------------------------------------------------------------------
def generate_cases(task: str | Prompt, n: int = 30, *, kinds: Sequence[str] = ("typical", "edge", "adversarial"),
                   model: str | None = None, prompt: str = GENERATOR_PROMPT, params: dict[str, Any] | None = None,
                   seed: int = 0, max_calls: int | None = None, runner: Runner | None = None,
                   verbose: bool = True) -> pd.DataFrame:
    """Ask ``model`` for about ``n`` test cases of ``task`` (a description or a :class:`wb.Prompt`), by ``kinds``.

    Returns a DataFrame with one column per input (the prompt's variables, else
    ``input``), ``expected``, ``kind``, ``generated`` (True), ``accepted`` (False
    until reviewed) and ``generated_by`` (the model). ``attrs["problems"]`` lists what could not be
    parsed and ``attrs["prompt"]`` the generator prompt used. Calls go through the
    runner and the log (seeded, so the same call is answered from the log).
    At most ``max_calls`` calls (default: twice the calls ``n`` needs) are made.
    """
    import pandas as pd

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ParamsError(f"n={n!r} is not a number of cases. Fix: e.g. n=30.")
    unknown = [k for k in kinds if k not in KINDS]
    if not kinds or unknown:
        raise ParamsError(f"Unknown kind(s) {unknown or '(none given)'}. Fix: kinds from {list(KINDS)}.")
    text, columns = _task_and_columns(task)
    model = model or default_model()
    resolve(model)
    runner = runner or get_runner()
    template = Prompt(user=prompt)
    wanted = {"task", "count", "kind", "kind_description", "keys", "example"}
    extra = [v for v in template.variable_order if v not in wanted]
    if extra:
        raise CasesError(f"The generator prompt uses {extra}, which generate_cases does not fill. "
                         f"Fix: use only {sorted(wanted)} (double other braces: {{{{ and }}}}).")
    base = Params.build({"temperature": 0.8, "max_tokens": 600, **(params or {})})
    share = [n // len(kinds) + (1 if i < n % len(kinds) else 0) for i in range(len(kinds))]
    budget = max_calls if max_calls is not None else 2 * sum(-(-s // PER_CALL) for s in share)
    keys = ", ".join(f'"{c}"' for c in [*columns, "expected"])
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    calls = dropped = 0
    for kind, want in zip(kinds, share, strict=True):
        got: list[dict[str, Any]] = []
        attempt = 0
        while len(got) < want and calls < budget:
            count = min(PER_CALL, want - len(got))
            values = {"task": text, "count": str(count), "kind": kind, "kind_description": KINDS[kind],
                      "keys": keys, "example": _example(columns)}
            request = runner.prepare(model, template, {k: values[k] for k in template.variable_order},
                                     Params.build({**base.set(), "seed": seed * 1000 + attempt}),
                                     tags={"source": "generate_cases", "kind": kind})
            response = run_sync(runner.call(request))
            calls, attempt = calls + 1, attempt + 1
            if not response.ok:
                problems.append(f"{kind}, call {attempt}: the call failed: {response.error_type}: {response.error}")
                continue
            parsed, why = parse_cases(response.text, columns)
            problems += [f"{kind}, call {attempt}: {w}" for w in why]
            if not parsed:
                continue
            fresh, gone = dedupe_cases([*rows, *got, *parsed], columns)
            dropped += gone
            got = [c for c in fresh if not any(c is r for r in rows)][:want]
        rows += [{**c, "kind": kind} for c in got]
    if not rows:
        shown = "; ".join(problems[:4]) or "no answer"
        raise CasesError(f"No usable case came back from {model} in {calls} call(s): {shown}. Fix: use a larger "
                         "model, edit the generator prompt (prompt=...), or write the cases by hand.")
    frame = pd.DataFrame(rows, columns=[*columns, "expected", "kind"])
    frame["generated"] = True
    frame["accepted"] = False
    frame["generated_by"] = model
    if dropped:
        problems.append(f"{dropped} near-duplicate case(s) dropped")
    if len(frame) < n:
        problems.append(f"{len(frame)} of the {n} cases asked for came back usable")
    frame.attrs.update({"problems": problems, "prompt": prompt, "calls": calls, "task": text})
    if verbose:
        print(f"{len(frame)} generated case(s) from {model} in {calls} call(s); review them before use "
              "(wb.ReviewCases(cases)).")
        for p in problems[:6]:
            print(f"  - {p}")
    return frame
