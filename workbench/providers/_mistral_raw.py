"""Mistral's chat request built and sent by its SDK, its answer taken as decoded JSON.

mistralai has no ``with_raw_response``. Its ``chat.complete_async`` does three
things per call: turn each argument into a pydantic object (``utils.unmarshal`` /
``get_pydantic_model``, which *create a pydantic model class at run time* for
every argument, set or not: eight model classes a call), build and send the
request (``_build_request_async``: URL, auth, headers, the JSON body through
the SDK's serializer; ``do_request_async``: its hooks and its httpx client),
and validate the answer into ``ChatCompletionResponse`` (one more model class,
plus one per streamed event). Most of the SDK's CPU per call is those model
classes.

:func:`send` keeps the middle step exactly as the SDK does it and replaces the
other two: the request object is the SDK's own ``ChatCompletionRequest`` (or
``ChatCompletionStreamRequest``) built in one validation from the same keyword
arguments ``complete_async`` passes it, defaults included (so the same fields
count as "set" and the serialized body is the same); the answer is
``json.loads`` of the body (streamed: the SDK's own ``EventStreamAsync`` with
``json.loads`` as its decoder). Error statuses raise the SDK's own error
classes, as ``complete_async`` does. The steps are SDK methods whose names
start with an underscore, so :func:`available` checks them once; without them
the provider keeps calling ``complete_async``.
"""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["available", "send"]

_PATHS = {False: ("/v1/chat/completions", "application/json", "chat_completion_v1_chat_completions_post"),
          True: ("/v1/chat/completions#stream", "text/event-stream", "stream_chat")}


@dataclass(frozen=True)
class _SDK:
    """The pieces of mistralai this path uses, found once."""

    models: Any
    utils: Any
    errors: Any
    hook_context: Any
    eventstreaming: Any
    unmarshal_json_response: Any
    unset: Any
    request_classes: dict[bool, Any]
    defaults: dict[bool, dict[str, Any]]


@functools.cache
def _sdk() -> _SDK | None:
    try:
        from mistralai.client import errors, models, utils
        from mistralai.client._hooks import HookContext
        from mistralai.client.chat import Chat
        from mistralai.client.types import UNSET
        from mistralai.client.utils import eventstreaming
        from mistralai.client.utils.unmarshal_json_response import unmarshal_json_response
    except ImportError:  # another layout (mistralai 1.x): complete_async it is
        return None
    needed = ("_build_request_async", "do_request_async", "_get_url", "complete_async", "stream_async")
    if not all(hasattr(Chat, name) for name in needed) or not all(
            hasattr(utils, name) for name in ("serialize_request_body", "match_response", "match_status_codes",
                                              "get_security_from_env", "stream_to_text_async")):
        return None
    classes = {False: getattr(models, "ChatCompletionRequest", None),
               True: getattr(models, "ChatCompletionStreamRequest", None)}
    if not all(classes.values()):
        return None
    defaults = {stream: _defaults(method, classes[stream])
                for stream, method in ((False, Chat.complete_async), (True, Chat.stream_async))}
    return _SDK(models, utils, errors, HookContext, eventstreaming, unmarshal_json_response, UNSET, classes,
                defaults)


def _defaults(method: Any, request_class: Any) -> dict[str, Any]:
    """The defaults ``method`` passes to the request model for each of its fields (all of them are passed)."""
    fields = set(request_class.model_fields)
    return {name: p.default for name, p in inspect.signature(method).parameters.items()
            if name in fields and p.default is not inspect.Parameter.empty}


def available() -> bool:
    """Whether the installed mistralai has every piece :func:`send` uses."""
    return _sdk() is not None


async def send(chat: Any, body: dict[str, Any], *, timeout_ms: int | None, stream: bool) -> Any:
    """``chat.complete_async(**body)`` (or ``stream_async``) as the decoded JSON (or an async iterator of
    decoded events, each ``{"data": chunk, ...}``)."""
    sdk = _sdk()
    assert sdk is not None, "check available() first"
    config = chat.sdk_configuration
    if timeout_ms is None:
        timeout_ms = config.timeout_ms
    if timeout_ms is None:
        timeout_ms = 300000
    base_url = chat._get_url(None, None)
    request_class = sdk.request_classes[stream]
    request = request_class(**{**sdk.defaults[stream], **body, "stream": stream})
    path, accept, operation = _PATHS[stream]
    utils = sdk.utils
    req = chat._build_request_async(
        method="POST", path=path, base_url=base_url, url_variables=None, request=request,
        request_body_required=True, request_has_path_params=False, request_has_query_params=True,
        user_agent_header="user-agent", accept_header_value=accept, http_headers=None, security=config.security,
        get_serialized_body=lambda: utils.serialize_request_body(request, False, False, "json", request_class),
        allow_empty_value=None, timeout_ms=timeout_ms)
    retries = config.retry_config
    retry_config = (retries, ["429", "500", "502", "503", "504"]) if isinstance(retries, utils.RetryConfig) else None
    http_res = await chat.do_request_async(
        hook_ctx=sdk.hook_context(config=config, base_url=base_url or "", operation_id=operation, oauth2_scopes=None,
                                  security_source=utils.get_security_from_env(config.security, sdk.models.Security),
                                  tags=["chat"], extensions=None),
        request=req, is_error_status_code=lambda c: utils.match_status_codes(["4XX", "5XX"], c), stream=stream,
        retry_config=retry_config)
    if utils.match_response(http_res, "200", accept):
        if stream:
            return sdk.eventstreaming.EventStreamAsync(http_res, json.loads, sentinel="[DONE]", client_ref=chat)
        return json.loads(http_res.text)
    await _raise_for(sdk, http_res, stream)


async def _raise_for(sdk: _SDK, http_res: Any, stream: bool) -> None:
    """The SDK's own error for a response that is not the answer (as ``complete_async`` raises it)."""
    utils, errors = sdk.utils, sdk.errors
    text = await utils.stream_to_text_async(http_res) if stream else http_res.text
    if utils.match_response(http_res, "422", "application/json"):
        data = sdk.unmarshal_json_response(errors.HTTPValidationErrorData, http_res, text)
        raise errors.HTTPValidationError(data, http_res, text)
    if utils.match_response(http_res, "4XX", "*") or utils.match_response(http_res, "5XX", "*"):
        raise errors.SDKError("API error occurred", http_res, text)
    raise errors.SDKError("Unexpected response received", http_res, text)
