"""Chat mode's parts: a turn, the schema check, a prompt as turns, and the static summaries.

Kept apart from :mod:`workbench.state.chat` (the state and its run path) so each module stays
one concern.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._errors import SchemaError
from .._keys import redact
from .._prompt import Prompt, _escape
from .._structured import as_response_format
from .._tools import Tool, ToolCall, assistant_message
from .._types import Response

if TYPE_CHECKING:  # type names only: chat.py imports this module
    from .chat import ChatState

__all__ = ["ChatTurn", "schema_check", "tool_schema_text", "turns_from_prompt", "chat_text", "chat_html",
           "VARIABLE"]

VARIABLE = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


@dataclass(eq=False)
class ChatTurn:
    """One turn: a role, its text, and for an assistant turn the tool calls it made; a tool turn
    answers ``tool_call_id``. ``literal`` text (a model's answer, a tool's result) has no
    variables; ``response`` is the logged answer a run appended (figures, parsed object)."""

    role: str
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    literal: bool = False
    response: Response | None = None
    #: The answer was made with a response format (so :attr:`validity` says whether it fits).
    checked: bool = False

    def message(self) -> dict[str, Any]:
        """The turn as a message template (literal text with its braces doubled)."""
        text = _escape(self.text) if self.literal else self.text
        if self.role == "assistant":
            return assistant_message(text, self.tool_calls)
        out: dict[str, Any] = {"role": self.role, "content": text}
        if self.role == "tool":
            out["tool_call_id"] = self.tool_call_id
            if self.name is not None:
                out["name"] = self.name
        return out

    @property
    def validity(self) -> tuple[bool | None, str]:
        """For an answer made with a response format: ``(True, "valid ...")`` or ``(False, why)``."""
        r = self.response
        if r is None or not self.checked:
            return None, ""
        if r.parse_error or r.parsed is None:
            return False, r.parse_error or "The answer was not checked against the schema."
        return True, "valid against the response format's schema"


def schema_check(text: str) -> tuple[bool | None, str]:
    """``(None, "")`` for no schema; ``(True, "valid schema")`` or ``(False, why)`` for the text typed."""
    if not text.strip():
        return None, ""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return False, (f"The schema is not valid JSON: {exc}. Fix: correct the JSON there (double quotes around "
                       "names and strings, no trailing commas).")
    try:
        as_response_format(value)
    except SchemaError as exc:
        return False, str(exc)
    return True, "valid schema"


def tool_schema_text(tool: Tool) -> str:
    """A tool as its readable JSON definition (name, description, parameters)."""
    return json.dumps(tool.spec(), indent=2, ensure_ascii=False)


def turns_from_prompt(prompt: Prompt) -> list[ChatTurn]:
    """A prompt's system message, examples, conversation and user message as editable turns."""
    turns: list[ChatTurn] = []
    if prompt.system:
        turns.append(ChatTurn("system", prompt.system))
    for q, a in prompt.examples:
        turns += [ChatTurn("user", q), ChatTurn("assistant", a)]
    for t in prompt.messages:
        calls = []
        for c in json.loads(t.tool_calls) if t.tool_calls else []:
            raw = c.get("function", {}).get("arguments") or ""
            try:
                arguments = json.loads(raw) if raw.strip() else {}
            except ValueError:
                arguments = None
            calls.append(ToolCall(str(c.get("id")), str(c.get("function", {}).get("name")), arguments, raw))
        turns.append(ChatTurn(t.role, t.content, calls, t.tool_call_id, t.name))
    if prompt.user or not prompt.messages:
        turns.append(ChatTurn("user", prompt.user))
    return turns


def chat_text(self: ChatState) -> str:
    """The chat as text (what a saved notebook shows)."""
    lines = [f"Chat · {self.model} · {self.build_params().describe()}"]
    for i, t in enumerate(self.turns, 1):
        calls = "".join(f"\n    -> {c.name}({c.raw})" for c in t.tool_calls)
        lines.append(f"{i}. [{t.role}] {t.text}{calls}")
    for name in self.variable_names:
        lines.append(f"  {name} = {self.variables.get(name, '')!r}")
    if self.tools:
        lines.append("tools: " + ", ".join(t.name for t in self.tools))
    return redact("\n".join(lines))


def chat_html(self: ChatState) -> str:
    """The chat as a static HTML card."""
    rows = []
    for i, t in enumerate(self.turns, 1):
        calls = "".join(f"<div>tool call <b>{html.escape(c.name)}</b>(<code>{html.escape(redact(c.raw))}</code>)"
                        "</div>" for c in t.tool_calls)
        rows.append(f"<div><i>{i}. {html.escape(t.role)}</i><pre style='white-space:pre-wrap;margin:2px 0'>"
                    f"{html.escape(redact(t.text))}</pre>{calls}</div>")
    return ("<div class='wb-static' style='border:1px solid #ddd;border-radius:6px;padding:8px 12px;"
            f"font-family:sans-serif;font-size:13px'><b>Chat</b> · <code>{html.escape(self.model)}</code>"
            f"{''.join(rows)}<div style='color:#999;font-size:11px;margin-top:6px'>(static view of a workbench "
            "widget: run the notebook to use it)</div></div>")
