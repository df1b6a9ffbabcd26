"""``wb.TokenView(r)``: an answer's tokens coloured by probability, their alternatives, branches, temperature.

A thin view over :class:`~workbench.state.tokens.TokenViewState`. Each token is
a small button (colour: its probability on the cividis scale; tooltip: the
alternatives with percentages); clicking one shows its alternatives, with a
"branch" button for each where the provider can continue an answer, and the
temperature view for that position.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from .._lens import tokenize
from .._runner import Runner
from .._tokens import visible
from .._types import Response
from ..state.tokens import (
    TokenViewState,
    alternatives_text,
    legend_html,
    percent,
    prob_colour,
    text_colour,
    tokens_html,
)
from ._parts import MessageArea, StateWidget, guard, hidden, section, style_tag

__all__ = ["TokenView", "TokenPanel", "TokensToggle", "prompt_split_for"]


#: What the "Tokens" toggle asks of the next run.
TOKEN_SETTINGS = {"logprobs": True, "top_logprobs": 5}


def set_token_params(set_param: Any, on: bool) -> None:
    """Set (or unset) the token parameters through a state's ``set_param``; top_logprobs goes first when unset."""
    for name in (TOKEN_SETTINGS if on else reversed(list(TOKEN_SETTINGS))):
        set_param(name, TOKEN_SETTINGS[name] if on else None)


def prompt_split_for(model: str, messages: list[dict[str, str]], last: Response | None) -> Any:
    """How a prompt splits, for the "Prompt tokens" button: the local tokenizer, else the last call's usage."""
    text = "\n".join(m.get("content", "") for m in messages)
    if model.startswith("local:"):
        return tokenize(model, text)
    if last is not None and last.ok and last.model == model:
        return (f"<div class='wb-token-split'><b>{last.usage.prompt_tokens}</b> prompt tokens for {model} "
                "(from the last call's usage; the tokenizer is not available offline)</div>")
    return (f"<div class='wb-hint'>{model}'s tokenizer is not available offline: run once and the count comes from "
            "the call's usage.</div>")

_CSS = """
.wb-root .wb-token-strip { display: flex; flex-wrap: wrap; gap: 2px; align-items: center; }
.wb-root .wb-token-strip .wb-tok { width: auto; height: 24px; padding: 0 4px; margin: 0; min-width: 0;
  font-family: var(--jp-code-font-family, monospace); font-size: 13px; border-radius: 3px; line-height: 24px; }
.wb-root .wb-token-strip .wb-tok.wb-tok-selected { outline: 2px solid #d62728; outline-offset: 0; }
.wb-root .wb-token-strip .wb-token-break { flex-basis: 100%; height: 0; margin: 0; }
.wb-root .wb-branch-alts { flex-wrap: wrap; gap: 4px; }
.wb-root .wb-branch-alts .wb-branch-alt { width: auto; font-family: var(--jp-code-font-family, monospace); }
.wb-root .wb-branches { gap: 12px; flex-wrap: wrap; align-items: flex-start; }
.wb-root .wb-branches > .widget-html { flex: 1 1 300px; min-width: 240px; }
"""


class TokenPanel(w.VBox):
    """The token lens for one state: coloured tokens, alternatives and branch buttons, temperature, branches."""

    def __init__(self, state: TokenViewState, report: Any) -> None:
        self.state = state
        safe = guard(report)
        self._safe = safe
        s = state
        c = s.response.confidence
        self.header = w.HTML(
            f"<div style='font-size:12px;color:#555'>{len(s.tokens)} tokens · mean token probability "
            f"{percent(float(c or 0))} · lowest {percent(c.min if c else 0)}</div>" + legend_html())
        self.buttons: list[w.Button] = []
        strip: list[w.Widget] = []
        for i, token in enumerate(s.tokens):
            bg = prob_colour(token.prob)
            label = visible(token.text).replace("\n", "") or "∅"
            button = w.Button(description=label, tooltip=f"#{i} " + alternatives_text(token),
                              layout=w.Layout(width="auto"))
            button.style.button_color = bg
            button.style.text_color = text_colour(bg)
            button.add_class("wb-tok")
            button.add_class(f"wb-tok-{i}")
            button.on_click(safe(lambda _, i=i: s.select(i)))
            self.buttons.append(button)
            strip.append(button)
            if "\n" in token.text:
                strip.append(w.HTML("", layout=w.Layout(width="100%", height="0px")).add_class("wb-token-break"))
        self.strip = w.Box(strip)
        self.strip.add_class("wb-token-strip")
        self.detail = w.HTML()
        self.detail.add_class("wb-token-detail-view")
        self.alts = w.HBox()
        self.alts.add_class("wb-branch-alts")
        self.no_branch = w.HTML(
            f"<span class='wb-hint'>Branching is not available here: {s.branch_reason}</span>" if s.branch_reason
            else "")
        self.no_branch.add_class("wb-no-branch")
        hidden(self.no_branch, s.can_branch)
        self.temperature = w.FloatSlider(value=s.temperature, min=0.0, max=2.0, step=0.05, description="temperature",
                                         continuous_update=True, readout_format=".2f",
                                         style={"description_width": "initial"}, layout=w.Layout(width="380px"))
        self.temperature.add_class("wb-temp")
        self.temperature.observe(safe(lambda ch: s.set_temperature(ch["new"])), names="value")
        self.distribution = w.HTML()
        self.distribution.add_class("wb-temp-view")
        self.branches = w.HBox()
        self.branches.add_class("wb-branches")
        super().__init__([w.HTML(f"<style>{_CSS}</style>", layout=w.Layout(height="0px")), self.header, self.strip,
                          section("alternatives at the chosen token"), self.detail, self.alts, self.no_branch,
                          section("temperature at the chosen token",
                                  "softmax of the alternatives' log-probabilities divided by the temperature"),
                          self.temperature, self.distribution, section("branches"), self.branches])
        self.add_class("wb-token-panel")
        s.observe(self._on_state)
        self.refresh()

    def _on_state(self, name: str) -> None:
        if name == "selected":
            self._show_selected()
        elif name == "temperature":
            self._show_temperature()
        elif name in ("branches", "busy"):
            self._show_branches()

    def refresh(self) -> None:
        self._show_selected()
        self._show_branches()

    def _show_selected(self) -> None:
        s = self.state
        for i, button in enumerate(self.buttons):
            if i == s.selected:
                button.add_class("wb-tok-selected")
            else:
                button.remove_class("wb-tok-selected")
        self.detail.value = s.detail_html()
        alts = []
        if s.can_branch:
            for text, p in s.alternatives():
                if text == s.token.text:
                    continue
                b = w.Button(description=f"↳ {visible(text)}  {percent(p)}", layout=w.Layout(width="auto"),
                             tooltip=f"Continue the answer with {text!r} forced at #{s.selected}")
                b.add_class("wb-branch-alt")
                b.on_click(self._safe(lambda _, t=text: s.branch(t)))
                b.disabled = s.busy
                alts.append(b)
        self.alts.children = alts
        self._show_temperature()

    def _show_temperature(self) -> None:
        if abs(self.temperature.value - self.state.temperature) > 1e-9:
            self.temperature.value = self.state.temperature
        self.distribution.value = self.state.temperature_html()

    def _show_branches(self) -> None:
        s = self.state
        for b in self.alts.children:
            b.disabled = s.busy
        original = w.HTML("<div style='font-size:12px;color:#555'>original</div>" + tokens_html(s.tokens))
        columns = [original] + [w.HTML(s.branch_html(b)).add_class("wb-branch") for b in s.branches]
        if s.busy:
            columns.append(w.HTML("<span class='wb-hint'>generating the branch…</span>").add_class("wb-branch-busy"))
        self.branches.children = columns


class TokenView(StateWidget):
    """``wb.TokenView(r)``: the token lens on a response made with ``logprobs=True``.

    Raises :class:`~workbench._tokens.TokensError` (with the fix) when ``r`` has no tokens.
    The state (selection, temperature, branches) is :attr:`state`.
    """

    def __init__(self, response: Response, *, runner: Runner | None = None,
                 state: TokenViewState | None = None) -> None:
        self.state = state or TokenViewState(response, runner=runner)
        self.messages = MessageArea()
        self.panel = TokenPanel(self.state, self._report)
        title = w.HTML(f"<span class='wb-title'>Tokens</span> <span class='wb-title-sub'>"
                       f"{self.state.response.model}</span>")
        super().__init__([style_tag(), title, self.messages, self.panel])
        self.add_class("wb-root")
        self.add_class("wb-token-view-widget")
        self.state.observe(self._on_state)

    def _on_state(self, name: str) -> None:
        if name == "error":
            self.messages.set(self.state.error, None)


class TokensToggle(w.VBox):
    """The "Tokens" toggle under an answer (Playground, each Compare column).

    Ticking it asks the next run for ``logprobs=True, top_logprobs=5`` (through
    ``set_tokens``); once the answer has tokens, the token lens shows under it.
    ``prompt_split`` (optional) shows how the prompt splits into tokens, on demand.
    Kept in this module so the Playground and Compare need one line each.
    """

    def __init__(self, state: Any, get_response: Any, set_tokens: Any, *, is_on: bool = False,
                 prompt_split: Any = None, watch: Any = None) -> None:
        self._state = state
        self._get_response = get_response
        self._set_tokens = set_tokens
        self._shown: Response | None = None
        self._report = guard(self._say)
        self.toggle = w.ToggleButton(value=is_on, description="Tokens", icon="eye",
                                     tooltip="Show each answer token's probability and its alternatives "
                                             "(asks the next run for logprobs=True, top_logprobs=5)",
                                     layout=w.Layout(width="90px"))
        self.toggle.add_class("wb-tokens-toggle")
        self.toggle.observe(self._report(lambda ch: self._toggled(ch["new"])), names="value")
        self.note = w.HTML()
        self.note.add_class("wb-tokens-note")
        self.area = w.VBox()
        self.area.add_class("wb-tokens-area")
        controls: list[w.Widget] = [self.toggle]
        self.split_button: w.Button | None = None
        self.split = w.HTML()
        if prompt_split is not None:
            self._prompt_split = prompt_split
            self.split_button = w.Button(description="Prompt tokens", icon="cut", layout=w.Layout(width="130px"),
                                         tooltip="How the prompt splits into the model's tokens, with the count")
            self.split_button.add_class("wb-prompt-tokens")
            self.split_button.on_click(self._report(lambda _: self.show_split()))
            controls.append(self.split_button)
        bar = w.HBox([*controls, self.note], layout=w.Layout(align_items="center"))
        bar.add_class("wb-row")
        super().__init__([bar, self.split, self.area])
        self.add_class("wb-tokens-box")
        self._watch = watch or (lambda name: name in ("answer", "running"))
        state.observe(self._on_state)
        self.update()

    def _say(self, message: str) -> None:
        self.note.value = f"<span class='wb-error'>{message}</span>"

    def _toggled(self, on: bool) -> None:
        self._set_tokens(on)
        self.update()

    def _on_state(self, name: str) -> None:
        if self._watch(name):
            self.update()

    def update(self) -> None:
        """Show the token lens for the current answer (rebuilt only when the answer changes)."""
        on = self.toggle.value
        response = self._get_response()
        hidden(self.area, not on)
        if not on:
            self.note.value = ""
            return
        if response is None or not response.ok:
            self.note.value = "<span class='wb-hint'>Run to see each token's probability.</span>"
            return
        if not response.tokens:
            self.note.value = "<span class='wb-hint'>This answer has no token probabilities: run again.</span>"
            self.area.children = ()
            self._shown = None
            return
        self.note.value = ""
        if response is not self._shown:
            self._shown = response
            panel_state = TokenViewState(response)
            self.area.children = (TokenPanel(panel_state, self._say),)

    def show_split(self) -> None:
        split = self._prompt_split()
        self.split.value = split if isinstance(split, str) else split._repr_html_()
