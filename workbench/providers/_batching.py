"""What a provider needs to run experiments through a batch API: the :class:`SupportsBatch` protocol.

A batch line must hold exactly the request the online path would send (same
parameter mapping, tools, tool_choice and response_format), so the provider that builds the online request also builds
the batch body. ``batch_api`` names the wire format of the provider's files and
batch endpoints (``"openai"``, ``"mistral"``); ``None`` says "this provider
speaks the chat API but has no batch API", as an OpenAI-compatible server
(Ollama, vLLM) that inherits the OpenAI provider's request building does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from .._params import Params
from .._tools import CallOptions

__all__ = ["SupportsBatch", "batch_api_of"]


@runtime_checkable
class SupportsBatch(Protocol):
    """A provider whose calls can go through a batch API (implemented by the OpenAI and Mistral providers)."""

    #: The batch API's wire format ("openai" or "mistral"), or None when this provider has none.
    batch_api: str | None

    def batch_body(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                   options: CallOptions | None = None) -> dict[str, Any]:
        """The ``body`` of one batch line: exactly the request the online ``complete`` sends
        (tools, tool_choice and response_format included, from ``options``)."""
        ...


def batch_api_of(provider: object) -> str | None:
    """The provider's batch API (its wire format), or None when it has none.

    Reads the attribute directly: a runtime ``isinstance`` against a Protocol walks its members on
    every call, which shows when it runs once per collected answer.
    """
    api = getattr(provider, "batch_api", None)
    return api if isinstance(api, str) and callable(getattr(provider, "batch_body", None)) else None
