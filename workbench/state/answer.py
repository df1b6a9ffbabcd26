"""One answer as a widget shows it: streamed text per sample, then the logged response."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from .._errors import CancelledRunError
from .._types import Delta, Response
from . import cards

__all__ = ["Answer", "Status", "tally", "tally_text"]

Status = Literal["idle", "running", "done", "error", "stopped"]


@dataclass(eq=False)
class Answer:
    """One answer as shown: streamed text per sample, then the logged response.

    ``texts`` has one entry per sample (``n``); ``response`` is set when the
    call finished (its ``call_id`` is what ratings refer to); ``error`` holds
    one readable message when it failed.
    """

    label: str = ""
    model: str = ""
    texts: list[str] = field(default_factory=lambda: [""])
    status: Status = "idle"
    response: Response | None = None
    error: str | None = None
    error_type: str | None = None
    rating: int | None = None
    note: str = ""
    started_at: float | None = None
    first_delta_s: float | None = None
    #: While the model loads before the first token ("Loading the model… (98 MB)"), else ``None``.
    loading: str | None = None

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""

    @property
    def call_id(self) -> int | None:
        return self.response.call_id if self.response is not None else None

    @property
    def running(self) -> bool:
        return self.status == "running"

    def figures(self) -> str:
        """The figures line under the answer (tokens, latency, first token, cost, cached)."""
        return self.response.figures() if self.response is not None and self.response.ok else ""

    # --- lifecycle (called by the states, usually in the portal thread) ----
    def begin(self, samples: int = 1) -> None:
        self.texts = [""] * max(1, samples)
        self.status = "running"
        self.response = None
        self.error = self.error_type = None
        self.rating, self.note = None, ""
        self.started_at = time.perf_counter()
        self.first_delta_s = None
        self.loading = None

    def apply(self, delta: Delta) -> None:
        """Add a streamed piece; ``reset`` (the runner is retrying) clears what was shown."""
        if delta.reset:
            self.texts = [""] * len(self.texts)
            return
        if delta.text:
            self.loading = None  # the model is answering: it has loaded
        if self.first_delta_s is None and self.started_at is not None and delta.text:
            self.first_delta_s = time.perf_counter() - self.started_at
        texts = list(self.texts)
        while len(texts) <= delta.index:
            texts.append("")
        texts[delta.index] += delta.text
        self.texts = texts

    def finish(self, response: Response) -> None:
        self.response = response
        self.loading = None
        if response.ok:
            self.texts = list(response.choices) or [response.text]
            self.status = "done"
        else:
            if response.text and not self.text:
                self.texts = [response.text]
            self.error = response.error or "The call failed."
            self.error_type = response.error_type
            self.status = "error"

    def fail(self, message: str, error_type: str | None = None) -> None:
        self.error, self.error_type, self.status = message, error_type, "error"
        self.loading = None

    def stop(self) -> None:
        self.status = "stopped"
        self.loading = None
        self.error_type = CancelledRunError.__name__
        self.error = "Stopped before the answer was complete; the partial answer is logged as an error row."

    # --- static form (see cards.py) -------------------------------------------
    def summary_html(self) -> str:
        return cards.answer_html(self)

    def summary_text(self) -> str:
        return cards.answer_text(self)


def tally(answers: Sequence[Answer]) -> dict[str, int]:
    """How many answers were answered, failed, stopped, or not run for want of a key (``needs_key``)."""
    return {
        "answered": sum(a.status == "done" for a in answers),
        "failed": sum(a.status == "error" for a in answers),
        "stopped": sum(a.status == "stopped" for a in answers),
        "needs_key": sum(a.status == "idle" and a.error_type == "MissingKeyError" for a in answers),
        "total": len(answers),
    }


def tally_text(counts: dict[str, int], running: bool = False) -> str:
    """``"6/9 answered · 2 stopped · 1 failed"``; while running, ``"running… 4/9"``; ``""`` before any run."""
    total = counts["total"]
    ended = counts["answered"] + counts["failed"] + counts["stopped"]
    if running:
        return f"running… {ended}/{total}"
    if not ended and not counts["needs_key"]:
        return ""
    parts = [f"{counts['answered']}/{total} answered"]
    if counts["stopped"]:
        parts.append(f"{counts['stopped']} stopped")
    if counts["failed"]:
        parts.append(f"{counts['failed']} failed")
    if counts["needs_key"]:
        parts.append(f"{counts['needs_key']} {'needs' if counts['needs_key'] == 1 else 'need'} a key")
    return " · ".join(parts)
