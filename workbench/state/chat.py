"""Chat mode of the Playground, as plain state: a conversation of editable turns, tools and a schema.

The turns are ``(role, text)`` entries plus, for an assistant turn that called tools, its
calls; they can be added, deleted, moved and edited. :meth:`ChatState.run` sends the
conversation and appends the answer; :meth:`reply` adds a user turn and runs;
:meth:`regenerate` drops a turn and what followed it, then runs. An answer's tool calls are
shown as cards (:attr:`pending_calls`): the user types a result (:meth:`answer_call`) or runs
the Python function (:meth:`run_call`), then continues with :meth:`run`. The response-format
panel is :attr:`schema_text`, validated as typed (:attr:`schema_status`). No widget here: the
view (later) only draws this state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .._api import complete
from .._conversation import _run_one
from .._errors import WorkbenchError
from .._prompt import Prompt
from .._structured import as_response_format
from .._tools import Tool, ToolCall, as_tools, assistant_message
from .._types import Response
from .observable import Observable

__all__ = ["ChatState", "ChatTurn"]


@dataclass
class ChatTurn:
    """One turn: a role, its text, and for an assistant turn the tool calls it made; a tool turn
    answers ``tool_call_id``."""

    role: str
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

    def message(self) -> dict[str, Any]:
        if self.role == "assistant":
            return assistant_message(self.text, self.tool_calls)
        out: dict[str, Any] = {"role": self.role, "content": self.text}
        if self.tool_call_id is not None:
            out.update(tool_call_id=self.tool_call_id, name=self.name)
        return out


class ChatState(Observable):
    """The conversation being edited, the model, its parameters, the tools and the schema."""

    def __init__(self, model: str = "local:smollm2", *, system: str = "", tools: Any = None,
                 params: dict[str, Any] | None = None, runner: Any = None) -> None:
        self.model = model
        self.system = system
        self.turns: list[ChatTurn] = []
        self.tools: tuple[Tool, ...] = as_tools(tools)
        self.params: dict[str, Any] = dict(params or {})
        self.schema_text = ""
        self.last: Response | None = None
        self.error: str | None = None
        self._runner = runner

    # --- editing ------------------------------------------------------------------
    def add(self, role: str, text: str, at: int | None = None) -> None:
        turn = ChatTurn(role, text)
        self.turns.insert(len(self.turns) if at is None else at, turn)
        self.changed("turns")

    def edit(self, index: int, text: str) -> None:
        self.turns[index].text = text
        self.changed("turns")

    def delete(self, index: int) -> None:
        del self.turns[index]
        self.changed("turns")

    def move(self, index: int, to: int) -> None:
        self.turns.insert(to, self.turns.pop(index))
        self.changed("turns")

    # --- the schema panel ---------------------------------------------------------
    @property
    def schema_status(self) -> tuple[bool | None, str]:
        """``(None, "")`` with no schema; ``(True, "valid schema")`` or ``(False, why)`` as typed."""
        if not self.schema_text.strip():
            return None, ""
        try:
            as_response_format(json.loads(self.schema_text))
        except ValueError as exc:  # JSON errors and SchemaError alike
            return False, str(exc)
        return True, "valid schema"

    # --- tool cards ---------------------------------------------------------------
    @property
    def pending_calls(self) -> list[ToolCall]:
        """The last assistant turn's tool calls that have no result yet."""
        answered = {t.tool_call_id for t in self.turns if t.role == "tool"}
        for turn in reversed(self.turns):
            if turn.role == "assistant":
                return [c for c in turn.tool_calls if c.id not in answered]
        return []

    def answer_call(self, call_id: str, result: str) -> None:
        """Give a tool call's result by hand (typed into its card)."""
        call = next(c for c in self.pending_calls if c.id == call_id)
        self.turns.append(ChatTurn("tool", result, tool_call_id=call.id, name=call.name))
        self.changed("turns")

    def run_call(self, call_id: str) -> str:
        """Run the tool's Python function for a call; its result (or error) becomes the tool turn."""
        call = next(c for c in self.pending_calls if c.id == call_id)
        content, error = _run_one(call, {t.name: t for t in self.tools})
        self.turns.append(ChatTurn("tool", content, tool_call_id=call.id, name=call.name))
        self.error = error
        self.changed("turns")
        return content

    # --- running --------------------------------------------------------------------
    def prompt(self) -> Prompt:
        """The conversation as a prompt (texts literal: braces are text here)."""
        return Prompt.from_messages(([{"role": "system", "content": self.system}] if self.system else [])
                                    + [t.message() for t in self.turns])

    def run(self) -> Response | None:
        """Send the conversation; the answer (and its tool calls) becomes the next assistant turn."""
        ok, why = self.schema_status
        if ok is False:
            self.error = f"The response format is not valid: {why}"
            return None
        try:
            response = complete(self.model, self.prompt(), params=self.params, runner=self._runner,
                                tools=list(self.tools) or None,
                                response_format=json.loads(self.schema_text) if ok else None)
        except WorkbenchError as exc:
            self.error = str(exc)
            return None
        self.last, self.error = response, None
        self.turns.append(ChatTurn("assistant", response.text, list(response.tool_calls)))
        self.changed("turns")
        return response

    def reply(self, text: str) -> Response | None:
        self.add("user", text)
        return self.run()

    def regenerate(self, index: int) -> Response | None:
        """Drop turn ``index`` and everything after it, then run again."""
        del self.turns[index:]
        self.changed("turns")
        return self.run()


