"""``instant:<anything>``: a provider that answers at once, so that only the workbench's own work is timed.

It does no I/O: the answer is ``positive`` or ``negative``, chosen from the
message and the temperature, so scorers and plots get varied scores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from workbench._params import Params
from workbench._types import Completion, Delta, Usage
from workbench.providers import Provider, register_provider

__all__ = ["InstantProvider", "register"]


class InstantProvider(Provider):
    """A stand-in model with no latency at all."""

    name = "instant"
    default_concurrency = 64

    def accepts_any_model(self) -> bool:
        return True

    def map_params(self, params: Params) -> dict[str, Any]:
        return params.set()

    async def complete(self, model: str, messages: Sequence[dict[str, str]], params: Params,
                       *, timeout: float | None = None) -> Completion:
        text = "positive" if sum(map(ord, messages[-1]["content"])) % 3 or params.temperature == 0 else "negative"
        request = {"provider": self.name, "model": model, "messages": [dict(m) for m in messages], **params.set()}
        return Completion([text], "stop", Usage(12, 1), request, ["stop"])

    async def stream(self, model: str, messages: Sequence[dict[str, str]], params: Params,
                     *, timeout: float | None = None) -> AsyncIterator[Delta | Completion]:
        done = await self.complete(model, messages, params)
        yield Delta(done.choices[0])
        yield done


def register() -> None:
    register_provider("instant", InstantProvider)
