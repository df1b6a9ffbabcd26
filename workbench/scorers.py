"""Scorers: small functions that turn one answer into a number with a reason.

A scorer is any callable ``scorer(output: str, case: Mapping[str, Any])``, plain
or ``async``, returning a :class:`Score` (or a bool, a number, or ``(value,
explanation)``: see :func:`workbench._scoring.to_score`); the factories below
build the common ones, and :func:`custom` wraps your own function. Every scorer says
*why* it gave its value (``Score.explanation``), because a mean score is only
trustworthy when its individual verdicts can be read and challenged.

Conventions, so that scores can be averaged and compared:

* values are in [0, 1] where 1 is good (a scorer that detects something bad,
  such as a refusal, scores the *desired* behaviour);
* ``Score.value is None`` means "could not score" (say, the judge's answer had
  no score in it); the explanation says why, and the row is never dropped;
* ``passed`` is a yes/no reading of the value, used for pass rates and pass@k.

``expected`` arguments default to the case's ``expected`` column.

>>> from workbench import scorers
>>> scorers.contains("Paris")("The capital is Paris.", {})
Score(value=1.0, explanation="found 'Paris'", passed=True)
"""

from __future__ import annotations

import inspect
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import ScorerError
from ._params import Params
from ._pf_assert import python_assertion
from ._portal import run_sync
from ._prompt import Prompt, as_prompt
from ._runner import get_runner
from ._scoring import Case, Score, acall, is_async_scorer, scorer_name, to_score
from .providers import default_model

__all__ = [
    "Score",
    "Scorer",
    "LLMJudge",
    "exact_match",
    "contains",
    "contains_any",
    "contains_all",
    "regex",
    "starts_with",
    "valid_json",
    "json_schema",
    "length",
    "word_count",
    "similarity",
    "numeric",
    "label_match",
    "refusal",
    "custom",
    "llm_judge",
    "DEFAULT_JUDGE_PROMPT",
    "tool_called",
    "valid_tool_call",
    "schema_valid",
    "citations",
]

@dataclass
class Scorer:
    """A named scoring function with metadata the experiment and exports use.

    ``fn(output, case)`` is a plain or an ``async`` function returning anything
    :func:`~workbench._scoring.to_score` accepts. ``needs_expected`` lets an
    experiment refuse, before any call, cases that have no ``expected``
    column; ``promptfoo`` is the equivalent promptfoo assertion (``None``
    when there is none).
    """

    name: str
    fn: Callable[[str, Case], Any]
    needs_expected: bool = False
    promptfoo: dict[str, Any] | None = None
    description: str = ""
    #: Tried once on a stand-in answer before an experiment's calls (set for user functions by :func:`custom`).
    probe: bool = field(default=False, repr=False, compare=False)
    #: Reads the response (tool calls, parsed object): an experiment passes it in the case as ``_response``.
    needs_response: bool = field(default=False, repr=False, compare=False)

    @property
    def is_async(self) -> bool:
        """Whether ``fn`` is an ``async`` function (then :meth:`ascore` is the way to call it in a loop)."""
        return is_async_scorer(self.fn)

    def __call__(self, output: Any, case: Case | None = None) -> Score:
        """Score one answer (an async ``fn`` runs in the workbench's event loop); a :class:`Response`
        may be given as the answer (its text is scored; response-reading scorers read the rest)."""
        if hasattr(output, "tool_calls") and hasattr(output, "text"):
            case, output = {**(case or {}), "_response": output}, output.text
        if self.is_async:
            return run_sync(self.ascore(output, case))
        return to_score(self.fn("" if output is None else str(output), case or {}), self.name)

    async def ascore(self, output: str, case: Case | None = None, *, runner: Any = None) -> Score:
        """Score one answer from async code: an async ``fn`` is awaited, a plain one runs in a worker thread."""
        return to_score(await acall(self.fn, "" if output is None else str(output), case or {}), self.name)

    def __repr__(self) -> str:
        return f"<Scorer {self.name}: {self.description}>" if self.description else f"<Scorer {self.name}>"


def _binary(ok: bool, explanation: str) -> Score:
    return Score(1.0 if ok else 0.0, explanation, ok)


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _expected_of(case: Case, given: Any) -> Any:
    """The value to compare with: the factory's argument, else the case's ``expected``."""
    if given is not None:
        return given
    value = case.get("expected")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


_NO_EXPECTED = Score(None, "no expected value for this case (empty 'expected' cell)", None)


# --- text normalisation ---------------------------------------------------
def _normalise(text: str, *, case_sensitive: bool = False, strip: bool = True, collapse_whitespace: bool = True,
               strip_punctuation: bool = False, unicode: bool = True) -> str:
    if unicode:
        text = unicodedata.normalize("NFKC", text)
    if not case_sensitive:
        text = text.casefold()
    if strip_punctuation:
        text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    if collapse_whitespace:
        text = " ".join(text.split())
    elif strip:
        text = text.strip()
    return text.strip() if strip else text


def exact_match(expected: str | None = None, *, case_sensitive: bool = False, strip: bool = True,
                collapse_whitespace: bool = True, strip_punctuation: bool = False, name: str = "exact_match") -> Scorer:
    """1 if the answer equals ``expected`` (default: the case's) after normalisation.

    By default case, surrounding and repeated whitespace and Unicode forms
    (NFKC) are ignored; ``strip_punctuation=True`` also ignores punctuation.
    """
    opts = dict(case_sensitive=case_sensitive, strip=strip, collapse_whitespace=collapse_whitespace,
                strip_punctuation=strip_punctuation)

    def fn(output: str, case: Case) -> Score:
        target = _expected_of(case, expected)
        if target is None:
            return _NO_EXPECTED
        ok = _normalise(output, **opts) == _normalise(str(target), **opts)
        return _binary(ok, f"equals {_short(str(target))}" if ok else f"{_short(output)} != {_short(str(target))}")

    pf = python_assertion("exact_match", {"expected": expected, **opts})
    return Scorer(name, fn, needs_expected=expected is None, promptfoo=pf,
                  description="answer equals the expected text")


def _finder(case_sensitive: bool) -> Callable[[str, str], bool]:
    if case_sensitive:
        return lambda needle, hay: unicodedata.normalize("NFKC", needle) in unicodedata.normalize("NFKC", hay)
    return lambda needle, hay: (_normalise(needle, collapse_whitespace=False)
                                in _normalise(hay, collapse_whitespace=False))


def contains(text: str, *, case_sensitive: bool = False, name: str = "contains") -> Scorer:
    """1 if the answer contains ``text`` (case-insensitive by default)."""
    _need_text(text, "contains")
    found = _finder(case_sensitive)

    def fn(output: str, case: Case) -> Score:
        ok = found(text, output)
        return _binary(ok, f"found {text!r}" if ok else f"{text!r} not in the answer")

    return Scorer(name, fn, promptfoo=python_assertion("contains", {"text": text, "case_sensitive": case_sensitive}),
                  description=f"answer contains {text!r}")


def contains_any(texts: Sequence[str], *, case_sensitive: bool = False, name: str = "contains_any") -> Scorer:
    """1 if the answer contains at least one of ``texts``."""
    texts = _need_texts(texts, "contains_any")
    found = _finder(case_sensitive)

    def fn(output: str, case: Case) -> Score:
        hits = [t for t in texts if found(t, output)]
        return _binary(bool(hits), f"found {hits}" if hits else f"none of {texts} in the answer")

    pf = python_assertion("contains_any", {"texts": list(texts), "case_sensitive": case_sensitive})
    return Scorer(name, fn, promptfoo=pf, description=f"answer contains any of {texts}")


def contains_all(texts: Sequence[str], *, case_sensitive: bool = False, name: str = "contains_all") -> Scorer:
    """The fraction of ``texts`` found in the answer; passes when all are there."""
    texts = _need_texts(texts, "contains_all")
    found = _finder(case_sensitive)

    def fn(output: str, case: Case) -> Score:
        missing = [t for t in texts if not found(t, output)]
        value = 1 - len(missing) / len(texts)
        return Score(value, f"missing {missing}" if missing else f"found all {len(texts)}", not missing)

    pf = python_assertion("contains_all", {"texts": list(texts), "case_sensitive": case_sensitive})
    return Scorer(name, fn, promptfoo=pf, description=f"answer contains all of {texts}")


def _need_text(text: Any, factory: str) -> None:
    if not isinstance(text, str) or not text:
        raise ScorerError(f"{factory}() needs a non-empty string, not {text!r}. Fix: e.g. {factory}('Paris').")


def _need_texts(texts: Any, factory: str) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Iterable):
        raise ScorerError(f"{factory}() needs a list of strings, not {texts!r}. Fix: e.g. {factory}(['yes', 'no']).")
    out = list(texts)
    if not out:
        raise ScorerError(f"{factory}() got an empty list. Fix: give at least one string.")
    for t in out:
        _need_text(t, factory)
    return out


def regex(pattern: str, *, flags: int = 0, fullmatch: bool = False, name: str = "regex") -> Scorer:
    """1 if ``pattern`` matches somewhere in the answer (or all of it, with ``fullmatch``)."""
    try:
        compiled = re.compile(pattern, flags)
    except (re.error, TypeError) as exc:
        raise ScorerError(f"regex({pattern!r}) is not a valid regular expression: {exc}. "
                          "Fix: correct the pattern (test it with re.compile).") from None

    def fn(output: str, case: Case) -> Score:
        match = compiled.fullmatch(output.strip()) if fullmatch else compiled.search(output)
        if match:
            return _binary(True, f"matched {_short(match.group(0))}")
        return _binary(False, f"no match for /{pattern}/")

    # flags and fullmatch (on the stripped answer) carried exactly: the same re, in Python
    pf = python_assertion("regex", {"pattern": pattern, "flags": int(flags), "fullmatch": fullmatch})
    return Scorer(name, fn, promptfoo=pf, description=f"matches /{pattern}/")


def starts_with(prefix: str, *, case_sensitive: bool = False, strip: bool = True, name: str = "starts_with") -> Scorer:
    """1 if the answer starts with ``prefix`` (leading whitespace ignored by default)."""
    _need_text(prefix, "starts_with")

    def fn(output: str, case: Case) -> Score:
        text = output.lstrip() if strip else output
        ok = text.startswith(prefix) if case_sensitive else text.casefold().startswith(prefix.casefold())
        return _binary(ok, f"starts with {prefix!r}" if ok else f"starts with {_short(text[:len(prefix) + 10])}")

    pf = python_assertion("starts_with", {"prefix": prefix, "case_sensitive": case_sensitive, "strip": strip})
    return Scorer(name, fn, promptfoo=pf, description=f"starts with {prefix!r}")


# --- JSON -----------------------------------------------------------------
_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n(.*?)\n?\s*```\s*$", re.S)


def _parse_json(output: str, strip_fences: bool) -> tuple[Any, str | None]:
    text = output
    if strip_fences:
        m = _FENCE.match(text)
        text = m.group(1) if m else text
    if not text.strip():
        return None, "empty answer, not JSON"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"


def valid_json(*, strip_fences: bool = True, name: str = "valid_json") -> Scorer:
    """1 if the answer parses as JSON (a Markdown ```json fence around it is allowed by default)."""

    def fn(output: str, case: Case) -> Score:
        _, problem = _parse_json(output, strip_fences)
        return _binary(problem is None, problem or "valid JSON")

    return Scorer(name, fn, promptfoo=python_assertion("valid_json", {"strip_fences": strip_fences}),
                  description="answer is valid JSON")


def json_schema(schema: Mapping[str, Any], *, strip_fences: bool = True, name: str = "json_schema") -> Scorer:
    """1 if the answer is JSON that validates against ``schema`` (checked now, before any call)."""
    import jsonschema

    if not isinstance(schema, Mapping):
        raise ScorerError(f"json_schema() needs a JSON schema dict, not {type(schema).__name__}. "
                          "Fix: e.g. json_schema({'type': 'object', 'required': ['name']}).")
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(dict(schema))
    except jsonschema.exceptions.SchemaError as exc:
        where = "/".join(map(str, exc.path)) or "the top level"
        raise ScorerError(f"The JSON schema given to json_schema() is invalid at {where}: {exc.message}. "
                          "Fix: correct the schema (jsonschema.validators.validator_for(s).check_schema(s) "
                          "shows the problem).") from None
    validator = cls(dict(schema))

    def fn(output: str, case: Case) -> Score:
        data, problem = _parse_json(output, strip_fences)
        if problem:
            return _binary(False, problem)
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
        if not errors:
            return _binary(True, "valid against the schema")
        first = errors[0]
        where = "/".join(map(str, first.path)) or "top level"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return _binary(False, f"schema error at {where}: {first.message}{more}")

    return Scorer(name, fn, promptfoo=python_assertion("json_schema", {"schema": dict(schema),
                                                                     "strip_fences": strip_fences}),
                  description="answer matches a JSON schema")


# --- size -----------------------------------------------------------------
def _bounds_scorer(name: str, unit: str, measure: Callable[[str], int], min: int | None, max: int | None,
                   factory: str) -> Scorer:
    if min is None and max is None:
        raise ScorerError(f"{name}() needs min= or max=. Fix: e.g. {name}(max=50).")
    if min is not None and max is not None and min > max:
        raise ScorerError(f"{name}(min={min}, max={max}): min is above max. Fix: swap them.")
    label = f"{min if min is not None else 0}-{max if max is not None else '∞'} {unit}"

    def fn(output: str, case: Case) -> Score:
        n = measure(output)
        ok = (min is None or n >= min) and (max is None or n <= max)
        return _binary(ok, f"{n} {unit} ({'within' if ok else 'outside'} {label})")

    # Python, not JavaScript: JS counts UTF-16 units and trims another set of spaces
    return Scorer(name, fn, promptfoo=python_assertion(factory, {"min": min, "max": max}), description=f"{label}")


def length(min: int | None = None, max: int | None = None, *, name: str = "length") -> Scorer:
    """1 if the answer's length in characters is within [min, max]."""
    return _bounds_scorer(name, "characters", lambda s: len(s.strip()), min, max, "length")


def word_count(min: int | None = None, max: int | None = None, *, name: str = "word_count") -> Scorer:
    """1 if the number of words in the answer is within [min, max]."""
    return _bounds_scorer(name, "words", lambda s: len(s.split()), min, max, "word_count")


# --- closeness --------------------------------------------------------------
_SIMILARITY = ("ratio", "partial_ratio", "token_sort_ratio", "token_set_ratio")


def similarity(expected: str | None = None, *, method: str = "token_sort_ratio", threshold: float = 0.8,
               case_sensitive: bool = False, name: str = "similarity") -> Scorer:
    """Fuzzy similarity in [0, 1] to ``expected`` (``rapidfuzz``); passes at ``threshold``."""
    from rapidfuzz import fuzz

    if method not in _SIMILARITY:
        raise ScorerError(f"similarity(method={method!r}) is unknown. Fix: use one of {', '.join(_SIMILARITY)}.")
    if not 0 <= threshold <= 1:
        raise ScorerError(f"similarity(threshold={threshold}) must be in [0, 1]. Fix: e.g. threshold=0.8.")
    compare = getattr(fuzz, method)

    def fn(output: str, case: Case) -> Score:
        target = _expected_of(case, expected)
        if target is None:
            return _NO_EXPECTED
        a, b = _normalise(output, case_sensitive=case_sensitive), _normalise(str(target), case_sensitive=case_sensitive)
        value = compare(a, b) / 100.0
        return Score(value, f"{method} {value:.2f} to {_short(str(target))}", value >= threshold)

    pf = python_assertion("similarity", {"expected": expected, "method": method, "threshold": threshold,
                                         "case_sensitive": case_sensitive})
    return Scorer(name, fn, needs_expected=expected is None, promptfoo=pf,
                  description=f"{method} similarity to expected")


_NUMBER = re.compile(r"[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+−]?\.\d+")


def _first_number(text: str) -> float | None:
    m = _NUMBER.search(text)
    if not m:
        return None
    return float(m.group(0).replace(",", "").replace("−", "-"))


def numeric(expected: float | None = None, *, abs_tol: float = 0.0, rel_tol: float = 0.0,
            name: str = "numeric") -> Scorer:
    """1 if the first number in the answer is within tolerance of ``expected``.

    Thousands separators (``1,234``) and a Unicode minus are understood; the
    explanation shows the number found and its error.
    """
    if abs_tol < 0 or rel_tol < 0:
        raise ScorerError("numeric() tolerances cannot be negative. Fix: e.g. numeric(abs_tol=0.01).")

    def fn(output: str, case: Case) -> Score:
        target = _expected_of(case, expected)
        if target is None:
            return _NO_EXPECTED
        try:
            want = float(str(target).replace(",", ""))
        except ValueError:
            return Score(None, f"expected value {target!r} is not a number", None)
        got = _first_number(output)
        if got is None:
            return _binary(False, "no number in the answer")
        ok = math.isclose(got, want, rel_tol=rel_tol, abs_tol=abs_tol)
        return _binary(ok, f"found {got:g}, expected {want:g} (error {got - want:+g})")

    pf = python_assertion("numeric", {"expected": expected, "abs_tol": abs_tol, "rel_tol": rel_tol})
    return Scorer(name, fn, needs_expected=expected is None, promptfoo=pf,
                  description="first number close to expected")


# --- classification -----------------------------------------------------------
def _label_key(text: str) -> str:
    return _normalise(str(text), strip_punctuation=True)


def label_match(labels: Sequence[str] | None = None, *, synonyms: Mapping[str, str] | None = None,
                name: str = "label_match") -> Scorer:
    """1 if the answer names the case's expected label, and no other label.

    Matching ignores case and punctuation and works on whole words, so
    "Positive." and "The sentiment is positive" both read as ``positive``.
    ``synonyms`` maps other words to labels (``{"good": "positive"}``). An
    answer naming two different labels ("positive or negative") is wrong,
    not lucky.
    """
    syn = {_label_key(k): _label_key(v) for k, v in (synonyms or {}).items()}
    fixed = [_label_key(x) for x in labels] if labels is not None else None
    if fixed is not None and not fixed:
        raise ScorerError("label_match(labels=[]) has no labels. Fix: e.g. labels=['positive', 'negative'].")

    def fn(output: str, case: Case) -> Score:
        target = _expected_of(case, None)
        if target is None:
            return _NO_EXPECTED
        want = syn.get(_label_key(target), _label_key(target))
        vocabulary = set(fixed or []) | {want} | set(syn)
        text = f" {_label_key(output)} "
        # longest first, so "very positive" is not also read as "positive"
        found: list[str] = []
        for word in sorted(vocabulary, key=len, reverse=True):
            if word and f" {word} " in text:
                text = text.replace(f" {word} ", "  ")
                label = syn.get(word, word)
                if label not in found:
                    found.append(label)
        if not found:
            return _binary(False, f"no label found in {_short(output)} (expected {want!r})")
        if len(found) > 1:
            return _binary(False, f"ambiguous: the answer names {sorted(found)} (expected {want!r})")
        return _binary(found[0] == want, f"predicted {found[0]!r}, expected {want!r}")

    pf = python_assertion("label_match", {"labels": None if labels is None else list(labels),
                                          "synonyms": None if synonyms is None else dict(synonyms)})
    return Scorer(name, fn, needs_expected=True, promptfoo=pf, description="answer names the expected label")


# --- refusals ---------------------------------------------------------------
REFUSAL_PATTERNS = (
    r"\bI(?:'m| am) (?:sorry|afraid)\b",
    r"\bI (?:can(?:no|')t|cannot|won't|will not|am unable to|'m unable to|am not able to|'m not able to)\b",
    r"\bI(?:'m| am) not (?:able|allowed|permitted) to\b",
    r"\bas an AI\b",
    r"\bI must (?:decline|refuse)\b",
    r"\bunable to (?:help|assist|comply|provide)\b",
    r"\b(?:against|violates?) (?:my|the) (?:guidelines|policy|policies)\b",
)
_REFUSAL = re.compile("|".join(REFUSAL_PATTERNS), re.I)


def refusal(*, should_refuse: bool = False, name: str | None = None) -> Scorer:
    """Detects refusals ("I'm sorry, I can't..."); scores the *desired* behaviour.

    With ``should_refuse=False`` (the default, named ``no_refusal``) an answer
    scores 1 when it does not refuse; with ``should_refuse=True`` (named
    ``refusal``) it scores 1 when it does. Detection is by phrases
    (``REFUSAL_PATTERNS``): good for a refusal rate, not a safety audit.
    """

    def fn(output: str, case: Case) -> Score:
        text = output.replace("’", "'")
        m = _REFUSAL.search(text)
        if not text.strip():
            return _binary(not should_refuse, "empty answer (not a refusal)")
        refused = m is not None
        what = f"refused ({_short(m.group(0))})" if m else "no refusal phrase"
        return _binary(refused == should_refuse, what)

    label = name or ("refusal" if should_refuse else "no_refusal")
    pf = python_assertion("refusal", {"should_refuse": should_refuse})
    return Scorer(label, fn, promptfoo=pf, description="refuses" if should_refuse else "does not refuse")


# --- any callable -------------------------------------------------------------
def custom(fn: Callable[..., Any], *, name: str | None = None, needs_expected: bool = False) -> Scorer:
    """Wrap any Python function as a scorer: ``fn(output)`` or ``fn(output, case)``, plain or ``async``.

    It may return a :class:`Score`, a bool (NumPy's too), a number (NumPy
    scalars too; NaN means "could not score"), ``(value, explanation)`` or
    ``(value, explanation, passed)``; anything else raises :class:`ScorerError`
    naming the scorer. An async function (one that awaits ``wb.acomplete``,
    say) works wherever a scorer is accepted: experiments await it, and
    calling the scorer directly runs it in the workbench's event loop.
    """
    if not callable(fn):
        raise ScorerError(f"custom() needs a function, not {type(fn).__name__}. "
                          "Fix: custom(lambda out: len(out) < 100).")
    label = name or scorer_name(fn)
    try:
        takes_case = len(inspect.signature(fn).parameters) >= 2
    except (TypeError, ValueError):
        takes_case = True
    wrapped: Callable[[str, Case], Any]
    if is_async_scorer(fn) and not callable(getattr(fn, "ascore", None)):

        async def wrapped(output: str, case: Case) -> Any:
            return await (fn(output, case) if takes_case else fn(output))
    else:

        def wrapped(output: str, case: Case) -> Any:
            return fn(output, case) if takes_case else fn(output)

    return Scorer(label, wrapped, needs_expected=needs_expected, description=getattr(fn, "__doc__", None) or "",
                  probe=True)


# --- LLM as judge -------------------------------------------------------------
DEFAULT_JUDGE_PROMPT = Prompt(
    system=(
        "You are a strict, fair grader. You grade one response against a rubric. "
        "Judge only what the rubric asks; do not reward length or politeness."
    ),
    user=(
        "Rubric:\n{rubric}\n\n"
        "Task given to the model:\n{input}\n\n"
        "Reference answer (may be empty):\n{expected}\n\n"
        "Response to grade:\n<response>\n{output}\n</response>\n\n"
        "Grade the response from {low} (worst) to {high} (best). Answer with the line "
        "'SCORE: <number>' and then one sentence saying why."
    ),
    name="llm_judge",
)


JUDGE_VARIABLES = frozenset({"rubric", "input", "expected", "output", "low", "high"})
_SCORE_LINE = re.compile(r"score\s*[:=]?\s*\**\s*(-?\d+(?:\.\d+)?)(?:\s*/\s*(\d+(?:\.\d+)?))?", re.I)
_LONE_NUMBER = re.compile(r"^\s*\**\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?\s*\**\s*[.!]?\s*$")


@dataclass
class LLMJudge:
    """A scorer that asks a model to grade the answer against a rubric.

    ``.prompt`` is an ordinary :class:`wb.Prompt` you can read and replace
    (``judge.prompt = judge.prompt.with_(system=...)``); it may use the
    variables ``{rubric}``, ``{input}`` (the case's variables), ``{expected}``,
    ``{output}``, ``{low}`` and ``{high}``. The judge's answer is parsed for
    ``SCORE: n``; when no score can be read the value is ``None`` and the
    explanation quotes the answer, so parse failures show up in the results;
    so is a score out of another maximum ("3/10" on a 1-5 rubric).
    Values are rescaled to [0, 1]; ``passed`` is ``value >= pass_threshold``.
    In an experiment, judge calls go through the runner (concurrent, cached,
    logged) after the answers they grade.
    """

    rubric: str
    model: str | None = None
    scale: tuple[float, float] = (1, 5)
    params: dict[str, Any] = field(default_factory=lambda: {"temperature": 0, "max_tokens": 200})
    prompt: Prompt = DEFAULT_JUDGE_PROMPT
    pass_threshold: float = 0.5
    name: str = "judge"
    needs_expected: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.rubric, str) or not self.rubric.strip():
            raise ScorerError("llm_judge() needs a rubric: what makes an answer good. "
                              "Fix: e.g. llm_judge('The answer is correct and cites the source.').")
        low, high = self.scale
        if not high > low:
            raise ScorerError(f"llm_judge(scale={self.scale}) needs low < high. Fix: e.g. scale=(1, 5).")
        self.prompt = as_prompt(self.prompt, template=True)
        unknown = self.prompt.variables - JUDGE_VARIABLES
        if unknown or "output" not in self.prompt.variables:
            raise ScorerError(
                f"The judge prompt uses {sorted(unknown) or 'no {output}'}; it may use only "
                f"{sorted(JUDGE_VARIABLES)} and must contain {{output}}. Fix: edit judge.prompt accordingly.")
        Params.build(self.params)  # bad judge parameters fail now, not mid-experiment

    @property
    def is_async(self) -> bool:
        """Always: the judge calls a model (see :meth:`ascore`)."""
        return True

    @property
    def judge_model(self) -> str:
        return self.model or default_model()

    @property
    def promptfoo(self) -> dict[str, Any]:
        return {"type": "llm-rubric", "value": self.rubric, "provider": self.judge_model}

    def variables(self, output: str, case: Case, task: str | None = None) -> dict[str, str]:
        """The judge prompt's variables for one answer (only those the prompt uses).

        ``task`` is what the graded model was asked (an experiment passes the
        rendered user message); without it, the case's variables stand in.
        """
        if task is None:
            task = "\n".join(f"{k}: {v}" for k, v in case.items() if k not in ("expected", "id"))
        expected = _expected_of(case, None)
        values = {"rubric": self.rubric, "input": task or "(none)",
                  "expected": "" if expected is None else str(expected), "output": output,
                  "low": f"{self.scale[0]:g}", "high": f"{self.scale[1]:g}"}
        return {k: v for k, v in values.items() if k in self.prompt.variables}

    def request(self, output: str, case: Case, runner: Any = None, *, task: str | None = None) -> Any:
        """The validated judge :class:`Request` for one answer."""
        runner = runner or get_runner()
        return runner.prepare(self.judge_model, self.prompt, self.variables(output, case, task),
                              Params.build(self.params), tags={"judge": self.name})

    def parse(self, answer: str) -> Score:
        """Read the judge's answer as a score; ``value=None`` (with the answer quoted) if it has none."""
        low, high = self.scale
        m = _SCORE_LINE.search(answer) or _LONE_NUMBER.match(answer)
        if m is None:
            return Score(None, f"judge gave no score (expected 'SCORE: n'): {_short(answer, 120)}", None)
        raw = float(m.group(1))
        if m.group(2) is not None and float(m.group(2)) != high:
            # "3/10" on a 1-5 rubric: the judge used another scale; reading 3 on 1-5 would be wrong
            return Score(None, f"judge score {raw:g}/{float(m.group(2)):g} is not on the rubric's scale "
                               f"{low:g}-{high:g}: {_short(answer, 120)}", None)
        if not low <= raw <= high:
            return Score(None, f"judge score {raw:g} is outside {low:g}-{high:g}: {_short(answer, 120)}", None)
        value = (raw - low) / (high - low)
        reason = answer[m.end():].strip(" \n.:-*") or "no reason given"
        return Score(value, f"{raw:g}/{high:g}: {reason[:200]}", value >= self.pass_threshold)

    async def ascore(self, output: str, case: Case | None = None, *, runner: Any = None,
                     task: str | None = None) -> Score:
        """Grade one answer (async; for code already running in an event loop)."""
        runner = runner or get_runner()
        response = await runner.call(self.request(output, case or {}, runner, task=task), cache=True)
        if not response.ok:
            return Score(None, f"judge call failed: {response.error_type}: {response.error}", None)
        return self.parse(response.text)

    def __call__(self, output: str, case: Case | None = None) -> Score:
        return run_sync(self.ascore("" if output is None else str(output), case))

    def __repr__(self) -> str:
        return (f"<LLMJudge {self.name} model={self.judge_model} scale={self.scale[0]:g}-{self.scale[1]:g} "
                f"rubric={_short(self.rubric)}>")


def llm_judge(rubric: str, model: str | None = None, *, scale: tuple[float, float] = (1, 5),
              prompt: Any = None, params: Mapping[str, Any] | None = None, pass_threshold: float = 0.5,
              name: str = "judge") -> LLMJudge:
    """An LLM-as-judge scorer grading answers against ``rubric`` with ``model`` (default: the default model).

    See :class:`LLMJudge`; ``DEFAULT_JUDGE_PROMPT`` is the prompt it starts from.
    """
    kwargs: dict[str, Any] = {}
    if prompt is not None:
        kwargs["prompt"] = prompt
    if params is not None:
        kwargs["params"] = {"temperature": 0, "max_tokens": 200, **params}
    return LLMJudge(rubric, model, tuple(scale), pass_threshold=pass_threshold, name=name, **kwargs)  # type: ignore[arg-type]



def citations(sources: str = "sources", *, require_quote: bool = False, expected_source: str | None = "source",
              threshold: float = 0.9, name: str = "citations") -> Scorer:
    """The answer cites its sources correctly: checked in code by :func:`workbench.check_citations`.

    ``sources`` names the case column holding the list of source texts (numbered from 1, as
    :func:`workbench.format_sources` shows them to the model). Passes when the answer cites at
    least one source, cites none that does not exist, every quoted passage is found in the source
    cited after it, there is a quote if ``require_quote``, and, if the case has an
    ``expected_source`` column (the number of the source holding the answer), that source is cited.
    """
    from ._citations import check_citations

    if not 0 < threshold <= 1:
        raise ScorerError(f"citations(threshold={threshold}) must be in (0, 1]. Fix: e.g. threshold=0.9.")

    def fn(output: str, case: Case) -> Score:
        if sources not in case:
            raise ScorerError(f"The citations scorer reads the sources from the case column {sources!r}, which this "
                              f"case does not have. Fix: add a {sources!r} column (a list of texts per case) or pass "
                              f"citations(sources='your_column').")
        want = case.get(expected_source) if expected_source else None
        check = check_citations(output, case[sources], require_quote=require_quote, expected=want,
                                threshold=threshold)
        return Score(1.0 if check.ok else 0.0, check.explanation, check.ok)

    pf = python_assertion("citations", {"sources": sources, "require_quote": require_quote,
                                        "expected_source": expected_source, "threshold": threshold})
    return Scorer(name, fn, promptfoo=pf, description="cites existing sources; quotes found in the cited source")


from ._tool_scorers import schema_valid, tool_called, valid_tool_call  # noqa: E402 - they build Scorer objects
