"""The token view's state: an answer's tokens, the chosen position, the temperature, and branches.

Plain Python (no ipywidgets): ``wb.TokenView`` draws it, tests drive it. The
HTML it renders is also the static form left in a saved notebook: tokens on
the cividis scale (colour-blind safe, readable in grey), a legend, and each
token's alternatives with percentages in its ``title`` (shown on hover, even
without a kernel).
"""

from __future__ import annotations

import concurrent.futures
import html
import math
from typing import Any

from .._errors import WorkbenchError
from .._lens import Branch, branch_refusal, branch_request, make_branch, require_tokens
from .._portal import submit
from .._runner import Runner, get_runner
from .._tokens import Token, TokensError, at_temperature, visible
from .._types import Response
from .inputs import friendly_error
from .observable import Observable

__all__ = ["TokenViewState", "CIVIDIS", "prob_colour", "text_colour", "tokens_html", "legend_html",
           "alternatives_text", "distribution_html"]

#: matplotlib's cividis at 0, 0.1, ..., 1 (low probability dark blue, high yellow): colour-blind safe.
CIVIDIS = ("#00224e", "#083370", "#35456c", "#4f576c", "#666970", "#7d7c78", "#948e77", "#aea371", "#c8b866",
           "#e5cf52", "#fee838")


def prob_colour(p: float) -> str:
    """The cividis colour of probability ``p`` (linear interpolation between the 11 stops)."""
    p = min(max(p, 0.0), 1.0) * 10
    i = min(int(p), 9)
    frac = p - i
    a, b = CIVIDIS[i], CIVIDIS[i + 1]
    mix = [round(int(a[k:k + 2], 16) * (1 - frac) + int(b[k:k + 2], 16) * frac) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in mix)


def text_colour(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (WCAG relative luminance)."""
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(background[k:k + 2], 16)) for k in (1, 3, 5))
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000000" if (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) else "#ffffff"


def percent(p: float) -> str:
    return f"{p * 100:.1f}%" if p >= 0.001 else f"{p * 100:.2g}%"


def alternatives_text(token: Token) -> str:
    """The hover text of a token: its probability, then each alternative with its percentage."""
    lines = [f"{visible(token.text)!s}  {percent(token.prob)}"]
    if token.top:
        lines.append("alternatives:")
        lines += [f"  {visible(text)}  {percent(math.exp(lp))}" for text, lp in token.top]
    return "\n".join(lines)


def legend_html() -> str:
    stops = ", ".join(f"{c} {i * 10}%" for i, c in enumerate(CIVIDIS))
    return ("<div class='wb-token-legend' style='display:flex;align-items:center;gap:6px;font-size:12px;"
            "color:#555;margin:2px 0 6px 0'><span>token probability</span><span>0%</span>"
            f"<span style='display:inline-block;width:160px;height:12px;border-radius:3px;"
            f"background:linear-gradient(to right, {stops})'></span><span>100%</span>"
            "<span style='margin-left:8px'>· space ↵ newline → tab</span></div>")


def token_span(token: Token, index: int, *, selected: bool = False, forced: bool = False) -> str:
    bg = prob_colour(token.prob)
    border = "outline:2px solid #d62728;" if selected else "outline:2px dashed #d62728;" if forced else ""
    title = html.escape(f"#{index} " + alternatives_text(token), quote=True)
    text = html.escape(visible(token.text)).replace("\n", "<br>")
    return (f"<span class='wb-token' data-i='{index}' title=\"{title}\" style='background:{bg};color:{text_colour(bg)};"
            f"border-radius:3px;padding:1px 2px;margin:1px;{border}white-space:pre-wrap;display:inline-block'>"
            f"{text}</span>")


def tokens_html(tokens: list[Token], *, selected: int | None = None, forced_at: int | None = None) -> str:
    spans = "".join(token_span(t, i, selected=i == selected, forced=i == forced_at) for i, t in enumerate(tokens))
    return f"<div class='wb-tokens' style='font-family:monospace;font-size:13px;line-height:1.9'>{spans}</div>"


def distribution_html(rows: list[tuple[str, float]], reference: list[tuple[str, float]] | None = None,
                      temperature: float | None = None) -> str:
    """Bars: each alternative's probability at ``temperature`` (and at temperature 1 for reference)."""
    ref = dict(reference or [])
    among = f" (shares among these {len(rows)})"
    head = f"at temperature {temperature:g}{among}" if temperature is not None else "probability"
    body = []
    for text, p in rows:
        bg = prob_colour(p)
        ref_cell = f"<td style='color:#777;padding-left:8px'>{percent(ref[text])}</td>" if text in ref else ""
        body.append(
            f"<tr><td style='font-family:monospace;padding-right:8px;white-space:pre'>{html.escape(visible(text))}</td>"
            f"<td style='width:220px'><div class='wb-dist-bar' style='width:{max(p * 100, 0.5):.1f}%;height:12px;"
            f"background:{bg};border-radius:2px'></div></td><td style='padding-left:6px'>{percent(p)}</td>{ref_cell}"
            "</tr>")
    ref_head = f"<th style='color:#777;padding-left:8px'>at temperature 1{among}</th>" if reference else ""
    return (f"<table class='wb-dist' style='border-collapse:collapse;font-size:12.5px'><tr><th>token</th>"
            f"<th colspan=2 style='text-align:left'>{head}</th>{ref_head}</tr>{''.join(body)}</table>")


class TokenViewState(Observable):
    """An answer's tokens as shown: the chosen position, the temperature view and branches.

    ``selected`` is the token position whose alternatives are shown (the first
    uncertain-ish one to start: the least likely token); ``temperature`` drives
    :meth:`distribution`; :meth:`branch` continues the answer with an alternative
    forced (a new logged call) and appends a :class:`Branch` to ``branches``.
    """

    def __init__(self, response: Response, *, runner: Runner | None = None) -> None:
        self.tokens: list[Token] = require_tokens(response)
        self.response = response
        self._runner = runner
        self.selected: int = min(range(len(self.tokens)), key=lambda i: self.tokens[i].logprob)
        self.temperature: float = 1.0
        self.branches: list[Branch] = []
        self.error: str | None = None
        self.busy: bool = False
        self.branch_reason: str | None = branch_refusal(response)
        self._future: concurrent.futures.Future[Any] | None = None

    # --- reading ------------------------------------------------------------------
    @property
    def can_branch(self) -> bool:
        return self.branch_reason is None

    @property
    def token(self) -> Token:
        return self.tokens[self.selected]

    def alternatives(self) -> list[tuple[str, float]]:
        """``(text, probability)`` of the selected token's alternatives (the token itself if none were asked)."""
        return self.token.alternatives() or [(self.token.text, self.token.prob)]

    def distribution(self, temperature: float | None = None) -> list[tuple[str, float]]:
        """The selected token's alternatives re-weighted at ``temperature`` (default: :attr:`temperature`)."""
        return at_temperature(self.token, self.temperature if temperature is None else temperature)

    # --- editing ------------------------------------------------------------------
    def select(self, index: int) -> None:
        if not 0 <= index < len(self.tokens):
            raise TokensError(f"Token {index} does not exist. Fix: pick 0 to {len(self.tokens) - 1}.")
        self.selected = index

    def set_temperature(self, temperature: float) -> None:
        if not 0 <= temperature <= 2:
            raise TokensError(f"temperature={temperature!r} is outside the view's range. Fix: pick 0 to 2.")
        self.temperature = float(temperature)

    # --- branching ----------------------------------------------------------------
    def branch(self, alternative: str, position: int | None = None, *, wait: bool = False) -> Any:
        """Continue the answer with ``alternative`` forced at ``position`` (default: the selected one).

        Returns the Future of the call (``wait=True``: the :class:`Branch`). Bad input
        (no branching here, an unknown alternative) raises before any call.
        """
        at = self.selected if position is None else position
        if self.busy:
            raise WorkbenchError("A branch is being generated. Fix: wait for it to finish.")
        try:
            request, forced, prefix = branch_request(self.response, at, alternative)
        except TokensError as exc:
            self.error = str(exc)
            raise
        self.error = None
        self.busy = True
        runner = self._runner or get_runner()

        async def run() -> Branch:
            try:
                result = await runner.call(request)
                if result.error:
                    self.error = friendly_error(WorkbenchError(result.error))
                    raise WorkbenchError(result.error)
                done = make_branch(self.response, at, forced, prefix, result)
                self.branches.append(done)
                self.changed("branches")
                return done
            finally:
                self.busy = False

        self._future = submit(run())
        return self._future.result() if wait else self._future

    @property
    def future(self) -> concurrent.futures.Future[Any] | None:
        return self._future

    # --- rendering ----------------------------------------------------------------
    def answer_html(self) -> str:
        return tokens_html(self.tokens, selected=self.selected)

    def branch_html(self, b: Branch) -> str:
        head = (f"<div style='font-size:12px;color:#555'>branch at #{b.position}: "
                f"<code>{html.escape(visible(self.tokens[b.position].text))}</code> → "
                f"<code>{html.escape(visible(b.forced.text))}</code> ({percent(b.forced.prob)})</div>")
        return head + tokens_html(b.tokens, forced_at=b.position)

    def detail_html(self) -> str:
        t = self.token
        return (f"<div class='wb-token-detail' style='font-size:12.5px'><b>#{self.selected}</b> "
                f"<code>{html.escape(visible(t.text))}</code> {percent(t.prob)} · alternatives:</div>"
                + distribution_html(self.alternatives()))

    def temperature_html(self) -> str:
        reference = at_temperature(self.token, 1.0) if self.token.top else None
        return distribution_html(self.distribution(), reference, self.temperature)

    def summary_text(self) -> str:
        c = self.response.confidence
        lines = [f"{self.response.model}: {len(self.tokens)} tokens, mean probability {percent(float(c or 0))}, "
                 f"lowest {percent(c.min if c else 0)}", "".join(t.text for t in self.tokens)]
        lines += [f"branch at #{b.position} ({b.forced.text!r}): {b.text}" for b in self.branches]
        return "\n".join(lines)

    def summary_html(self) -> str:
        """The static form: legend, coloured answer, the selected token's alternatives, and branches."""
        c = self.response.confidence
        figures = (f"<div style='font-size:12px;color:#555'>{html.escape(self.response.model)} · {len(self.tokens)} "
                   f"tokens · mean token probability {percent(float(c or 0))} · lowest {percent(c.min if c else 0)}"
                   "</div>")
        parts = [figures, legend_html(), self.answer_html(), self.detail_html()]
        if self.branch_reason:
            parts.append(f"<div class='wb-hint' style='font-size:12px;color:#777'>Branching is not available: "
                         f"{html.escape(self.branch_reason)}</div>")
        parts += [self.branch_html(b) for b in self.branches]
        return f"<div class='wb-token-view'>{''.join(parts)}</div>"

    def _repr_html_(self) -> str:
        return self.summary_html()
