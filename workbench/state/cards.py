"""Static summaries of the widgets: the text and HTML a saved notebook shows where the live widget cannot render.

GitHub and nbviewer do not run widgets; the views add these summaries (prompt,
variables, parameters and any answer already there) to their
``_repr_mimebundle_``. Everything shown passes through :func:`redact`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._keys import redact
from .._params import PARAM_NAMES, Params

if TYPE_CHECKING:  # type names only: the states import this module
    from .answer import Answer
    from .compare import CompareState
    from .playground import PlaygroundState
    from .sweep import SweepState

__all__ = ["answer_html", "answer_text", "static_card", "playground_text", "playground_html", "compare_text",
           "compare_html", "sweep_text", "sweep_html"]


def _esc(value: Any) -> str:
    return html.escape(redact(str(value)))


def answer_html(answer: Answer) -> str:
    """One answer: its label, each sample's text, the error and the figures line."""
    head = html.escape(answer.label or answer.model)
    parts = [f"<div style='font-weight:600;margin:6px 0 2px'>{head}</div>"] if head else []
    for i, text in enumerate(answer.texts):
        prefix = f"<i>sample {i + 1}</i><br>" if len(answer.texts) > 1 else ""
        parts.append("<div style='white-space:pre-wrap;border-left:3px solid #2f6fdf;padding:4px 8px;"
                     f"margin:2px 0'>{prefix}{html.escape(redact(text))}</div>")
    if answer.error:
        parts.append(f"<div style='color:#b00020'>{html.escape(answer.error)}</div>")
    if answer.figures():
        parts.append(f"<div style='color:#666;font-size:90%'>{html.escape(answer.figures())}</div>")
    return "".join(parts)


def answer_text(answer: Answer) -> str:
    lines = [f"[{answer.label or answer.model}]"] if (answer.label or answer.model) else []
    lines += [redact(t) for t in answer.texts if t]
    if answer.error:
        lines.append(f"error: {answer.error}")
    if answer.figures():
        lines.append(answer.figures())
    return "\n".join(lines)


def static_card(title: str, model: str | None, params: Mapping[str, Any],
                prompts: Sequence[tuple[str, str]], values: Mapping[str, str], answers: Sequence[Answer]) -> str:
    """A bordered card: title, model and parameters, the prompt texts, the variables and the answers."""
    head = f"<b>{_esc(title)}</b>"
    if model:
        head += f" · <code>{_esc(model)}</code>"
    head += f" · {_esc(Params.build(**{k: v for k, v in params.items() if k in PARAM_NAMES}).describe())}"
    body = []
    for system, user in prompts:
        if system:
            body.append(f"<div><i>system</i><pre style='white-space:pre-wrap;margin:2px 0'>{_esc(system)}</pre></div>")
        body.append(f"<div><i>user</i><pre style='white-space:pre-wrap;margin:2px 0'>{_esc(user)}</pre></div>")
    if values:
        body.append("<div>" + " · ".join(f"<code>{{{_esc(k)}}}</code> = {_esc(v)!s}" for k, v in values.items())
                    + "</div>")
    body += [answer_html(a) for a in answers]
    return ("<div class='wb-static' style='border:1px solid #ddd;border-radius:6px;padding:8px 12px;"
            f"font-family:sans-serif;font-size:13px'>{head}{''.join(body)}"
            "<div style='color:#999;font-size:11px;margin-top:6px'>(static view of a workbench widget: "
            "run the notebook to use it)</div></div>")


def _values(state: PlaygroundState | CompareState | SweepState) -> dict[str, str]:
    return {n: state.variables.get(n, "") for n in state.variable_names}


# --- Playground -----------------------------------------------------------------


def playground_text(s: PlaygroundState) -> str:
    lines = [f"Playground · {s.model} · {Params.build(s.params).describe()}"]
    if s.system:
        lines.append(f"[system] {s.system}")
    lines.append(f"[user] {s.user}")
    for name in s.variable_names:
        lines.append(f"  {name} = {s.variables.get(name, '')!r}")
    if s.answer.status != "idle":
        lines.append(answer_text(s.answer))
    return redact("\n".join(lines))


def playground_html(s: PlaygroundState) -> str:
    return static_card("Playground", s.model, s.params, [(s.system, s.user)], _values(s),
                       [s.answer] if s.answer.status != "idle" else [])


# --- Compare --------------------------------------------------------------------


def compare_text(s: CompareState) -> str:
    lines = [f"Compare · {len(s.variants)} variants · {Params.build(s.params).describe()}"]
    for v, a in zip(s.variants, s.answers, strict=False):  # answers may lag an added variant
        lines.append(f"[{v.label}] {v.model}: {v.user!r}")
        if a.status != "idle":
            lines.append(answer_text(a))
    for r, row in enumerate(s.grid):  # the inputs grid's answers, one line per cell
        values = ", ".join(f"{k}={v}" for k, v in s.row_values(r).items()) if r < len(s.rows) else ""
        for v, a in zip(s.variants, row, strict=False):
            if a.status != "idle":
                lines.append(f"grid row {r + 1} ({values}) [{v.label}]: {a.text or a.error or a.status}")
    return redact("\n".join(lines))


def compare_html(s: CompareState) -> str:
    parts = [static_card(f"Variant {v.label}", v.model, {**s.params, **v.params}, [(v.system, v.user)], {},
                         [a] if a.status != "idle" else [])
             for v, a in zip(s.variants, s.answers, strict=False)]
    shown = " · ".join(f"<code>{{{html.escape(k)}}}</code> = {html.escape(redact(v))}" for k, v in _values(s).items())
    return (f"<div class='wb-static'><b>Compare</b> {shown}<div style='display:grid;"
            f"grid-template-columns:repeat({len(parts)},1fr);gap:8px'>{''.join(parts)}</div>{_grid_html(s)}</div>")


def _grid_html(s: CompareState) -> str:
    """The inputs grid as a table (inputs, then one answer column per variant), when it has run."""
    if not s.grid:
        return ""
    names = s.variable_names
    head = "".join(f"<th>{{{_esc(n)}}}</th>" for n in names) + "".join(f"<th>{_esc(v.label)}</th>" for v in s.variants)
    rows = []
    for r, answers in enumerate(s.grid):
        values = s.row_values(r) if r < len(s.rows) else {}
        cells = [f"<td>{_esc(values.get(n, ''))}</td>" for n in names]
        cells += [f"<td style='white-space:pre-wrap'>{_esc(a.text or a.error or '')}</td>" for a in answers]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class='wb-static-grid'><tr>{head}</tr>{''.join(rows)}</table>"


# --- Sweep ----------------------------------------------------------------------


def sweep_text(s: SweepState) -> str:
    lines = [f"Sweep · {s.model} · {s.parameter} over {s.sweep_values} x {s.repeats} repeats", f"[user] {s.user}"]
    for row in s.summary():
        lines.append(f"  {s.parameter}={row['value']}: {s.describe(row) or 'no measure'}")
    return redact("\n".join(lines))


def sweep_html(s: SweepState) -> str:
    rate = s.measure_is_pass_fail()

    def shown(mean: float) -> str:
        return f"{mean:.0%}" if rate else f"{mean:.1f}"

    rows = "".join(f"<tr><td>{html.escape(str(r['value']))}</td><td>{shown(r['mean'])}</td><td>{r['n']}</td></tr>"
                   for r in s.summary())
    table = (f"<table><tr><th>{html.escape(s.parameter)}</th>"
             f"<th>{'pass rate' if rate else 'mean'} {html.escape(s.measure)}</th>"
             f"<th>n</th></tr>{rows}</table>") if rows else ""
    card = static_card(f"Sweep of {s.parameter} over {s.sweep_values} x {s.repeats}", s.model, s.params,
                       [(s.system, s.user)], _values(s), [])
    return card + table
