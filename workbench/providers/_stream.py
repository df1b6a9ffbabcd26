"""One accumulator for streamed answers, shared by every provider.

A provider feeds it each piece it receives (choice index, text, finish
reason) and the usage when it arrives; the accumulator hands back the
:class:`Delta` to pass on, keeps the text of each choice, and at the end
builds the :class:`Completion`, or raises the error that says what went
wrong: no choices at all (:class:`MalformedResponseError`) or a stream that
ended before the first choice's finish reason (:class:`StreamInterruptedError`).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from typing import Any

from .._errors import MalformedResponseError, StreamInterruptedError
from .._tokens import Token
from .._types import Completion, Delta, Usage

__all__ = ["StreamAccumulator", "collect", "no_choices"]


def no_choices(label: str) -> MalformedResponseError:
    """The error for an answer (streamed or not) that has no choices."""
    return MalformedResponseError(f"{label} answered with no choices. The runner retries this.")


class StreamAccumulator:
    """The pieces of one streamed answer with ``n`` choices, from the provider called ``label``."""

    __slots__ = ("label", "n", "reasons", "seen_any", "texts", "tokens", "usage")

    def __init__(self, n: int, label: str) -> None:
        self.n = n
        self.label = label
        self.texts: list[list[str]] = [[] for _ in range(n)]
        self.reasons: list[str | None] = [None] * n
        self.usage = Usage()
        self.seen_any = False
        #: Per choice, the tokens with log-probabilities received so far (``None``: none asked for).
        self.tokens: list[list[Token]] | None = None

    def add(self, index: int, text: str | None, finish_reason: str | None = None) -> Delta | None:
        """Record one choice's piece; returns the :class:`Delta` to show, or ``None`` if there is no text.

        Choices beyond ``n`` (a server that sends more than asked) are ignored.
        """
        self.seen_any = True
        if index >= self.n:
            return None
        if finish_reason:
            self.reasons[index] = finish_reason
        if text:
            self.texts[index].append(text)
            return Delta(text, index)
        return None

    def add_tokens(self, index: int, tokens: Sequence[Token] | None) -> None:
        """Record tokens (with log-probabilities) of choice ``index``, in order."""
        if tokens is None or index >= self.n:
            return
        if self.tokens is None:
            self.tokens = [[] for _ in range(self.n)]
        self.tokens[index].extend(tokens)

    @property
    def partial(self) -> str:
        """The first choice's text so far (what an error reports as received)."""
        return "".join(self.texts[0])

    def completion(self, request: dict[str, Any]) -> Completion:
        """The finished answer, or the error saying why the stream is not one."""
        if not self.seen_any:
            raise no_choices(self.label)
        if self.reasons[0] is None:
            partial = self.partial
            raise StreamInterruptedError(
                f"The stream from {self.label} ended before the answer was complete ({len(partial)} characters "
                "received); the partial answer was discarded and the call retried.",
                partial_text=partial,
            )
        tokens: list[list[Token] | None] | None = list(self.tokens) if self.tokens is not None else None
        return Completion(["".join(t) for t in self.texts], self.reasons[0], self.usage, request, list(self.reasons),
                          tokens=tokens)


async def collect(stream: AsyncIterable[Delta | Completion]) -> Completion:
    """The :class:`Completion` that ends ``stream`` (for providers whose ``complete`` is their stream)."""
    final: Completion | None = None
    async for item in stream:
        if isinstance(item, Completion):
            final = item
    if final is None:
        raise MalformedResponseError("The provider's stream ended without a completion. The runner retries this.")
    return final
