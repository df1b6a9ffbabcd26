"""Mistral through the official ``mistralai`` SDK (v1 and later: ``Mistral`` client).

As with OpenAI, the SDK retries nothing (no ``retry_config``): the runner does.

The SDK builds and sends each request; the answer is read from its decoded
JSON, without the SDK's run-time pydantic models (``_mistral_raw.py`` says how
and why). ``sdk_models = True``, or a mistralai without the pieces that path
uses, calls ``chat.complete_async``/``stream_async`` as before.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .._keys import register_url_secrets
from .._params import Params
from .._reasoning import refuse_reasoning_effort
from .._tokens import tokens_from_openai
from .._tools import CallOptions, ToolCallAccumulator, mistral_extras, raw_tool_calls
from .._types import Completion, Delta, Usage
from . import _mistral_raw
from ._base import Provider, import_sdk
from ._connect import mistral_http_client
from ._http import invalid_utf8
from ._stream import StreamAccumulator, no_choices
from ._wire import add_chunk, completion_from_json, malformed, usage_of

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
    out.pop("tool_choice", None)  # sent in the wire shape by mistral_extras, with the tools
    if "seed" in out:
        out["random_seed"] = out.pop("seed")
    return out


def _mistral_client_class() -> Any:
    try:
        return import_sdk("mistralai.client", "mistral").Mistral  # mistralai >= 2
    except (ImportError, AttributeError):  # the 1.x layout (its mistralai.client is the old MistralClient)
        return import_sdk("mistralai", "mistral").Mistral


@functools.cache
def _message_classes() -> dict[str, Any]:
    """The SDK's message classes by role ({} if this SDK version has none by these names)."""
    try:
        models = import_sdk("mistralai.client.models", "mistral")  # mistralai >= 2
    except ImportError:  # the 1.x layout
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
    batch_api: str | None = "mistral"  # SupportsBatch (workbench/providers/_batching.py)
    key_env = "MISTRAL_API_KEY"
    key_help = "Keys are at console.mistral.ai/api-keys."
    default_concurrency = 8
    sdk = ("mistralai", "mistral")
    supports_tools = True
    supports_response_format = True
    accepts_assistant_last = False  # Mistral needs a user or tool turn last (an assistant one only as a prefix)

    #: ``True``: ``chat.complete_async`` and the SDK's response models (the former path, kept for comparison and as
    #: the fallback); ``False``: the SDK's request, the answer read from its JSON where the SDK allows it.
    sdk_models = False

    def __init__(self, server_url: str | None = None) -> None:
        register_url_secrets(server_url)  # credentials inside the URL are secrets (redacted everywhere)
        self.server_url = server_url

    def known_models(self) -> list[str]:
        return list(MISTRAL_MODELS)

    @property
    def supports_logprobs(self) -> bool:  # type: ignore[override]
        """mistralai >= 2 takes ``logprobs``/``top_logprobs``; an older SDK is refused before any call."""
        return _sdk_has_logprobs()

    def map_params(self, params: Params) -> dict[str, Any]:
        return map_mistral_params(params)

    def check_params(self, model: str, params: Params) -> None:
        super().check_params(model, params)
        if params.reasoning_effort is not None and not _sdk_has("reasoning_effort"):
            refuse_reasoning_effort(
                f"mistral:{model}", "the installed mistralai has no reasoning_effort argument",
                "or upgrade mistralai (>= 2 takes it: mistral-small-latest and the magistral models reason) "
                "with pip install -U mistralai, or use 'openai:o4-mini'.")

    def _client(self) -> Any:
        key = self.api_key() or ""
        return self.loop_client(key, lambda: _mistral_client_class()(api_key=key, server_url=self.server_url,
                                                                     async_client=mistral_http_client()))

    def _request(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                 options: CallOptions | None = None) -> dict[str, Any]:
        return {"model": model, "messages": [dict(m) for m in messages], **self.map_params(params),
                **mistral_extras(options)}

    def batch_body(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                   options: CallOptions | None = None) -> dict[str, Any]:
        """The ``body`` of a batch-API line: exactly what :meth:`complete` sends to ``chat.complete``."""
        return self._request(model, messages, params, options)

    def _public_request(self, body: dict[str, Any]) -> dict[str, Any]:
        shown = {"provider": self.name, **body}
        if self.server_url:
            shown["server_url"] = self.server_url
        return shown

    @staticmethod
    def _timeout_ms(timeout: float | None) -> int | None:
        return int(timeout * 1000) if timeout else None

    def _raw(self) -> bool:
        return not self.sdk_models and _mistral_raw.available()

    async def complete(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                       *, timeout: float | None = None, options: CallOptions | None = None) -> Completion:
        if not self._raw():
            return await self._complete_with_models(model, messages, params, timeout=timeout, options=options)
        body = self._request(model, messages, params, options)
        try:
            data = await _mistral_raw.send(self._client().chat, body, timeout_ms=self._timeout_ms(timeout),
                                           stream=False)
        except Exception as exc:  # translated into the workbench's errors
            raise self.options_refused(self.translate_error(exc, streaming=False), options) from exc
        completion = completion_from_json(data, self._public_request(body), label=self.error_label,
                                          logprobs=bool(params.logprobs), content=_content, reason=_reason,
                                          zero_none_usage=True)
        self._check_utf8(completion.choices, messages)
        return completion

    def _check_utf8(self, choices: Sequence[str], messages: Sequence[dict[str, Any]]) -> None:
        if any("\ufffd" in text for text in choices) and not any("\ufffd" in str(m.get("content")) for m in messages):
            # mistralai decodes a body that is not UTF-8 with replacement characters; the OpenAI SDK fails
            # on it. One behaviour for both: a malformed response, retried (see http.invalid_utf8).
            raise invalid_utf8(self.error_label)

    async def _complete_with_models(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                                    *, timeout: float | None = None, options: CallOptions | None = None) -> Completion:
        body = self._request(model, messages, params, options)
        try:
            result = await self._client().chat.complete_async(**{**body, "messages": sdk_messages(body["messages"])},
                                                              timeout_ms=self._timeout_ms(timeout))
        except Exception as exc:  # translated into the workbench's errors
            raise self.options_refused(self.translate_error(exc, streaming=False), options) from exc
        if result is None or not result.choices:
            raise no_choices(self.error_label)
        choices = [_content(c.message.content) for c in result.choices]
        self._check_utf8(choices, messages)
        reasons = [str(c.finish_reason) if c.finish_reason else None for c in result.choices]
        usage = usage_of(result.usage) if result.usage else Usage()
        tokens = [tokens_from_openai(getattr(c, "logprobs", None)) for c in result.choices] if params.logprobs else None
        return Completion(choices, reasons[0], usage, self._public_request(body), reasons,
                          tool_calls=raw_tool_calls(result.choices[0].message.tool_calls), tokens=tokens)

    async def stream(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                     *, timeout: float | None = None, options: CallOptions | None = None,
                     ) -> AsyncIterator[Delta | Completion]:
        if not self._raw():
            async for item in self._stream_with_models(model, messages, params, timeout=timeout, options=options):
                yield item
            return
        body = self._request(model, messages, params, options)
        answer = StreamAccumulator(params.n, self.error_label)
        calls = ToolCallAccumulator()
        logprobs = bool(params.logprobs)
        try:
            events = await _mistral_raw.send(self._client().chat, body, timeout_ms=self._timeout_ms(timeout),
                                             stream=True)
            async for event in events:
                with malformed(self.error_label):
                    chunk = event["data"]
                for delta in add_chunk(chunk, answer, calls, logprobs=logprobs, content=_content, reason=_reason,
                                       zero_none_usage=True):
                    yield delta
        except Exception as exc:
            raise self.options_refused(self.translate_error(exc, streaming=True, partial=answer.partial),
                                       options) from exc
        yield dataclasses.replace(answer.completion(self._public_request(body)), tool_calls=calls.result())

    async def _stream_with_models(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                                  *, timeout: float | None = None, options: CallOptions | None = None,
                                  ) -> AsyncIterator[Delta | Completion]:
        body = self._request(model, messages, params, options)
        answer = StreamAccumulator(params.n, self.error_label)
        calls = ToolCallAccumulator()
        try:
            events = await self._client().chat.stream_async(**{**body, "messages": sdk_messages(body["messages"])},
                                                            timeout_ms=self._timeout_ms(timeout))
            async for event in events:
                chunk = event.data
                if chunk.usage:
                    answer.usage = usage_of(chunk.usage)
                for choice in chunk.choices or ():
                    if choice.index == 0 and choice.delta is not None and choice.delta.tool_calls:
                        calls.add(choice.delta.tool_calls)
                    delta = answer.add(choice.index, _content(choice.delta.content) if choice.delta else None,
                                       str(choice.finish_reason) if choice.finish_reason else None)
                    if params.logprobs:
                        answer.add_tokens(choice.index, tokens_from_openai(getattr(choice, "logprobs", None)))
                    if delta is not None:
                        yield delta
        except Exception as exc:
            raise self.options_refused(self.translate_error(exc, streaming=True, partial=answer.partial),
                                       options) from exc
        yield dataclasses.replace(answer.completion(self._public_request(body)), tool_calls=calls.result())


@functools.cache
def _sdk_has(argument: str) -> bool:
    """Whether the installed mistralai's ``chat.complete`` takes ``argument`` (checked once, without a call)."""
    import importlib.util
    import inspect

    if importlib.util.find_spec("mistralai") is None:
        return True  # no SDK at all: the missing-dependency error, raised next, is the one to show
    try:
        chat = import_sdk("mistralai.client.chat", "mistral")  # mistralai >= 2
    except Exception:  # noqa: BLE001 - the 1.x layout
        return False
    cls = getattr(chat, "Chat", None)
    return cls is not None and argument in inspect.signature(cls.complete).parameters


def _sdk_has_logprobs() -> bool:
    """Whether the installed mistralai's ``chat.complete`` takes ``logprobs`` (checked once, without a call)."""
    return _sdk_has("logprobs")


def _reason(reason: Any) -> str | None:
    return str(reason) if reason else None


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
