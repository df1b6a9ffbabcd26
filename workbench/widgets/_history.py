"""The Playground's "History" panel: earlier runs from the run log; click one to load it back.

All work goes through :class:`~workbench.state.PlaygroundState`
(``history(scope)`` and ``load_run``); this view lists the runs and loads
the one clicked.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..state import PlaygroundState
from ..state.history import HISTORY_SCOPES, PastRun
from ._parts import guard, hidden


class HistoryPanel(w.VBox):
    """A scope picker (this prompt / this model / all runs) over the list of runs, newest first."""

    def __init__(self, state: PlaygroundState) -> None:
        self.state = state
        safe = guard(self._report)
        self.scope = w.ToggleButtons(options=[(label, key) for key, label in HISTORY_SCOPES.items()],
                                     value="prompt", style={"button_width": "auto"})
        self.scope.add_class("wb-history-scope")
        self.list = w.Select(options=[], rows=8, layout=w.Layout(width="auto"))
        self.list.add_class("wb-history")
        self.empty = w.HTML()
        self.empty.add_class("wb-hint")
        self._runs: dict[int, PastRun] = {}
        self._syncing = False
        self.scope.observe(safe(lambda _: self.refresh()), names="value")
        self.list.observe(safe(self._picked), names="value")
        super().__init__([self.scope, self.list, self.empty], layout=w.Layout(width="100%"))
        self.add_class("wb-history-panel")

    def _report(self, message: str) -> None:
        self.state.error = message

    def _picked(self, change: dict[str, Any]) -> None:
        run = self._runs.get(change["new"]) if change["new"] is not None else None
        if run is not None and not self._syncing:
            self.state.load_run(run)

    def refresh(self) -> None:
        """Reload the list from the run log (keeps the run that was clicked selected)."""
        runs = self.state.history(self.scope.value)
        self._runs = {r.call_id: r for r in runs}
        selected = self.list.value if self.list.value in self._runs else None
        self._syncing = True
        try:
            self.list.options = [(r.label(), r.call_id) for r in runs]
            self.list.value = selected
        finally:
            self._syncing = False
        hidden(self.list, not runs)
        where = "" if self.scope.value == "all" else f" of {HISTORY_SCOPES[self.scope.value]}"
        self.empty.value = "" if runs else f"No earlier runs{where} in the run log yet: press Run."
        hidden(self.empty, bool(runs))
