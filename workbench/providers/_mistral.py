"""Mistral through the official ``mistralai`` SDK (v1 and later: ``Mistral`` client).

As with OpenAI, the SDK retries nothing (no ``retry_config``): the runner does.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .._errors import MalformedResponseError, StreamInterruptedError, WorkbenchError
from .._keys import register_url_secrets
from .._params import Params
from .._types import Completion, Delta, Usage
from ._base import Provider, import_sdk
from ._http import error_for_status, error_for_transport, short_body

__all__ = ["MistralProvider", "map_mistral_params"]

MISTRAL_MODELS = [
    "mistral-small-latest",
    "mistral-medium-latest",
    "mistral-large-latest",
    "ministral-8b-latest",
    "open-mistral-nemo",
]


def map_mistral_params(params: Params) -> dict[str, Any]:
    """Params -> ``chat.complete`` keyword arguments (``seed`` is ``random_seed`` there)."""
    out = params.set()
    if "seed" in out:
        out["random_seed"] = out.pop("seed")
    return out


def _mistral_client_class() -> Any:
    try:
        return import_sdk("mistralai.client", "mistral").Mistral  # mistralai >= 2
    except Exception:  # noqa: BLE001 - fall back to the 1.x layout
        return import_sdk("mistralai", "mistral").Mistral


@functools.cache
def _message_classes() -> dict[str, Any]:
    """The SDK's message classes by role ({} if this SDK version has none by these names)."""
    try:
        models = import_sdk("mistralai.client.models", "mistral")  # mistralai >= 2
    except Exception:  # noqa: BLE001 - fall back to the 1.x layout
        models = import_sdk("mistralai.models", "mistral")
    names = {"system": "SystemMessage", "user": "UserMessage", "assistant": "AssistantMessage"}
    classes = {role: getattr(models, name, None) for role, name in names.items()}
    return classes if all(classes.values()) else {}


def sdk_messages(messages: list[dict[str, str]]) -> list[Any]:
    """The SDK's own message objects for plain role/content messages (else the dicts unchanged).

    Given dicts, mistralai validates them by building a pydantic model at run
    time on every call, about a quarter of its CPU cost per call; given its
    message objects it skips that step. The wire body is the same either way.
    """
    classes = _message_classes()
    if not classes or any(set(m) != {"role", "content"} or m["role"] not in classes for m in messages):
        return messages
    return [classes[m["role"]](content=m["content"]) for m in messages]


class MistralProvider(Provider):
    name = "mistral"
    key_env = "MISTRAL_API_KEY"
    key_help = "Keys are at console.mistral.ai/api-keys."
    default_concurrency = 8
    sdk = ("mistralai", "mistral")

    def __init__(self, server_url: str | None = None) -> None:
        register_url_secrets(server_url)  # credentials inside the URL are secrets (redacted everywhere)
        self.server_url = server_url

    def known_models(self) -> list[str]:
        return list(MISTRAL_MODELS)

    def map_params(self, params: Params) -> dict[str, Any]:
        return map_mistral_params(params)

    def _client(self) -> Any:
        key = self.api_key() or ""
        return self.loop_client(key, lambda: _mistral_client_class()(api_key=key, server_url=self.server_url))

    def _request(self, model: str, messages: Sequence[dict[str, str]], params: Params) -> dict[str, Any]:
        return {"model": model, "messages": [dict(m) for m in messages], **self.map_params(params)}

    def batch_body(self, model: str, messages: Sequence[dict[str, str]], params: Params) -> dict[str, Any]:
        """The ``body`` of a batch-API line: exactly what :meth:`complete` sends to ``chat.complete``."""
        return self._request(model, messages, params)

    def _public_request(self, body: dict[str, Any]) -> dict[str, Any]:
        shown = {"provider": self.name, **body}
        if self.server_url:
            shown["server_url"] = self.server_url
        return shown

    @staticmethod
    def _timeout_ms(timeout: float | None) -> int | None:
        return int(timeout * 1000) if timeout else None

    async def complete(self, model: str, messages: Sequence[dict[str, str]], params: Params,
                       *, timeout: float | None = None) -> Completion:
        body = self._request(model, messages, params)
        try:
            result = await self._client().chat.complete_async(**{**body, "messages": sdk_messages(body["messages"])},
                                                              timeout_ms=self._timeout_ms(timeout))
        except Exception as exc:
            raise self._translate(exc, streaming=False) from exc
        if result is None or not result.choices:
            raise MalformedResponseError("mistral answered with no choices. The runner retries this.")
        choices = [_content(c.message.content) for c in result.choices]
        reasons = [str(c.finish_reason) if c.finish_reason else None for c in result.choices]
        usage = Usage(result.usage.prompt_tokens or 0, result.usage.completion_tokens or 0) if result.usage else Usage()
        return Completion(choices, reasons[0], usage, self._public_request(body), reasons)

    async def stream(self, model: str, messages: Sequence[dict[str, str]], params: Params,
                     *, timeout: float | None = None) -> AsyncIterator[Delta | Completion]:
        body = self._request(model, messages, params)
        n = params.n
        texts: list[list[str]] = [[] for _ in range(n)]
        reasons: list[str | None] = [None] * n
        usage = Usage()
        try:
            events = await self._client().chat.stream_async(**{**body, "messages": sdk_messages(body["messages"])},
                                                            timeout_ms=self._timeout_ms(timeout))
            async for event in events:
                chunk = event.data
                if chunk.usage:
                    usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
                for choice in chunk.choices or ():
                    if choice.index >= n:
                        continue
                    piece = _content(choice.delta.content) if choice.delta else ""
                    if piece:
                        texts[choice.index].append(piece)
                        yield Delta(piece, choice.index)
                    if choice.finish_reason:
                        reasons[choice.index] = str(choice.finish_reason)
        except Exception as exc:
            raise self._translate(exc, streaming=True, partial="".join(texts[0])) from exc
        if reasons[0] is None:
            raise StreamInterruptedError(
                f"The stream from mistral ended before the answer was complete ({len(''.join(texts[0]))} characters "
                "received); the partial answer was discarded and the call retried.",
                partial_text="".join(texts[0]),
            )
        yield Completion(["".join(t) for t in texts], reasons[0], usage, self._public_request(body), reasons)

    def _translate(self, exc: BaseException, *, streaming: bool, partial: str | None = None) -> Exception:
        if isinstance(exc, WorkbenchError):
            return exc
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and status >= 400:
            headers = dict(getattr(exc, "headers", None) or {})
            body = getattr(exc, "body", None) or getattr(exc, "message", "")
            return error_for_status(status, short_body(body), headers, provider="mistral", key_env=self.key_env)
        mapped = error_for_transport(exc, provider="mistral", streaming=streaming, partial_text=partial or None)
        if mapped is not None:
            return mapped
        return MalformedResponseError(f"mistral call failed: {type(exc).__name__}: {exc}")


def _content(content: Any) -> str:
    """Mistral message content may be a string or a list of typed chunks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for piece in content:
        text = getattr(piece, "text", None)
        if text is None and isinstance(piece, dict):
            text = piece.get("text")
        parts.append(text or "")
    return "".join(parts)
