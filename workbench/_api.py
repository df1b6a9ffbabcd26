"""The one-call API: ``complete``, ``acomplete``, ``stream``, ``astream``.

Keyword arguments are split by name: generation parameters (``temperature``,
``seed``...) go to :class:`Params`, everything else fills the prompt's
``{variables}``. A name that is neither, but close to a parameter, is reported
as a misspelt parameter rather than an unused variable.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from ._errors import ParamsError
from ._params import PARAM_NAMES, Params
from ._portal import iterate_sync, run_sync
from ._prompt import Prompt, as_prompt
from ._runner import CacheMode, Runner, get_runner
from ._types import Delta, Request, Response
from .providers import default_model

__all__ = ["complete", "acomplete", "stream", "astream", "build_request"]

PromptLike = Prompt | str | Sequence[Mapping[str, str]]


def _split(kwargs: Mapping[str, Any], prompt: Prompt) -> tuple[dict[str, Any], dict[str, Any]]:
    params = {k: v for k, v in kwargs.items() if k in PARAM_NAMES}
    variables = {k: v for k, v in kwargs.items() if k not in PARAM_NAMES}
    for name in variables:
        if name not in prompt.variables:
            close = difflib.get_close_matches(name, PARAM_NAMES, n=1, cutoff=0.75)
            if close:
                raise ParamsError(
                    f"Unknown parameter {name!r}. Did you mean {close[0]!r}? "
                    f"Fix: use one of the allowed parameters: {', '.join(PARAM_NAMES)}."
                )
    return params, variables


def build_request(model: str | None, prompt: PromptLike, *, params: Params | Mapping[str, Any] | None = None,
                  variables: Mapping[str, Any] | None = None, runner: Runner | None = None,
                  **kwargs: Any) -> Request:
    """Validate a call and return its :class:`Request` without running it."""
    runner = runner or get_runner()
    template = bool(variables) or any(k not in PARAM_NAMES for k in kwargs)
    p = as_prompt(prompt, template=template)
    param_kwargs, var_kwargs = _split(kwargs, p)
    merged = {**(variables or {}), **var_kwargs}
    return runner.prepare(model or default_model(), p, merged, Params.build(params, **param_kwargs))


async def acomplete(model: str | None, prompt: PromptLike, *, params: Params | Mapping[str, Any] | None = None,
                    variables: Mapping[str, Any] | None = None, cache: CacheMode | None = None,
                    runner: Runner | None = None, raise_errors: bool = True, **kwargs: Any) -> Response:
    """Async twin of :func:`complete`."""
    runner = runner or get_runner()
    request = build_request(model, prompt, params=params, variables=variables, runner=runner, **kwargs)
    response = await runner.call(request, cache=cache)
    return response.raise_for_error() if raise_errors else response


def complete(model: str | None, prompt: PromptLike, *, params: Params | Mapping[str, Any] | None = None,
             variables: Mapping[str, Any] | None = None, cache: CacheMode | None = None,
             runner: Runner | None = None, raise_errors: bool = True, **kwargs: Any) -> Response:
    """Call ``model`` (``"provider:model"``, or ``None`` for the default) with ``prompt``.

    Works in scripts and inside a running Jupyter kernel alike. Errors raise by
    default; ``raise_errors=False`` returns them as an error :class:`Response`.

    >>> r = complete("local:smollm2", "Say hello", max_tokens=16)  # doctest: +SKIP
    """
    runner = runner or get_runner()
    request = build_request(model, prompt, params=params, variables=variables, runner=runner, **kwargs)
    response = run_sync(runner.call(request, cache=cache))
    return response.raise_for_error() if raise_errors else response


async def astream(model: str | None, prompt: PromptLike, *, params: Params | Mapping[str, Any] | None = None,
                  variables: Mapping[str, Any] | None = None, cache: CacheMode | None = None,
                  runner: Runner | None = None, **kwargs: Any) -> AsyncIterator[str]:
    """Yield the answer's text deltas as they arrive (first choice only).

    The full :class:`Response` (usage, latency, time to first token) is logged
    like any other call; if the stream breaks and the runner retries, the
    retried answer is streamed again from its start.
    """
    runner = runner or get_runner()
    request = build_request(model, prompt, params=params, variables=variables, runner=runner, **kwargs)
    queue: asyncio.Queue[Delta | None] = asyncio.Queue()

    def on_delta(delta: Delta) -> None:
        if delta.index == 0:
            queue.put_nowait(delta)

    async def produce() -> Response:
        try:
            return await runner.call(request, on_delta=on_delta, cache=cache)
        finally:
            queue.put_nowait(None)  # wakes the consumer whatever happened

    task = asyncio.ensure_future(produce())
    try:
        while (item := await queue.get()) is not None:
            if not item.reset:
                yield item.text
        (await task).raise_for_error()
    finally:
        if not task.done():
            task.cancel()


def stream(model: str | None, prompt: PromptLike, *, params: Params | Mapping[str, Any] | None = None,
           variables: Mapping[str, Any] | None = None, cache: CacheMode | None = None,
           runner: Runner | None = None, **kwargs: Any) -> Iterator[str]:
    """Iterate over the answer's text as it is generated: ``for chunk in wb.stream(...)``."""
    runner = runner or get_runner()
    build_request(model, prompt, params=params, variables=variables, runner=runner, **kwargs)  # fail fast, here
    return iterate_sync(astream(model, prompt, params=params, variables=variables, cache=cache, runner=runner, **kwargs))
