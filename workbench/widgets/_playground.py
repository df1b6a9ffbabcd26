"""``wb.Playground``: edit one prompt, run it, watch it stream, rate it, version it."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import ipywidgets as w

from .._log import RunLog
from .._prompt import Prompt
from .._runner import Runner
from ..state import PlaygroundState
from ._chat import chat_for_playground
from ._code import CodePanel
from ._history import HistoryPanel
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
from ._tokens import TokensToggle, prompt_split_for, set_token_params
from ._versions import VersionsPanel

__all__ = ["Playground"]


def textarea(value: str, rows: int, placeholder: str, css: str) -> w.Textarea:
    area = w.Textarea(value=value, rows=rows, placeholder=placeholder, continuous_update=True,
                      layout=w.Layout(width="auto"))
    area.add_class(css)
    return area


class Playground(StateWidget):
    """A prompt playground in a notebook cell.

    ``wb.Playground(prompt, model="local:smollm2", temperature=0.7, topic="owls")``:
    keyword arguments that are parameter names set parameters, others fill
    ``{variables}``. ``runner`` or ``log`` choose where calls are logged
    (default: the session runner). Code can read and change what is shown
    through :attr:`state` (a :class:`~workbench.state.PlaygroundState`):
    ``pg.state.user = "..."`` updates the editor, ``pg.state.run()`` runs.
    """

    def __init__(self, prompt: Prompt | str | None = None, model: str | None = None, *,
                 variables: Mapping[str, Any] | None = None, runner: Runner | None = None,
                 log: RunLog | str | None = None, state: PlaygroundState | None = None, tools: Any = None,
                 response_format: Any = None, chat: bool | None = None, **params: Any) -> None:
        self.state = state or PlaygroundState(prompt, model, variables=variables, runner=runner, log=log, **params)
        # chat mode (workbench/widgets/_chat.py): a conversation, tools, a response format
        self._chat_from = (prompt, tools, response_format)
        self.chat: Any = None
        s = self.state
        safe = guard(self._report)

        self.title = w.HTML("<span class='wb-title'>Playground</span>")
        self.model = ModelPicker(s.model, layout=w.Layout(width="300px"))
        self._run_controls("Run", "90px", "Run the prompt (the answer streams below)", safe)
        self.chat_button = w.Button(description="Chat mode", icon="comments", layout=w.Layout(width="auto"),
                                    tooltip="Edit a conversation turn by turn, with tools and a response format")
        self.chat_button.add_class("wb-chat-mode")
        self.chat_button.on_click(safe(lambda _: self.show_chat()))
        topbar = w.HBox([self.title, self.model, self.run_button, self.stop_button, self.status, self.chat_button])
        topbar.add_class("wb-topbar")

        self.system = textarea(s.system, 2, "System message (optional): role, rules, format…", "wb-system")
        self.user = textarea(s.user, 5, "User message. Use {name} for a variable, {{ and }} for literal braces.",
                             "wb-user")
        self.examples_note = w.HTML()
        self.variables = VariableFields(safe(lambda name, value: s.set_variable(name, value)))
        self.key_warning = w.HTML()  # a key typed into a saved field (state.key_warning)
        self.key_warning.add_class("wb-error")
        self.params = ParamControls(s.params, safe(lambda name, value: s.set_param_typed(name, value)),
                                    defaults=s.param_defaults())
        editor = w.VBox([section("system"), self.system, section("user"), self.user, self.examples_note,
                         section("variables"), self.variables, self.key_warning, section("parameters"), self.params])
        editor.add_class("wb-column")
        editor.add_class("wb-editor")

        self.key = KeyPrompt(safe(s.provide_key))
        self.messages = MessageArea()
        self.answer = AnswerView(safe(lambda rating, note: s.rate(rating, note)))
        self.tokens = TokensToggle(  # the token lens (issue 13): workbench/widgets/_tokens.py
            s, lambda: s.answer.response, lambda on: set_token_params(s.set_param, on),
            is_on=bool(s.params.get("logprobs")),
            prompt_split=lambda: prompt_split_for(s.model, list(s.prepare().messages), s.answer.response))
        output = w.VBox([section("answer"), self.key, self.messages, self.answer, self.tokens])
        output.add_class("wb-column")
        output.add_class("wb-output")
        columns = w.HBox([editor, output])
        columns.add_class("wb-columns")

        self.versions = VersionsPanel(s)
        self.versions_box = w.Accordion(children=[self.versions], titles=("Versions",), selected_index=None)
        self.versions_box.add_class("wb-versions-box")

        self.history = HistoryPanel(s)
        self.history_box = w.Accordion(children=[self.history], titles=("History",), selected_index=None)
        self.history_box.add_class("wb-history-box")
        self.code = CodePanel(s)
        self.code_box = w.Accordion(children=[self.code], titles=("Code",), selected_index=None)
        self.code_box.add_class("wb-code-box")

        super().__init__([style_tag(), topbar, columns, self.versions_box, self.history_box, self.code_box])
        self.add_class("wb-root")
        self.add_class("wb-playground")

        self.model.on_pick(safe(lambda model: setattr(s, "model", model) if model != s.model else None))
        self.system.observe(safe(lambda c: setattr(s, "system", c["new"])), names="value")
        self.user.observe(safe(lambda c: setattr(s, "user", c["new"])), names="value")
        for box in (self.history_box, self.code_box):
            box.observe(safe(lambda _: self._refresh_panels()), names="selected_index")
        s.observe(self._on_state)
        self.refresh()
        conversation = isinstance(prompt, Prompt) and prompt.is_conversation
        if chat or (chat is None and (conversation or tools is not None or response_format is not None)):
            self.show_chat()

    # --- chat mode (workbench/widgets/_chat.py) ----------------------------
    def show_chat(self, on: bool = True) -> None:
        """Switch to chat mode (built from the prompt as it is now, the first time) or back."""
        if on and self.chat is None:
            self.chat = chat_for_playground(self, *self._chat_from)
            # the saved notebook's summary follows the chat while it is shown
            self.chat.state.observe(lambda name: self._fallback_changed(name) if hasattr(self, "_fallbacks") else None)
        if self.chat is not None:
            children: tuple[Any, ...] = tuple(getattr(self, "children", ()))
            self._modes = getattr(self, "_modes", None) or [c for c in children if c is not self.chat]
            keep = (self._modes[0], self.shortcuts)  # the stylesheet and the key listener stay
            for child in self._modes:
                if child not in keep:
                    hidden(child, on)
            if self.chat not in children:
                self.children = (*children, self.chat)
            hidden(self.chat, not on)
            if hasattr(self, "_fallbacks"):
                self._fallback_changed("mode")

    @property
    def chat_mode(self) -> bool:
        return self.chat is not None and self.chat.layout.display != "none"

    def _on_key(self, action: str, field: dict[str, Any] | None) -> None:
        if not self.chat_mode:  # in chat mode the chat's own shortcuts act
            super()._on_key(action, field)

    def _fallback_html(self) -> str:
        return self.chat._fallback_html() if self.chat_mode else super()._fallback_html()

    # --- state -> view ---------------------------------------------------
    def _on_state(self, name: str) -> None:
        if name in self.state.EDITS and not self.state.running:
            self._show_running()  # "done in 0.4 s" describes the answer only until the inputs change
        if name in ("system", "user", "examples", "variables", "loaded"):
            self._show_key_warning()
        if name in ("system", "user", "examples", "name"):
            self._show_prompt()
        elif name in ("variables", "values"):
            self._show_variables()
        elif name == "model":
            self._show_model()
            self._show_params()
        elif name == "params":
            self._show_params()
        elif name in ("error", "info"):
            self.messages.set(self.state.error, self.state.info)
        elif name == "running":
            self._show_running()
        elif name == "answer":
            if self.state.running:
                self._show_running()  # "loading the model…" turns into "running…" at the first token
            if self.answer.answer is not self.state.answer:
                self.answer.bind(self.state.answer)
            else:
                self.answer.changed()
        elif name == "ratings":
            self.answer.update()
        elif name in ("versions",):
            self.versions.refresh()
        elif name == "key":
            self._show_model()
            self.messages.set(self.state.error, self.state.info)
        elif name == "loaded":
            self.refresh()
        if name not in ("answer", "error", "info"):
            self._refresh_panels()

    def _refresh_panels(self) -> None:
        """The History and Code panels follow the state while they are open (closed, they cost nothing)."""
        if self.code_box.selected_index == 0:
            self.code.refresh()
        if self.history_box.selected_index == 0 and not self.state.running:
            self.history.refresh()

    def refresh(self) -> None:
        """Redraw everything from :attr:`state` (after changing it in place)."""
        self._show_prompt()
        self._show_key_warning()
        self._show_model()
        self._show_params()
        self.messages.set(self.state.error, self.state.info)
        self._show_running()
        self.answer.bind(self.state.answer)
        self.versions.refresh()

    def _show_prompt(self) -> None:
        s = self.state
        if self.system.value != s.system:
            self.system.value = s.system
        if self.user.value != s.user:
            self.user.value = s.user
        n = len(s.examples)
        self.examples_note.value = (f"<span class='wb-hint'>+ {n} few-shot example{'s' if n != 1 else ''} from the "
                                    "prompt (edit them in code: pg.state.examples)</span>") if n else ""
        hidden(self.examples_note, not n)
        self._show_variables()

    def _show_variables(self) -> None:
        self.variables.show_fields(self.state.variable_names, self.state.variables)

    def _show_key_warning(self) -> None:
        warning = self.state.key_warning
        self.key_warning.value = f"<div>{html.escape(warning)}</div>" if warning else ""
        hidden(self.key_warning, not warning)

    def _show_model(self) -> None:
        self.model.refresh(self.state.model)
        self.key.show_for(self.state.missing_key)

    def _show_running(self) -> None:
        s = self.state
        status = s.status_text()
        kind = "running" if s.running else s.answer.status
        text = f"<span class='wb-status wb-status-{kind}'>{html.escape(status)}</span>" if status else ""
        self._show_run_controls(text)

    # --- for tests and code ------------------------------------------------
    def variable_field(self, name: str) -> w.Text:
        """The text field of ``{name}`` (created on demand)."""
        return self.variables.field(name)
