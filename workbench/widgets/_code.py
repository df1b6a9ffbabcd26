"""The Playground's "Code" panel: the prompt as ``wb.complete(...)`` Python and as the raw request.

Both come from :class:`~workbench.state.PlaygroundState` (``code()`` and
``raw_request()``); this view only shows them as selectable text, and says
what is missing (a variable's value) when they cannot be made yet.
"""

from __future__ import annotations

import html

import ipywidgets as w

from ..state import PlaygroundState, friendly_error
from ._parts import section


def _pre(text: str, css: str) -> str:
    return f"<pre class='wb-code-text {css}'>{html.escape(text)}</pre>"


class CodePanel(w.VBox):
    """Python that makes the same call, and what the provider receives (never the key)."""

    def __init__(self, state: PlaygroundState) -> None:
        self.state = state
        self.python = w.HTML(layout=w.Layout(width="100%"))
        self.python.add_class("wb-code-python")
        self.request = w.HTML(layout=w.Layout(width="100%"))
        self.request.add_class("wb-code-request")
        super().__init__([
            section("python: the same call (select, then copy)"), self.python,
            section("raw request: what the provider receives (the key is never shown)"), self.request,
        ], layout=w.Layout(width="100%"))
        self.add_class("wb-code-panel")

    def refresh(self) -> None:
        """Make both texts from the state as it is now."""
        try:
            self.python.value = _pre(self.state.code(), "wb-code-py")
        except Exception as exc:  # noqa: BLE001 - shown in place of the code
            self.python.value = f"<div class='wb-hint'>{html.escape(friendly_error(exc))}</div>"
        try:
            self.request.value = _pre(self.state.raw_request().text, "wb-code-json")
        except Exception as exc:  # noqa: BLE001 - e.g. a variable without a value yet
            self.request.value = f"<div class='wb-hint'>{html.escape(friendly_error(exc))}</div>"
