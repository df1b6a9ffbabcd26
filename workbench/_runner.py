"""The runner: the one place that owns concurrency, retries, timeouts, caching and logging.

Providers only know how to make one call. Everything that must behave the
same whichever provider answers lives here: a per-provider concurrency
limit, retries with jittered exponential backoff that honour ``Retry-After``
(never for 400/401/403), a per-request timeout, answers from the log for
repeatable requests, one log row per finished call, written as it finishes,
and failures turned into error results so one bad call never sinks a batch.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import random
import sys
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypeVar

from ._errors import (
    AuthenticationError,
    CancelledRunError,
    ParamsError,
    ProviderError,
    ProviderTimeoutError,
    RunLogError,
    WorkbenchError,
)
from ._hygiene import watch_cells
from ._keys import StreamRedactor, redact, redact_obj
from ._log import RunLog
from ._params import Params
from ._pricing import estimate_cost
from ._prompt import Prompt
from ._structured import as_response_format
from ._tools import CallOptions, as_tools, attach_answer_extras, call_options, check_tool_choice
from ._types import Completion, Delta, Request, Response
from .providers import Provider, resolve

__all__ = ["Runner", "get_runner", "configure", "reset_default_runner", "CacheMode"]

T = TypeVar("T")

#: Set (to the reason) while no model call may start in this thread's context: an experiment tries
#: plain scorers on a stand-in answer before its calls, and a scorer that calls a model must not pay there.
NO_CALLS: contextvars.ContextVar[str | None] = contextvars.ContextVar("workbench_no_calls", default=None)
CacheMode = Literal["auto", True, False]
OnDelta = Callable[[Delta], Any]


@dataclass
class _Attempt:
    """What one attempt produced: the completion, and when its first token came."""

    completion: Completion
    started: float
    first_token: float | None
    ended: float


@dataclass
class Runner:
    """Runs requests. Usually you use the default one through ``wb.complete`` and friends.

    ``log`` is a :class:`RunLog`, a path, ``None`` for the default log file, or
    ``False`` for no logging at all (and so no cache). ``concurrency`` is one
    limit for every provider or a ``{"openai": 32}`` mapping.
    """

    log: RunLog | str | Path | None | Literal[False] = None
    concurrency: int | Mapping[str, int] | None = None
    max_retries: int = 5
    timeout: float = 120.0
    cache: CacheMode = "auto"
    max_wait: float = 60.0
    progress: bool = True
    _semaphores: weakref.WeakKeyDictionary[Any, dict[str, asyncio.Semaphore]] = field(
        default_factory=weakref.WeakKeyDictionary, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.log is not False and not isinstance(self.log, RunLog):
            self.log = RunLog(self.log)

    @property
    def run_log(self) -> RunLog | None:
        return self.log if isinstance(self.log, RunLog) else None

    # --- building requests (all validation happens here, before any call) --
    def prepare(self, model: str, prompt: Prompt, variables: Mapping[str, Any] | None = None,
                params: Params | None = None, *, repeat: int = 0, tags: Mapping[str, Any] | None = None,
                strict: bool = True, tools: Any = None, response_format: Any = None) -> Request:
        """Validate everything that can be checked offline and return the request to run.

        ``tools`` (``@wb.tool`` functions or JSON-schema dicts) and ``response_format`` (a JSON
        schema or a pydantic model) are checked here too, and what the provider cannot do is refused.
        """
        if (why := NO_CALLS.get()) is not None:
            raise WorkbenchError(f"No model call is made {why}.")
        provider, _ = resolve(model)
        params = params or Params()
        messages = prompt.render(dict(variables or {}), strict=strict)
        tool_list = as_tools(tools)
        check_tool_choice(params.tool_choice, tool_list)
        rf = as_response_format(response_format)
        name = model.partition(":")[2]
        provider.check(name, params)
        if tool_list or rf is not None or len(messages) > 1 or messages[-1].get("role") != "user":
            check_options = getattr(provider, "check_options", None)
            if check_options is not None:
                check_options(name, messages, CallOptions(tool_list, rf, params.tool_choice))
        return Request(model, tuple(messages), params, prompt.hash, repeat, dict(tags or {}), tool_list, rf)

    def limit_for(self, provider: Provider) -> int:
        if isinstance(self.concurrency, int):
            return self.concurrency
        if isinstance(self.concurrency, Mapping) and provider.name in self.concurrency:
            return int(self.concurrency[provider.name])
        return provider.default_concurrency

    def _semaphore(self, provider: Provider) -> asyncio.Semaphore:
        per_loop = self._semaphores.setdefault(asyncio.get_running_loop(), {})
        if provider.name not in per_loop:
            per_loop[provider.name] = asyncio.Semaphore(self.limit_for(provider))
        return per_loop[provider.name]

    def _use_cache(self, request: Request, cache: CacheMode | None) -> bool:
        mode = self.cache if cache is None else cache
        if self.run_log is None or mode is False:
            return False
        return mode is True or request.cacheable_by_default

    # --- one call ----------------------------------------------------------
    async def call(self, request: Request, *, on_delta: OnDelta | None = None, cache: CacheMode | None = None,
                   experiment_id: str | None = None, cell_key: str | None = None,
                   gate: Callable[[], WorkbenchError | None] | None = None) -> Response:
        """Run one request and return its response; failures come back as error responses.

        ``gate`` is asked once a concurrency slot is free; an error it returns is
        recorded instead of making the call (how a batch stops after a rejected key).
        A cell of an experiment (``experiment_id`` and ``cell_key``) is claimed in the
        log first, so another process running the same experiment never pays for it too.

        If the log cannot take the answer, :class:`RunLogError` is raised with the answer
        in ``responses`` (and kept by the log); while the log is failing no call is started.
        """
        provider, name = resolve(request.model)
        provider.check(name, request.params)
        log = self.run_log
        if log is not None and log.failure is not None:
            await log.aflush()  # the rows kept after a failure go first; raises if the log still fails
        if self._use_cache(request, cache):
            hit = log.lookup(request.cache_key)  # type: ignore[union-attr]
            if hit is not None:
                if on_delta is not None:
                    for index, text in enumerate(hit.choices or [hit.text]):
                        on_delta(Delta(text, index))
                return await self._finish(request, hit, experiment_id, cell_key)
        claiming = log is not None and experiment_id is not None and cell_key is not None
        waited = 0.0
        queued = time.perf_counter()
        while True:
            async with self._semaphore(provider):
                queue_s = time.perf_counter() - queued  # waiting for a slot (another call to the same model)
                if log is not None and log.failure is not None:
                    raise log._copy_failure()  # no new call once the log has failed
                refusal = gate() if gate is not None else None
                if refusal is not None:
                    return await self._finish(request, _error_response(request, refusal, 0, None), experiment_id,
                                              cell_key)
                claim: Response | bool = True
                if claiming:
                    claim = await log.aclaim(experiment_id, cell_key, lease_s=self._lease())  # type: ignore
                if isinstance(claim, Response):  # another process logged this cell meanwhile: reuse it
                    claim.cached, claim.latency_s, claim.retried = True, 0.0, []
                    claim.cost_usd = 0.0 if claim.cost_usd is not None else None
                    claim.tags = dict(request.tags)
                    return claim
                if claim:
                    loading = time.perf_counter()
                    await provider.warm_up(name)
                    load_s = time.perf_counter() - loading  # loading the model: not part of the call's latency
                    response = await self._call_with_retries(provider, name, request, on_delta,
                                                             experiment_id, cell_key)
                    response.queue_s, response.load_s = queue_s, load_s
                    # written before the slot is freed: answers waiting for the log never outnumber the slots
                    return await self._finish(request, response, experiment_id, cell_key)
            # a live process is calling this cell: wait for its row without holding a slot
            pause = min(0.05 * 2 ** min(waited, 5), 1.0)
            waited += 1
            await asyncio.sleep(pause)

    def _lease(self) -> float:
        """How long a claim holds: long enough for every attempt and wait of one call."""
        return self.timeout * (self.max_retries + 1) + self.max_wait * self.max_retries + 60.0

    async def _call_with_retries(self, provider: Provider, name: str, request: Request,
                                 on_delta: OnDelta | None, experiment_id: str | None = None,
                                 cell_key: str | None = None) -> Response:
        created = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        attempts = 0
        retried: list[str] = []
        partial: list[str] = []
        try:
            while True:  # a plain loop: tenacity's machinery cost ~40 µs a call, a fifth of the runner's own cost
                attempts += 1
                if attempts > 1 and on_delta is not None:
                    on_delta(Delta("", 0, reset=True))
                partial.clear()
                try:
                    result = await self._attempt(provider, name, request, on_delta, partial)
                    break
                except ProviderError as exc:
                    if not exc.retryable or attempts > self.max_retries:
                        raise
                    if exc.retry_after is not None and not exc.retry_after <= self.max_wait:
                        raise _wait_too_long(request, exc, self.max_wait) from None
                    retried.append(type(exc).__name__)
                    await asyncio.sleep(self._wait(exc, attempts))
        except asyncio.CancelledError:
            self._record_cancelled(request, "".join(partial), attempts, created, experiment_id, cell_key)
            raise
        except WorkbenchError as exc:
            return _error_response(request, exc, attempts, created, retried)
        except Exception as exc:  # noqa: BLE001 - a provider bug must not sink the batch
            return _error_response(request, ProviderError(f"{type(exc).__name__}: {exc}"), attempts, created,
                                   retried)
        return self._response(request, result, attempts, created, retried)

    async def _attempt(self, provider: Provider, name: str, request: Request, on_delta: OnDelta | None,
                       partial: list[str]) -> _Attempt:
        started = time.perf_counter()
        first: list[float] = []

        extra: dict[str, Any] = {}
        options = call_options(request)
        if options is not None:  # (providers without these never see the word)
            extra["options"] = options

        async def run() -> Completion:
            if on_delta is None:
                return await provider.complete(name, request.messages, request.params, timeout=self.timeout,
                                               **extra)
            final = None
            redactors: dict[int, StreamRedactor] = {}  # a key echoed back never reaches the viewer
            async for item in provider.stream(name, request.messages, request.params, timeout=self.timeout,
                                              **extra):
                if isinstance(item, Delta):
                    if not first:
                        first.append(time.perf_counter())
                    if item.index == 0:
                        partial.append(item.text)
                    shown = redactors.setdefault(item.index, StreamRedactor()).feed(item.text)
                    if shown:
                        on_delta(Delta(shown, item.index))
                else:
                    final = item
            assert final is not None, "a provider stream must end with a Completion"
            for index, redactor in redactors.items():
                if rest := redactor.flush():
                    on_delta(Delta(rest, index))
            return final

        try:
            completion = await _within(run(), self.timeout)
        except asyncio.TimeoutError:
            raise ProviderTimeoutError(
                f"{request.model} gave no complete answer within {self.timeout:g} s. The runner retries; "
                "for long answers raise the limit with wb.configure(timeout=...).",
                partial_text="".join(partial) or None,
            ) from None
        return _Attempt(completion, started, first[0] if first else None, time.perf_counter())

    def _wait(self, exc: ProviderError, attempt: int) -> float:
        """Seconds before the next attempt: ``Retry-After`` plus up to 10% jitter, else jittered exponential backoff."""
        if exc.retry_after is not None:
            return min(exc.retry_after * (1 + random.uniform(0, 0.1)), self.max_wait)
        return random.uniform(0, min(0.5 * 2 ** (attempt - 1), 20.0, self.max_wait))

    def _response(self, request: Request, attempt: _Attempt, attempts: int, created: str,
                  retried: list[str]) -> Response:
        c = attempt.completion
        choices = [redact(text) for text in c.choices]  # a key pasted into a prompt may be echoed back
        response = Response(
            text=choices[0] if choices else "",
            model=request.model,
            provider=request.provider,
            finish_reason=c.finish_reason,
            choices=choices,
            usage=c.usage,
            latency_s=attempt.ended - attempt.started,
            ttft_s=None if attempt.first_token is None else attempt.first_token - attempt.started,
            cost_usd=estimate_cost(request.model, c.usage),
            request=redact_obj(c.request),
            prompt_hash=request.prompt_hash,
            attempts=attempts,
            retried=retried,
            created_at=created,
            tags=dict(request.tags),
            # a choice whose text was redacted loses its tokens: they would still spell out the key
            choice_tokens=[t if text == raw else None
                           for t, text, raw in zip(c.tokens, choices, c.choices, strict=False)] if c.tokens else None,
        )
        attach_answer_extras(response, redact_obj(c.tool_calls) if c.tool_calls else [], request)
        return response

    async def _finish(self, request: Request, response: Response, experiment_id: str | None,
                      cell_key: str | None) -> Response:
        response.tags = dict(request.tags)
        response.parent_call_id, response.step = request.parent_call_id, request.step
        response.__dict__["_origin"] = request  # for r.messages and r.reply() (not fields: never logged)
        response.__dict__["_runner"] = self
        if response.cached and request.response_format is not None and not response.tool_calls:
            # parsed again from the logged text: a pydantic model comes back as the model, not a dict
            response.parsed, response.parse_error = request.response_format.parse(response.text)
        if self.run_log is not None:
            try:
                response.call_id = await self.run_log.arecord(request, response, experiment_id=experiment_id,
                                                              cell_key=cell_key)
            except RunLogError as exc:  # kept by the log; the caller gets the answer with the error
                exc.responses = [response]
                raise
        return response

    def _record_cancelled(self, request: Request, partial: str, attempts: int, created: str,
                          experiment_id: str | None = None, cell_key: str | None = None) -> None:
        if self.run_log is None:
            return
        response = _error_response(request, CancelledRunError("Stopped by the user before the answer was complete."),
                                   attempts, created)
        response.text = partial
        # queued, not awaited (the task is being cancelled); it also frees the cell's claim
        self.run_log.record_nowait(request, response, experiment_id=experiment_id, cell_key=cell_key)

    # --- many calls ----------------------------------------------------------
    async def run(self, requests: Sequence[Request], *, cache: CacheMode | None = None,
                  on_result: Callable[[int, Response], Any] | None = None, progress: Any = None,
                  experiment_id: str | None = None, cell_keys: Sequence[str] | None = None,
                  stop_on_auth_error: bool = True) -> list[Response]:
        """Run many requests concurrently; results come back in the order of ``requests``.

        Every request ends as a response or an error response. If a provider
        rejects the key, requests to it that have not started are not sent.
        """
        for request in requests:  # all bad input is reported before the first call
            provider, name = resolve(request.model)
            provider.check(name, request.params)
        rejected: dict[str, str] = {}
        bar = _progress_bar(progress if progress is not None else self.progress, len(requests))
        results: list[Response | None] = [None] * len(requests)

        def gate_for(provider: str) -> Callable[[], WorkbenchError | None]:
            def gate() -> WorkbenchError | None:
                if provider not in rejected:
                    return None
                return AuthenticationError(
                    f"Not sent: {provider} already rejected the key in this run. {rejected[provider]}")
            return gate

        log_failures: list[RunLogError] = []

        async def one(i: int, request: Request) -> None:
            key = cell_keys[i] if cell_keys else None
            try:
                response = await self.call(request, cache=cache, experiment_id=experiment_id, cell_key=key,
                                           gate=gate_for(request.provider) if stop_on_auth_error else None)
            except RunLogError as exc:  # the answer (if one was paid for) is kept; later calls are not sent
                log_failures.append(exc)
                response = exc.responses[0] if exc.responses else _error_response(
                    request, RunLogError(f"Not sent: the run log failed. {exc}"), 0, None)
            if response.error_type == "AuthenticationError" and response.attempts:
                rejected.setdefault(request.provider, response.error or "")
            results[i] = response
            if bar is not None:
                bar.update(1)
            if on_result is not None:
                on_result(i, response)

        if self.run_log is not None and (self.run_log.failure is not None or self.run_log.unsaved):
            await self.run_log.aflush()  # rows kept after an earlier failure first; raises before any call
        try:
            await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
        finally:
            if bar is not None and progress is not bar:
                bar.close()
        done = [r for r in results if r is not None]
        if log_failures:
            log = self.run_log
            err = log._copy_failure() if log is not None and log.failure is not None else log_failures[-1]
            err.responses = done
            raise err
        return done


async def _within(coro: Coroutine[Any, Any, T], seconds: float) -> T:
    """Await ``coro`` for at most ``seconds`` (``asyncio.TimeoutError`` after that).

    ``asyncio.timeout`` (Python >= 3.11) runs it in the current task;
    ``wait_for`` wraps it in a new one, whose first step waits behind every
    callback already queued: with many answers arriving together, that delayed
    each next request by a full turn of the event loop.
    """
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await coro
    return await asyncio.wait_for(coro, seconds)


def _wait_too_long(request: Request, exc: ProviderError, max_wait: float) -> ProviderError:
    """The server asked for a longer pause than ``max_wait``: fail now, saying what would honour it."""
    wait = exc.retry_after
    assert wait is not None
    if math.isfinite(wait):
        asked = f"{wait:,.0f} s" + (f" ({wait / 60:.0f} min)" if wait >= 60 else "")
        fix = ("try again later, or let the runner wait that long with "
               f"wb.configure(max_wait={math.ceil(wait * 1.1) + 1}) (or Runner(max_wait=...))")
    else:
        asked = "with no end (Retry-After: inf)"
        fix = ("try again later; the server gave no time to wait for, so raising wb.configure(max_wait=...) "
               "would not help")
    return type(exc)(
        f"{request.model} asked to wait {asked} before the next attempt, longer than max_wait={max_wait:g} s, "
        f"so the call was not retried{f' (HTTP {exc.status})' if exc.status else ''}. Fix: {fix}.",
        status=exc.status, retry_after=wait, partial_text=exc.partial_text)


def _error_response(request: Request, exc: WorkbenchError, attempts: int, created: str | None,
                    retried: list[str] | None = None) -> Response:
    return Response(
        text=redact(getattr(exc, "partial_text", None) or ""),
        model=request.model,
        provider=request.provider,
        request=redact_obj({"model": request.model, "messages": list(request.messages), **request.params.set()}),
        prompt_hash=request.prompt_hash,
        error=redact(str(exc)),
        error_type=type(exc).__name__,
        attempts=attempts,
        retried=list(retried or []),
        created_at=created,
        tags=dict(request.tags),
    )


def _progress_bar(progress: Any, total: int) -> Any:
    if progress is False or progress is None or total <= 1:
        return None
    if progress is not True:
        return progress  # a bar the caller made in its own thread (see run_sync)
    from tqdm.auto import tqdm  # only for a batch that shows a bar (tqdm.auto probes for Jupyter widgets)

    return tqdm(total=total, desc="calls", unit="call", leave=False)


_default: Runner | None = None


def get_runner() -> Runner:
    """The session's default runner (default log file, default limits)."""
    global _default
    if _default is None:
        watch_cells()  # in Jupyter: warn when a cell with a literal key runs
        _default = Runner()
    return _default


def reset_default_runner(runner: Runner | None = None) -> Runner | None:
    """Replace the session's default runner (by default with none: the next :func:`get_runner` makes
    a new one); returns the one it replaced, so a test can put it back."""
    global _default
    previous, _default = _default, runner
    return previous


def configure(**settings: Any) -> Runner:
    """Change the default runner: ``log``, ``concurrency``, ``max_retries``, ``timeout``, ``cache``, ``progress``.

    ``wb.configure(log=":memory:")`` keeps nothing on disk; ``log=False`` logs nothing.
    """
    global _default
    allowed = {"log", "concurrency", "max_retries", "timeout", "cache", "max_wait", "progress"}
    unknown = set(settings) - allowed
    if unknown:
        raise ParamsError(f"Unknown setting(s) {sorted(unknown)}. Fix: use some of {sorted(allowed)}.")
    current = get_runner()
    values = {k: getattr(current, k) for k in allowed}
    values.update(settings)
    _default = Runner(**values)
    return _default
