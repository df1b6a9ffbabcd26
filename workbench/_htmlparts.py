"""HTML views shared by notebooks and the report: a comparison's verdict, a prompt as chat messages,
and the path :func:`~workbench.report_html` returns (shown as a link in Jupyter).

Plain text of these wrapped mid-word in narrow notebook cells ("e ach", "+0. 417"); these views
are ordinary HTML that wraps between words and keeps numbers whole.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._keys import redact

__all__ = ["comparison_html", "messages_html", "prompt_messages", "ReportPath", "VERDICT_CSS", "MESSAGES_CSS"]

#: Styles of :func:`comparison_html` (scoped under ``.wb-verdict``; safe to repeat on a page).
VERDICT_CSS = """
.wb-verdict{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;border-left:4px solid #888;
background:#f7f7f7;padding:.5em .9em;margin:.5em 0;max-width:60em;color:#222;overflow-wrap:normal;word-break:normal}
.wb-verdict.wb-win{border-color:#009E73;background:#f1faf6} .wb-verdict.wb-tie{border-color:#999}
.wb-verdict .wb-verdict-head{font-size:1.08em;margin:0 0 .3em 0} .wb-verdict p{margin:.3em 0}
.wb-verdict table{border-collapse:collapse;margin:.4em 0;font-size:.92em}
.wb-verdict th,.wb-verdict td{border:1px solid #ddd;padding:2px 8px;text-align:right;white-space:nowrap;
font-variant-numeric:tabular-nums} .wb-verdict th{background:#eee;text-align:left;white-space:normal;
overflow-wrap:anywhere;max-width:14em}
.wb-verdict .wb-verdict-method{color:#555;font-size:.88em}
"""

#: Styles of :func:`messages_html`.
MESSAGES_CSS = """
.wb-messages{margin:.3em 0;max-width:60em} .wb-msg{display:flex;gap:.6em;margin:.25em 0}
.wb-msg-role{flex:0 0 7.5em;font-size:.78em;font-weight:600;text-transform:uppercase;color:#555;padding-top:.35em}
.wb-msg-text{flex:1 1 auto;white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f7f7;border-radius:6px;
padding:.35em .6em;font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
.wb-msg-system .wb-msg-text{background:#fff7e6} .wb-msg-assistant .wb-msg-text{background:#eef5fb}
"""


def _e(value: Any) -> str:
    return html.escape(redact(str(value)))


def comparison_html(c: Any, *, css: bool = True) -> str:
    """A :class:`~workbench._stats.Comparison` as HTML: who won and by how much, or "no real difference".

    The head line is the answer in words; the table holds the figures behind it
    (means, difference with its confidence interval, p-value, wins/losses/ties);
    the verdict sentence follows as it is in the text form.
    """
    level = f"{1 - c.alpha:.0%}"
    a, b = _e(c.a), _e(c.b)
    if c.significant:
        better, worse = (b, a) if c.diff > 0 else (a, b)
        head = (f"<b>{better}</b> wins over <b>{worse}</b> on {_e(c.scorer)}: by {abs(c.diff):.3f} "
                f"({level} CI {abs(c.ci_low) if c.diff > 0 else abs(c.ci_high):.3f} to "
                f"{abs(c.ci_high) if c.diff > 0 else abs(c.ci_low):.3f})")
        kind = "wb-win"
    else:
        head = f"No real difference between <b>{a}</b> and <b>{b}</b> on {_e(c.scorer)}"
        if c.diff != 0:
            head += f" (observed {c.diff:+.3f}, within chance)"
        kind = "wb-tie"
    p = "&lt; 0.0001" if c.p_value < 1e-4 else f"{c.p_value:.3g}"
    table = (
        "<table><tr>"
        f"<th>mean {a}</th><th>mean {b}</th><th>difference ({b} − {a})</th><th>{level} CI</th><th>p</th>"
        f"<th>{b} better / worse / tied</th><th>pairs</th></tr><tr>"
        f"<td>{c.mean_a:.3f}</td><td>{c.mean_b:.3f}</td><td>{c.diff:+.3f}</td>"
        f"<td>{c.ci_low:+.3f} to {c.ci_high:+.3f}</td><td>{p}</td>"
        f"<td>{c.wins} / {c.losses} / {c.ties}</td><td>{c.n}</td></tr></table>"
    )
    extra = f", {c.repeats} repeats of each case averaged" if c.repeats > 1 else ""
    dropped = f"; {c.dropped} cases without both scores left out" if c.dropped else ""
    body = (f"<div class='wb-verdict {kind}'><p class='wb-verdict-head'>{head}</p>{table}"
            f"<p>{_e(c.verdict)}</p>"
            f"<p class='wb-verdict-method'>{_e(c.method)}; sign test p = {c.sign_test_p:.3g}{extra}{dropped}.</p>"
            "</div>")
    return (f"<style>{VERDICT_CSS}</style>" if css else "") + body


def prompt_messages(prompt: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(role, text)`` of a prompt's dict form (``Prompt.to_dict``): system, example pairs, then the user turn."""
    out: list[tuple[str, str]] = []
    if prompt.get("system"):
        out.append(("system", str(prompt["system"])))
    for pair in prompt.get("examples") or ():
        q, a = (list(pair) + ["", ""])[:2]
        out += [("user", str(q)), ("assistant", str(a))]
    out.append(("user", str(prompt.get("user", ""))))
    return out


def messages_html(messages: Sequence[tuple[str, str]], *, css: bool = False) -> str:
    """Role-labelled chat messages (``(role, text)`` pairs), keys redacted, text kept as typed."""
    rows = "".join(f"<div class='wb-msg wb-msg-{html.escape(role)}'><div class='wb-msg-role'>{html.escape(role)}</div>"
                   f"<div class='wb-msg-text'>{_e(text)}</div></div>" for role, text in messages)
    return (f"<style>{MESSAGES_CSS}</style>" if css else "") + f"<div class='wb-messages'>{rows}</div>"


class ReportPath(type(Path())):  # type: ignore[misc]  # the concrete Path class of this OS
    """The path of a written report: a :class:`~pathlib.Path` that Jupyter shows as a link to open it."""

    def _repr_html_(self) -> str:
        try:
            href = os.path.relpath(self, Path.cwd())
        except ValueError:  # another drive on Windows
            href = str(self)
        href = Path(href).as_posix()
        size = f" ({self.stat().st_size / 1024:.0f} kB)" if self.exists() else ""
        return (f"<a class='wb-report-link' href='{html.escape(href, quote=True)}' target='_blank' "
                f"rel='noopener'>Open the report: {html.escape(self.name)}</a>{size}")
