"""Scorers that read the response itself, not only its text: tool calls and parsed objects.

They need the :class:`~workbench.Response`: an experiment hands it to them (under the case key
``_response``), and called directly they take it as the answer: ``tool_called("get_order")(r)``.

- :func:`tool_called`: the model called ``name``, with arguments that include ``arguments``
  (a partial match: only the keys given are compared; texts ignore case and outer spaces). Left
  out, the name and arguments come from the case's ``expected_tool`` and ``expected_arguments``.
- :func:`valid_tool_call`: the model called at least one tool, and every call names a real tool
  with arguments valid against its schema.
- :func:`schema_valid`: the answer parsed and fit the ``response_format`` (``r.parsed``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._errors import ScorerError
from ._scoring import Case, Score

__all__ = ["tool_called", "valid_tool_call", "schema_valid", "response_of", "partial_match"]

RESPONSE_KEY = "_response"


def response_of(case: Case, scorer: str) -> Any:
    """The response a response-reading scorer was given, or the error saying how to give it."""
    response = case.get(RESPONSE_KEY)
    if response is None:
        raise ScorerError(f"The {scorer} scorer reads the response (its tool calls or parsed object), not only its "
                          f"text. Fix: use it in an Experiment, or call it with the response: {scorer}(...)(r).")
    return response


def partial_match(expected: Any, got: Any) -> tuple[bool, str]:
    """Whether ``got`` includes ``expected`` (dicts: the keys given; texts: case and outer spaces ignored)."""
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            return False, f"expected an object, got {json.dumps(got, default=str)}"
        for key, value in expected.items():
            if key not in got:
                return False, f"argument {key!r} missing"
            ok, why = partial_match(value, got[key])
            if not ok:
                return False, f"argument {key!r}: {why}"
        return True, ""
    if isinstance(expected, str) and isinstance(got, str):
        ok = expected.strip().casefold() == got.strip().casefold()
    elif isinstance(expected, (int, float)) and isinstance(got, (int, float)) and not isinstance(got, bool):
        ok = float(expected) == float(got)
    else:
        ok = expected == got
    return ok, "" if ok else f"expected {json.dumps(expected, default=str)}, got {json.dumps(got, default=str)}"


def _expected_arguments(value: Any) -> Any:
    if isinstance(value, str) and value.strip():
        try:
            return json.loads(value)
        except ValueError:
            raise ScorerError(f"expected_arguments {value!r} is not JSON. Fix: write it as a JSON object, "
                              "e.g. {\"order_id\": \"A17\"}.") from None
    return value if isinstance(value, Mapping) else None


def tool_called(name: str | None = None, arguments: Mapping[str, Any] | None = None, *,
                label: str = "tool_called") -> Any:
    """Passes when the model called ``name`` with arguments including ``arguments`` (see module doc)."""
    from .scorers import Scorer

    def fn(output: str, case: Case) -> Score:
        response = response_of(case, label)
        want = name if name is not None else case.get("expected_tool")
        if not want:
            raise ScorerError(f"{label}() was given no tool name and the case has no expected_tool column. "
                              "Fix: tool_called('get_order') or add an expected_tool column.")
        args = arguments  # a name given here is checked alone; the case's columns go together
        if arguments is None and name is None:
            args = _expected_arguments(case.get("expected_arguments"))
        calls = list(response.tool_calls)
        if not calls:
            return Score(0.0, f"no tool called (expected {want})", False)
        reasons = []
        for call in calls:
            if call.name != want:
                reasons.append(f"called {call.name}")
                continue
            if args is None:
                return Score(1.0, f"called {want}", True)
            ok, why = partial_match(args, call.arguments)
            if ok:
                return Score(1.0, f"called {want} with {json.dumps(dict(args), default=str)}", True)
            reasons.append(f"called {want} but {why}")
        return Score(0.0, "; ".join(reasons), False)

    return Scorer(label, fn, description=f"the model called {name or 'the expected tool'}", needs_response=True)


def valid_tool_call(*, label: str = "valid_tool_call") -> Any:
    """Passes when the model called at least one tool and every call is valid against its schema."""
    from .scorers import Scorer

    def fn(output: str, case: Case) -> Score:
        calls = list(response_of(case, label).tool_calls)
        if not calls:
            return Score(0.0, "no tool called", False)
        bad = [f"{c.name}: {c.error}" for c in calls if c.error]
        if bad:
            return Score(0.0, "; ".join(bad), False)
        return Score(1.0, f"{len(calls)} valid call{'s' if len(calls) > 1 else ''}", True)

    return Scorer(label, fn, description="tool calls valid against their schemas", needs_response=True,
                  promptfoo={"type": "is-valid-openai-tools-call"})


def schema_valid(*, label: str = "schema_valid") -> Any:
    """Passes when the answer parsed and fit the ``response_format`` (``r.parsed`` is not ``None``)."""
    from .scorers import Scorer

    def fn(output: str, case: Case) -> Score:
        response = response_of(case, label)
        if response.parsed is not None:
            return Score(1.0, "fits the schema", True)
        if response.parse_error is None:
            return Score(None, "no response_format was given, so nothing was parsed; use json_schema(schema) "
                               "to check the text instead")
        return Score(0.0, response.parse_error, False)

    return Scorer(label, fn, description="the answer fits the response_format", needs_response=True)
