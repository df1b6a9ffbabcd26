"""Turning HTTP failures from any SDK into the workbench's error hierarchy.

Both official SDKs sit on ``httpx2``; they wrap status errors in their own
classes but let some transport errors through raw. One function maps a status
code (plus headers) to an error with a message that names the fix; one maps
transport exceptions by class name, so that no SDK is imported here; and
:func:`translate`, which every provider uses (through
``Provider.translate_error``), picks between them for any exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from .._errors import (
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    TruncatedResponseError,
    WorkbenchError,
)
from ._connect import cannot_connect

__all__ = ["error_for_status", "error_for_transport", "retry_after_from_headers", "short_body", "translate"]


def retry_after_from_headers(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
            return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None


def short_body(body: object, limit: int = 300) -> str:
    """The server's own error message, if it sent one, shortened."""
    text = body if isinstance(body, str) else json.dumps(body, default=str) if body is not None else ""
    try:
        data = json.loads(text) if isinstance(text, str) and text.strip().startswith("{") else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        inner = data.get("error", data)
        if isinstance(inner, dict) and inner.get("message"):
            text = str(inner["message"])
        elif isinstance(inner, str):
            text = inner
    return text[:limit]


def error_for_status(status: int, detail: str, headers: Mapping[str, str] | None, *, provider: str,
                     key_env: str | None) -> ProviderError:
    detail = f" Server said: {detail}" if detail else ""
    if status in (401, 403):
        where = f" in {key_env}" if key_env else ""
        return AuthenticationError(
            f"{provider} rejected the API key{where} ({status}).{detail} Fix: check the key"
            f"{f' and set a valid one in {key_env}' if key_env else ''}; nothing was retried.",
            status=status,
        )
    if status == 429:
        wait = retry_after_from_headers(headers)
        return RateLimitError(
            f"{provider} rate limit reached (429){f', retry after {wait:g} s' if wait is not None else ''}.{detail} "
            "Fix: lower the concurrency (wb.configure(concurrency=...)) or wait; the runner retries automatically.",
            status=status,
            retry_after=wait,
        )
    if status >= 500:
        return ServerError(
            f"{provider} had a server error ({status}).{detail} The runner retries these; if it persists, try later.",
            status=status,
            retry_after=retry_after_from_headers(headers),
        )
    if status == 404:
        return BadRequestError(
            f"{provider} does not know this model or endpoint (404).{detail} "
            "Fix: check the model name (wb.models()) or the endpoint's base_url.",
            status=status,
        )
    return BadRequestError(
        f"{provider} refused the request as invalid ({status}).{detail} "
        "Fix: check the parameters against the provider's documentation; it was not retried.",
        status=status,
    )


_TIMEOUTS = ("Timeout", "TimeoutError", "ReadTimeout", "ConnectTimeout", "WriteTimeout", "PoolTimeout")
_BROKEN_STREAM = ("RemoteProtocolError", "ReadError", "IncompleteRead", "ChunkedEncodingError")


def error_for_transport(exc: BaseException, *, provider: str, streaming: bool,
                        partial_text: str | None = None) -> ProviderError | None:
    """Map a transport-level exception (by class name), or ``None`` if it is not one."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    why = cannot_connect(exc) if partial_text is None else None
    if why is not None:
        return unreachable(provider, why)
    if names & set(_TIMEOUTS):
        return ProviderTimeoutError(
            f"{provider} did not answer in time. The runner retries; raise the timeout with "
            "wb.configure(timeout=...) for long answers.",
            partial_text=partial_text,
        )
    if streaming and partial_text is not None and names & set(_BROKEN_STREAM + ("ConnectError", "APIConnectionError")):
        return StreamInterruptedError(
            f"The connection to {provider} broke mid-answer after {len(partial_text)} characters; "
            "the partial answer was discarded and the call retried.",
            partial_text=partial_text,
        )
    if _in_chain(exc, UnicodeDecodeError):
        return invalid_utf8(provider)
    cut = _truncation(exc)
    if cut is not None and not (streaming and partial_text):
        return TruncatedResponseError(
            f"{provider} closed the connection before the whole response arrived (a truncated response: {cut}). "
            "The runner retries; if it keeps happening, a proxy or the server cuts responses off: check its "
            "limits and timeouts.",
            partial_text=partial_text,
        )
    if names & {"ConnectError", "NetworkError", "TransportError", "APIConnectionError", "NoResponseError",
                "ConnectionError", "ConnectionResetError"} | set(_BROKEN_STREAM):
        return ProviderConnectionError(
            f"Could not reach {provider} ({type(exc).__name__}). Fix: check the network or the endpoint's base_url.",
        )
    if names & {"JSONDecodeError", "ValidationError", "APIResponseValidationError", "ResponseValidationError",
                "DecodingError"}:
        return MalformedResponseError(
            f"{provider} sent a response that is not a valid completion ({type(exc).__name__}).")
    return None


def unreachable(provider: str, why: str) -> ProviderConnectionError:
    """No connection could be opened: not retried (see _connect.py), and the message names the way out."""
    exc = ProviderConnectionError(
        f"Could not connect to {provider}: {why}. Not retried: retrying cannot bring the network back. "
        "Fix: check the network and the provider's address (OPENAI_BASE_URL / MISTRAL_SERVER_URL, or the "
        "endpoint's base_url); to go on offline, use the offline model 'local:smollm2' "
        "(or set WORKBENCH_MODEL=local:smollm2).")
    exc.retryable = False
    return exc


def invalid_utf8(provider: str) -> MalformedResponseError:
    """The one error for an answer that is not valid UTF-8, from any provider, streamed or not (retried:
    a corrupted body is usually transient). Never a text with replacement characters scored as an answer."""
    return MalformedResponseError(
        f"{provider} sent an answer that is not valid UTF-8; it was not used. The runner retries; if it keeps "
        "happening, a proxy may be re-encoding the response: check its charset settings.")


def _in_chain(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``exc`` or any exception it was raised from is a ``kind``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


_TRUNCATED = ("without sending complete message body", "incomplete chunked read", "IncompleteRead",
              "Response ended prematurely")


def _truncation(exc: BaseException) -> str | None:
    """What the transport said when the server closed mid-body (anywhere in the cause chain), else ``None``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = f"{type(current).__name__}: {current}"
        if any(mark in text for mark in _TRUNCATED):
            return str(current)[:160]
        current = current.__cause__ or current.__context__
    return None


def _status_headers(exc: BaseException) -> dict[str, str]:
    """The failed response's headers: ``exc.headers`` (mistralai) or ``exc.response.headers`` (openai)."""
    headers = getattr(exc, "headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None) if response is not None else None
    return dict(headers or {})


def translate(exc: BaseException, *, provider: str, key_env: str | None, streaming: bool,
              partial: str | None = None, fallback: type[ProviderError] = MalformedResponseError) -> WorkbenchError:
    """Any exception from a provider's call as the workbench's error.

    A :class:`WorkbenchError` passes unchanged; an SDK's HTTP status error
    (anything with an int ``status_code`` >= 400) is mapped by
    :func:`error_for_status`; transport failures by :func:`error_for_transport`;
    anything else becomes ``fallback`` naming the exception.
    """
    if isinstance(exc, WorkbenchError):
        return exc  # a provider's own error (e.g. ContextWindowError) stands
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status >= 400:
        body = getattr(exc, "body", None) or getattr(exc, "message", "")
        return error_for_status(status, short_body(body), _status_headers(exc), provider=provider, key_env=key_env)
    mapped = error_for_transport(exc, provider=provider, streaming=streaming, partial_text=partial or None)
    if mapped is not None:
        return mapped
    return fallback(f"{provider} call failed: {type(exc).__name__}: {exc}")
