"""Compare's state: the same variables and parameters through 2-4 variants (prompt and/or model) at once.

Tools, a response format and conversation prompts: see :mod:`.call_extras`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._errors import MissingKeyError, ParamsError, WorkbenchError
from .._log import RunLog
from .._prompt import Prompt, Turn, as_prompt
from .._runner import Runner
from .._types import Request, Response, split_model
from . import cards
from .answer import Answer, tally, tally_text
from .base import RunningState, stream_into
from .call_extras import CallExtras, WithExtras, answer_valid, cell_text, conversation_prompt, prompt_variables
from .inputs import (
    check_filled,
    default_model,
    missing_key,
    split_kwargs,
)
from .params_form import build_params, default_labels, shared_defaults

__all__ = ["CompareState", "Variant", "MAX_VARIANTS", "MAX_ROWS"]

#: Most variants a Compare shows side by side (columns stay readable up to 4).
MAX_VARIANTS = 4

#: Most input rows in a Compare's inputs grid (rows x variants calls per run; more is an Experiment).
MAX_ROWS = 12


@dataclass(eq=False)
class Variant:
    """One column of a Compare: a prompt and a model (plus parameter overrides)."""

    label: str
    system: str = ""
    user: str = ""
    examples: tuple[tuple[str, str], ...] = ()
    model: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    messages: tuple[Turn, ...] = ()  # a conversation's turns (after the examples, before ``user`` if set)

    def prompt(self) -> Prompt:
        return conversation_prompt(self.system, self.user, self.examples, self.messages, self.label)

    def variable_names(self) -> list[str]:
        """The variables of every message, in order; never raises on half-typed text."""
        return prompt_variables(self.system, self.user, self.examples, self.messages)

    @classmethod
    def of(cls, label: str, prompt: Prompt | str, model: str, params: Mapping[str, Any] | None = None) -> Variant:
        p = as_prompt(prompt, template=True)
        return cls(label, p.system or "", p.user, p.examples, model, dict(params or {}), p.messages)


#: What :meth:`CompareState.update_variant` may change: the fields of a :class:`Variant`, nothing else.
VARIANT_FIELDS = tuple(f.name for f in dataclasses.fields(Variant))


def _labels(count: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(count)]


class CompareState(RunningState, WithExtras):
    """The same variables and parameters through 2-4 variants (prompt and/or model) at once.

    ``prompts`` may be one prompt, a list, or a ``{label: prompt}`` mapping;
    ``models`` one model or a list. Every prompt runs on every model (at most
    four columns). With one prompt and one model, two identical columns are
    made so there is something to edit. A prompt may be a conversation.
    ``tools`` and ``response_format`` go with every column's call, as in ``wb.complete``,
    checked here, before any call; each answer carries its ``tool_calls`` and ``parsed``.
    """

    def __init__(self, prompts: Prompt | str | Sequence[Prompt | str] | Mapping[str, Prompt | str] | None = None,
                 models: str | Sequence[str] | None = None, *, variables: Mapping[str, Any] | None = None,
                 runner: Runner | None = None, log: RunLog | str | None = None, tools: Any = None,
                 response_format: Any = None, **kwargs: Any) -> None:
        self._init_run(runner, log)
        variants = _make_variants(prompts, models)
        first = variants[0].prompt()
        param_kwargs, var_kwargs = split_kwargs(kwargs, first)
        self.variants: list[Variant] = variants
        self.variables: dict[str, str] = {k: str(v) for k, v in {**(variables or {}), **var_kwargs}.items()}
        self.params: dict[str, Any] = build_params(param_kwargs).set()
        self.extras = CallExtras.build(tools, response_format, tool_choice=self.params.get("tool_choice"))
        self.answers: list[Answer] = [Answer(label=v.label, model=v.model) for v in variants]
        #: The inputs grid: each row holds values for the variables (a blank falls back to :attr:`variables`).
        self.rows: list[dict[str, str]] = []
        #: The grid's answers, ``grid[row][column]``, filled by :meth:`run_grid` / :meth:`start_grid`.
        self.grid: list[list[Answer]] = []
        self._grid_mode = False
        self._last_run_grid = False

    @property
    def variable_names(self) -> list[str]:
        return list(dict.fromkeys(n for v in self.variants for n in v.variable_names()))

    def update_variant(self, index: int, **changes: Any) -> Variant:
        """Change a variant's ``label``, ``system``, ``user``, ``examples``, ``model``, ``params`` or ``messages``.

        Any other name is refused before anything changes (``prompt`` is the
        variant's method, not a field: pass ``system=`` and ``user=``).
        """
        unknown = [key for key in changes if key not in VARIANT_FIELDS]
        if unknown:
            raise ParamsError(f"A variant has no field {unknown[0]!r}. Fix: use one of {', '.join(VARIANT_FIELDS)}.")
        if "label" in changes:
            changes["label"] = self._checked_label(index, changes["label"])
        if "messages" in changes:  # (role, text) pairs or message dicts, checked as a Prompt checks them
            changes["messages"] = Prompt(messages=tuple(changes["messages"] or ())).messages
        variant = self.variants[index]
        old_model = variant.model
        for key, value in changes.items():
            setattr(variant, key, value)
        if "model" in changes and variant.model != old_model and not self.running:
            # the answer came from the old model: never show it under the new model's name
            self.answers = [Answer(label=variant.label, model=variant.model) if i == index else a
                            for i, a in enumerate(self.answers)]
            self.changed(f"answer:{index}")
        elif "label" in changes or "model" in changes:
            self.answers[index].label, self.answers[index].model = variant.label, variant.model
            for row in self.grid:
                if index < len(row):
                    row[index].label = variant.label
        self.changed("variant")
        return variant

    def rename_variant(self, index: int, label: str) -> Variant:
        """Rename column ``index``: the name heads the column and the grid, and tags its logged calls."""
        return self.update_variant(index, label=label)

    def _checked_label(self, index: int, label: Any) -> str:
        name = str(label).strip()
        if not name:
            raise ParamsError(f"Variant {self.variants[index].label}: a name cannot be empty. Fix: type a name.")
        if len(name) > 40:
            raise ParamsError(f"Variant name {name[:40]!r}... is {len(name)} characters long. "
                              "Fix: use at most 40 (it heads a column).")
        clash = [v.label for i, v in enumerate(self.variants) if i != index and v.label == name]
        if clash:
            raise ParamsError(f"Another variant is already called {name!r}. Fix: pick a different name "
                              "(results are told apart by it).")
        return name

    def add_variant(self, prompt: Prompt | str | None = None, model: str | None = None,
                    label: str | None = None) -> Variant:
        """Add a column (a copy of the last one unless a prompt or model is given)."""
        if len(self.variants) >= MAX_VARIANTS:
            raise ParamsError(f"A Compare shows at most {MAX_VARIANTS} variants. Fix: remove one first.")
        last = self.variants[-1]
        used = {v.label for v in self.variants}
        label = label or next(x for x in _labels(MAX_VARIANTS + len(used)) if x not in used)
        if prompt is None:
            variant = dataclasses.replace(last, label=label, model=model or last.model, params=dict(last.params))
        else:
            variant = Variant.of(label, prompt, model or last.model)
        self.variants = [*self.variants, variant]
        self.answers = [*self.answers, Answer(label=variant.label, model=variant.model)]
        self.grid = []  # a grid's columns are the variants it ran
        return variant

    def remove_variant(self, index: int) -> None:
        if len(self.variants) <= 1:
            raise ParamsError("A Compare needs at least one variant.")
        self.variants = [v for i, v in enumerate(self.variants) if i != index]
        self.answers = [a for i, a in enumerate(self.answers) if i != index]
        self.grid = [[a for i, a in enumerate(row) if i != index] for row in self.grid]

    # --- the inputs grid: rows of test inputs x the variants -------------
    def add_row(self, values: Mapping[str, Any] | None = None) -> int:
        """Add an input row (``{variable: value}``; missing ones start blank); returns its index."""
        if len(self.rows) >= MAX_ROWS:
            raise ParamsError(f"The inputs grid holds at most {MAX_ROWS} rows. "
                              "Fix: remove one, or use wb.Experiment for a larger test set.")
        unknown = [k for k in (values or {}) if k not in self.variable_names]
        if unknown:
            raise ParamsError(f"No variant uses the variable {unknown[0]!r}. "
                              f"Fix: use one of {self.variable_names or '(none: add {variables} to a prompt)'}.")
        self.rows = [*self.rows, {k: str(v) for k, v in (values or {}).items()}]
        self.grid = []
        return len(self.rows) - 1

    def set_row_value(self, row: int, name: str, value: str) -> None:
        """Set variable ``name`` in input row ``row`` (a blank falls back to the shared value)."""
        self.rows[row][name] = value
        self.changed("row_values")

    def remove_row(self, row: int) -> None:
        self.rows = [r for i, r in enumerate(self.rows) if i != row]
        self.grid = [g for i, g in enumerate(self.grid) if i != row]

    def row_values(self, row: int) -> dict[str, str]:
        """The values row ``row`` runs with: its own, else the shared :attr:`variables`."""
        own = {k: v for k, v in self.rows[row].items() if v != ""}
        return {**self.variables, **own}

    def start_grid(self) -> Any:
        """Start every input row through every variant (the Run grid button; never raises)."""
        self._grid_mode = True
        try:
            return self.start()
        finally:
            self._grid_mode = False

    def run_grid(self, timeout: float | None = None) -> Any:
        """Run every input row through every variant and wait; raises on invalid input."""
        self._grid_mode = True
        try:
            future = self._launch()
        finally:
            self._grid_mode = False
        return future.result(timeout)

    def grid_table(self) -> Any:
        """The grid as a DataFrame: one row per input (its variables), one column of answers per variant."""
        import pandas as pd

        names = self.variable_names
        records = []
        for r, answers in enumerate(self.grid):
            values = self.row_values(r) if r < len(self.rows) else {}
            record: dict[str, Any] = {n: values.get(n, "") for n in names}
            for v, a in zip(self.variants, answers, strict=False):
                record[v.label] = cell_text(a)
                record.update({f"{v.label} valid": answer_valid(a)} if self.response_format is not None else {})
            records.append(record)
        return pd.DataFrame(records)

    #: Editing the inputs grid also makes the last message stale.
    EDITS = RunningState.EDITS | {"rows", "row_values"}

    @property
    def defaults_model(self) -> str | None:
        """The variants' model when they share one (its defaults are shown for unset parameters)."""
        models = {v.model for v in self.variants}
        return models.pop() if len(models) == 1 else None

    def param_defaults(self) -> dict[str, Any]:
        """The defaults every variant's model agrees on (each model's own, from its provider)."""
        return shared_defaults([v.model for v in self.variants])

    def param_default_labels(self) -> dict[str, str]:
        """What an unset control says where no one default is known (see :func:`default_labels`)."""
        return default_labels([v.model for v in self.variants])

    @property
    def missing_keys(self) -> list[str]:
        """Environment variables of missing keys, for the models of all variants."""
        out: list[str] = []
        for v in self.variants:
            env = missing_key(v.model)
            if env and env not in out:
                out.append(env)
        return out

    def provide_key(self, value: str, env_var: str | None = None) -> bool:
        return self._use_key(env_var or next(iter(self.missing_keys), None), value)

    def _prepare_one(self, v: Variant, row: int | None = None) -> Request:
        where = f"Variant {v.label}" + (f", input row {row + 1}" if row is not None else "")
        try:
            prompt = v.prompt()
            values = check_filled(prompt.variable_order, self.variables if row is None else self.row_values(row))
            params = build_params(self.params, v.params)
            tags = {"source": "compare", "variant": v.label, **({"row": row + 1} if row is not None else {})}
            return self._runner.prepare(v.model, prompt, values, params, tags=tags, **self.extras.request_kwargs())
        except WorkbenchError as exc:
            raise type(exc)(f"{where}: {exc}") from None

    def prepare(self) -> list[Request]:
        """One request per variant; the first invalid variant is named in the error."""
        return [self._prepare_one(v) for v in self.variants]

    def _prepare_run(self) -> list[tuple[int, int | None, Request]]:
        """The requests of the columns that can run; columns whose model has no key are cleared and named.

        Any other invalid input stops the whole run (nothing is sent); so
        does a missing key when no column can run. In grid mode every input
        row runs through every column (``(column, row, request)``).
        """
        rows: list[int | None] = [None]
        if self._grid_mode:
            if not self.rows:
                raise ParamsError("The inputs grid has no rows. Fix: add an input row (Add row), then Run grid.")
            rows = list(range(len(self.rows)))
        planned: list[tuple[int, int | None, Request]] = []
        lacking: dict[int, str] = {}
        first_missing: MissingKeyError | None = None
        for i, v in enumerate(self.variants):
            try:
                planned += [(i, r, self._prepare_one(v, r)) for r in rows]
            except MissingKeyError as exc:
                first_missing = first_missing or exc
                lacking[i] = missing_key(v.model) or "its API key"
        if not planned and first_missing is not None:
            raise first_missing

        def fresh() -> list[Answer]:
            out = [Answer(label=v.label, model=v.model) for v in self.variants]
            for i, env in lacking.items():
                out[i].error = f"Not run: no key for {self.variants[i].model} ({env}). Paste it in the key box above."
                out[i].error_type = MissingKeyError.__name__
            return out

        self._last_run_grid = self._grid_mode
        if self._grid_mode:
            self.grid = [fresh() for _ in rows]
        else:
            self.answers = fresh()
        envs = sorted(set(lacking.values()))
        labels = ", ".join(self.variants[i].label for i in lacking)
        self._notice = (f"Variant{'s' if len(lacking) > 1 else ''} {labels} not run: no key ({', '.join(envs)}). "
                        "Fix: paste the key in the box above, then Run again; the other columns ran."
                        if lacking else None)
        return planned

    def _launch_notice(self) -> str | None:
        return getattr(self, "_notice", None)

    async def _perform(self, planned: list[tuple[int, int | None, Request]]) -> list[Response | None]:
        answers, grid = list(self.answers), [list(row) for row in self.grid]

        async def one(i: int, row: int | None, request: Request) -> Response | None:
            if row is None:
                return await stream_into(self._runner, request, answers[i], lambda: self.changed(f"answer:{i}"))
            return await stream_into(self._runner, request, grid[row][i], lambda: self.changed(f"grid:{row}:{i}"))

        return list(await asyncio.gather(*(one(i, row, r) for i, row, r in planned)))

    def counts(self) -> dict[str, int]:
        """Columns (or grid cells, after a grid run) answered, failed, stopped, not run for want of a key."""
        return tally([a for row in self.grid for a in row] if self._last_run_grid and self.grid else self.answers)

    def status_text(self) -> str:
        """What the widget's status says, e.g. ``"1/2 answered · 1 needs a key"``."""
        return tally_text(self.counts(), self.running)

    def rate(self, index: int, rating: int | None, note: str | None = None) -> None:
        """Rate the answer in column ``index``."""
        self._rate(self.answers[index], rating, note)

    def rate_cell(self, row: int, index: int, rating: int | None, note: str | None = None) -> None:
        """Rate the grid's answer for input row ``row`` in column ``index``."""
        self._rate(self.grid[row][index], rating, note)

    # --- static form (see cards.py) --------------------------------------
    def summary_text(self) -> str:
        return cards.compare_text(self)

    def summary_html(self) -> str:
        return cards.compare_html(self)


def _make_variants(prompts: Any, models: str | Sequence[str] | None) -> list[Variant]:
    if prompts is None:
        labelled: list[tuple[str | None, Prompt | str]] = [(None, "")]
    elif isinstance(prompts, Mapping):
        labelled = [(str(k), p) for k, p in prompts.items()]
    elif isinstance(prompts, (Prompt, str)):
        labelled = [(None, prompts)]
    else:
        labelled = [(None, p) for p in prompts]
    model_list = [models] if isinstance(models, str) else list(models or []) or [default_model()]
    combos = [(label, p, m) for (label, p), m in itertools.product(labelled, model_list)]
    if len(combos) > MAX_VARIANTS:
        raise ParamsError(
            f"{len(labelled)} prompts x {len(model_list)} models make {len(combos)} columns; a Compare shows "
            f"at most {MAX_VARIANTS}. Fix: compare fewer prompts or models at once (or use wb.Experiment)."
        )
    if len(combos) == 1:
        combos = combos * 2
    letters = dict(zip(range(len(labelled)), _labels(MAX_VARIANTS), strict=False))  # at most MAX_VARIANTS
    variants = []
    for i, (label, p, m) in enumerate(combos):
        prompt_label = label or letters[(i // len(model_list)) % len(labelled)]
        if len(model_list) == 1:
            name = label or _labels(MAX_VARIANTS)[i]
        elif len(labelled) == 1:
            name = label or split_model(m)[1]
        else:
            name = f"{prompt_label} · {split_model(m)[1]}"
        variants.append(Variant.of(name, p, m))
    seen: dict[str, int] = {}
    for v in variants:  # duplicate labels (same prompt twice) get a suffix
        seen[v.label] = seen.get(v.label, 0) + 1
        if seen[v.label] > 1:
            v.label = f"{v.label} ({seen[v.label]})"
    return variants
