"""``wb.Chat`` (the Playground's chat mode): a conversation of editable turns, tools and a schema.

A thin view over :class:`~workbench.state.chat.ChatState`: each turn is a role menu and a text
area with buttons (move up, move down, regenerate from here, delete); an answer's tool calls are
cards (name, arguments, validity) where the user types the result or runs the function, then
continues; the side column holds the variables, the tools (their JSON schemas collapsed), the
response format (validated as typed) and the parameters. Every button calls one state method.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as w

from .._keys import redact
from .._log import RunLog
from .._prompt import ROLES, Prompt
from .._runner import Runner
from .._tools import ToolCall
from ..state.chat import ChatState, ChatTurn, tool_schema_text
from ._parts import (
    AnswerView,
    KeyPrompt,
    MessageArea,
    ModelPicker,
    ParamControls,
    StateWidget,
    VariableFields,
    guard,
    hidden,
    section,
    style_tag,
)

__all__ = ["Chat", "CHAT_CSS"]

#: Chat mode's own rules (added to the shared stylesheet by :func:`chat_style`).
CHAT_CSS = """
.wb-root .wb-root { border: none; padding: 0; }
.wb-root .wb-chat-main { flex: 2 1 480px; }
.wb-root .wb-chat-side { flex: 1 1 300px; }
.wb-root .wb-turn { border: 1px solid var(--jp-border-color2, #e3e3e3); border-left: 3px solid #9aa5b1;
  border-radius: 6px; padding: 4px 8px 6px 8px; gap: 2px; background: var(--jp-layout-color0, #fff); }
.wb-root .wb-turn-user { border-left-color: #2f6fdf; }
.wb-root .wb-turn-assistant { border-left-color: #2e7d32; background: var(--jp-layout-color1, #f7fbf7); }
.wb-root .wb-turn-system { border-left-color: #8e24aa; }
.wb-root .wb-turn-tool { border-left-color: #ef6c00; background: var(--jp-layout-color1, #fffaf3); }
.wb-root .wb-turn-head { align-items: center; gap: 4px; }
.wb-root .wb-turn-head .widget-button { padding: 0; }
.wb-root .wb-turn-no { font-size: 11px; color: var(--jp-ui-font-color2, #777); min-width: 20px; }
.wb-root .wb-turn-note { font-size: 11.5px; color: var(--jp-ui-font-color2, #777); }
.wb-root .wb-turn-note .widget-html-content { line-height: 1.3; }
.wb-root .wb-valid { color: #1b5e20; font-weight: 600; }
.wb-root .wb-invalid { color: #b00020; font-weight: 600; }
.wb-root .wb-call { border: 1px dashed #ef6c00; border-radius: 6px; padding: 4px 8px; gap: 3px;
  background: var(--jp-layout-color1, #fffaf3); }
.wb-root .wb-call-args { font-family: var(--jp-code-font-family, monospace); font-size: 12px; margin: 0;
  white-space: pre-wrap; overflow-wrap: anywhere; max-height: 180px; overflow-y: auto; }
.wb-root .wb-call-head .widget-html-content, .wb-root .wb-schema-status .widget-html-content { line-height: 1.35; }
.wb-root .wb-tool-schema { font-family: var(--jp-code-font-family, monospace); font-size: 11.5px; margin: 0;
  white-space: pre-wrap; overflow-wrap: anywhere; max-height: 260px; overflow-y: auto; }
.wb-root .wb-schema-status { font-size: 12px; }
.wb-root .wb-reply-row { gap: 6px; align-items: center; }
.wb-root .wb-turns { gap: 6px; }
.wb-root .wb-calls { gap: 4px; }
"""


def chat_style() -> w.HTML:
    tag = w.HTML(f"<style>{CHAT_CSS}</style>", layout=w.Layout(height="0px", margin="0", overflow="hidden"))
    tag.add_class("wb-style")
    return tag


def _button(icon: str, tooltip: str, css: str, description: str = "", width: str = "30px") -> w.Button:
    button = w.Button(description=description, icon=icon, tooltip=tooltip,
                      layout=w.Layout(width=width if not description else "auto"))
    button.add_class(css)
    return button


def _validity_html(ok: bool | None, why: str) -> str:
    if ok is None:
        return ""
    if ok:
        return f"<span class='wb-valid'>&#10003; {html.escape(why)}</span>"
    return f"<span class='wb-invalid'>&#10007; invalid:</span> {html.escape(why)}"


class CallCard(w.VBox):
    """One tool call: its name, arguments (pretty), validity; a result to type or the function to run."""

    def __init__(self, chat: Chat, call: ToolCall) -> None:
        self.chat, self.call = chat, call
        safe = guard(chat._report)
        s = chat.state
        shown = json.dumps(call.arguments, indent=2, ensure_ascii=False) if call.arguments is not None else call.raw
        ok = (True, "arguments fit the schema") if call.valid else (False, call.error or "")
        self.head = w.HTML(f"<div><i class='fa fa-wrench'></i> <b>{html.escape(call.name)}</b> "
                           f"<code>{html.escape(call.id)}</code> · {_validity_html(*ok)}</div>")
        self.head.add_class("wb-call-head")
        self.args = w.HTML(f"<pre class='wb-call-args'>{html.escape(redact(shown))}</pre>")
        self.result = w.Textarea(rows=2, placeholder=f"type what {call.name} returned (JSON or text)…",
                                 layout=w.Layout(width="auto"))
        self.result.add_class("wb-call-result")
        self.use = _button("check", "Use the typed text as the tool's result (a tool turn)", "wb-call-use",
                           "Use result")
        tool = s._tool(call.name)
        runnable = tool is not None and tool.fn is not None
        self.run_fn = _button("cog", f"Call the Python function {call.name}(...) with these arguments; its result "
                              "(or its error) becomes the tool turn" if runnable else
                              "No Python function for this tool (a JSON-schema definition): type its result",
                              "wb-call-run", "Run function")
        self.run_fn.disabled = not runnable
        self.done = w.HTML()
        self.done.add_class("wb-turn-note")
        self.controls = w.HBox([self.use, self.run_fn])
        self.controls.add_class("wb-row")
        super().__init__([self.head, self.args, self.result, self.controls, self.done])
        self.add_class("wb-call")
        self.use.on_click(safe(lambda _: s.answer_call(call.id, self.result.value)))
        self.run_fn.on_click(safe(lambda _: s.run_call(call.id)))

    def show(self) -> None:
        s = self.chat.state
        result = s.result_of(self.call.id)
        pending = result is None
        for part in (self.result, self.controls):
            hidden(part, not pending)
        if result is not None:
            number = s.turns.index(result) + 1
            self.done.value = f"answered by turn {number} (tool)"
        hidden(self.done, pending)
        self.use.disabled = s.running
        tool = s._tool(self.call.name)
        self.run_fn.disabled = s.running or tool is None or tool.fn is None


class TurnView(w.VBox):
    """One turn: number, role, text, and the buttons that move, regenerate or delete it."""

    def __init__(self, chat: Chat, turn: ChatTurn) -> None:
        self.chat, self.turn = chat, turn
        safe = guard(chat._report)
        s = chat.state
        self.number = w.HTML()
        self.number.add_class("wb-turn-no")
        self.role = w.Dropdown(options=list(ROLES), value=turn.role, layout=w.Layout(width="110px"))
        self.role.add_class("wb-turn-role")
        self.up = _button("arrow-up", "Move this turn up", "wb-turn-up")
        self.down = _button("arrow-down", "Move this turn down", "wb-turn-down")
        self.regen = _button("redo", "Regenerate from here: drop what follows (this answer too) and run again",
                             "wb-turn-regen")
        self.delete = _button("trash", "Delete this turn", "wb-turn-delete")
        head = w.HBox([self.number, self.role, w.HTML(layout=w.Layout(flex="1 1 auto")), self.up, self.down,
                       self.regen, self.delete], layout=w.Layout(width="100%"))
        head.add_class("wb-turn-head")
        self.text = w.Textarea(value=turn.text, rows=self._rows(turn.text), continuous_update=True,
                               placeholder="Text of this turn. Use {name} for a variable.",
                               layout=w.Layout(width="auto"))
        self.text.add_class("wb-turn-text")
        self.note = w.HTML()
        self.note.add_class("wb-turn-note")
        self.calls = w.VBox([])
        self.calls.add_class("wb-calls")
        self.cont = _button("play", "Send the conversation with the tool results on to the model", "wb-continue",
                            "Continue")
        self.cont.button_style = "primary"
        self._cards: dict[str, CallCard] = {}
        self._syncing = False
        super().__init__([head, self.text, self.calls, self.cont, self.note])
        self.add_class("wb-turn")
        self.role.observe(safe(lambda c: None if self._syncing else s.set_role(self.index, c["new"])), names="value")
        self.text.observe(safe(lambda c: None if self._syncing else s.edit(self.index, c["new"])), names="value")
        self.up.on_click(safe(lambda _: s.move(self.index, self.index - 1)))
        self.down.on_click(safe(lambda _: s.move(self.index, self.index + 1)))
        self.delete.on_click(safe(lambda _: s.delete(self.index)))
        self.regen.on_click(safe(lambda _: s.regenerate(self.index, wait=False)))
        self.cont.on_click(safe(lambda _: s.start()))

    @staticmethod
    def _rows(text: str) -> int:
        return max(2, min(8, text.count("\n") + 1 + len(text) // 90))

    @property
    def index(self) -> int:
        return next(i for i, t in enumerate(self.chat.state.turns) if t is self.turn)

    def show(self) -> None:
        s, t = self.chat.state, self.turn
        i = self.index
        self._syncing = True
        try:
            if self.role.value != t.role:
                self.role.value = t.role
            if self.text.value != t.text:
                self.text.value = t.text
                self.text.rows = self._rows(t.text)
        finally:
            self._syncing = False
        for role in ROLES:
            (self.add_class if role == t.role else self.remove_class)(f"wb-turn-{role}")
        self.number.value = f"#{i + 1}"
        # an answer that only called tools has no text: its cards say it all
        hidden(self.text, t.role == "assistant" and bool(t.tool_calls) and not t.text)
        self.up.disabled = i == 0 or s.running
        self.down.disabled = i == len(s.turns) - 1 or s.running
        self.regen.disabled = self.delete.disabled = s.running
        cards = []
        for call in t.tool_calls if t.role == "assistant" else []:
            card = self._cards.get(call.id)
            if card is None or card.call is not call:
                card = self._cards[call.id] = CallCard(self.chat, call)
            card.show()
            cards.append(card)
        if tuple(self.calls.children) != tuple(cards):
            self.calls.children = tuple(cards)
        hidden(self.calls, not cards)
        last_answer = max((k for k, x in enumerate(s.turns) if x.role == "assistant"), default=-1)
        waiting = (bool(cards) and i == last_answer and not s.pending_calls
                   and all(x.role == "tool" for x in s.turns[i + 1:]))
        hidden(self.cont, not waiting)
        self.cont.disabled = s.running
        self.note.value = self._note_html()
        hidden(self.note, not self.note.value)

    def _note_html(self) -> str:
        t = self.turn
        parts = []
        if t.role == "tool":
            parts.append(f"result of <b>{html.escape(t.name or '?')}</b> <code>{html.escape(t.tool_call_id or '?')}"
                         "</code>" if t.tool_call_id else "<span class='wb-invalid'>answers no tool call</span>: "
                         "give results through a call's card")
        validity = _validity_html(*t.validity)
        if validity:  # first: what the response-format panel asked about this answer
            parts.insert(0, validity)
        if t.literal:
            parts.append("literal text (no {variables})")
        if t.response is not None and t.response.ok:
            parts.append(html.escape(t.response.figures()))
        return " · ".join(parts)


class ToolsPanel(w.VBox):
    """The tools passed in, each with its JSON schema (collapsed), and the tool-choice menu."""

    def __init__(self, chat: Chat) -> None:
        s = chat.state
        safe = guard(chat._report)
        self.choice = w.Dropdown(options=s.tool_choice_options, value=s.tool_choice or "auto",
                                 description="tool_choice", style={"description_width": "initial"},
                                 layout=w.Layout(width="auto"))
        self.choice.add_class("wb-tool-choice")
        self.choice.tooltip = "auto: the model decides; none: no tool; required: some tool; a name: that tool"
        self.schemas = []
        for tool in s.tools:
            body = w.HTML(f"<div class='wb-hint'>{html.escape(tool.description)}</div>"
                          f"<pre class='wb-tool-schema'>{html.escape(tool_schema_text(tool))}</pre>")
            box = w.Accordion(children=[body], titles=(f"{tool.name}{'' if tool.fn else ' (schema only)'}",),
                              selected_index=None)
            box.add_class("wb-tool")
            box.add_class(f"wb-tool-{tool.name}")
            self.schemas.append(box)
        empty = w.HTML("<span class='wb-hint'>No tools. Pass them in code: <code>wb.Chat(prompt, model, "
                       "tools=[my_function])</code> (<code>@wb.tool</code> functions or JSON-schema dicts).</span>")
        super().__init__([self.choice, *self.schemas] if s.tools else [empty])
        self.add_class("wb-tools")
        self.choice.observe(safe(lambda c: s.set_tool_choice(c["new"])), names="value")


class Chat(StateWidget):
    """Chat mode: edit a conversation turn by turn, run it, answer tool calls, bind answers to a schema.

    ``wb.Chat(prompt, model, tools=[get_order], response_format=schema, company="Acme")``: the
    prompt's system message, examples and conversation become editable turns; keyword arguments
    that are parameter names set parameters, others fill ``{variables}``. Also reached from the
    Playground (its "Chat mode" button, or ``wb.Playground(..., tools=[...])``). Code reads and
    changes what is shown through :attr:`state` (a :class:`~workbench.state.chat.ChatState`).
    """

    def __init__(self, prompt: Prompt | str | None = None, model: str | None = None, *, tools: Any = None,
                 tool_choice: str | None = None, response_format: Any = None,
                 variables: Mapping[str, Any] | None = None, runner: Runner | None = None,
                 log: RunLog | str | None = None, state: ChatState | None = None,
                 on_back: Callable[[], Any] | None = None, **params: Any) -> None:
        self.state = state or ChatState(prompt, model, tools=tools, tool_choice=tool_choice,
                                        response_format=response_format, variables=variables, runner=runner,
                                        log=log, **params)
        s = self.state
        safe = guard(self._report)

        self.title = w.HTML("<span class='wb-title'>Chat</span>")
        self.model = ModelPicker(s.model, layout=w.Layout(width="300px"))
        self._run_controls("Run", "90px", "Send the conversation (the answer streams in as a new turn)", safe)
        self.back = _button("edit", "Back to the single-prompt Playground", "wb-chat-back", "Single prompt")
        hidden(self.back, on_back is None)
        topbar = w.HBox([self.title, self.model, self.run_button, self.stop_button, self.status, self.back])
        topbar.add_class("wb-topbar")

        self.turns = w.VBox([])
        self.turns.add_class("wb-turns")
        self._views: dict[int, TurnView] = {}
        self.answer = AnswerView(lambda rating, note: None, placeholder="The answer streams in here.",
                                 show_label=False)
        self.answer.add_class("wb-chat-answer")
        hidden(self.answer.rating)
        self.add_role = w.Dropdown(options=list(ROLES), value="user", layout=w.Layout(width="110px"))
        self.add_role.add_class("wb-add-role")
        self.add_turn = _button("plus", "Add a turn with this role at the end", "wb-add-turn", "Add turn")
        self.reply = w.Text(placeholder="Reply as the user, then Send (adds a user turn and runs)",
                            continuous_update=True, layout=w.Layout(width="auto", flex="1 1 auto"))
        self.reply.add_class("wb-reply")
        self.send = _button("paper-plane", "Add the reply as a user turn and run", "wb-send", "Send")
        self.send.button_style = "primary"
        add_row = w.HBox([self.add_role, self.add_turn])
        add_row.add_class("wb-row")
        reply_row = w.HBox([self.reply, self.send], layout=w.Layout(width="100%"))
        reply_row.add_class("wb-reply-row")
        self.key = KeyPrompt(safe(s.provide_key))
        self.key_warning = w.HTML()  # a key typed into a saved field (state.key_warning)
        self.key_warning.add_class("wb-error")
        self.messages = MessageArea()
        main = w.VBox([section("conversation"), self.turns, self.answer, add_row, reply_row, self.key,
                       self.key_warning, self.messages])
        main.add_class("wb-column")
        main.add_class("wb-chat-main")

        self.variables = VariableFields(safe(lambda name, value: s.set_variable(name, value)))
        self.tools = ToolsPanel(self)
        self.schema = w.Textarea(value=s.schema_text, rows=5, continuous_update=True,
                                 placeholder='JSON schema the answer must follow, e.g. {"type": "object", '
                                             '"properties": {"name": {"type": "string"}}, "required": ["name"]}',
                                 layout=w.Layout(width="auto"))
        self.schema.add_class("wb-schema")
        self.schema_status = w.HTML()
        self.schema_status.add_class("wb-schema-status")
        self.params = ParamControls(s.params, safe(lambda name, value: s.set_param_typed(name, value)),
                                    defaults=s.param_defaults())
        params_box = w.Accordion(children=[self.params], titles=("Parameters",), selected_index=None)
        params_box.add_class("wb-chat-params")
        side = w.VBox([section("variables"), self.variables, section("tools"), self.tools,
                       section("response format"), self.schema, self.schema_status, params_box])
        side.add_class("wb-column")
        side.add_class("wb-chat-side")
        columns = w.HBox([main, side])
        columns.add_class("wb-columns")

        super().__init__([style_tag(), chat_style(), topbar, columns])
        self.add_class("wb-root")
        self.add_class("wb-chat")

        self.model.on_pick(safe(lambda model: setattr(s, "model", model) if model != s.model else None))
        self.schema.observe(safe(lambda c: setattr(s, "schema_text", c["new"])), names="value")
        self.add_turn.on_click(safe(lambda _: s.add(self.add_role.value)))
        self.send.on_click(safe(lambda _: self._send_reply()))
        if on_back is not None:
            self.back.on_click(safe(lambda _: on_back()))
        s.observe(self._on_state)
        self.refresh()

    def _on_key(self, action: str, field: dict[str, Any] | None) -> None:
        """Ctrl/Cmd+Enter in the reply box sends the reply; elsewhere it runs (Esc stops)."""
        if action == "run" and field is not None and "wb-reply" in (field.get("classes") or []):
            self.reply.value = str(field.get("value") or "")
            if self.reply.value.strip():
                self._send_reply()
                return
        super()._on_key(action, field)

    def _send_reply(self) -> None:
        text = self.reply.value
        self.state.reply(text, wait=False)
        self.reply.value = ""

    # --- state -> view ---------------------------------------------------
    def _on_state(self, name: str) -> None:
        if name in ("turns", "running"):
            self._show_turns()
        if name in ("turns", "variables", "values"):
            self._show_variables()
        if name in ("turns", "variables", "schema_text"):
            self._show_key_warning()
        if name in ("error", "info", "key", "turns", "schema_text"):
            self.messages.set(self.state.error, self.state.info)
        if name == "schema_text":
            self._show_schema()
        elif name == "model":
            self._show_model()
            self._show_params()
        elif name == "params":
            self._show_params()
        elif name == "key":
            self._show_model()
        elif name in ("running", "answer"):
            self._show_running()
            if self.answer.answer is not self.state.answer:
                self.answer.bind(self.state.answer)
            else:
                self.answer.changed()

    def refresh(self) -> None:
        """Redraw everything from :attr:`state` (after changing it in place)."""
        self._show_turns()
        self._show_variables()
        self._show_key_warning()
        self._show_schema()
        self._show_model()
        self._show_params()
        self.messages.set(self.state.error, self.state.info)
        self.answer.bind(self.state.answer)
        self._show_running()

    def _show_turns(self) -> None:
        turns = self.state.turns
        views = []
        for turn in turns:
            view = self._views.get(id(turn))
            if view is None or view.turn is not turn:
                view = self._views[id(turn)] = TurnView(self, turn)
            views.append(view)
        self._views = {id(v.turn): v for v in views}
        if tuple(self.turns.children) != tuple(views):
            self.turns.children = tuple(views)
        for view in views:
            view.show()

    def _show_variables(self) -> None:
        self.variables.show_fields(self.state.variable_names, self.state.variables)

    def _show_key_warning(self) -> None:
        warning = self.state.key_warning
        self.key_warning.value = f"<div>{html.escape(warning)}</div>" if warning else ""
        hidden(self.key_warning, not warning)

    def _show_schema(self) -> None:
        s = self.state
        if self.schema.value != s.schema_text:
            self.schema.value = s.schema_text
        self.schema.rows = max(5, min(18, s.schema_text.count("\n") + 2))
        ok, why = s.schema_status
        self.schema_status.value = (_validity_html(ok, why) if ok is not None else
                                    "<span class='wb-hint'>No schema: answers are free text.</span>")

    def _show_model(self) -> None:
        self.model.refresh(self.state.model)
        self.key.show_for(self.state.missing_key)

    def _show_running(self) -> None:
        s = self.state
        a = s.answer
        status = s.status_text()
        kind = "running" if s.running else a.status
        self._show_run_controls(f"<span class='wb-status wb-status-{kind}'>{html.escape(status)}</span>"
                                if status else "")
        # the live answer shows while it streams, or when it failed or was stopped (a success is a turn)
        hidden(self.answer, not (s.running or a.status in ("error", "stopped")))
        self.send.disabled = self.add_turn.disabled = s.running

    # --- for tests and code ------------------------------------------------
    def turn_view(self, index: int) -> TurnView:
        """The view of turn ``index``."""
        return self._views[id(self.state.turns[index])]

    def variable_field(self, name: str) -> w.Text:
        return self.variables.field(name)


def chat_for_playground(playground: Any, prompt: Any, tools: Any, response_format: Any) -> Chat:
    """The Playground's chat mode: its prompt as typed now (or the conversation it was given), model,
    parameters, variables, runner and log, plus the tools and response format it was given."""
    s = playground.state
    if not (isinstance(prompt, Prompt) and prompt.is_conversation):
        try:
            prompt = s.prompt()
        except Exception:  # noqa: BLE001 - a half-typed placeholder: start from the texts as they are
            prompt = Prompt(user=s.user.replace("{", "{{").replace("}", "}}"))
    state = ChatState(prompt, s.model, tools=tools, response_format=response_format, variables=dict(s.variables),
                      runner=s.runner, log=s.log, **s.params)
    chat = Chat(state=state, on_back=lambda: playground.show_chat(False))
    return chat
