"""``wb.Compare``: the same inputs through 2-4 prompt variants and/or models, in columns."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as w

from .._htmlparts import messages_html
from .._keys import redact
from .._log import RunLog
from .._prompt import Prompt
from .._runner import Runner
from ..state import MAX_VARIANTS, Answer, CompareState, Throttle, Variant, cards
from ..state.compare import MAX_ROWS
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
from ._playground import textarea
from ._tokens import TokensToggle, set_token_params

__all__ = ["Compare"]


def _without(params: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != name}


class VariantView(w.VBox):
    """One column: label, model, system and user prompt (or the whole conversation), and the answer with
    its figures, its tool calls and, with a ``response_format``, whether it fit the schema."""

    def __init__(self, state: CompareState, variant: Variant, report: Callable[[str], Any]) -> None:
        self.state = state
        self.variant = variant
        safe = guard(report)
        self.label = w.Text(value=variant.label, continuous_update=False, placeholder="name",
                            tooltip="The variant's name: heads its column and the grid, tags its logged calls",
                            layout=w.Layout(width="92px", min_width="60px"))
        self.label.add_class("wb-variant-name")
        self.model = ModelPicker(variant.model, layout=w.Layout(width="auto", flex="1 1 0%", min_width="0"))
        self.remove = w.Button(icon="times", tooltip="Remove this variant", layout=w.Layout(width="32px"))
        self.remove.add_class("wb-remove-variant")
        self.system = textarea(variant.system, 2, "System message (optional)", "wb-system")
        self.examples = w.HTML()
        self.examples.add_class("wb-examples")
        self.conversation = w.HTML()
        self.conversation.add_class("wb-examples")
        self.conversation.add_class("wb-conversation")
        self.user = textarea(variant.user, 4, "User message, with {variables}", "wb-user")
        self.answer = AnswerView(safe(lambda rating, note: state.rate(self.index, rating, note)), show_label=False)
        self.extras = w.HTML(layout=w.Layout(max_width="100%"))  # tool calls and schema validity of the answer
        self.extras.add_class("wb-answer-extras")
        a = self.answer  # shown right under the answer's text, above its figures and rating
        a.children = (a.header, a.samples, self.extras, a.error, a.figures, a.rating)
        header = w.HBox([self.label, self.model, self.remove],
                        layout=w.Layout(align_items="center", width="auto", min_width="0"))
        header.add_class("wb-row")
        self.tokens = TokensToggle(  # the token lens (issue 13), per column: workbench/widgets/_tokens.py
            state, lambda: state.answers[self.index].response if self.variant in state.variants else None,
            lambda on: set_token_params(lambda k, v: self._edit(params={**_without(self.variant.params, k),
                                                                        **({k: v} if v is not None else {})}), on),
            is_on=bool(variant.params.get("logprobs")), watch=lambda name: name.startswith("answer"))
        super().__init__([header, self.system, self.examples, self.conversation, self.user, self.answer, self.tokens],
                         layout=w.Layout(min_width="0"))
        self.add_class("wb-variant")
        self.label.observe(safe(lambda c: self._rename(c["new"])), names="value")
        self.model.on_pick(safe(lambda model: self._edit(model=model)))
        self.system.observe(safe(lambda c: self._edit(system=c["new"])), names="value")
        self.user.observe(safe(lambda c: self._edit(user=c["new"])), names="value")
        self.remove.on_click(safe(lambda _: state.remove_variant(self.index)))
        self.show()

    @property
    def index(self) -> int:
        return next(i for i, v in enumerate(self.state.variants) if v is self.variant)

    def _edit(self, **changes: Any) -> None:
        if any(getattr(self.variant, k) != v for k, v in changes.items()):
            self.state.update_variant(self.index, **changes)

    def _rename(self, name: str) -> None:
        try:
            self._edit(label=name)
        except Exception:
            self.label.value = self.variant.label  # refused (empty, taken): the old name stays, the error says why
            raise

    def show(self) -> None:
        v = self.variant
        if self.label.value != v.label:
            self.label.value = v.label
        self.model.refresh(v.model)
        pairs = [m for q, a in v.examples for m in (("user", q), ("assistant", a))]
        self.examples.value = (f"<div class='wb-examples-head'>few-shot examples ({len(v.examples)})</div>"
                               + messages_html(pairs)) if pairs else ""
        hidden(self.examples, not pairs)
        turns = cards.prompt_turns(None, (), v.messages, "") if v.messages else []
        self.conversation.value = (f"<div class='wb-examples-head'>conversation ({len(turns)} messages)</div>"
                                   + messages_html(turns)) if turns else ""
        hidden(self.conversation, not turns)
        self.user.placeholder = ("One more user message after the conversation (optional)" if v.messages
                                 else "User message, with {variables}")
        if self.system.value != v.system:
            self.system.value = v.system
        if self.user.value != v.user:
            self.user.value = v.user
        self.remove.disabled = len(self.state.variants) <= 2
        self.show_extras()

    def show_extras(self) -> None:
        """The answer's tool calls and schema validity (empty until it is done)."""
        s = self.state
        answer = s.answers[self.index] if self.variant in s.variants and self.index < len(s.answers) else None
        markup = cards.answer_extras_html(answer, s.response_format is not None) if answer is not None else ""
        if self.extras.value != markup:
            self.extras.value = markup
        hidden(self.extras, not markup)


def _cell_extras(answer: Answer) -> str:
    """A grid cell's tool calls (``→ name(arguments)`` ✓/✗) and schema validity, one short line each."""
    r = answer.response
    if r is None or answer.status != "done":
        return ""
    lines = []
    for c in r.tool_calls:
        args = cards.compact_json(c.arguments if c.arguments is not None else c.raw, 80)
        mark = "✓" if c.error is None else "✗ " + html.escape(redact(c.error))
        lines.append(f"<div class='wb-grid-toolcall wb-toolcall-{'valid' if c.error is None else 'invalid'}'>"
                     f"→ <code>{html.escape(redact(f'{c.name}({args})'))}</code> {mark}</div>")
    if r.parsed is not None:
        lines.append("<div class='wb-grid-valid' style='color:#1b7f3b'>✓ valid</div>")
    elif r.parse_error:
        lines.append(f"<div class='wb-grid-invalid' style='color:#b00020'>✗ {html.escape(redact(r.parse_error))}</div>")
    return "".join(lines)


def _cell_html(answer: Answer | None) -> str:
    """One grid cell: the answer's text, or what became of it (streaming, failed, stopped, needs a key)."""
    if answer is None:
        return "<div class='wb-grid-cell wb-grid-empty'>—</div>"
    if answer.error and answer.status in ("idle", "error"):
        return f"<div class='wb-grid-cell wb-grid-error'>{html.escape(redact(answer.error))}</div>"
    text = html.escape(redact(answer.text))
    note = {"running": " <span class='wb-cursor'></span>", "stopped": " <i>(stopped)</i>"}.get(answer.status, "")
    if answer.status == "idle":
        return "<div class='wb-grid-cell wb-grid-empty'>—</div>"
    return f"<div class='wb-grid-cell wb-grid-{answer.status}'>{text}{note}{_cell_extras(answer)}</div>"


class InputsGrid(w.VBox):
    """The inputs grid: rows of test inputs (one field per variable) x the variants' answers.

    ChainForge's and the Anthropic workbench's table: several inputs through
    every variant at once, answers in a grid. Blank fields fall back to the
    shared variables above.
    """

    def __init__(self, state: CompareState, report: Any) -> None:
        self.state = state
        safe = guard(report)
        self.add_row = w.Button(description="Add row", icon="plus", layout=w.Layout(width="auto"),
                                tooltip=f"Add a test input (at most {MAX_ROWS} rows)")
        self.add_row.add_class("wb-grid-add")
        self.run = w.Button(description="Run grid", icon="th", layout=w.Layout(width="auto"),
                            tooltip="Run every input row through every variant")
        self.run.add_class("wb-grid-run")
        self.hint = w.HTML()
        self.hint.add_class("wb-grid-hint")
        bar = w.HBox([section("inputs grid (rows: test inputs · columns: variants)"), self.add_row, self.run,
                       self.hint])
        bar.add_class("wb-row")
        self.table = w.GridBox([], layout=w.Layout(width="100%", grid_gap="4px 8px", align_items="flex-start"))
        self.table.add_class("wb-grid")
        super().__init__([bar, self.table], layout=w.Layout(width="100%"))
        self.add_class("wb-inputs-grid")
        self.cells: list[list[w.HTML]] = []
        self.fields: list[dict[str, w.Text]] = []
        self._throttle = Throttle(self.update_cells, interval=0.2)
        self.add_row.on_click(safe(lambda _: state.add_row()))
        self.run.on_click(safe(lambda _: state.start_grid()))
        self.rebuild()

    def rebuild(self) -> None:
        """Lay the table out again (rows, variables or variants changed)."""
        s = self.state
        names, variants = s.variable_names, s.variants
        head = [self._head(f"{{{n}}}", "wb-grid-var") for n in names]
        head += [self._head(v.label, "wb-grid-variant") for v in variants] + [w.HTML("")]
        children: list[w.Widget] = list(head)
        self.cells, self.fields = [], []
        for r, row in enumerate(s.rows):
            fields = {}
            for n in names:
                field = w.Text(value=row.get(n, ""), placeholder=s.variables.get(n, "") or n, continuous_update=True,
                               layout=w.Layout(width="auto", min_width="0"))
                field.add_class(f"wb-grid-field-{n}")
                field.observe(guard(self._report_error)(lambda c, r=r, n=n: s.set_row_value(r, n, c["new"])),
                              names="value")
                fields[n] = field
                children.append(field)
            cells = [w.HTML(layout=w.Layout(min_width="0")) for _ in variants]
            children += cells
            remove = w.Button(icon="times", tooltip="Remove this row", layout=w.Layout(width="32px"))
            remove.add_class("wb-grid-remove")
            remove.on_click(guard(self._report_error)(lambda _, r=r: s.remove_row(r)))
            children.append(remove)
            self.cells.append(cells)
            self.fields.append(fields)
        columns = " ".join(["minmax(90px, 1fr)"] * len(names) + ["minmax(140px, 2fr)"] * len(variants) + ["32px"])
        self.table.layout.grid_template_columns = columns
        self.table.children = tuple(children)
        hidden(self.table, not s.rows)
        self.update_cells()

    def _report_error(self, message: str) -> None:
        self.state.error = message

    @staticmethod
    def _head(text: str, css: str) -> w.HTML:
        head = w.HTML(f"<b>{html.escape(text)}</b>")
        head.add_class(css)
        return head

    def update_cells(self) -> None:
        """Show the grid's answers (called through a throttle while they stream)."""
        s = self.state
        for r, cells in enumerate(self.cells):
            answers = s.grid[r] if r < len(s.grid) else []
            for c, cell in enumerate(cells):
                markup = _cell_html(answers[c] if c < len(answers) else None)
                if cell.value != markup:
                    cell.value = markup
        self.show_controls()

    def show_controls(self) -> None:
        s = self.state
        self.add_row.disabled = s.running or len(s.rows) >= MAX_ROWS
        self.run.disabled = s.running or not s.rows
        calls = len(s.rows) * len(s.variants)
        self.hint.value = (f"<span class='wb-hint'>{len(s.rows)} rows x {len(s.variants)} variants = {calls} calls"
                           "</span>" if s.rows else
                           "<span class='wb-hint'>add rows to run several inputs through every variant</span>")

    def on_state(self, name: str) -> None:
        """A grid answer streamed (throttled), or the run ended (shown at once)."""
        if name == "running" and not self.state.running:
            self._throttle.final()
        else:
            self._throttle.poke()


class Compare(StateWidget):
    """Run the same variables through several prompts and/or models side by side.

    ``wb.Compare({"terse": p1, "friendly": p2}, models="local:smollm2", max_tokens=64, topic="owls")``
    or ``wb.Compare(p, models=["local:smollm2", "openai:gpt-4o-mini"])``: every
    prompt runs on every model (2-4 columns). Parameters and variables are
    shared; :attr:`state` is a :class:`~workbench.state.CompareState`.
    """

    def __init__(self, prompts: Prompt | str | Sequence[Prompt | str] | Mapping[str, Prompt | str] | None = None,
                 models: str | Sequence[str] | None = None, *, variables: Mapping[str, Any] | None = None,
                 runner: Runner | None = None, log: RunLog | str | None = None, state: CompareState | None = None,
                 tools: Any = None, response_format: Any = None, **params: Any) -> None:
        self.state = state or CompareState(prompts, models, variables=variables, runner=runner, log=log,
                                           tools=tools, response_format=response_format, **params)
        s = self.state
        safe = guard(self._report)

        title = w.HTML("<span class='wb-title'>Compare</span>"
                       "<span class='wb-title-sub'>same inputs, several prompts or models</span>")
        self.add_button = w.Button(description="Add variant", icon="plus", layout=w.Layout(width="auto"))
        self.add_button.add_class("wb-add-variant")
        self._run_controls("Run all", "100px", "Run every variant (answers stream in)", safe)
        topbar = w.HBox([title, self.run_button, self.stop_button, self.add_button, self.status])
        topbar.add_class("wb-topbar")

        self.variables = VariableFields(safe(lambda name, value: s.set_variable(name, value)))
        self.params = ParamControls(s.params, safe(lambda name, value: s.set_param_typed(name, value)),
                                    defaults=s.param_defaults())
        self.tools_info = w.HTML(cards.tools_html(s.tools, s.response_format))
        self.tools_info.add_class("wb-tools-info")
        hidden(self.tools_info, not self.tools_info.value)
        left = w.VBox([section("variables (shared)"), self.variables])
        right = w.VBox([section("parameters (shared)"), self.params, self.tools_info])
        for box in (left, right):
            box.add_class("wb-column")
        shared = w.HBox([left, right])
        shared.add_class("wb-columns")

        self.key = KeyPrompt(safe(lambda value: s.provide_key(value, self.key.env_var)))
        self.messages = MessageArea()
        self.grid = w.GridBox([], layout=w.Layout(width="100%", grid_gap="10px"))
        self.grid.add_class("wb-variants")
        self._views: list[VariantView] = []
        self.inputs = InputsGrid(s, self._report)
        self._grid_names: tuple[Any, ...] = ()

        super().__init__([style_tag(), topbar, shared, self.key, self.messages, self.grid, self.inputs])
        self.add_class("wb-root")
        self.add_class("wb-compare")

        self.add_button.on_click(safe(lambda _: s.add_variant()))
        s.observe(self._on_state)
        self.refresh()

    def _on_state(self, name: str) -> None:
        if name.startswith("answer:"):
            i = int(name.split(":", 1)[1])
            if i < len(self._views):
                view = self._views[i].answer
                if view.answer is not self.state.answers[i]:
                    view.bind(self.state.answers[i])
                else:
                    view.changed()
                if not self.state.answers[i].running:
                    self._views[i].show_extras()
            if not self.state.running:
                self._show_running()
        elif name.startswith("grid:"):
            self.inputs.on_state(name)
        elif name in ("rows", "grid"):
            self._show_grid(force=True)
        elif name in ("variants", "answers"):
            self._show_variants()
        elif name == "variant":
            for view in self._views:
                view.show()
            self._show_variables()
            self._show_params()
            self.key.show_for(next(iter(self.state.missing_keys), None))
            self._show_grid()
        elif name in ("variables", "values"):
            self._show_variables()
            self._show_grid()
        elif name == "params":
            self._show_params()
        elif name in ("error", "info"):
            self.messages.set(self.state.error, self.state.info)
        elif name == "running":
            self._show_running()
            self.inputs.on_state(name)
        elif name == "ratings":
            for view in self._views:
                view.answer.update()
        elif name == "key":
            for view in self._views:
                view.show()
            self.key.show_for(next(iter(self.state.missing_keys), None))
            self.messages.set(self.state.error, self.state.info)

    def refresh(self) -> None:
        """Redraw everything from :attr:`state`."""
        self._show_variants()
        self._show_variables()
        self._show_params()
        self.messages.set(self.state.error, self.state.info)
        self._show_running()

    def _show_variants(self) -> None:
        s = self.state
        old = {id(v.variant): v for v in self._views}
        views = []
        for i, variant in enumerate(s.variants):
            view = old.get(id(variant)) or VariantView(s, variant, self._report)
            view.show()
            if i < len(s.answers) and view.answer.answer is not s.answers[i]:
                view.answer.bind(s.answers[i])
            views.append(view)
        self._views = views
        self.grid.children = tuple(views)
        self.grid.layout.grid_template_columns = f"repeat({len(views)}, minmax(240px, 1fr))"
        self.add_button.disabled = len(views) >= MAX_VARIANTS or s.running
        self._show_variables()
        self.key.show_for(next(iter(s.missing_keys), None))
        self._show_grid()

    def _show_grid(self, force: bool = False) -> None:
        """Rebuild the inputs grid when its shape (rows, variables, variant names) changed."""
        s = self.state
        shape = (len(s.rows), tuple(s.variable_names), tuple(v.label for v in s.variants),
                 tuple(s.variables.get(n, "") for n in s.variable_names))
        if force or shape != self._grid_names:
            self._grid_names = shape
            self.inputs.rebuild()

    def _show_variables(self) -> None:
        self.variables.show_fields(self.state.variable_names, self.state.variables)

    def _show_running(self) -> None:
        running = self.state.running
        self.add_button.disabled = running or len(self.state.variants) >= MAX_VARIANTS
        for view in self._views:
            view.remove.disabled = running or len(self.state.variants) <= 2
        text = self.state.status_text()
        kind = " wb-status-running" if running else ""
        status = f"<span class='wb-status{kind}'>{html.escape(text)}</span>" if text else ""
        self._show_run_controls(status)
        self.inputs.show_controls()

    def variable_field(self, name: str) -> w.Text:
        return self.variables.field(name)

    @property
    def columns(self) -> list[VariantView]:
        """The variant columns, in order."""
        return list(self._views)
