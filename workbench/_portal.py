"""Run async code from sync code, inside Jupyter or not.

Jupyter's kernel already runs an event loop in the main thread, so
``asyncio.run`` would crash there. Instead, every synchronous entry point
(``wb.complete``, ``wb.stream``, ``Experiment.run``, the widgets) hands its
coroutine to one long-lived event loop in a daemon thread: the *portal*. One
loop also means one set of SDK clients and connection pools for the session.
Interrupting the kernel (KeyboardInterrupt) cancels the work in the portal.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["run_sync", "submit", "iterate_sync", "portal_loop"]

T = TypeVar("T")
_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_DONE = object()


def portal_loop() -> asyncio.AbstractEventLoop:
    """The portal's event loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def _main() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=_main, name="workbench-portal", daemon=True).start()
            ready.wait()
            _loop = loop
        return _loop


def _in_portal() -> bool:
    try:
        return asyncio.get_running_loop() is _loop
    except RuntimeError:
        return False


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start ``coro`` in the portal and return at once (for widget callbacks)."""
    return asyncio.run_coroutine_threadsafe(coro, portal_loop())


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion and return its result, from any thread."""
    if _in_portal():
        coro.close()
        raise RuntimeError(
            "A synchronous workbench call was made from inside the workbench's own event loop. "
            "Fix: use the async twin (await wb.acomplete(...))."
        )
    future = submit(coro)
    try:
        return future.result()
    except KeyboardInterrupt:
        future.cancel()
        raise


def iterate_sync(agen: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator from sync code, item by item, as items arrive."""
    items: queue.Queue[Any] = queue.Queue()

    async def _pump() -> None:
        try:
            async for item in agen:
                items.put(item)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            items.put(exc)
        finally:
            items.put(_DONE)

    future = submit(_pump())
    try:
        while True:
            item = items.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        if not future.done():
            future.cancel()
