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

from .._runner import Runner
from .._tokens import visible
from .._types import Response
from ..state.tokens import TokenViewState, alternatives_text, legend_html, percent, prob_colour, text_colour
from ._parts import MessageArea, StateWidget, guard, hidden, section, style_tag

__all__ = ["TokenView", "TokenPanel"]

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
                                         style={"description_width": "80px"}, layout=w.Layout(width="360px"))
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
        original = w.HTML("<div style='font-size:12px;color:#555'>original</div>" + s.answer_html())
        columns = [original] + [w.HTML(s.branch_html(b)) for b in s.branches]
        if s.busy:
            columns.append(w.HTML("<span class='wb-hint'>generating the branch…</span>"))
        for col in columns[1:]:
            col.add_class("wb-branch")
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
