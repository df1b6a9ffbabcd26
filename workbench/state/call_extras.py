"""What tools, a response format and conversations add to Compare and Sweep, in one place.

Both widgets take ``tools=`` and ``response_format=`` as ``wb.complete`` does, checked when they
are built (before any call); both take conversation prompts as variants. Here are the pieces they
share: the checked options (:class:`CallExtras`), the rates a Sweep reports per value (validity,
tool calls, the right tool), the measures that read the response (the scorers of
:mod:`workbench._tool_scorers`), the result columns, and a conversation prompt rebuilt from the
fields a state edits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import PromptError, ScorerError
from .._prompt import Prompt, Turn
from .._structured import ResponseFormat, as_response_format
from .._tool_scorers import schema_valid, tool_called, valid_tool_call
from .._tools import Tool, as_tools, check_tool_choice
from .._types import Response
from .answer import Answer
from .cards import RATE_WORDS, compact_json
from .inputs import prompt_from_text, variables_in

__all__ = ["CallExtras", "WithExtras", "conversation_prompt", "prompt_variables", "cell_text", "answer_valid"]


@dataclass(frozen=True)
class CallExtras:
    """The tools and response format every call of a widget asks for, and the tool it should pick."""

    tools: tuple[Tool, ...] = ()
    response_format: ResponseFormat | None = None
    expected_tool: str | None = None

    @classmethod
    def build(cls, tools: Any = None, response_format: Any = None, expected_tool: str | None = None,
              tool_choice: str | None = None) -> CallExtras:
        """Check everything as ``wb.complete`` does (the engine's own errors), before any call."""
        tool_list = as_tools(tools)
        rf = as_response_format(response_format)
        check_tool_choice(tool_choice, tool_list)
        if expected_tool is not None and expected_tool not in {t.name for t in tool_list}:
            raise ScorerError(f"expected_tool={expected_tool!r} is not one of the tools given "
                              f"({', '.join(t.name for t in tool_list) or 'none'}). Fix: pass tools=[...] "
                              "holding it, or correct the name.")
        return cls(tool_list, rf, expected_tool)

    def request_kwargs(self) -> dict[str, Any]:
        """What :meth:`Runner.prepare` takes for them."""
        return {"tools": self.tools, "response_format": self.response_format}

    # --- measures and rates (Sweep) ------------------------------------------------
    def measures(self) -> dict[str, Callable[..., Any]]:
        """The scorers that read the response, offered as measures when tools or a schema are given."""
        out: dict[str, Callable[..., Any]] = {}
        if self.response_format is not None:
            out["schema_valid"] = schema_valid()
        if self.tools:
            out["valid_tool_call"] = valid_tool_call()
            if self.expected_tool:
                out["tool_called"] = tool_called(self.expected_tool)
        return out

    def default_measure(self) -> str | None:
        """What a sweep with a schema or tools is about: validity, the right tool, valid calls."""
        names = self.measures()
        return next((n for n in ("schema_valid", "tool_called", "valid_tool_call") if n in names), None)

    def rates(self, responses: Sequence[Response]) -> dict[str, Any]:
        """Shares of ``responses``: ``valid`` (parsed and fit the schema), ``tool_call`` (called any tool),
        ``valid_call`` (every call valid), ``right_tool`` (called ``expected_tool``); and ``answered``."""
        n = len(responses)

        def share(hits: Iterable[bool]) -> float:
            return sum(hits) / n if n else math.nan

        out: dict[str, Any] = {}
        if self.response_format is not None:
            out["valid"] = share(r.parsed is not None for r in responses)
        if self.tools:
            out["tool_call"] = share(bool(r.tool_calls) for r in responses)
            out["valid_call"] = share(bool(r.tool_calls) and all(c.error is None for c in r.tool_calls)
                                      for r in responses)
            if self.expected_tool:
                out["right_tool"] = share(any(c.name == self.expected_tool for c in r.tool_calls)
                                          for r in responses)
        if out:
            out["answered"] = n
        return out

    def rate_names(self) -> list[str]:
        return [k for k in self.rates([]) if k != "answered"]

    @staticmethod
    def describe_rates(row: Mapping[str, Any]) -> str:
        """A summary row's rates in words: ``"valid 2/3 · tool call 3/3"`` (``""`` before any answer)."""
        n = row.get("answered") or 0
        if not n:
            return ""
        return " · ".join(f"{RATE_WORDS[k]} {round(row[k] * n)}/{n}" for k in RATE_WORDS if k in row)

    def columns(self, r: Response | None) -> dict[str, Any]:
        """``tool_calls`` (as JSON) with tools, ``parsed`` and ``parse_error`` with a schema, as experiments give."""
        out: dict[str, Any] = {}
        if self.tools:
            calls = [{"name": c.name, "arguments": c.arguments, **({"error": c.error} if c.error else {})}
                     for c in (r.tool_calls if r else [])]
            out["tool_calls"] = compact_json(calls, None) if calls else None
        if self.response_format is not None:
            out["parsed"] = compact_json(r.parsed, None) if r is not None and r.parsed is not None else None
            out["parse_error"] = r.parse_error if r else None
        return out


class WithExtras:
    """What a state with :class:`CallExtras` (``self.extras``) shows of them."""

    extras: CallExtras

    @property
    def tools(self) -> tuple[Tool, ...]:
        return self.extras.tools

    @property
    def response_format(self) -> ResponseFormat | None:
        return self.extras.response_format

    @property
    def expected_tool(self) -> str | None:
        return self.extras.expected_tool

    def rate_names(self) -> list[str]:
        """The rates a Sweep's summary gives besides the measure (``valid``, ``tool_call``...), in order."""
        return self.extras.rate_names()

    def describe_rates(self, row: Mapping[str, Any]) -> str:
        """The rates of one summary row in words: ``"valid 2/3 · tool call 3/3"`` (``""`` without any)."""
        return self.extras.describe_rates(row)


# --- conversations ----------------------------------------------------------------


def conversation_prompt(system: str, user: str, examples: Sequence[tuple[str, str]], messages: Sequence[Turn],
                        name: str | None = None) -> Prompt:
    """The prompt a state's fields make: the shorthand, or with ``messages`` a conversation."""
    if not messages:
        return prompt_from_text(system, user, examples, name)
    return Prompt(user=user, system=system or None, examples=tuple(examples), name=name, messages=tuple(messages))


def prompt_variables(system: str, user: str, examples: Sequence[tuple[str, str]],
                     messages: Sequence[Turn]) -> list[str]:
    """Variables of every message, in order; never raises on half-typed text (the complete ``{names}`` count)."""
    try:
        return conversation_prompt(system, user, examples, messages).variable_order
    except PromptError:
        return variables_in(system, user, [*examples, *((t.content, "") for t in messages)])


# --- one answer (Compare's grid) ----------------------------------------------------


def cell_text(answer: Answer) -> str:
    """An answer as one text cell: its text, its tool calls (``-> name(arguments)``), or what became of it."""
    if answer.status != "done":
        return answer.error or answer.status
    calls = answer.response.tool_calls if answer.response is not None else []
    shown = " ".join(f"-> {c.name}({compact_json(c.arguments if c.arguments is not None else c.raw)})"
                     + ("" if c.error is None else " [invalid]") for c in calls)
    return " ".join(part for part in (answer.text, shown) if part)


def answer_valid(answer: Answer) -> bool | None:
    """Whether the answer fit the response_format (``None``: not answered, or not checked)."""
    r = answer.response
    if answer.status != "done" or r is None or (r.parsed is None and r.parse_error is None):
        return None
    return r.parsed is not None
