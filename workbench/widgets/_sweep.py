"""``wb.Sweep``: one prompt, one parameter over several values, repeats, and a plot."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as w

from .._htmlparts import messages_html
from .._log import RunLog
from .._prompt import Prompt
from .._runner import Runner
from ..state import SWEEPABLE, SweepState, Throttle, cards
from ._parts import (
    AnswerView,
    KeyPrompt,
    MessageArea,
    ModelPicker,
    ParamControls,
    StateWidget,
    VariableFields,
    close_tree,
    guard,
    hidden,
    section,
    style_tag,
)
from ._playground import textarea

__all__ = ["Sweep"]


def _format_values(values: Sequence[float | int]) -> str:
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


class Sweep(StateWidget):
    """Run one prompt at several values of one parameter, with repeats, and plot a measure.

    ``wb.Sweep(prompt, "local:smollm2", parameter="temperature", values=[0, 0.5, 1, 1.5],
    repeats=3, max_tokens=64, scorers=[wb.scorers.word_count(max=20)])``. The
    measure is the answer's length by default, its word count, or any scorer
    (``scorer(output, case)`` returning a number or a Score; ``case`` holds the
    variables and ``expected``). Answers are grouped by value; the plot
    shows every answer as a dot and the mean as a line. :attr:`state` is a
    :class:`~workbench.state.SweepState` (``state.to_frame()``, ``state.figure()``).

    ``tools=``, ``response_format=`` and ``expected_tool=`` work as in ``wb.complete``:
    each value's header then gives its validity rate (``valid 2/3``) or tool-call rates,
    each answer its tool calls and validity, and the measure defaults to ``schema_valid``
    (or the tool scorers). The prompt may be a conversation (``Prompt(messages=...)``).
    """

    def __init__(self, prompt: Prompt | str | None = None, model: str | None = None, *,
                 parameter: str = "temperature", values: Sequence[float] | str | None = None, repeats: int = 3,
                 measure: str | Callable[..., Any] | None = None,
                 scorers: Sequence[Callable[..., Any]] | Mapping[str, Callable[..., Any]] = (),
                 expected: Any = None, variables: Mapping[str, Any] | None = None, runner: Runner | None = None,
                 log: RunLog | str | None = None, state: SweepState | None = None, tools: Any = None,
                 response_format: Any = None, expected_tool: str | None = None, **params: Any) -> None:
        self.state = state or SweepState(prompt, model, parameter=parameter, values=values, repeats=repeats,
                                         measure=measure, scorers=scorers, expected=expected, variables=variables,
                                         runner=runner, log=log, tools=tools, response_format=response_format,
                                         expected_tool=expected_tool, **params)
        s = self.state
        safe = guard(self._report)

        title = w.HTML("<span class='wb-title'>Sweep</span>")
        self.model = ModelPicker(s.model, layout=w.Layout(width="300px"))
        self._run_controls("Run sweep", "120px", "Run every value and repeat, then plot", safe)
        topbar = w.HBox([title, self.model, self.run_button, self.stop_button, self.status])
        topbar.add_class("wb-topbar")

        self.system = textarea(s.system, 2, "System message (optional)", "wb-system")
        self.conversation = w.HTML()  # a conversation prompt's turns, read-only (edited in the Playground's chat)
        self.conversation.add_class("wb-examples")
        self.conversation.add_class("wb-conversation")
        self.user = textarea(s.user, 4, "User message, with {variables}", "wb-user")
        self.tools_info = w.HTML(cards.tools_html(s.tools, s.response_format))
        self.tools_info.add_class("wb-tools-info")
        hidden(self.tools_info, not self.tools_info.value)
        self.variables = VariableFields(safe(lambda name, value: s.set_variable(name, value)))
        self.params = ParamControls(s.params, safe(lambda name, value: s.set_param_typed(name, value)),
                                    defaults=s.param_defaults())
        editor = w.VBox([section("system"), self.system, self.conversation, section("user"), self.user,
                         section("variables"), self.variables,
                         section("other parameters (the swept one is overridden)"), self.params, self.tools_info])
        editor.add_class("wb-column")

        self.parameter = w.Dropdown(options=list(SWEEPABLE), value=s.parameter, description="sweep",
                                    layout=w.Layout(width="auto"))
        self.parameter.add_class("wb-sweep-parameter")
        self.values = w.Text(value=_format_values(s.sweep_values), description="values", continuous_update=False,
                             placeholder="e.g. 0, 0.5, 1, 1.5", layout=w.Layout(width="auto"))
        self.values.add_class("wb-sweep-values")
        self.repeats = w.IntSlider(value=s.repeats, min=1, max=10, description="repeats", continuous_update=False,
                                   layout=w.Layout(width="auto"))
        self.repeats.add_class("wb-sweep-repeats")
        self.measure = w.Dropdown(options=s.measures, value=s.measure, description="measure",
                                  layout=w.Layout(width="auto"))
        self.measure.add_class("wb-sweep-measure")
        self.measure.tooltip = "What the plot shows for each answer: its length, word count or a scorer's value."
        self.calls = w.HTML()
        self.key = KeyPrompt(safe(s.provide_key))
        self.messages = MessageArea()
        self.plot = w.Image(format="png", layout=w.Layout(width="100%", max_width="640px"))
        self.plot.add_class("wb-plot")
        settings = w.VBox([section("sweep"), self.parameter, self.values, self.repeats, self.measure, self.calls,
                           self.key, self.messages, self.plot])
        settings.add_class("wb-column")
        columns = w.HBox([editor, settings])
        columns.add_class("wb-columns")

        self.groups = w.GridBox([], layout=w.Layout(width="100%", grid_gap="8px"))
        self.groups.add_class("wb-groups")
        self._views: list[AnswerView] = []
        self._headers: list[tuple[Any, w.HTML]] = []
        self._extras_views: list[w.HTML] = []
        self._plot_throttle = Throttle(self._draw_plot, interval=0.5)

        super().__init__([style_tag(), topbar, columns, section("answers by value"), self.groups])
        self.add_class("wb-root")
        self.add_class("wb-sweep")

        self.model.on_pick(safe(lambda model: setattr(s, "model", model) if model != s.model else None))
        self.system.observe(safe(lambda c: setattr(s, "system", c["new"])), names="value")
        self.user.observe(safe(lambda c: setattr(s, "user", c["new"])), names="value")
        self.parameter.observe(safe(lambda c: s.set_parameter(c["new"])), names="value")
        self.values.observe(safe(lambda c: s.set_values(c["new"])), names="value")
        self.repeats.observe(safe(lambda c: setattr(s, "repeats", c["new"])), names="value")
        self.measure.observe(safe(lambda c: s.set_measure(c["new"])), names="value")
        s.observe(self._on_state)
        self.refresh()

    # --- state -> view ---------------------------------------------------
    def _on_state(self, name: str) -> None:
        if name.startswith("point:"):
            i = int(name.split(":", 1)[1])
            if i < len(self._views):
                self._views[i].changed()
                if not self.state.points[i].answer.running:
                    self._show_extras(i)
            self._show_headers()
            self._plot_throttle.poke()
        elif name == "points":
            self._show_points()
        elif name in ("system", "user", "examples"):
            self._show_prompt()
        elif name in ("variables",):
            self._show_variables()
        elif name == "model":
            self.model.refresh(self.state.model)
            self.key.show_for(self.state.missing_key)
            self._show_params()
        elif name == "params":
            self._show_params()
        elif name in ("parameter", "sweep_values", "repeats", "measure"):
            self._show_settings()
        elif name in ("error", "info"):
            self.messages.set(self.state.error, self.state.info)
        elif name == "running":
            self._show_running()
            if not self.state.running:
                self._plot_throttle.final()
                self._show_headers()
        elif name == "ratings":
            for view in self._views:
                view.update()
        elif name == "key":
            self.model.refresh(self.state.model)
            self.key.show_for(self.state.missing_key)
            self.messages.set(self.state.error, self.state.info)

    def refresh(self) -> None:
        """Redraw everything from :attr:`state`."""
        self._show_prompt()
        self.model.refresh(self.state.model)
        self.key.show_for(self.state.missing_key)
        self._show_params()
        self._show_settings()
        self.messages.set(self.state.error, self.state.info)
        self._show_running()
        self._show_points()

    def _show_prompt(self) -> None:
        s = self.state
        if self.system.value != s.system:
            self.system.value = s.system
        if self.user.value != s.user:
            self.user.value = s.user
        turns = cards.prompt_turns(None, (), s.messages, "") if s.messages else []
        self.conversation.value = (f"<div class='wb-examples-head'>conversation ({len(turns)} messages)</div>"
                                   + messages_html(turns)) if turns else ""
        hidden(self.conversation, not turns)
        self.user.placeholder = ("One more user message after the conversation (optional)" if s.messages
                                 else "User message, with {variables}")
        self._show_variables()

    def _show_variables(self) -> None:
        self.variables.show_fields(self.state.variable_names, self.state.variables)

    def _show_settings(self) -> None:
        s = self.state
        if self.parameter.value != s.parameter:
            self.parameter.value = s.parameter
        shown = _format_values(s.sweep_values)
        if self.values.value != shown:
            self.values.value = shown
        if self.repeats.value != s.repeats:
            self.repeats.value = s.repeats
        if list(self.measure.options) != s.measures:
            self.measure.options = s.measures
        if self.measure.value != s.measure:
            self.measure.value = s.measure
        n = s.calls
        k = len(s.sweep_values)
        self.calls.value = (f"<span class='wb-hint'>{k} value{'s' if k != 1 else ''} × {s.repeats} "
                            f"repeat{'s' if s.repeats != 1 else ''} = "
                            f"<b>{n}</b> call{'s' if n != 1 else ''}</span>")
        self._show_headers()
        if s.points:
            self._plot_throttle.final()

    def _show_running(self) -> None:
        s = self.state
        for control in (self.parameter, self.values, self.repeats):
            control.disabled = s.running
        text = s.status_text()
        kind = " wb-status-running" if s.running else ""
        status = f"<span class='wb-status{kind}'>{html.escape(text)}</span>" if text else ""
        self._show_run_controls(status)

    def _show_points(self) -> None:
        """One column per value, its answers stacked under a header with the mean."""
        s = self.state
        self._reuse_views(len(s.points))
        for i, point in enumerate(s.points):
            self._views[i].bind(point.answer)
        old_columns = self.groups.children
        self._headers = []
        columns = []
        for value, points in s.groups():
            header = w.HTML()
            header.add_class("wb-group-header")
            self._headers.append((value, header))
            views: list[w.Widget] = []
            for p in points:
                i = s.points.index(p)
                self._show_extras(i)
                a = self._views[i]  # the calls and validity right under the answer's text
                a.children = (a.header, a.samples, self._extras(i), a.error, a.figures, a.rating)
                views.append(a)
            column = w.VBox([header, *views], layout=w.Layout(min_width="0"))
            column.add_class("wb-group")
            columns.append(column)
        self.groups.children = tuple(columns)
        for column in old_columns:  # a rerun rebuilds the columns: the old ones and their headers are closed
            close_tree(column, keep=self._views)
        count = max(1, len(columns))
        self.groups.layout.grid_template_columns = f"repeat({count}, minmax(200px, 1fr))"
        hidden(self.groups, not columns)
        self._show_headers()
        self._plot_throttle.final()
        self._show_running()

    def _reuse_views(self, count: int) -> None:
        """Keep one answer view per point, reused across reruns.

        A 4 x 12 sweep shows 48 answers of about 30 widgets each: building
        them afresh on every run sent thousands of widget messages, left the
        old ones open in the kernel and the browser, and could overflow the
        kernel's message queue (1000 messages) while a client was not reading.
        """
        while len(self._views) < count:
            self._views.append(self._answer_view(len(self._views)))
        for view in self._views[count:]:
            close_tree(view)  # its extras box too, dropped below
        del self._views[count:]
        del self._extras_views[count:]

    def _answer_view(self, index: int) -> AnswerView:
        return AnswerView(guard(self._report)(lambda rating, note: self.state.rate(index, rating, note)),
                          compact=True, placeholder="waiting…")

    def _extras(self, index: int) -> w.HTML:
        """Under an answer: its tool calls and schema validity (empty until it is done)."""
        while len(self._extras_views) <= index:
            box = w.HTML(layout=w.Layout(max_width="100%"))
            box.add_class("wb-answer-extras")
            self._extras_views.append(box)
        return self._extras_views[index]

    def _show_extras(self, index: int) -> None:
        s = self.state
        if index >= len(s.points):
            return
        markup = cards.answer_extras_html(s.points[index].answer, s.response_format is not None)
        box = self._extras(index)
        if box.value != markup:
            box.value = markup
        hidden(box, not markup)

    def _show_headers(self) -> None:
        rows = {r["value"]: r for r in self.state.summary()}
        for value, header in self._headers:
            row = rows.get(value)
            described = self.state.describe(row) if row is not None else ""
            rates = self.state.describe_rates(row) if row is not None else ""
            described = " · ".join(part for part in (described, rates) if part)
            mean = f" · {html.escape(described)}" if described else ""
            header.value = f"<span><code>{html.escape(self.state.parameter)} = {value:g}</code>{mean}</span>"
        errors = self.state.measure_errors
        if errors and not self.state.error:
            self.messages.set(errors[0], None)
        if self.state.running:
            self._show_running()

    def _draw_plot(self) -> None:
        if not self.state.points:
            hidden(self.plot)
            return
        self.plot.value = self.state.png()
        hidden(self.plot, False)
