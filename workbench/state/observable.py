"""Observation: listeners hear the name of whatever changed; a throttle keeps streaming updates few.

State objects are *observable*: setting a public attribute, or calling a
method that changes something, calls every listener registered with
:meth:`Observable.observe` with the name of what changed. Views subscribe to
refresh themselves, so ``playground.state.user = "..."`` updates the screen.
Listeners may be called from the portal thread while an answer streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from .inputs import friendly_error

__all__ = ["Observable", "Throttle", "Listener"]

Listener = Callable[[str], Any]


class Observable:
    """Tiny observer pattern: listeners get the name of whatever changed.

    A listener that raises never breaks a run; its error is kept in
    ``listener_errors`` (tests assert it stays empty).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if not name.startswith("_"):
            self.changed(name)

    def observe(self, listener: Listener) -> Listener:
        """Call ``listener(name)`` after every change; returns it (usable as a decorator)."""
        self._listener_list().append(listener)
        return listener

    def unobserve(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listener_list().remove(listener)

    def changed(self, name: str) -> None:
        """Tell the listeners that ``name`` changed (for in-place edits of lists and dicts)."""
        for listener in list(self.__dict__.get("_listeners", ())):
            try:
                listener(name)
            except Exception as exc:  # noqa: BLE001 - a view bug must not sink a run
                self.__dict__.setdefault("_listener_errors", []).append(friendly_error(exc))

    @property
    def listener_errors(self) -> list[str]:
        return list(self.__dict__.get("_listener_errors", ()))

    def _listener_list(self) -> list[Listener]:
        if "_listeners" not in self.__dict__:
            object.__setattr__(self, "_listeners", [])
        return self.__dict__["_listeners"]


class Throttle:
    """Call ``flush`` at most once per ``interval`` seconds, and always at the end.

    Streaming produces a delta every few milliseconds; sending each one to
    the browser would flood the comm channel. :meth:`poke` flushes at once
    when enough time has passed, otherwise schedules one flush for later on
    the running event loop (if any); :meth:`final` flushes unconditionally.
    """

    def __init__(self, flush: Callable[[], Any], interval: float = 0.05) -> None:
        self.flush = flush
        self.interval = interval
        self.calls = 0
        self._last = 0.0
        self._pending: asyncio.TimerHandle | None = None
        self._lock = threading.Lock()

    def poke(self) -> None:
        now = time.monotonic()
        with self._lock:
            wait = self._last + self.interval - now
            if wait <= 0:
                self._cancel_pending()
                self._last = now
                run = True
            else:
                run = False
                if self._pending is None:
                    try:
                        loop = asyncio.get_running_loop()
                    except RuntimeError:
                        loop = None
                    if loop is not None:
                        self._pending = loop.call_later(wait, self._from_timer)
        if run:
            self._do()

    def final(self) -> None:
        with self._lock:
            self._cancel_pending()
            self._last = time.monotonic()
        self._do()

    def _from_timer(self) -> None:
        with self._lock:
            self._pending = None
            self._last = time.monotonic()
        self._do()

    def _cancel_pending(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _do(self) -> None:
        self.calls += 1
        self.flush()
