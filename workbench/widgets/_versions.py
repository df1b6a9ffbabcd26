"""The Playground's "Versions" panel: save, list, diff and load prompt versions.

All work goes through :class:`~workbench.state.PlaygroundState`
(``save_version``, ``versions``, ``diff``, ``load_version``); this view only
lists what the run log holds and shows the diff's HTML.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..state import PlaygroundState, version_label
from ._parts import guard, hidden, section


def _row(*children: w.Widget) -> w.HBox:
    row = w.HBox(list(children), layout=w.Layout(align_items="center"))
    row.add_class("wb-row")
    return row


class VersionsPanel(w.VBox):
    """Name + Save; a list of versions with Load; two pickers and their diff."""

    def __init__(self, state: PlaygroundState) -> None:
        self.state = state
        safe = guard(self._report)
        self.name = w.Text(placeholder="version name, e.g. v2-shorter-system", layout=w.Layout(width="280px"))
        self.name.add_class("wb-version-name")
        self.save = w.Button(description="Save version", icon="save", layout=w.Layout(width="auto"))
        self.save.add_class("wb-save-version")
        self.save.tooltip = "Store the prompt, its parameters and model in the run log under this name."
        self.list = w.Select(options=[], rows=5, layout=w.Layout(width="auto"))
        self.list.add_class("wb-versions")
        self.load = w.Button(description="Load into editor", icon="upload",
                              layout=w.Layout(width="auto", align_self="flex-start"))
        self.load.add_class("wb-load-version")
        self.a = w.Dropdown(options=[], description="from", layout=w.Layout(width="50%"),
                            style={"description_width": "40px"})
        self.b = w.Dropdown(options=[], description="to", layout=w.Layout(width="50%"),
                            style={"description_width": "40px"})
        self.a.add_class("wb-diff-a")
        self.b.add_class("wb-diff-b")
        self.diff = w.HTML()
        self.diff.add_class("wb-diff-view")
        self.save.on_click(safe(lambda _: self._save()))
        self.load.on_click(safe(lambda _: self._load()))
        self.list.observe(safe(lambda _: self._selection()), names="value")
        self.a.observe(safe(lambda _: self._show_diff()), names="value")
        self.b.observe(safe(lambda _: self._show_diff()), names="value")
        super().__init__([
            _row(self.name, self.save),
            section("saved versions (newest first)"),
            self.list,
            self.load,
            section("diff: pick two versions"),
            w.HBox([self.a, self.b], layout=w.Layout(width="100%")),
            self.diff,
        ], layout=w.Layout(width="100%"))
        self.add_class("wb-versions-panel")
        self.refresh()

    def _report(self, message: str) -> None:
        self.state.error = message

    def _save(self) -> None:
        self.state.save_version(self.name.value)
        self.name.value = ""

    def _load(self) -> None:
        if self.list.value is not None:
            self.state.load_version(self.list.value)

    def _selection(self) -> None:
        self.load.disabled = self.list.value is None

    def _show_diff(self) -> None:
        if self.a.value is None or self.b.value is None:
            self.diff.value = ""
            hidden(self.diff)
            return
        hidden(self.diff, False)
        self.diff.value = self.state.diff(self.a.value, self.b.value).to_html()

    def refresh(self) -> None:
        """Reload the list from the run log.

        When the list changed (a version was saved), the diff shows the two
        newest versions, which is what one wants to see right after saving;
        otherwise the user's picks are kept.
        """
        versions = self.state.versions()
        options: list[tuple[str, Any]] = [(version_label(v), v.id) for v in versions]
        ids = [v.id for v in versions]
        changed = ids != getattr(self, "_ids", None)
        self._ids = ids
        selected = self.list.value if self.list.value in ids else None
        a, b = self.a.value, self.b.value
        if changed:
            a, b = (ids[1] if len(ids) > 1 else None), (ids[0] if ids else None)
        self.list.options = options
        self.list.value = selected
        self.a.options = options
        self.b.options = options
        self.a.value = a if a in ids else None
        self.b.value = b if b in ids else None
        self._selection()
        self._show_diff()
