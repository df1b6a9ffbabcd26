"""OpenAI, and any server that speaks its chat-completions API, through the ``openai`` SDK.

The SDK's own retries are switched off (``max_retries=0``): the runner owns
retries so that they are counted, logged and honour ``Retry-After`` the same
way for every provider. One ``AsyncOpenAI`` client is kept per event loop and
key, because its connection pool belongs to the loop that created it.

The SDK builds and sends every request (auth, base URL, headers, the JSON
body, timeouts) through its documented generic ``client.post`` with
``cast_to=object``: the answer comes back as the decoded JSON (streamed: one
dict per server-sent event, through the SDK's own ``AsyncStream``), which
``_wire.py`` reads once into a :class:`Completion`. That skips the two costliest
steps of ``chat.completions.create`` for a client that reads a few fields: the
recursive transform of the typed parameters (an identity for the plain dicts
sent here) and constructing ``ChatCompletion``/``ChatCompletionChunk`` objects.
The body on the wire is the same (``tests/test_wire_paths.py`` compares both
paths); ``sdk_models = True`` switches back to ``create``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .._keys import register_url_secrets
from .._params import Params
from .._reasoning import check_reasoning_params
from .._tokens import tokens_from_openai
from .._tools import CallOptions, ToolCallAccumulator, openai_extras, raw_tool_calls
from .._types import Completion, Delta, Usage
from ._base import Provider, import_sdk
from ._connect import openai_http_client
from ._stream import StreamAccumulator, no_choices
from ._wire import add_chunk, completion_from_json, usage_of

__all__ = ["OpenAIProvider", "CompatibleProvider", "map_openai_params"]

OPENAI_MODELS = ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o4-mini",
                 # more reasoning models (workbench/_reasoning.py); no price in _pricing.PRICES: cost unknown
                 "o3", "o3-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano"]


def map_openai_params(params: Params, *, max_tokens_field: str = "max_completion_tokens") -> dict[str, Any]:
    """Params -> ``chat.completions.create`` keyword arguments.

    ``max_tokens`` goes out as ``max_completion_tokens`` for OpenAI itself (its reasoning models take
    only that name; the chat models take both) and ``reasoning_effort`` as is (``_reasoning.py`` refuses
    it, and the sampling parameters reasoning models reject, before any call).
    """
    out = params.set()
    out.pop("tool_choice", None)  # sent in the wire shape by openai_extras, with the tools
    if "max_tokens" in out:
        out[max_tokens_field] = out.pop("max_tokens")
    return out


class OpenAIProvider(Provider):
    name = "openai"
    key_env: str | None = "OPENAI_API_KEY"  # a compatible server may need none
    key_help = "Keys are at platform.openai.com/api-keys."
    default_concurrency = 16
    sdk = ("openai", "openai")
    max_tokens_field = "max_completion_tokens"
    batch_api: str | None = "openai"  # SupportsBatch (workbench/providers/_batching.py)
    supports_tools = True
    supports_response_format = True
    supports_logprobs = True
    #: Why a token view cannot branch here: OpenAI answers a trailing assistant message anew, it does not continue it.
    branch_refusal: str | None = (
        "OpenAI's chat API does not continue a trailing assistant message (it answers it anew), so an answer "
        "cannot be continued from a forced token. Branching works with local:smollm2 and OpenAI-compatible "
        "servers (wb.add_endpoint) that continue a trailing assistant message."
    )

    #: Whether OpenAI's own model rules apply (reasoning models, ``workbench/_reasoning.py``); not for a
    #: compatible server, whose models are its own.
    reasoning_rules = True

    #: ``True``: the answer through ``chat.completions.create`` and the SDK's response objects (the former path,
    #: kept for comparison and as a fallback); ``False``: the decoded JSON read once (see the module's docstring).
    sdk_models = False

    def __init__(self, base_url: str | None = None) -> None:
        register_url_secrets(base_url)  # credentials inside the URL are secrets (redacted everywhere)
        self.base_url = base_url

    def known_models(self) -> list[str]:
        return list(OPENAI_MODELS)

    def map_params(self, params: Params) -> dict[str, Any]:
        return map_openai_params(params, max_tokens_field=self.max_tokens_field)

    def check_params(self, model: str, params: Params) -> None:
        super().check_params(model, params)
        if self.reasoning_rules:
            check_reasoning_params(model, params)

    def _client(self, timeout: float | None) -> Any:
        openai = import_sdk("openai", "openai")
        key = self.api_key() or "not-needed"
        return self.loop_client(key, lambda: openai.AsyncOpenAI(api_key=key, base_url=self.base_url, max_retries=0,
                                                                timeout=timeout or 600.0,
                                                                http_client=openai_http_client(openai)))

    def _request(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                 options: CallOptions | None = None, **extra: Any) -> dict[str, Any]:
        return {"model": model, "messages": [dict(m) for m in messages], **self.map_params(params),
                **openai_extras(options), **extra}

    def batch_body(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                   options: CallOptions | None = None) -> dict[str, Any]:
        """The ``body`` of a batch-API line: exactly what :meth:`complete` sends to ``chat.completions.create``."""
        return self._request(model, messages, params, options)

    def _public_request(self, body: dict[str, Any]) -> dict[str, Any]:
        shown = {"provider": self.name, **body}
        if self.base_url:
            shown["base_url"] = self.base_url
        return shown

    @property
    def error_label(self) -> str:
        return self.name + (f" ({self.base_url})" if self.base_url else "")

    async def _post(self, body: dict[str, Any], timeout: float | None, *, stream: bool = False) -> Any:
        """``POST /chat/completions`` through the SDK, answered as decoded JSON (a stream of dicts if ``stream``).

        The same request ``chat.completions.create`` sends: its path, body, timeout and bearer-auth security.
        """
        client = self._client(timeout)
        options = {"timeout": timeout, "security": {"bearer_auth": True}}
        if not stream:
            return await client.post("/chat/completions", body=body, cast_to=object, options=options)
        stream_cls = import_sdk("openai", "openai").AsyncStream[object]
        return await client.post("/chat/completions", body=body, cast_to=object, options=options, stream=True,
                                 stream_cls=stream_cls)

    async def complete(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                       *, timeout: float | None = None, options: CallOptions | None = None) -> Completion:
        if self.sdk_models:
            return await self._complete_with_models(model, messages, params, timeout=timeout, options=options)
        body = self._request(model, messages, params, options)
        try:
            data = await self._post(body, timeout)
        except Exception as exc:  # translated into the workbench's errors
            raise self.options_refused(self.translate_error(exc, streaming=False), options) from exc
        return completion_from_json(data, self._public_request(body), label=self.error_label,
                                    logprobs=bool(params.logprobs))

    async def _complete_with_models(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                                    *, timeout: float | None = None, options: CallOptions | None = None) -> Completion:
        body = self._request(model, messages, params, options)
        try:
            result = await self._client(timeout).chat.completions.create(**body, timeout=timeout)
        except Exception as exc:  # translated into the workbench's errors
            raise self.options_refused(self.translate_error(exc, streaming=False), options) from exc
        if not getattr(result, "choices", None):
            raise no_choices(self.error_label)
        choices = [c.message.content or "" for c in result.choices]
        reasons = [c.finish_reason for c in result.choices]
        usage = usage_of(result.usage) if result.usage else Usage()
        tokens = [tokens_from_openai(getattr(c, "logprobs", None)) for c in result.choices] if params.logprobs else None
        return Completion(choices, reasons[0], usage, self._public_request(body), reasons,
                          tool_calls=raw_tool_calls(result.choices[0].message.tool_calls), tokens=tokens)

    async def stream(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                     *, timeout: float | None = None, options: CallOptions | None = None,
                     ) -> AsyncIterator[Delta | Completion]:
        if self.sdk_models:
            async for item in self._stream_with_models(model, messages, params, timeout=timeout, options=options):
                yield item
            return
        body = self._request(model, messages, params, options, stream=True, stream_options={"include_usage": True})
        answer = StreamAccumulator(params.n, self.error_label)
        calls = ToolCallAccumulator()  # the first choice's tool calls, whose arguments arrive in fragments
        logprobs = bool(params.logprobs)
        try:
            async for chunk in await self._post(body, timeout, stream=True):
                for delta in add_chunk(chunk, answer, calls, logprobs=logprobs):
                    yield delta
        except Exception as exc:
            raise self.options_refused(self.translate_error(exc, streaming=True, partial=answer.partial),
                                       options) from exc
        yield dataclasses.replace(answer.completion(self._public_request(body)), tool_calls=calls.result())

    async def _stream_with_models(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                                  *, timeout: float | None = None, options: CallOptions | None = None,
                                  ) -> AsyncIterator[Delta | Completion]:
        body = self._request(model, messages, params, options, stream=True, stream_options={"include_usage": True})
        answer = StreamAccumulator(params.n, self.error_label)
        calls = ToolCallAccumulator()  # the first choice's tool calls, whose arguments arrive in fragments
        try:
            stream = await self._client(timeout).chat.completions.create(**body, timeout=timeout)
            async for chunk in stream:
                if chunk.usage:
                    answer.usage = usage_of(chunk.usage)
                for choice in chunk.choices or ():
                    if choice.index == 0 and choice.delta is not None and choice.delta.tool_calls:
                        calls.add(choice.delta.tool_calls)
                    delta = answer.add(choice.index, choice.delta.content if choice.delta else None,
                                       choice.finish_reason)
                    if params.logprobs:
                        answer.add_tokens(choice.index, tokens_from_openai(getattr(choice, "logprobs", None)))
                    if delta is not None:
                        yield delta
        except Exception as exc:
            raise self.options_refused(self.translate_error(exc, streaming=True, partial=answer.partial),
                                       options) from exc
        yield dataclasses.replace(answer.completion(self._public_request(body)), tool_calls=calls.result())


class CompatibleProvider(OpenAIProvider):
    """An OpenAI-compatible server (Ollama, vLLM, llama.cpp server, LM Studio) at ``base_url``."""

    max_tokens_field = "max_tokens"  # what the compatible servers understand
    reasoning_rules = False  # its models' rules are its own: reasoning_effort and the rest are sent as given
    batch_api = None  # the chat API only: no files and batch endpoints
    default_concurrency = 4
    branch_refusal = None  # llama.cpp server, vLLM, Ollama, LM Studio continue a trailing assistant message

    def __init__(self, name: str, base_url: str, *, key_env: str | None = None, models: Sequence[str] = ()) -> None:
        super().__init__(base_url=base_url)
        self.name = name
        self.key_env = key_env
        self.key_help = ""
        self._models = list(models)

    def known_models(self) -> list[str]:
        return list(self._models)

    def accepts_any_model(self) -> bool:
        return not self._models
