"""Building blocks shared by the Playground, Compare and Sweep views.

Each part is a small ipywidgets container that shows a piece of a state
object from :mod:`workbench.state` and reports edits through a callback;
none of them holds logic of its own. Parts that the portal thread updates
while an answer streams (:class:`AnswerView`) only set widget *values*,
which ipykernel sends safely from any thread.
"""

from __future__ import annotations

import contextlib
import functools
import html
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from .._keys import redact
from ..providers import models
from ..state import Answer, ParamSpec, Throttle, friendly_error, param_specs
from ._keyboard import RUN_KEYS, STOP_KEYS, KeyShortcuts, find_field
from ._style import CSS, FALLBACK_CSS

__all__ = [
    "guard", "style_tag", "section", "hidden", "show", "close_tree", "AnswerView", "ParamControls", "VariableFields",
    "KeyPrompt", "MessageArea", "ModelPicker", "StateWidget",
]


def guard(report: Callable[[str], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a callback so any failure is reported as one message, never a traceback.

    ipywidgets would otherwise send a callback's exception to the browser's
    log console, where a learner never looks.
    """
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - shown in the widget
                report(friendly_error(exc))
                return None
        return wrapper
    return decorate


def style_tag() -> w.HTML:
    """The stylesheet, as an invisible HTML widget (scoped by the ``wb-*`` classes)."""
    tag = w.HTML(f"<style>{CSS}</style>", layout=w.Layout(height="0px", margin="0", overflow="hidden"))
    tag.add_class("wb-style")
    return tag


def section(title: str, tooltip: str | None = None) -> w.HTML:
    """A small uppercase heading."""
    label = w.HTML(f"<div class='wb-section-label'>{html.escape(title)}</div>")
    label.add_class("wb-section")
    if tooltip:
        label.tooltip = tooltip
    return label


def hidden(widget: w.Widget, flag: bool = True) -> None:
    widget.layout.display = "none" if flag else None


def show(widget: w.Widget, flag: bool = True) -> None:
    hidden(widget, not flag)


def close_tree(widget: w.Widget, keep: Sequence[w.Widget] = ()) -> None:
    """Close a widget, its children, and their layout and style models, except the subtrees in ``keep``.

    ``Widget.close`` closes one model: the children, layouts and styles of a
    view that is dropped would otherwise stay open in the kernel and in the
    browser for the rest of the session. ``keep``: parts that live on
    elsewhere (a container is dropped, some of its children are reused).
    """
    if any(widget is k for k in keep):
        return
    for child in getattr(widget, "children", ()):
        close_tree(child, keep)
    for part in ("layout", "style"):
        model = getattr(widget, part, None)
        if isinstance(model, w.Widget):
            model.close()
    widget.close()


def _classes(widget: w.DOMWidget, *names: str) -> w.DOMWidget:
    for name in names:
        widget.add_class(name)
    return widget


# --------------------------------------------------------------------------- #
# Messages
# --------------------------------------------------------------------------- #


class MessageArea(w.VBox):
    """One readable error (red) and one short info line (green) under the controls."""

    def __init__(self) -> None:
        self.error = _classes(w.HTML(), "wb-error")
        self.info = _classes(w.HTML(), "wb-info")
        super().__init__([self.error, self.info])
        self.add_class("wb-messages")
        self.set(None, None)

    def set(self, error: str | None, info: str | None) -> None:
        self.error.value = f"<div>{html.escape(redact(error))}</div>" if error else ""
        self.info.value = f"<div>{html.escape(redact(info))}</div>" if info else ""
        hidden(self.error, not error)
        hidden(self.info, not info or bool(error))


# --------------------------------------------------------------------------- #
# Model and key
# --------------------------------------------------------------------------- #


class ModelPicker(w.Dropdown):
    """The models of ``wb.models()``; hosted ones whose key is missing say so."""

    def __init__(self, value: str, **kwargs: Any) -> None:
        super().__init__(options=self._options(value), value=value, **kwargs)
        self.add_class("wb-model")
        self.tooltip = "Models from wb.models(): the offline local model and every configured provider."

    @staticmethod
    def _options(current: str) -> list[tuple[str, str]]:
        options = []
        for info in models():
            label = info.name if info.key_present else f"{info.name}  (needs {info.key_env})"
            options.append((label, info.name))
        if current not in [v for _, v in options]:
            options.insert(0, (current, current))
        return options

    options: Any  # traits of w.Dropdown (ipywidgets ships no types)
    value: Any
    syncing = False  # True while refresh() rebuilds the menu: the value changes seen then are not the user's

    def refresh(self, current: str) -> None:
        """Rebuild the labels (a key was just set) and select ``current``."""
        self.syncing = True
        try:
            options = self._options(current)
            if list(self.options) != options:
                self.options = options
            if self.value != current:
                self.value = current
        finally:
            self.syncing = False

    def on_pick(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(model)`` when the user picks a model (not while :meth:`refresh` runs)."""
        self.observe(lambda c: None if self.syncing or c["new"] is None else callback(c["new"]), names="value")


class KeyPrompt(w.HBox):
    """A password field shown when the chosen provider has no key.

    The value is handed to ``on_key`` and the field cleared in the same
    callback, so the key never stays in the widget's state (or in a saved
    notebook) and is never shown back.
    """

    def __init__(self, on_key: Callable[[str], Any]) -> None:
        self._on_key = on_key
        self.label = w.HTML()
        self.password = w.Password(placeholder="paste the key here", continuous_update=False,
                                   layout=w.Layout(width="260px"))
        self.password.add_class("wb-key-input")
        self.button = w.Button(description="Use key", icon="key", layout=w.Layout(width="auto"))
        self.button.add_class("wb-key-button")
        super().__init__([self.label, self.password, self.button])
        self.add_class("wb-key")
        self.password.observe(self._submitted, names="value")
        self.button.on_click(lambda _: self._submit(self.password.value))
        self.env_var: str | None = None
        self.show_for(None)

    def show_for(self, env_var: str | None) -> None:
        self.env_var = env_var
        if env_var:
            self.label.value = (f"<span class='wb-key-label'>No key for this model: <code>{html.escape(env_var)}"
                                "</code> is not set. Paste one for this session (it is not saved):</span>")
        show(self, bool(env_var))

    def _submitted(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self._submit(change["new"])

    def _submit(self, value: str) -> None:
        self.password.value = ""  # first: the key must not linger in widget state
        if value:
            self._on_key(value)


# --------------------------------------------------------------------------- #
# Variables
# --------------------------------------------------------------------------- #


class VariableFields(w.VBox):
    """One text field per ``{variable}`` of the prompt, appearing and disappearing as it is typed.

    Fields are cached by name, so a variable deleted and typed again gets its
    value back.
    """

    children: Any  # a trait of w.VBox (ipywidgets ships no types)

    def __init__(self, on_change: Callable[[str, str], Any]) -> None:
        self._on_change = on_change
        self._fields: dict[str, w.Text] = {}
        self._syncing = False
        self.empty = w.HTML("<span class='wb-hint'>Type <code>{name}</code> in a prompt to add a variable.</span>")
        super().__init__([self.empty])
        self.add_class("wb-variables")

    def field(self, name: str) -> w.Text:
        if name not in self._fields:
            text = w.Text(description=name, placeholder=f"value of {{{name}}}", continuous_update=True,
                          layout=w.Layout(width="auto"), style={"description_width": "initial"})
            text.add_class("wb-var")
            text.add_class(f"wb-var-{name}")
            text.tooltip = f"Replaces {{{name}}} in the prompt."
            text.observe(lambda change, n=name: self._changed(n, change["new"]), names="value")
            self._fields[name] = text
        return self._fields[name]

    def _changed(self, name: str, value: str) -> None:
        if not self._syncing:
            self._on_change(name, value)

    def show_fields(self, names: Sequence[str], values: dict[str, str]) -> None:
        self._syncing = True
        try:
            fields = [self.field(n) for n in names]
            for name, text in zip(names, fields, strict=True):
                value = str(values.get(name, "") or "")
                if text.value != value:
                    text.value = value
            children = tuple(fields) if fields else (self.empty,)
            if tuple(self.children) != children:
                self.children = children
        finally:
            self._syncing = False


# --------------------------------------------------------------------------- #
# Parameters
# --------------------------------------------------------------------------- #


def _escape_stop(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def _unescape_stop(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append({"n": "\n", "t": "\t", "\\": "\\"}.get(s[i + 1], s[i:i + 2]))
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


class ParamControls(w.GridBox):
    """Controls for the generation parameters, built from ``Params.model_json_schema()``.

    Each optional parameter has a checkbox: unticked means "the provider's
    default", and the control then shows that default, dimmed, where the
    provider says what it is (:meth:`~workbench.state.RunningState.param_defaults`);
    moving the control ticks it. The parameter's name carries its description
    as a tooltip (a ``title`` on the visible name). Numbers are typed into an
    unbounded box next to the slider, so a value out of range reaches the
    state, which brings it within the bounds and says so in a note beside the
    control (``wb-param-note-<name>``).
    """

    def __init__(self, values: dict[str, Any], on_change: Callable[[str, Any], Any],
                 names: Sequence[str] | None = None, defaults: dict[str, Any] | None = None) -> None:
        self._on_change = on_change
        self._syncing = False
        self.specs = {s.name: s for s in param_specs() if names is None or s.name in names}
        self.toggles: dict[str, w.Checkbox] = {}
        self.controls: dict[str, w.DOMWidget] = {}
        self.sliders: dict[str, w.DOMWidget] = {}
        self.notes: dict[str, w.HTML] = {}
        self.hints: dict[str, w.HTML] = {}  # "provider default" where an unset value is not one known number
        cells: list[w.Widget] = []
        for spec in self.specs.values():
            toggle, control = self._make(spec)
            cells += [toggle, control]
        super().__init__(cells, layout=w.Layout(grid_template_columns="minmax(130px, max-content) 1fr",
                                                grid_gap="2px 8px", align_items="center", width="100%"))
        self.add_class("wb-params")
        self.set_values(values, defaults)

    def _make(self, spec: ParamSpec) -> tuple[w.Widget, w.DOMWidget]:
        bounds = f" Range {spec.low:g} to {spec.high:g}." if spec.low is not None and spec.high is not None else ""
        tip = spec.description + bounds + (" Untick for the provider's default." if spec.optional else "")
        name = w.HTML(f"<span class='wb-param-name' title=\"{html.escape(tip, quote=True)}\">"
                      f"{html.escape(spec.name)}</span>")
        name.add_class(f"wb-param-name-{spec.name}")
        if spec.optional:
            box = w.Checkbox(value=False, description="", indent=False, layout=w.Layout(width="20px"))
            box.tooltip = tip
            box.add_class(f"wb-set-{spec.name}")
            box.observe(lambda c, s=spec: self._toggled(s, c["new"]), names="value")
            self.toggles[spec.name] = box
            toggle: w.Widget = w.HBox([box, name], layout=w.Layout(align_items="center", width="auto"))
        else:
            toggle = name
        toggle.add_class("wb-param-label")
        number = {"layout": w.Layout(width="80px")}
        parts: list[w.Widget] = []
        if spec.kind in ("float", "count"):
            kind_slider = w.FloatSlider if spec.kind == "float" else w.IntSlider
            slider = kind_slider(value=spec.shown, min=spec.low, max=spec.high, step=spec.step, readout=False,
                                 continuous_update=False, layout=w.Layout(width="auto", flex="1 1 auto"))
            slider.tooltip = tip
            slider.observe(lambda c, s=spec: self._moved(s, c["new"]), names="value")
            self.sliders[spec.name] = slider
            kind_text = w.FloatText if spec.kind == "float" else w.IntText
            control: w.DOMWidget = kind_text(value=spec.shown, step=spec.step, **number)
            control.add_class("wb-param-number")
            parts = [slider, control]
        elif spec.kind == "choice":
            control = w.Dropdown(options=list(spec.options), value=spec.shown, layout=w.Layout(width="auto"))
            control.add_class("wb-param-choice")
            parts = [control]
        elif spec.kind == "int":
            control = w.IntText(value=spec.shown, step=1, layout=w.Layout(width="auto", flex="1 1 auto"))
            control.add_class("wb-param-number")
            parts = [control]
        else:
            control = w.TagsInput(value=[], allow_duplicates=False, placeholder="type, then Enter (\\n = newline)",
                                  layout=w.Layout(width="auto", min_width="120px"))
            parts = [control]
        control.tooltip = tip
        control.observe(lambda c, s=spec: self._moved(s, c["new"]), names="value")
        self.controls[spec.name] = control
        note = w.HTML(layout=w.Layout(width="auto"))
        note.add_class("wb-param-note")
        note.add_class(f"wb-param-note-{spec.name}")
        hidden(note)
        self.notes[spec.name] = note
        hint = w.HTML(layout=w.Layout(width="auto"))
        hint.add_class("wb-param-default")
        hint.add_class(f"wb-param-default-{spec.name}")
        hidden(hint)
        self.hints[spec.name] = hint
        row = w.HBox([*parts, hint], layout=w.Layout(width="100%", align_items="center"))
        cell = w.VBox([row, note], layout=w.Layout(width="auto", min_width="120px"))
        cell.add_class("wb-param")
        cell.add_class(f"wb-param-{spec.name}")
        return toggle, cell

    def _value_of(self, spec: ParamSpec, raw: Any) -> Any:
        if spec.kind == "strings":
            return [_unescape_stop(s) for s in raw] or None
        return raw

    def _moved(self, spec: ParamSpec, raw: Any) -> None:
        if self._syncing:
            return
        value = self._value_of(spec, raw)
        toggle = self.toggles.get(spec.name)
        self._syncing = True
        try:
            if toggle is not None and spec.kind != "strings":
                toggle.value = True
            self._show_number(spec.name, value)
        finally:
            self._syncing = False
        self._dim(spec.name, toggle is not None and not toggle.value)
        self._on_change(spec.name, value)

    def _show_number(self, name: str, value: Any) -> None:
        """Show ``value`` in the number box and, where it is within range, on the slider."""
        spec = self.specs[name]
        if spec.kind == "strings" or value is None:
            return
        if self.controls[name].value != value:
            self.controls[name].value = value
        slider = self.sliders.get(name)
        if slider is not None and spec.low is not None and spec.high is not None and spec.low <= value <= spec.high \
                and slider.value != value:
            slider.value = value

    def _show_hint(self, name: str, text: str | None) -> None:
        """Show ``text`` in place of the number (the value is not one known figure), or the number again."""
        hint = self.hints[name]
        hint.value = f"<span class='wb-param-default-text'>{html.escape(text)}</span>" if text else ""
        hidden(hint, not text)
        for widget in (self.controls[name], self.sliders.get(name)):
            if widget is not None:
                hidden(widget, bool(text))

    def _toggled(self, spec: ParamSpec, on: bool) -> None:
        if self._syncing:
            return
        if on:
            self._show_hint(spec.name, None)  # set: the control itself, at the value it holds
        self._dim(spec.name, not on)
        self._on_change(spec.name, self._value_of(spec, self.controls[spec.name].value) if on else None)

    def _dim(self, name: str, flag: bool) -> None:
        for widget in (self.controls[name], self.sliders.get(name)):
            if widget is None:
                continue
            if flag:
                widget.add_class("wb-unset")
            else:
                widget.remove_class("wb-unset")

    def set_values(self, values: dict[str, Any], defaults: dict[str, Any] | None = None,
                   notes: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> None:
        """Show ``values`` (only the parameters that are set); unset ones show ``defaults`` where given.

        ``notes`` (a parameter's typed value was out of range) show beside their control. An unset
        parameter named in ``labels`` shows that text (say, "provider default") instead of a number.
        """
        defaults = defaults or {}
        notes = notes or {}
        labels = labels or {}
        self._syncing = True
        try:
            for name, spec in self.specs.items():
                value = values.get(name)
                control = self.controls[name]
                if spec.kind == "strings":
                    shown = [_escape_stop(s) for s in (value or [])]
                    if list(control.value) != shown:
                        control.value = shown
                elif value is not None:
                    self._show_number(name, value)
                else:
                    unset = defaults.get(name, spec.default if spec.default is not None else spec.shown)
                    if unset is not None:
                        self._show_number(name, unset)
                toggle = self.toggles.get(name)
                if toggle is not None:
                    toggle.value = value is not None and value != []
                    self._dim(name, spec.kind != "strings" and not toggle.value)
                self._show_hint(name, labels.get(name) if value is None and name not in defaults else None)
                note = self.notes[name]
                note.value = (f"<span class='wb-param-note-text'>{html.escape(notes[name])}</span>"
                              if name in notes else "")
                hidden(note, name not in notes)
        finally:
            self._syncing = False


# --------------------------------------------------------------------------- #
# Answers
# --------------------------------------------------------------------------- #

_STATUS_TEXT = {"idle": "", "running": "streaming…", "done": "", "error": "failed", "stopped": "stopped"}


class AnswerView(w.VBox):
    """One answer: streamed text (samples side by side), its error, its figures and its rating.

    :meth:`bind` gives it the answer to show; :meth:`update` redraws (the
    owner calls it through a :class:`Throttle` while tokens stream).
    ``on_rate(rating, note)`` is called by the thumbs and the note field.
    """

    def __init__(self, on_rate: Callable[[int | None, str | None], Any], *, compact: bool = False,
                 placeholder: str = "The answer appears here.", show_label: bool = True) -> None:
        self._on_rate = on_rate
        self.show_label = show_label
        self.answer: Answer | None = None
        self.placeholder = placeholder
        self.header = _classes(w.HTML(), "wb-answer-header")
        self.samples = w.GridBox([], layout=w.Layout(grid_template_columns="repeat(auto-fit, minmax(200px, 1fr))",
                                                     grid_gap="6px", width="100%"))
        self.samples.add_class("wb-samples")
        self.error = _classes(w.HTML(), "wb-error", "wb-answer-error")
        self.figures = _classes(w.HTML(), "wb-figures")
        self.up = w.Button(icon="thumbs-up", tooltip="Good answer (+1, stored in the run log)",
                           layout=w.Layout(width="36px"))
        self.down = w.Button(icon="thumbs-down", tooltip="Bad answer (-1, stored in the run log)",
                             layout=w.Layout(width="36px"))
        self.up.add_class("wb-thumb-up")
        self.down.add_class("wb-thumb-down")
        self.note = w.Text(placeholder="note on this answer (Enter to save)", continuous_update=False,
                           layout=w.Layout(width="auto", min_width="80px", flex="1 1 auto"))
        self.note.add_class("wb-note")
        self.rating = w.HBox([self.up, self.down, self.note], layout=w.Layout(align_items="center", width="100%"))
        self.rating.add_class("wb-rating")
        self.up.on_click(lambda _: self._rate(1))
        self.down.on_click(lambda _: self._rate(-1))
        self.note.observe(self._noted, names="value")
        self._sample_widgets: list[w.HTML] = []
        self._syncing = False
        self.throttle = Throttle(self.update)
        super().__init__([self.header, self.samples, self.error, self.figures, self.rating],
                         layout=w.Layout(width="100%"))
        self.add_class("wb-answer-view")
        if compact:
            self.add_class("wb-compact")
        self.update()

    def bind(self, answer: Answer) -> None:
        self.answer = answer
        self.update()

    def changed(self) -> None:
        """Called on every change of the answer: throttled while streaming, immediate otherwise."""
        if self.answer is not None and self.answer.running:
            self.throttle.poke()
        else:
            self.throttle.final()

    def _rate(self, value: int) -> None:
        if self.answer is None:
            return
        new = None if self.answer.rating == value else value  # a second click takes it back
        self._on_rate(new, self.note.value)

    def _noted(self, change: dict[str, Any]) -> None:
        if self._syncing or self.answer is None or self.answer.call_id is None:
            return
        self._on_rate(self.answer.rating, change["new"])

    def _sample_widget(self, i: int) -> w.HTML:
        while len(self._sample_widgets) <= i:
            box = w.HTML(layout=w.Layout(width="auto"))
            box.add_class("wb-answer")
            box.add_class(f"wb-sample-{len(self._sample_widgets)}")
            self._sample_widgets.append(box)
        return self._sample_widgets[i]

    def update(self) -> None:
        a = self.answer
        texts = a.texts if a is not None else [""]
        running = a is not None and a.running
        boxes = [self._sample_widget(i) for i in range(len(texts))]
        for i, (box, text) in enumerate(zip(boxes, texts, strict=True)):
            box.value = _answer_html(text, i if len(texts) > 1 else None, running,
                                     self.placeholder if a is None or a.status == "idle" else "")
        if tuple(self.samples.children) != tuple(boxes):
            self.samples.children = tuple(boxes)
        # a call that failed before any text came: its error alone, no empty box; nor for an answer that
        # is only tool calls (their cards say what it did)
        only_calls = a is not None and a.status == "done" and a.response is not None and bool(a.response.tool_calls)
        hidden(self.samples, a is not None and a.status in ("error", "done") and not any(texts)
               and (a.status == "error" or only_calls))
        self.header.value = _header_html(a, self.show_label)
        hidden(self.header, not self.header.value)
        self.error.value = f"<div>{html.escape(a.error)}</div>" if a is not None and a.error else ""
        hidden(self.error, not self.error.value)
        self.figures.value = html.escape(a.figures()) if a is not None else ""
        hidden(self.figures, not self.figures.value)
        rateable = a is not None and a.call_id is not None and a.status == "done"
        hidden(self.rating, not rateable)
        if a is not None:
            self.up.button_style = "success" if a.rating == 1 else ""
            self.down.button_style = "danger" if a.rating == -1 else ""
            self._syncing = True
            try:
                if self.note.value != a.note:
                    self.note.value = a.note
            finally:
                self._syncing = False


def _answer_html(text: str, sample: int | None, running: bool, placeholder: str) -> str:
    head = f"<div class='wb-sample-label'>sample {sample + 1}</div>" if sample is not None else ""
    if not text and placeholder:
        body = f"<span class='wb-placeholder'>{html.escape(placeholder)}</span>"
    else:
        body = html.escape(redact(text))
    cursor = "<span class='wb-cursor'></span>" if running else ""
    return f"<div class='wb-answer-text'>{head}{body}{cursor}</div>"


def _header_html(a: Answer | None, show_label: bool = True) -> str:
    if a is None or ((not a.label or not show_label) and a.status in ("idle", "done")):
        return ""
    parts = []
    if a.label and show_label:
        parts.append(f"<b>{html.escape(a.label)}</b>")
    status = html.escape(a.loading) if a.running and a.loading else _STATUS_TEXT.get(a.status, "")
    if status:
        kind = "loading" if a.running and a.loading else a.status
        parts.append(f"<span class='wb-status wb-status-{kind}'>{status}</span>")
    return " ".join(parts)


# --------------------------------------------------------------------------- #
# The widget base
# --------------------------------------------------------------------------- #


class StateWidget(w.VBox):
    """A VBox over a state object, with a static HTML/text fallback for saved notebooks.

    JupyterLab and Voila render the live widget; GitHub and nbviewer, which
    have no kernel and usually no widget state, show the ``text/html`` part
    of the same output: the prompt, its variables and any answer, with every
    known key redacted (no key is ever part of the state in the first place).
    """

    state: Any

    def __init__(self, children: Sequence[w.Widget], **kwargs: Any) -> None:
        """The widget's parts, plus its keyboard shortcuts (Ctrl/Cmd+Enter runs, Esc stops)."""
        self.shortcuts = KeyShortcuts(guard(self._report)(self._on_key))
        super().__init__([*children, self.shortcuts], **kwargs)

    def _on_key(self, action: str, field: dict[str, Any] | None) -> None:
        """A shortcut was pressed inside this widget: take the field's text as typed, then run or stop."""
        if action == "stop":
            self.state.stop()
            return
        if field is not None and isinstance(field.get("value"), str):
            target = find_field(self, list(field.get("classes") or []), int(field.get("rank", -1)))
            if target is not None and target.value != field["value"]:
                target.value = field["value"]  # what the browser's own update will say once it arrives
        self.state.start()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        try:
            bundle["text/plain"] = self.state.summary_text()
            bundle["text/html"] = self.state.summary_html()
        except Exception:  # noqa: BLE001 - the live widget matters more than its fallback
            pass
        return bundle

    def _ipython_display_(self, **kwargs: Any) -> None:
        """Show the widget, and beside it an HTML summary that follows the state.

        JupyterLab renders the widget view whenever an output carries one, so
        the ``text/html`` inside the widget's own bundle is never seen there:
        a notebook saved without widget state (JupyterLab's default) reopens
        as "model not found". The summary is therefore a separate output with
        a display id, updated as the state changes (at most every 0.3 s, and
        when a run ends), so the saved file holds the latest prompt and
        answer. Its stylesheet hides it while the live widget is shown in the
        same output area, and hides the widget's error once the model is gone.
        """
        from IPython.display import HTML, display

        bundle = self._repr_mimebundle_(**kwargs)
        if bundle is None:
            return
        bundle.pop("text/html", None)  # the summary below is the one readable form (not two on nbviewer)
        display(bundle, raw=True)
        handle = display(HTML(self._fallback_html()), display_id=True)
        if handle is None:
            return
        if not hasattr(self, "_fallbacks"):
            self._fallbacks: list[Any] = []
            self._fallback_throttle = Throttle(self._update_fallbacks, interval=0.3)
            self.state.observe(self._fallback_changed)
        self._fallbacks.append(handle)

    def _fallback_html(self) -> str:
        try:
            body = self.state.summary_html()
        except Exception:  # noqa: BLE001 - the summary must never break the widget
            body = ""
        return f"<style>{FALLBACK_CSS}</style><div class='wb-fallback'>{body}</div>"

    def _fallback_changed(self, name: str) -> None:
        if name == "answer" and getattr(self.state, "running", False):
            return  # streaming: the summary follows once the run ends
        if name == "running":
            self._fallback_throttle.final()
        else:
            self._fallback_throttle.poke()

    def _update_fallbacks(self) -> None:
        from IPython.display import HTML

        html_text = self._fallback_html()
        if html_text == getattr(self, "_fallback_shown", None):
            return
        self._fallback_shown = html_text
        for handle in self._fallbacks:
            with contextlib.suppress(Exception):  # a closed kernel channel must not break the widget
                handle.update(HTML(html_text))

    def _run_controls(self, label: str, width: str, tooltip: str | None, safe: Callable[..., Any]) -> None:
        """The Run and Stop buttons and the run status every widget's top bar shows, bound to its state."""
        tooltip = f"{tooltip} · {RUN_KEYS}" if tooltip else RUN_KEYS
        self.run_button = w.Button(description=label, icon="play", button_style="primary",
                                   layout=w.Layout(width=width), tooltip=tooltip)
        self.run_button.add_class("wb-run")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True, layout=w.Layout(width="90px"),
                                    tooltip=f"Stop the run; partial answers are logged as stopped calls · {STOP_KEYS}")
        self.stop_button.add_class("wb-stop")
        self.status = w.HTML()
        self.status.add_class("wb-run-status")
        self.run_button.on_click(safe(lambda _: self.state.start()))
        self.stop_button.on_click(safe(lambda _: self.state.stop()))

    def _show_run_controls(self, status_html: str) -> None:
        running = self.state.running
        self.run_button.disabled = running
        self.stop_button.disabled = not running
        self.status.value = status_html

    def _show_params(self) -> None:
        """The parameter form from the state: set values, the provider's defaults, notes on clamped values."""
        s = self.state
        self.params.set_values(s.params, s.param_defaults(), s.param_notes, s.param_default_labels())

    def _report(self, message: str) -> None:
        self.state.error = message
