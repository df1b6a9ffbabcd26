"""Failing fast when a hosted provider cannot be reached at all.

Why: a presenter with a key set but no network used to wait through six attempts
of up to 120 s each (the runner's timeout applies to connecting too, and every
failure to connect was retried). Two changes, both here:

* **A short connect timeout** (:data:`CONNECT_TIMEOUT_S`, ``$WORKBENCH_CONNECT_TIMEOUT``):
  the SDKs get an HTTP transport that caps the *connect* phase (DNS and the TCP/TLS
  handshake) of every request, whatever timeout the request itself carries; reading a
  long answer keeps the runner's full timeout. A server that is up accepts a
  connection in milliseconds; one that has not in 5 s is not there.
* **"Cannot connect" is not retried** (:func:`cannot_connect`): refused, no route,
  a name that does not resolve, or no answer to the connect. Retrying cannot bring
  the network back within a run, so the call fails at once with a message naming the
  fix. Rate limits, server errors, read timeouts and broken streams (the server was
  reached) are still retried.
"""

from __future__ import annotations

import os
import socket
from typing import Any

__all__ = ["CONNECT_TIMEOUT_S", "connect_timeout", "fast_connect_transport", "cannot_connect", "openai_http_client",
           "mistral_http_client"]

CONNECT_TIMEOUT_S = 5.0

# Transport exceptions (by class name, anywhere in the cause chain) raised before any byte was sent.
_CONNECT_FAILURES = frozenset({"ConnectError", "ConnectTimeout", "gaierror", "ConnectionRefusedError"})


def connect_timeout() -> float:
    """Seconds allowed to open a connection: ``$WORKBENCH_CONNECT_TIMEOUT`` or :data:`CONNECT_TIMEOUT_S`."""
    try:
        value = float(os.environ.get("WORKBENCH_CONNECT_TIMEOUT") or CONNECT_TIMEOUT_S)
    except ValueError:
        return CONNECT_TIMEOUT_S
    return value if value > 0 else CONNECT_TIMEOUT_S


def fast_connect_transport(httpx: Any, **kwargs: Any) -> Any:
    """An ``httpx`` (or ``httpx2``) async transport whose connect phase never waits longer than
    :func:`connect_timeout`; ``kwargs`` go to ``AsyncHTTPTransport`` (e.g. the SDK's ``limits``)."""

    class FastConnectTransport(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: Any) -> Any:
            timeouts = dict(request.extensions.get("timeout") or {})
            cap = connect_timeout()
            if timeouts.get("connect") is None or timeouts["connect"] > cap:
                timeouts["connect"] = cap
                request.extensions = {**request.extensions, "timeout": timeouts}
            return await super().handle_async_request(request)

    return FastConnectTransport(**kwargs)


def cannot_connect(exc: BaseException) -> str | None:
    """Why no connection could be opened (``exc`` or its causes), or ``None`` if the failure came later."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    if not any({cls.__name__ for cls in type(e).__mro__} & _CONNECT_FAILURES for e in chain):
        return None
    if any(isinstance(e, socket.gaierror) or "name or service not known" in str(e).lower()
           or "temporary failure in name resolution" in str(e).lower() for e in chain):
        return "the server's name does not resolve: no network, or a mistyped address"
    if any(isinstance(e, ConnectionRefusedError) or "refused" in str(e).lower() for e in chain):
        return "connection refused: nothing listens at that address"
    if any(type(e).__name__ == "ConnectTimeout" for e in chain):
        return f"no answer to the connection within {connect_timeout():g} s: no network, or a firewall"
    return f"cannot connect ({type(exc).__name__}: {str(exc)[:80]})"


def openai_http_client(openai: Any) -> Any:
    """The ``openai`` SDK's own async client (its limits and defaults) on a fast-connect transport."""
    import importlib

    cls = openai.DefaultAsyncHttpxClient
    httpx = importlib.import_module(cls.__mro__[1].__module__.partition(".")[0])  # httpx2 (or httpx)
    limits = getattr(importlib.import_module("openai._constants"), "DEFAULT_CONNECTION_LIMITS", None)
    return cls(transport=fast_connect_transport(httpx, **({"limits": limits} if limits is not None else {})))


def mistral_http_client() -> Any:
    """What ``mistralai`` makes by default (``AsyncClient(follow_redirects=True)``), on a fast-connect transport."""
    import importlib

    try:
        httpx = importlib.import_module("mistralai.client.httpclient").httpx  # mistralai >= 2
    except (ImportError, AttributeError):
        httpx = importlib.import_module("mistralai.httpclient").httpx  # the 1.x layout
    return httpx.AsyncClient(follow_redirects=True, transport=fast_connect_transport(httpx))
