"""``wb.Compare``: the same inputs through 2-4 prompt variants and/or models, in columns."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as w

from .._log import RunLog
from .._prompt import Prompt
from .._runner import Runner
from ..state import MAX_VARIANTS, CompareState, Variant
from ._parts import (
    AnswerView,
    KeyPrompt,
    MessageArea,
    ModelPicker,
    ParamControls,
    StateWidget,
    VariableFields,
    guard,
    section,
    style_tag,
)
from ._playground import textarea
from ._tokens import TokensToggle, set_token_params

__all__ = ["Compare"]


def _without(params: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != name}


class VariantView(w.VBox):
    """One column: label, model, system and user prompt, and the answer with its figures."""

    def __init__(self, state: CompareState, variant: Variant, report: Callable[[str], Any]) -> None:
        self.state = state
        self.variant = variant
        safe = guard(report)
        self.label = w.HTML()
        self.model = ModelPicker(variant.model, layout=w.Layout(width="auto", flex="1 1 0%", min_width="0"))
        self.remove = w.Button(icon="times", tooltip="Remove this variant", layout=w.Layout(width="32px"))
        self.remove.add_class("wb-remove-variant")
        self.system = textarea(variant.system, 2, "System message (optional)", "wb-system")
        self.user = textarea(variant.user, 4, "User message, with {variables}", "wb-user")
        self.answer = AnswerView(safe(lambda rating, note: state.rate(self.index, rating, note)), show_label=False)
        header = w.HBox([self.label, self.model, self.remove],
                        layout=w.Layout(align_items="center", width="auto", min_width="0"))
        header.add_class("wb-row")
        self.tokens = TokensToggle(  # the token lens (issue 13), per column: workbench/widgets/_tokens.py
            state, lambda: state.answers[self.index].response if self.variant in state.variants else None,
            lambda on: set_token_params(lambda k, v: self._edit(params={**_without(self.variant.params, k),
                                                                        **({k: v} if v is not None else {})}), on),
            is_on=bool(variant.params.get("logprobs")), watch=lambda name: name.startswith("answer"))
        super().__init__([header, self.system, self.user, self.answer, self.tokens], layout=w.Layout(min_width="0"))
        self.add_class("wb-variant")
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

    def show(self) -> None:
        v = self.variant
        self.label.value = f"<span class='wb-variant-label'><b>{html.escape(v.label)}</b></span>"
        self.model.refresh(v.model)
        if self.system.value != v.system:
            self.system.value = v.system
        if self.user.value != v.user:
            self.user.value = v.user
        self.remove.disabled = len(self.state.variants) <= 2


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
                 **params: Any) -> None:
        self.state = state or CompareState(prompts, models, variables=variables, runner=runner, log=log, **params)
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
        left = w.VBox([section("variables (shared)"), self.variables])
        right = w.VBox([section("parameters (shared)"), self.params])
        for box in (left, right):
            box.add_class("wb-column")
        shared = w.HBox([left, right])
        shared.add_class("wb-columns")

        self.key = KeyPrompt(safe(lambda value: s.provide_key(value, self.key.env_var)))
        self.messages = MessageArea()
        self.grid = w.GridBox([], layout=w.Layout(width="100%", grid_gap="10px"))
        self.grid.add_class("wb-variants")
        self._views: list[VariantView] = []

        super().__init__([style_tag(), topbar, shared, self.key, self.messages, self.grid])
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
            if not self.state.running:
                self._show_running()
        elif name in ("variants", "answers"):
            self._show_variants()
        elif name == "variant":
            for view in self._views:
                view.show()
            self._show_variables()
            self._show_params()
            self.key.show_for(next(iter(self.state.missing_keys), None))
        elif name in ("variables", "values"):
            self._show_variables()
        elif name == "params":
            self._show_params()
        elif name in ("error", "info"):
            self.messages.set(self.state.error, self.state.info)
        elif name == "running":
            self._show_running()
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

    def variable_field(self, name: str) -> w.Text:
        return self.variables.field(name)

    @property
    def columns(self) -> list[VariantView]:
        """The variant columns, in order."""
        return list(self._views)
