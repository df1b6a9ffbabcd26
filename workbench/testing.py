"""Helpers for testing code built on the workbench: scripted mock models and isolation.

>>> import workbench as wb
>>> from workbench import testing
>>> model = testing.script("capitals", ["Paris", "Rome"])
>>> wb.complete(model, "Capital of France?", cache=False).text   # doctest: +SKIP
'Paris'

``mock:<name>`` models run in-process (no socket, no model file). Unscripted,
they echo the last user message; :func:`script` queues answers and faults
(:func:`fault`). :func:`reset` forgets what a session set up (keys, the
default runner, mock scripts and calls, registered providers);
:func:`isolated` gives a block its own fresh session and puts the old one back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ._keys import clear_session_keys, restore_session_keys
from ._runner import reset_default_runner
from .providers import get_provider, reset_providers, restore_registry, save_registry
from .providers._mock import Fault, FaultKind, MockCall, MockProvider, ScriptItem

__all__ = ["script", "fault", "calls", "mock_provider", "reset", "isolated", "Fault", "MockCall"]


def mock_provider() -> MockProvider:
    """The session's mock provider (holds the scripts and the calls received)."""
    provider = get_provider("mock")
    assert isinstance(provider, MockProvider)
    return provider


def script(name: str, items: Sequence[ScriptItem] = (), *, delay: float = 0.0, chunk_delay: float = 0.0,
           default: ScriptItem | None = None) -> str:
    """Script ``mock:<name>``: successive calls get ``items``, then ``default`` (else an echo).

    An item is a string (the answer), a callable ``(messages, params) -> str``
    or a :func:`fault`. A call with ``n`` > 1 takes one item per choice. Answers
    stream word by word, honour ``stop`` and ``max_tokens`` (one word, one token;
    finish reason ``"length"`` when cut). ``delay`` waits before the first piece of
    each call and ``chunk_delay`` between streamed words (to test Stop). Returns
    the model string.
    """
    mock_provider().script(name, items, delay=delay, chunk_delay=chunk_delay, default=default)
    return f"mock:{name}"


def fault(kind: FaultKind, *, retry_after: float | None = None, text: str = "partial answer that is cut",
          after_chars: int = 8) -> Fault:
    """A scripted failure: ``rate_limit``, ``server``, ``timeout``, ``connection``, ``auth``,
    ``bad_request``, or ``stream_cut`` (sends ``after_chars`` characters of ``text``, then breaks)."""
    return Fault(kind, retry_after, text, after_chars)


def calls(name: str | None = None) -> list[MockCall]:
    """The calls mock models received (all, or those to ``mock:<name>``), oldest first."""
    provider = mock_provider()
    return provider.calls_to(name) if name is not None else list(provider.calls)


def reset(*, providers: bool = True) -> None:
    """Forget session keys, the default runner, and every mock script and recorded mock call; with
    ``providers`` (the default) also every provider instance, registered endpoint and extra model.

    ``providers=False`` keeps provider instances (a loaded local model stays loaded) and registrations.
    """
    clear_session_keys()
    reset_default_runner()
    mock = get_provider("mock")
    if isinstance(mock, MockProvider):  # (unless "mock" was registered as something else)
        mock.reset()
    if providers:
        reset_providers(registrations=True)


@contextmanager
def isolated() -> Iterator[None]:
    """A block with a fresh session (see :func:`reset`); afterwards the session keys, the default
    runner and the providers (endpoints, extra models, mock scripts) are put back as they were."""
    keys: dict[str, str] = clear_session_keys()
    runner = reset_default_runner()
    registry = save_registry()
    reset_providers(registrations=True)
    try:
        yield
    finally:
        restore_registry(registry)
        reset_default_runner(runner)
        restore_session_keys(keys)
