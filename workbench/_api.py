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

from ._conversation import check_loop, run_tool_loop
from ._errors import ParamsError, StreamInterruptedError
from ._params import PARAM_NAMES, Params
from ._portal import iterate_sync, run_sync
from ._prompt import Prompt, as_prompt
from ._runner import CacheMode, Runner, get_runner
from ._types import Delta, Request, Response
from .providers import default_model

__all__ = ["complete", "acomplete", "stream", "astream", "build_request"]

PromptLike = Prompt | str | Sequence[Mapping[str, Any]]


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
                  tools: Any = None, response_format: Any = None, **kwargs: Any) -> Request:
    """Validate a call and return its :class:`Request` without running it."""
    runner = runner or get_runner()
    template = bool(variables) or any(k not in PARAM_NAMES for k in kwargs)
    p = as_prompt(prompt, template=template)
    param_kwargs, var_kwargs = _split(kwargs, p)
    merged = {**(variables or {}), **var_kwargs}
    return runner.prepare(model or default_model(), p, merged, Params.build(params, **param_kwargs),
                          tools=tools, response_format=response_format)


async def acomplete(model: str | None, prompt: PromptLike, *, params: Params | Mapping[str, Any] | None = None,
                    variables: Mapping[str, Any] | None = None, cache: CacheMode | None = None,
                    runner: Runner | None = None, raise_errors: bool = True, tools: Any = None,
                    response_format: Any = None, run_tools: bool = False, max_steps: int = 5,
                    **kwargs: Any) -> Response:
    """Async twin of :func:`complete`."""
    runner = runner or get_runner()
    request = build_request(model, prompt, params=params, variables=variables, runner=runner, tools=tools,
                            response_format=response_format, **kwargs)
    check_loop(request.tools, run_tools, max_steps)
    if run_tools:
        response = await run_tool_loop(runner, request, max_steps=max_steps, cache=cache)
    else:
        response = await runner.call(request, cache=cache)
    return response.raise_for_error() if raise_errors else response


def complete(model: str | None, prompt: PromptLike, *, params: Params | Mapping[str, Any] | None = None,
             variables: Mapping[str, Any] | None = None, cache: CacheMode | None = None,
             runner: Runner | None = None, raise_errors: bool = True, tools: Any = None,
             response_format: Any = None, run_tools: bool = False, max_steps: int = 5,
             **kwargs: Any) -> Response:
    """Call ``model`` (``"provider:model"``, or ``None`` for the default) with ``prompt``.

    Works in scripts and inside a running Jupyter kernel alike. Errors raise by
    default; ``raise_errors=False`` returns them as an error :class:`Response`.

    ``tools`` (``@wb.tool`` functions or JSON-schema dicts) let the model ask for tool calls
    (``r.tool_calls``); with ``run_tools=True`` they are run and their results sent back, for at
    most ``max_steps`` calls. ``response_format`` (a JSON schema or a pydantic model) binds the
    answer to a schema: ``r.parsed`` is the validated object, or ``None`` and ``r.parse_error``.

    >>> r = complete("local:smollm2", "Say hello", max_tokens=16)  # doctest: +SKIP
    """
    runner = runner or get_runner()
    request = build_request(model, prompt, params=params, variables=variables, runner=runner, tools=tools,
                            response_format=response_format, **kwargs)
    check_loop(request.tools, run_tools, max_steps)
    if run_tools:
        response = run_sync(run_tool_loop(runner, request, max_steps=max_steps, cache=cache))
    else:
        response = run_sync(runner.call(request, cache=cache))
    return response.raise_for_error() if raise_errors else response


async def astream(model: str | None, prompt: PromptLike, *, params: Params | Mapping[str, Any] | None = None,
                  variables: Mapping[str, Any] | None = None, cache: CacheMode | None = None,
                  runner: Runner | None = None, **kwargs: Any) -> AsyncIterator[str]:
    """Yield the answer's text deltas as they arrive (first choice only).

    The full :class:`Response` (usage, latency, time to first token) is logged
    like any other call, and the joined pieces equal the logged answer. If the
    stream breaks and the runner retries, the retried answer's start, already
    yielded, is not yielded again; if the retried answer does not begin with what
    was yielded (a sampled answer that came out differently), the call is let
    finish and logged, then :class:`StreamInterruptedError` says so.
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
    shown = _Shown()
    try:
        while (item := await queue.get()) is not None:
            if text := shown.add(item):
                yield text
        response = (await task).raise_for_error()
        if shown.diverged or shown.replaying:
            raise StreamInterruptedError(
                f"The answer changed on retry: the stream broke after {len(shown.text)} characters and the "
                "runner's new attempt did not begin with the text already streamed, which cannot be taken "
                f"back. The full answer is logged (call_id {response.call_id}). Fix: use wb.complete(...) "
                "for the answer in one piece, or make retries repeat the answer with temperature=0 or a seed."
            )
    finally:
        if not task.done():
            task.cancel()


class _Shown:
    """What :func:`astream` has yielded, so a retried answer's repeated start is not yielded twice.

    Normally each delta's text is passed on. After a reset (the runner retries),
    the new attempt's text is matched against what was already yielded: while it
    repeats it, nothing is passed on; once it runs past it, only the new part is.
    A new attempt that does not begin with what was yielded ``diverged``.
    """

    __slots__ = ("attempt", "diverged", "pieces", "replaying", "text")

    def __init__(self) -> None:
        self.pieces: list[str] = []  # yielded so far (joined into ``text`` when a retry starts)
        self.text = ""
        self.attempt = ""  # the retried attempt's text so far, while it is not longer than ``text``
        self.replaying = False
        self.diverged = False

    def add(self, delta: Delta) -> str:
        """The text to yield for ``delta`` ("" for none)."""
        if self.diverged:
            return ""
        if delta.reset:
            self.text = "".join(self.pieces)
            self.attempt, self.replaying = "", bool(self.text)
            return ""
        if not self.replaying:
            self.pieces.append(delta.text)
            return delta.text
        self.attempt += delta.text
        if len(self.attempt) < len(self.text):
            self.diverged = not self.text.startswith(self.attempt)
            return ""
        if not self.attempt.startswith(self.text):
            self.diverged = True
            return ""
        new = self.attempt[len(self.text):]
        self.pieces, self.attempt, self.replaying = [self.attempt], "", False
        return new


def stream(model: str | None, prompt: PromptLike, *, params: Params | Mapping[str, Any] | None = None,
           variables: Mapping[str, Any] | None = None, cache: CacheMode | None = None,
           runner: Runner | None = None, **kwargs: Any) -> Iterator[str]:
    """Iterate over the answer's text as it is generated: ``for chunk in wb.stream(...)``."""
    runner = runner or get_runner()
    build_request(model, prompt, params=params, variables=variables, runner=runner, **kwargs)  # fail fast, here
    return iterate_sync(astream(model, prompt, params=params, variables=variables, cache=cache, runner=runner,
                                **kwargs))
