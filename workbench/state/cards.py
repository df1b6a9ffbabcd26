"""Static summaries of the widgets: the text and HTML a saved notebook shows where the live widget cannot render.

GitHub and nbviewer do not run widgets; the views add these summaries (prompt,
variables, parameters and any answer already there) to their
``_repr_mimebundle_``. Everything shown passes through :func:`redact`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._keys import redact
from .._params import PARAM_NAMES, Params

if TYPE_CHECKING:  # type names only: the states import this module
    from .answer import Answer
    from .compare import CompareState
    from .playground import PlaygroundState
    from .sweep import SweepState

__all__ = ["answer_html", "answer_text", "tool_calls_html", "validity_html", "answer_extras_html", "tools_html",
           "answer_extras_text", "compact_json", "prompt_turns", "static_card", "playground_text", "playground_html",
           "compare_text", "compare_html", "sweep_text", "sweep_html", "RATE_WORDS"]


#: The rates of a Sweep's summary (with tools or a schema), as the widget and the summaries word them.
RATE_WORDS = {"valid": "valid", "tool_call": "tool call", "valid_call": "valid call", "right_tool": "right tool"}


def _esc(value: Any) -> str:
    return html.escape(redact(str(value)))


def compact_json(value: Any, limit: int | None = 160) -> str:
    """``value`` as one line of JSON (a pydantic object dumped first), cut at ``limit`` characters."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


_OK, _BAD = "#1b7f3b", "#b00020"


def _badge(ok: bool, text: str, css: str) -> str:
    colour = _OK if ok else _BAD
    return (f"<span class='wb-badge {css}' style='display:inline-block;font-size:11px;font-weight:600;"
            f"color:{colour};border:1px solid {colour};border-radius:8px;padding:0 6px;margin-right:4px'>"
            f"{'✓' if ok else '✗'} {html.escape(text)}</span>")


def tool_calls_html(calls: Sequence[Any]) -> str:
    """One compact card per tool call: ``name(arguments)``, valid against the tool's schema or why not.

    Why: a tool-calling answer has little or no text; what the model decided is in its calls.
    """
    if not calls:
        return ""
    cards = []
    for call in calls:
        ok = getattr(call, "error", None) is None
        args = compact_json(call.arguments if call.arguments is not None else call.raw)
        why = "" if ok else (f"<div class='wb-toolcall-error' style='color:{_BAD};font-size:11.5px'>"
                             f"{_esc(call.error)}</div>")
        cards.append(
            f"<div class='wb-toolcall wb-toolcall-{'valid' if ok else 'invalid'}' style='border:1px solid #d6dde8;"
            f"border-left:3px solid {_OK if ok else _BAD};border-radius:4px;padding:3px 6px;margin:3px 0;"
            "box-sizing:border-box;max-width:100%;background:#f8fafc;font-size:12.5px'>"
            f"{_badge(ok, 'valid' if ok else 'invalid', 'wb-toolcall-badge')}"
            f"<code class='wb-toolcall-name' style='font-weight:600'>{_esc(call.name)}</code>"
            f"<code class='wb-toolcall-args' style='overflow-wrap:anywhere'>({_esc(args)})</code>{why}</div>")
    head = f"tool call{'s' if len(calls) > 1 else ''} ({len(calls)})"
    return (f"<div class='wb-toolcalls'><div style='font-size:11px;color:#777'>{head}</div>"
            + "".join(cards) + "</div>")


def validity_html(response: Any, schema: bool = True) -> str:
    """With a ``response_format``: valid (and the parsed object) or invalid (and ``parse_error``).

    ``schema`` says whether a schema was asked for: an answer that called a tool instead is then
    said to be unchecked rather than silently shown as nothing.
    """
    if response is None or not response.ok or not schema:
        return ""
    if response.parsed is not None:
        return (f"<div class='wb-validity wb-valid'>{_badge(True, 'valid JSON for the schema', 'wb-valid-badge')}"
                f"<code class='wb-parsed' style='font-size:12px;overflow-wrap:anywhere'>"
                f"{_esc(compact_json(response.parsed, 400))}</code></div>")
    if response.parse_error:
        return (f"<div class='wb-validity wb-invalid'>{_badge(False, 'invalid', 'wb-invalid-badge')}"
                f"<span class='wb-parse-error' style='color:{_BAD};font-size:12px'>{_esc(response.parse_error)}"
                "</span></div>")
    if response.tool_calls:
        return ("<div class='wb-validity wb-unchecked' style='color:#777;font-size:11.5px'>"
                "schema not checked: the answer is a tool call</div>")
    return ""


def answer_extras_html(answer: Answer, schema: bool | None = None) -> str:
    """The tool calls and schema validity of a finished answer (``""`` when there are none).

    ``schema=None`` shows validity only where the answer was parsed.
    """
    r = answer.response
    if r is None or answer.status != "done":
        return ""
    checked = schema if schema is not None else (r.parsed is not None or r.parse_error is not None)
    return tool_calls_html(r.tool_calls) + validity_html(r, checked)


def answer_extras_text(answer: Answer) -> list[str]:
    """The same as :func:`answer_extras_html`, as text lines."""
    r = answer.response
    if r is None or answer.status != "done":
        return []
    lines = [f"tool call {c.name}({compact_json(c.arguments if c.arguments is not None else c.raw)})"
             + ("" if c.error is None else f" INVALID: {c.error}") for c in r.tool_calls]
    if r.parsed is not None:
        lines.append(f"valid: {compact_json(r.parsed, 400)}")
    elif r.parse_error:
        lines.append(f"invalid: {r.parse_error}")
    return [redact(line) for line in lines]


def answer_html(answer: Answer) -> str:
    """One answer: its label, each sample's text, the error and the figures line."""
    head = html.escape(answer.label or answer.model)
    parts = [f"<div style='font-weight:600;margin:6px 0 2px'>{head}</div>"] if head else []
    for i, text in enumerate(answer.texts):
        prefix = f"<i>sample {i + 1}</i><br>" if len(answer.texts) > 1 else ""
        parts.append("<div style='white-space:pre-wrap;border-left:3px solid #2f6fdf;padding:4px 8px;"
                     f"margin:2px 0'>{prefix}{html.escape(redact(text))}</div>")
    parts.append(answer_extras_html(answer))
    if answer.error:
        parts.append(f"<div style='color:#b00020'>{html.escape(answer.error)}</div>")
    if answer.figures():
        parts.append(f"<div style='color:#666;font-size:90%'>{html.escape(answer.figures())}</div>")
    return "".join(parts)


def answer_text(answer: Answer) -> str:
    lines = [f"[{answer.label or answer.model}]"] if (answer.label or answer.model) else []
    lines += [redact(t) for t in answer.texts if t]
    lines += answer_extras_text(answer)
    if answer.error:
        lines.append(f"error: {answer.error}")
    if answer.figures():
        lines.append(answer.figures())
    return "\n".join(lines)


def prompt_turns(system: str | None, examples: Sequence[tuple[str, str]], messages: Sequence[Any],
                 user: str) -> list[tuple[str, str]]:
    """Every message of a prompt as ``(role, text)``: system, few-shot pairs, conversation turns, user.

    Why: a conversation prompt's summary must show the whole conversation, not only its last user
    message (an assistant turn's tool calls are shown after its text).
    """
    out: list[tuple[str, str]] = [("system", system)] if system else []
    for q, a in examples:
        out += [("user", q), ("assistant", a)]
    for turn in messages:
        text = turn.content
        if turn.tool_calls:
            calls = json.loads(turn.tool_calls)
            named = ", ".join(f"{(c.get('function') or c).get('name')}({(c.get('function') or c).get('arguments')})"
                              for c in calls)
            text = f"{text}\n-> tool calls: {named}".strip()
        out.append((turn.role, text))
    if user or not messages:
        out.append(("user", user))
    return out


def static_card(title: str, model: str | None, params: Mapping[str, Any],
                prompts: Sequence[tuple[str, str]], values: Mapping[str, str], answers: Sequence[Answer],
                *, turns: Sequence[tuple[str, str]] | None = None, extras: str = "") -> str:
    """A bordered card: title, model and parameters, the prompt texts, the variables and the answers.

    ``turns`` (``(role, text)`` pairs, see :func:`prompt_turns`) replaces ``prompts`` for a prompt
    that is a conversation; ``extras`` is HTML shown after the prompt (the tools, the schema).
    """
    head = f"<b>{_esc(title)}</b>"
    if model:
        head += f" · <code>{_esc(model)}</code>"
    head += f" · {_esc(Params.build(**{k: v for k, v in params.items() if k in PARAM_NAMES}).describe())}"
    body = []
    pairs = list(turns) if turns is not None else [
        m for system, user in prompts for m in ([("system", system)] if system else []) + [("user", user)]]
    for role, text in pairs:
        body.append(f"<div><i>{_esc(role)}</i><pre style='white-space:pre-wrap;margin:2px 0'>{_esc(text)}</pre></div>")
    if extras:
        body.append(extras)
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
    lines += _tools_lines(s.tools, s.response_format)
    for v, a in zip(s.variants, s.answers, strict=False):  # answers may lag an added variant
        if v.messages:  # a conversation: every turn, not only the last user message
            lines.append(f"[{v.label}] {v.model}: conversation of {len(_variant_turns(v))} messages")
            lines += [f"  ({role}) {text!r}" for role, text in _variant_turns(v)]
        else:
            lines.append(f"[{v.label}] {v.model}: {v.user!r}")
        if a.status != "idle":
            lines.append(answer_text(a))
    for r, row in enumerate(s.grid):  # the inputs grid's answers, one line per cell
        values = ", ".join(f"{k}={v}" for k, v in s.row_values(r).items()) if r < len(s.rows) else ""
        for v, a in zip(s.variants, row, strict=False):
            if a.status != "idle":
                lines.append(f"grid row {r + 1} ({values}) [{v.label}]: {a.text or a.error or a.status}")
    return redact("\n".join(lines))


def _variant_turns(v: Any) -> list[tuple[str, str]]:
    return prompt_turns(v.system, v.examples, v.messages, v.user)


def _tools_lines(tools: Sequence[Any], response_format: Any) -> list[str]:
    lines = [f"tools: {', '.join(t.name for t in tools)}"] if tools else []
    if response_format is not None:
        lines.append(f"response_format: {response_format.name} {compact_json(response_format.schema, 200)}")
    return lines


def tools_html(tools: Sequence[Any], response_format: Any) -> str:
    """The tools offered and the schema asked for, one line each (``""`` when neither)."""
    lines = [f"<b>tools</b> {', '.join(f'<code>{_esc(t.name)}</code>' for t in tools)}"] if tools else []
    if response_format is not None:
        lines.append(f"<b>response_format</b> <code>{_esc(response_format.name)}</code> <code style='font-size:11px;"
                     f"color:#777;overflow-wrap:anywhere'>{_esc(compact_json(response_format.schema, 200))}</code>")
    return "".join(f"<div class='wb-tools-line' style='font-size:12px;color:#555'>{line}</div>" for line in lines)


def compare_html(s: CompareState) -> str:
    parts = [static_card(f"Variant {v.label}", v.model, {**s.params, **v.params}, [(v.system, v.user)], {},
                         [a] if a.status != "idle" else [], turns=_variant_turns(v) if v.messages else None)
             for v, a in zip(s.variants, s.answers, strict=False)]
    shown = " · ".join(f"<code>{{{html.escape(k)}}}</code> = {html.escape(redact(v))}" for k, v in _values(s).items())
    shown += tools_html(s.tools, s.response_format)
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
    lines = [f"Sweep · {s.model} · {s.parameter} over {s.sweep_values} x {s.repeats} repeats"]
    lines += _tools_lines(s.tools, s.response_format)
    lines += [f"[{role}] {text}" for role, text in prompt_turns(s.system, s.examples, s.messages, s.user)]
    for row in s.summary():
        rates = s.describe_rates(row)
        lines.append(f"  {s.parameter}={row['value']}: {s.describe(row) or 'no measure'}"
                     + (f" · {rates}" if rates else ""))
    return redact("\n".join(lines))


def sweep_html(s: SweepState) -> str:
    rate = s.measure_is_pass_fail()

    def shown(mean: float) -> str:
        return f"{mean:.0%}" if rate else f"{mean:.1f}"

    rates = s.rate_names()

    def share(row: Mapping[str, Any], name: str) -> str:
        n = row.get("answered") or 0
        return f"{round(row[name] * n)}/{n}" if n else "–"

    rows = "".join(f"<tr><td>{html.escape(str(r['value']))}</td><td>{shown(r['mean'])}</td><td>{r['n']}</td>"
                   + "".join(f"<td>{share(r, k)}</td>" for k in rates) + "</tr>"
                   for r in s.summary())
    table = (f"<table><tr><th>{html.escape(s.parameter)}</th>"
             f"<th>{'pass rate' if rate else 'mean'} {html.escape(s.measure)}</th>"
             "<th>n</th>" + "".join(f"<th>{RATE_WORDS[k]}</th>" for k in rates)
             + f"</tr>{rows}</table>") if rows else ""
    card = static_card(f"Sweep of {s.parameter} over {s.sweep_values} x {s.repeats}", s.model, s.params,
                       [(s.system, s.user)], _values(s), [],
                       turns=prompt_turns(s.system, s.examples, s.messages, s.user) if s.messages else None,
                       extras=tools_html(s.tools, s.response_format))
    return card + table
