"""Keyboard shortcuts for the widgets: Ctrl/Cmd+Enter runs, Esc stops.

ipywidgets sends no key events from a ``Textarea``, so each widget carries
one invisible :class:`KeyShortcuts` (an ``anywidget``: a few lines of
JavaScript, loaded by JupyterLab and Voila alike from the ``anywidget``
extension, with no build step of our own). Its view listens for keys on the
window, in the capture phase, and reacts only to keys pressed inside the
widget it belongs to (the nearest ``.wb-root`` around it); there it stops the
key from reaching JupyterLab, so Ctrl+Enter does not also run the notebook
cell and Esc does not leave the cell.

A key message can overtake the field's own value: ipywidgets holds a widget's
next value back until the kernel acknowledged the previous one, while a custom
message goes out at once. So the message carries the text of the field the key
was pressed in, and where to find that field (its ``wb-`` classes and its rank
among the fields with those classes); the kernel side sets that value before
it runs, exactly as if the browser's own update had already arrived.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anywidget
import ipywidgets as w
import traitlets

__all__ = ["KeyShortcuts", "find_field", "RUN_KEYS", "STOP_KEYS"]

#: How the shortcuts are named in tooltips.
RUN_KEYS = "Ctrl+Enter (⌘+Enter on a Mac)"
STOP_KEYS = "Esc"

_ESM = r"""
function fieldOf(target, root) {
  const field = target.closest ? target.closest(".widget-textarea, .widget-text") : null;
  if (!field || !root.contains(field) || !("value" in target) || target.type === "password") return null;
  const classes = [...field.classList].filter((c) => c.startsWith("wb-"));
  if (!classes.length) return null;
  const kind = field.classList.contains("widget-textarea") ? ".widget-textarea" : ".widget-text";
  const same = [...root.querySelectorAll(kind + "." + classes.join("."))];
  return { classes, rank: same.indexOf(field), value: target.value };
}

function render({ model, el }) {
  el.classList.add("wb-keys");
  const onKey = (event) => {
    if (event.isComposing || event.repeat) return;
    const run = event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.altKey;
    const stop = event.key === "Escape";
    if (!run && !stop) return;
    const root = el.closest(".wb-root");
    if (!root || !(event.target instanceof Node) || !root.contains(event.target)) return;
    event.preventDefault();
    event.stopPropagation();  // JupyterLab must not also run the cell, or leave it on Esc
    model.send({ action: run ? "run" : "stop", field: fieldOf(event.target, root) });
  };
  window.addEventListener("keydown", onKey, true);
  return () => window.removeEventListener("keydown", onKey, true);
}
export default { render };
"""


class KeyShortcuts(anywidget.AnyWidget):
    """Invisible; calls ``on_key(action, field)`` for Ctrl/Cmd+Enter (``"run"``) and Esc (``"stop"``).

    ``field`` is ``None`` or ``{"classes": [...], "rank": int, "value": str}``:
    the text field the key was pressed in (see the module doc).
    """

    _esm = _ESM
    #: How many keys were handled (tests read it; nothing else does).
    handled = traitlets.Int(0)

    def __init__(self, on_key: Callable[[str, dict[str, Any] | None], Any]) -> None:
        super().__init__(layout=w.Layout(display="none"))
        self._on_key = on_key
        self.on_msg(self._received)

    def _received(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("action") not in ("run", "stop"):
            return
        field = content.get("field")
        self.handled += 1
        self._on_key(content["action"], field if isinstance(field, dict) else None)


def _walk(widget: Any) -> Iterator[Any]:
    """``widget`` and everything inside it, in the order the page lays them out."""
    yield widget
    for child in getattr(widget, "children", ()) or ():
        yield from _walk(child)


def find_field(root: w.Widget, classes: list[str], rank: int) -> w.Widget | None:
    """The text field under ``root`` with all of ``classes``, the ``rank``-th of them in page order."""
    wanted = set(classes)
    same = [x for x in _walk(root) if isinstance(x, (w.Textarea, w.Text)) and not isinstance(x, w.Password)
            and wanted <= set(x._dom_classes)]
    return same[rank] if 0 <= rank < len(same) else None
