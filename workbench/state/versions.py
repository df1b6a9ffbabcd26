"""Saved prompt versions as people read them: a label, and a line diff of two versions (text and HTML)."""

from __future__ import annotations

import difflib
import html
from dataclasses import dataclass
from datetime import datetime

from .._log import Version

__all__ = ["version_label", "VersionDiff", "diff_versions"]


def version_label(version: Version) -> str:
    """``#3 shorter-system · 2025-06-01 14:03 · 1a2b3c4d`` (id, name, local time, short hash)."""
    try:
        when = datetime.fromisoformat(version.created_at).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        when = version.created_at
    return f"#{version.id} {version.name} · {when} · {version.prompt_hash[:8]}"


def _version_lines(version: Version) -> list[str]:
    prompt = version.prompt
    lines = [f"model: {version.model or '(default)'}"]
    params = version.params or {}
    lines += [f"{k}: {params[k]!r}" for k in sorted(params)] or ["(provider default parameters)"]
    if prompt.get("system"):
        lines.append("--- system ---")
        lines += str(prompt["system"]).splitlines() or [""]
    for i, (q, a) in enumerate(prompt.get("examples") or (), 1):
        lines.append(f"--- example {i}: user ---")
        lines += str(q).splitlines() or [""]
        lines.append(f"--- example {i}: assistant ---")
        lines += str(a).splitlines() or [""]
    first = 1 + bool(prompt.get("system")) + 2 * len(prompt.get("examples") or ())
    for i, message in enumerate(prompt.get("messages") or (), first):  # a conversation: every turn
        lines.append(f"--- message {i}: {message.get('role')} ---")
        lines += str(message.get("content") or "").splitlines() or [""]
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            lines.append(f"tool call {function.get('name')}({function.get('arguments')})")
    if prompt.get("user") or not prompt.get("messages"):
        lines.append("--- user ---")
        lines += str(prompt.get("user", "")).splitlines() or [""]
    return lines


@dataclass(frozen=True)
class VersionDiff:
    """A line diff of two saved versions; ``lines`` are ``(" " | "+" | "-", text)``."""

    a: Version
    b: Version
    lines: tuple[tuple[str, str], ...]

    @property
    def changed(self) -> bool:
        return any(kind != " " for kind, _ in self.lines)

    @property
    def text(self) -> str:
        head = f"--- {version_label(self.a)}\n+++ {version_label(self.b)}\n"
        return head + "\n".join(f"{kind} {line}" for kind, line in self.lines)

    def to_html(self) -> str:
        """Lines of both versions, removed ones red, added ones green (escaped, readable)."""
        styles = {"+": "background:#e6ffec;color:#116329", "-": "background:#ffebe9;color:#82071e",
                  " ": "color:#333"}
        rows = "".join(
            f"<div class='wb-diff-{'add' if k == '+' else 'del' if k == '-' else 'same'}' "
            f"style='{styles[k]};white-space:pre-wrap;padding:0 6px'>"
            f"<span style='user-select:none;opacity:.6'>{k if k != ' ' else '&nbsp;'}</span> "
            f"{html.escape(line) or '&nbsp;'}</div>"
            for k, line in self.lines
        )
        note = "" if self.changed else "<div style='color:#666'>The two versions are identical.</div>"
        return (
            "<div class='wb-diff' style='font-family:var(--jp-code-font-family,monospace);font-size:12px'>"
            f"<div style='color:#82071e'>&minus; {html.escape(version_label(self.a))}</div>"
            f"<div style='color:#116329'>+ {html.escape(version_label(self.b))}</div>"
            f"<div style='border:1px solid #ddd;border-radius:4px;margin-top:4px'>{rows}</div>{note}</div>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.text


def diff_versions(a: Version, b: Version) -> VersionDiff:
    """Diff two versions line by line (prompt texts, parameters and model)."""
    out: list[tuple[str, str]] = []
    for line in difflib.ndiff(_version_lines(a), _version_lines(b)):
        kind = line[:1]
        if kind in ("+", "-", " "):
            out.append((kind, line[2:]))
    return VersionDiff(a, b, tuple(out))
