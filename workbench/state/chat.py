"""Chat mode of the Playground, as plain state: a conversation of editable turns, tools and a schema.

The turns are ``(role, text)`` entries plus, for an assistant turn that called tools, its
calls; they can be added, deleted, moved, re-roled and edited. Text the user wrote is a
template (``{variables}`` get fields, as in the Playground; ``{{`` is a literal brace); text a
model answered or a tool returned is kept as is (:attr:`ChatTurn.literal`), so a JSON answer's
braces are never mistaken for variables.

:meth:`ChatState.start` (the Run button; :meth:`~ChatState.run` blocks) sends the conversation
through the same run path as the Playground: validated first (nothing is sent on bad input),
streamed into :attr:`ChatState.answer`, logged by the runner, and on success appended as an
assistant turn. :meth:`reply` adds a user turn and runs; :meth:`regenerate` drops what followed
a turn and runs again. An answer's tool calls are cards (:attr:`pending_calls`): the user types a
result (:meth:`answer_call`) or runs the Python function (:meth:`run_call`), then continues with
:meth:`run`. The response-format panel is :attr:`schema_text`, validated as typed
(:attr:`schema_status`). No widget here: ``workbench/widgets/_chat.py`` only draws this state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._conversation import _run_one
from .._errors import PromptError, SchemaError, ToolError
from .._keys import redact
from .._log import RunLog
from .._params import Params
from .._prompt import ROLES, Prompt, as_prompt
from .._runner import Runner
from .._structured import ResponseFormat, as_response_format
from .._tools import TOOL_CHOICES, Tool, ToolCall, as_tools
from .._types import Request, Response
from .answer import Answer
from .base import OneModelState, stream_into
from .chat_parts import VARIABLE, ChatTurn, chat_html, chat_text, schema_check, tool_schema_text, turns_from_prompt
from .history import editor_tags
from .inputs import check_filled, default_model, split_kwargs
from .params_form import build_params
from .typed_keys import typed_key_warning

__all__ = ["ChatState", "ChatTurn", "schema_check", "tool_schema_text"]


class ChatState(OneModelState):
    """The conversation being edited, the model, its parameters, the tools and the schema.

    ``ChatState(wb.Prompt(messages=[...]), "mock:x", tools=[get_order], response_format=schema,
    question="...")``: keyword arguments that are parameter names set parameters, others fill
    ``{variables}`` (as in :class:`~workbench.state.PlaygroundState`).
    """

    EDITS = OneModelState.EDITS | {"turns", "tools", "tool_choice", "schema_text"}

    def __init__(self, prompt: Prompt | str | None = None, model: str | None = None, *, tools: Any = None,
                 tool_choice: str | None = None, response_format: Any = None,
                 variables: Mapping[str, Any] | None = None, runner: Runner | None = None,
                 log: RunLog | str | None = None, **kwargs: Any) -> None:
        p = as_prompt(prompt or "", template=True)
        param_kwargs, var_kwargs = split_kwargs(kwargs, p)
        self._init_run(runner, log)
        self.turns: list[ChatTurn] = turns_from_prompt(p)
        self.model: str = model or default_model()
        self.tools: tuple[Tool, ...] = as_tools(tools)
        params = build_params(param_kwargs).set()
        choice = tool_choice if tool_choice is not None else params.pop("tool_choice", None)
        self.params: dict[str, Any] = params
        self.tool_choice: str | None = choice
        self.variables: dict[str, str] = {k: str(v) for k, v in {**(variables or {}), **var_kwargs}.items()}
        self._format: ResponseFormat | None = as_response_format(response_format)
        self.schema_text: str = json.dumps(self._format.schema, indent=2) if self._format is not None else ""
        self._format_text = self.schema_text  # while the text is unchanged, the given format (a pydantic model) is used
        self.answer: Answer = Answer(model=self.model)
        self.last: Response | None = None

    # --- editing ------------------------------------------------------------------
    def _check_index(self, index: int) -> None:
        if not -len(self.turns) <= index < len(self.turns):
            raise PromptError(f"There is no turn {index + 1} (the conversation has {len(self.turns)}). "
                              "Fix: pick a turn that is shown.")

    def add(self, role: str = "user", text: str = "", at: int | None = None) -> ChatTurn:
        """Add a turn (at the end, or before position ``at``); a tool turn answers the oldest pending call."""
        self._check_role(role)
        turn = ChatTurn(role, text)
        if role == "tool":
            self._link_tool_turn(turn)
        self.turns.insert(len(self.turns) if at is None else at, turn)
        self.changed("turns")
        return turn

    def edit(self, index: int, text: str) -> None:
        self._check_index(index)
        if self.turns[index].text != text:
            self.turns[index].text = text
            self.changed("turns")

    def set_role(self, index: int, role: str) -> None:
        """Change a turn's role (a turn made a tool result answers the oldest call without one)."""
        self._check_index(index)
        self._check_role(role)
        turn = self.turns[index]
        if turn.role == role:
            return
        turn.role = role
        if role == "tool":
            self._link_tool_turn(turn, before=index)
        else:
            turn.tool_call_id = turn.name = None
        if role != "assistant":
            turn.tool_calls = []
        self.changed("turns")

    def delete(self, index: int) -> None:
        self._check_index(index)
        del self.turns[index]
        self.changed("turns")

    def move(self, index: int, to: int) -> None:
        """Move turn ``index`` to position ``to`` (clamped to the conversation)."""
        self._check_index(index)
        to = max(0, min(len(self.turns) - 1, to))
        if to != index:
            self.turns.insert(to, self.turns.pop(index))
            self.changed("turns")

    @staticmethod
    def _check_role(role: str) -> None:
        if role not in ROLES:
            raise PromptError(f"A turn's role is one of {', '.join(ROLES)}, not {role!r}. Fix: pick one of those.")

    def _link_tool_turn(self, turn: ChatTurn, before: int | None = None) -> None:
        turns = self.turns[:before] if before is not None else self.turns
        answered = {t.tool_call_id for t in turns if t.role == "tool"}
        for earlier in reversed(turns):
            if earlier.role == "assistant" and earlier.tool_calls:
                call = next((c for c in earlier.tool_calls if c.id not in answered), None)
                if call is not None:
                    turn.tool_call_id, turn.name = call.id, call.name
                return

    def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value
        self.changed("variables")

    # --- variables ------------------------------------------------------------------
    @property
    def variable_names(self) -> list[str]:
        """The ``{variables}`` of the turns the user wrote, in order (never raises on half-typed text)."""
        try:
            return self.prompt().variable_order
        except PromptError:
            names: list[str] = []
            for t in self.turns:
                if not t.literal:
                    names += [n for n in VARIABLE.findall(t.text) if n not in names]
            return names

    # --- the tools panel ------------------------------------------------------------
    @property
    def tool_choice_options(self) -> list[str]:
        """What the tool-choice menu offers: auto, none, required and each tool by name."""
        return [*TOOL_CHOICES, *(t.name for t in self.tools)]

    def set_tool_choice(self, choice: str | None) -> None:
        choice = None if choice in (None, "", "auto") else choice
        if choice is not None and choice not in self.tool_choice_options:
            raise ToolError(f"tool_choice={choice!r} is neither auto, none, required nor a tool's name "
                            f"({', '.join(t.name for t in self.tools) or 'no tools'}). Fix: pick one of those.")
        self.tool_choice = choice

    def _tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    @property
    def pending_calls(self) -> list[ToolCall]:
        """The last assistant turn's tool calls that have no result yet."""
        for i in range(len(self.turns) - 1, -1, -1):
            if self.turns[i].role == "assistant":
                answered = {t.tool_call_id for t in self.turns[i + 1:] if t.role == "tool"}
                return [c for c in self.turns[i].tool_calls if c.id not in answered]
        return []

    def result_of(self, call_id: str) -> ChatTurn | None:
        """The tool turn answering ``call_id``, if any."""
        return next((t for t in self.turns if t.role == "tool" and t.tool_call_id == call_id), None)

    def _pending(self, call_id: str) -> ToolCall:
        call = next((c for c in self.pending_calls if c.id == call_id), None)
        if call is None:
            raise ToolError(f"Tool call {call_id!r} is not waiting for a result (it was answered, or is not the "
                            "last answer's). Fix: edit its tool turn instead, or regenerate the answer.")
        return call

    def answer_call(self, call_id: str, result: str) -> ChatTurn:
        """Give a tool call's result by hand (typed into its card); it becomes a tool turn."""
        call = self._pending(call_id)
        if not result.strip():
            raise ToolError(f"The result of {call.name} is empty. Fix: type what the tool returned (JSON or "
                            "text), or click Run function.")
        turn = ChatTurn("tool", result, tool_call_id=call.id, name=call.name, literal=True)
        self._insert_result(turn)
        return turn

    def run_call(self, call_id: str) -> ChatTurn:
        """Run the tool's Python function for a call; its result (or its error) becomes the tool turn."""
        call = self._pending(call_id)
        tool = self._tool(call.name)
        if tool is None or tool.fn is None:
            why = "is not one of the tools given" if tool is None else "is a JSON-schema definition with no function"
            raise ToolError(f"Tool {call.name!r} {why}, so it cannot be run here. Fix: type its result in the "
                            "card, or pass the @wb.tool function in tools=[...].")
        content, error = _run_one(call, {t.name: t for t in self.tools})
        turn = ChatTurn("tool", redact(content), tool_call_id=call.id, name=call.name, literal=True)
        self._insert_result(turn)
        if error:
            self.error = (f"{error}. Its error was added as the tool's result, so the model can read it; "
                          "Fix: fix the function (or type a result instead), or press Continue to let the model "
                          "react.")
        else:
            self.info = f"Ran {call.name}: its result is turn {self.turns.index(turn) + 1}."
        return turn

    def _insert_result(self, turn: ChatTurn) -> None:
        """Right after the calling answer, among its other results in the order of its calls."""
        at = len(self.turns)
        for i in range(len(self.turns) - 1, -1, -1):
            if self.turns[i].role == "assistant":
                order = [c.id for c in self.turns[i].tool_calls]

                def rank(t: ChatTurn, order: list[str] = order) -> int:
                    return order.index(t.tool_call_id) if t.tool_call_id in order else len(order)

                at = i + 1
                while at < len(self.turns) and self.turns[at].role == "tool" and rank(self.turns[at]) < rank(turn):
                    at += 1
                break
        self.turns.insert(at, turn)
        self.changed("turns")

    # --- the schema panel -----------------------------------------------------------
    @property
    def schema_status(self) -> tuple[bool | None, str]:
        """``(None, "")`` with no schema; ``(True, "valid schema")`` or ``(False, why)`` as typed."""
        return schema_check(self.schema_text)

    def response_format(self) -> ResponseFormat | None:
        """The response format to send (raises :class:`SchemaError`, naming the problem, if invalid)."""
        ok, why = self.schema_status
        if ok is None:
            return None
        if ok is False:
            raise SchemaError(f"The response format is not valid: {why}")
        if self._format is not None and self.schema_text == self._format_text:
            return self._format
        return as_response_format(json.loads(self.schema_text))

    # --- the request ----------------------------------------------------------------
    def prompt(self) -> Prompt:
        """The conversation as a prompt: the user's text a template, answers and results literal."""
        if not self.turns:
            raise PromptError("The conversation is empty. Fix: add a user turn (Add turn) and type the request.")
        return Prompt.from_messages([t.message() for t in self.turns], literal=False)

    def build_params(self) -> Params:
        return build_params(self.params, {"tool_choice": self.tool_choice} if self.tools else None)

    @property
    def key_warning(self) -> str | None:
        """A warning when a turn, the schema or a variable holds what looks like an API key (saved with
        the notebook's widget state); the key is masked in the summary and the log either way."""
        fields = {f"turn {i} ({t.role})": t.text for i, t in enumerate(self.turns, 1)}
        fields["response-format schema"] = self.schema_text
        fields.update({f"variable {{{name}}}": self.variables.get(name, "") for name in self.variable_names})
        return typed_key_warning(fields)

    def prepare(self) -> Request:
        """Validate everything offline (turns, variables, pending calls, schema, key) and return the request."""
        pending = self.pending_calls
        if pending:
            names = ", ".join(f"{c.name} ({c.id})" for c in pending)
            raise ToolError(f"The last answer's tool call{'s' if len(pending) > 1 else ''} {names} "
                            f"{'have' if len(pending) > 1 else 'has'} no result yet. Fix: type the result in the "
                            "call's card or click Run function, then Continue (or delete that answer).")
        prompt = self.prompt()
        values = check_filled(prompt.variable_order, self.variables)
        params = self.build_params()
        rf = self.response_format()
        return self._runner.prepare(self.model, prompt, values, params, tools=self.tools or None,
                                    response_format=rf, tags={**editor_tags(prompt, values, params.set()),
                                                              "source": "chat"})

    # --- running --------------------------------------------------------------------
    def _prepare_run(self) -> Request:
        request = self.prepare()
        self.answer = Answer(model=self.model)
        return request

    async def _perform(self, request: Request) -> Response | None:
        response = await stream_into(self._runner, request, self.answer, lambda: self.changed("answer"))
        if response is not None and response.ok:
            turn = ChatTurn("assistant", response.text, list(response.tool_calls), literal=True, response=response,
                            checked=request.response_format is not None and not response.tool_calls)
            self.turns.append(turn)
            self.last = response
            self.changed("turns")
            if response.tool_calls:
                self.info = (f"The model asked for {', '.join(c.name for c in response.tool_calls)}: give each "
                             "call's result in its card (type it, or Run function), then Continue.")
        return response

    def reply(self, text: str, *, wait: bool = True) -> Any:
        """Add a user turn and run (``wait=False``: start the run and return at once, as the reply box does)."""
        if not text.strip():
            raise PromptError("The reply is empty. Fix: type the next user turn in the reply box.")
        self.add("user", text)
        return self.run() if wait else self.start()

    def regenerate(self, index: int, *, wait: bool = True) -> Any:
        """Drop what followed turn ``index`` (and the turn itself if it is an answer), then run again."""
        self._check_index(index)
        index %= len(self.turns)
        keep = index if self.turns[index].role == "assistant" else index + 1
        if keep < len(self.turns):
            del self.turns[keep:]
            self.changed("turns")
        return self.run() if wait else self.start()

    def status_text(self) -> str:
        a = self.answer
        if self.running:
            return "loading the model…" if a.loading else "running…"
        if a.status == "done" and a.response is not None:
            return f"done in {a.response.latency_s:.2f} s"
        return {"error": "failed", "stopped": "stopped"}.get(a.status, "")

    # --- static form (see chat_parts.py) ----------------------------------------------
    def summary_text(self) -> str:
        self.key_warning  # noqa: B018 - registers a typed key so the summary masks it
        return chat_text(self)

    def summary_html(self) -> str:
        self.key_warning  # noqa: B018 - as in summary_text
        return chat_html(self)
