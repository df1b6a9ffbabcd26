"""What the three states share: the runner and log, editing, validation, one run path, Stop, ratings, keys.

A run starts in exactly one place, :meth:`RunningState._launch`: it refuses a
second run while one is going, validates (nothing is sent on bad input),
and hands the work to the portal. :meth:`~RunningState.start` (the Run
button: never blocks, never raises), :meth:`~RunningState.run` (blocks,
raises) and :meth:`~RunningState.arun` (awaits) only differ in how they
wait for that future.

Each run carries its own stop flag (:class:`_Run`), so a Stop that arrives as
a run ends can never cancel the next one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._errors import RunLogError, WorkbenchError
from .._log import RunLog
from .._params import PARAM_NAMES, Params
from .._portal import submit
from .._runner import Runner, get_runner
from .._types import Delta, Request, Response
from ..providers import resolve
from .answer import Answer
from .inputs import friendly_error, key_env, missing_key, provide_key
from .observable import Observable
from .params_form import clamp_param, param_specs, provider_defaults

__all__ = ["RunningState", "resolve_runner", "stream_into", "loading_notice", "ALREADY_RUNNING"]

#: What starting a second run at once says.
ALREADY_RUNNING = "A run is already going. Fix: wait for it, or press Stop."


def resolve_runner(runner: Runner | None, log: RunLog | str | None) -> tuple[Runner, RunLog | None]:
    """The runner to call with and the log for versions and ratings.

    With no runner, one is made on ``log`` (or the session default is used).
    Ratings must go to the log the calls were written to, so with both given
    ``log`` only receives versions.
    """
    if log is not None and not isinstance(log, RunLog):
        log = RunLog(log)
    if runner is None:
        runner = Runner(log=log, progress=False) if log is not None else get_runner()
    return runner, log if log is not None else runner.run_log


@dataclass(eq=False)
class _Run:
    """One run in the portal: its task, and whether Stop was asked for *this* run."""

    task: asyncio.Task[Any] | None = None
    stop_requested: bool = False
    finished: bool = False

    def request_stop(self) -> bool:
        """Cancel this run's task inside its loop (or before it starts); ``False`` if it already ended."""
        if self.finished:
            return False
        self.stop_requested = True  # seen by the task if it has not started yet ...
        task = self.task  # ... else it is cancelled (set before the flag is read: one of the two happens)
        if task is not None:
            task.get_loop().call_soon_threadsafe(task.cancel)
        return True


class RunningState(Observable):
    """The base of :class:`PlaygroundState`, :class:`CompareState` and :class:`SweepState`.

    Subclasses define :meth:`prepare` (the validated requests),
    :meth:`_prepare_run` (``prepare`` plus fresh answers to fill) and
    :meth:`_perform` (the async work, in the portal).
    """

    error: str | None
    info: str | None
    running: bool
    # the editing shared by every state: variables and parameters are plain dicts
    variables: dict[str, str]
    params: dict[str, Any]

    def _init_run(self, runner: Runner | None, log: RunLog | str | None) -> None:
        self._runner, self._log = resolve_runner(runner, log)
        self._lock = threading.RLock()  # re-entrant: listeners run while it is held
        self._current: _Run | None = None
        self._future: concurrent.futures.Future[Any] | None = None
        self._done = threading.Event()
        self._done.set()
        self.error = None
        self.info = None
        self.running = False

    @property
    def runner(self) -> Runner:
        return self._runner

    @property
    def log(self) -> RunLog | None:
        return self._log

    @property
    def future(self) -> concurrent.futures.Future[Any] | None:
        """The Future of the latest run (``None`` before the first)."""
        return self._future

    # --- editing ---------------------------------------------------------
    #: Changes that make the last message stale ("Loaded #1", a validation error): they are cleared.
    EDITS = frozenset({"system", "user", "examples", "model", "params", "variables", "variant", "parameter",
                       "sweep_values", "repeats"})

    def changed(self, name: str) -> None:
        if name in self.EDITS and "_lock" in self.__dict__:
            for message in ("error", "info"):
                if self.__dict__.get(message) is not None:
                    object.__setattr__(self, message, None)
                    super().changed(message)
        super().changed(name)

    def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value
        self.changed("variables")

    def set_param(self, name: str, value: Any) -> None:
        """Set one parameter (``None`` = unset, the provider's default); checked at run time."""
        if name not in PARAM_NAMES:
            Params.build(**{name: value})  # raises the friendly "Unknown parameter" error
        if value is None or value == "" or value == ():
            self.params.pop(name, None)
        else:
            self.params[name] = value
        self.changed("params")

    def set_param_typed(self, name: str, value: Any) -> str | None:
        """Set a parameter as typed in a form: a value out of range is brought within it, and said.

        Returns the note (also kept in :attr:`param_notes` until the parameter is set again), or ``None``.
        """
        value, note = clamp_param(name, value)
        notes = self.__dict__.setdefault("_param_notes", {})
        if note:
            notes[name] = note
        else:
            notes.pop(name, None)
        self.set_param(name, value)
        return note

    @property
    def param_notes(self) -> dict[str, str]:
        """Per parameter, the note about a typed value that was out of range (see :meth:`set_param_typed`)."""
        return dict(self.__dict__.get("_param_notes", {}))

    @property
    def defaults_model(self) -> str | None:
        """The model whose provider defaults the parameter form shows (``None``: several models)."""
        model = getattr(self, "model", None)
        return model if isinstance(model, str) else None

    def param_defaults(self) -> dict[str, Any]:
        """What the provider uses for unset parameters, for :attr:`defaults_model` (``{}`` if it does not say)."""
        return provider_defaults(self.defaults_model)

    def param_default_labels(self) -> dict[str, str]:
        """What an unset control says where no single default is known (Compare: several models); ``{}`` here."""
        return {}

    def shown_params(self) -> dict[str, Any]:
        """Every parameter's value as a form shows it: the set value, else the provider's default where known."""
        shown = {spec.name: spec.default if spec.default is not None else spec.shown for spec in param_specs()}
        return {**shown, **self.param_defaults(), **self.params}

    # --- checking --------------------------------------------------------
    def prepare(self) -> Any:
        """The validated request(s) a run would send; raises on bad input. Each state defines it."""
        raise NotImplementedError

    def validate(self) -> str | None:
        """The message :meth:`start` would show, or ``None`` when a run can start."""
        try:
            self.prepare()
        except Exception as exc:  # noqa: BLE001 - turned into the message the widget shows
            return friendly_error(exc)
        return None

    # --- running: one path -----------------------------------------------
    def _launch(self) -> concurrent.futures.Future[Any]:
        """Refuse a second run, validate, and start the work in the portal.

        Raises (and sets :attr:`error` to the same message) when a run is
        already going or the input is invalid; nothing is sent then.
        """
        with self._lock:
            if self._current is not None:
                self.error = ALREADY_RUNNING
                raise WorkbenchError(ALREADY_RUNNING)
            try:
                work = self._prepare_run()
            except Exception as exc:
                self.error = friendly_error(exc)
                raise
            run = self._current = _Run()
            self._done.clear()
            self.error = self._launch_notice()
            self.info = None
            self.running = True
        self._future = submit(self._execute(run, work))
        return self._future

    def start(self) -> concurrent.futures.Future[Any] | None:
        """Validate, then start the run in the portal and return at once (what the Run button calls).

        On invalid input, or while a run is going, nothing is sent: ``error``
        says why and ``None`` is returned.
        """
        try:
            return self._launch()
        except Exception:  # noqa: BLE001 - _launch put the message in self.error
            return None

    def run(self, timeout: float | None = None) -> Any:
        """Run and wait (from code or tests); raises on invalid input like the one-call API."""
        future = self._launch()
        try:
            return future.result(timeout)
        except KeyboardInterrupt:
            self.stop()
            raise

    async def arun(self) -> Any:
        """Async twin of :meth:`run`: the run happens in the portal, like the others; this awaits it."""
        return await asyncio.wrap_future(self._launch())

    def stop(self) -> bool:
        """Cancel the running calls (each is logged as an error row with its partial text).

        The task is cancelled inside its loop, not through the Future, so the
        Future (and :meth:`wait`) completes only after the state was updated.
        """
        run = self._current
        if run is None or not self.running:
            return False
        return run.request_stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the current run finished (and its state was updated); ``True`` if it did."""
        return self._done.wait(timeout)

    async def _execute(self, run: _Run, work: Any) -> Any:
        run.task = asyncio.current_task()
        try:
            if run.stop_requested:  # Stop pressed before the task even started
                raise asyncio.CancelledError
            return await self._perform(work)
        finally:
            self._finish(run)

    def _finish(self, run: _Run) -> None:
        """Close ``run``: no current run, not running, waiters released."""
        with self._lock:  # a new run starts either before all of this or after it
            run.finished = True
            run.task = None
            if self._current is run:
                self._current = None
            self.running = False
            self._done.set()

    def _launch_notice(self) -> str | None:
        """A message to show as the run starts (Compare: the columns skipped for want of a key)."""
        return None

    def _prepare_run(self) -> Any:
        """:meth:`prepare`, plus the fresh answers the run will fill."""
        raise NotImplementedError

    async def _perform(self, work: Any) -> Any:
        raise NotImplementedError

    # --- keys and ratings ------------------------------------------------
    def _use_key(self, env: str | None, value: str) -> bool:
        """Keep ``value`` as the session key for ``env``; clear the error that asked for it."""
        if env is None or not provide_key(env, value):
            return False
        if self.error and env in self.error:
            self.error = None
        self.info = f"Key for {env} set for this session (it is not saved)."
        self.changed("key")
        return True

    def _need_log(self, what: str) -> RunLog:
        if self._log is None:
            raise RunLogError(f"{what} needs a run log, but logging is off for this runner. "
                              "Fix: pass log=wb.RunLog('runs.sqlite') (or a runner with a log).")
        return self._log

    def _rate(self, answer: Answer, rating: int | None, note: str | None) -> None:
        if rating not in (-1, 0, 1, None):
            raise RunLogError(f"rating={rating!r} is not allowed. Fix: use 1 (thumbs up), -1 (thumbs down) or 0.")
        if answer.call_id is None:
            raise RunLogError("This answer has no logged call to rate (it is still running, was stopped, "
                              "or logging is off). Fix: rate a finished answer.")
        log = self._runner.run_log or self._need_log("Rating")
        note = answer.note if note is None else note
        log.rate(answer.call_id, rating, note or None)
        answer.rating, answer.note = rating, note or ""
        self.changed("ratings")


def loading_notice(model: str) -> str | None:
    """``"Loading the model… (98 MB)"`` while ``model`` still has to be loaded into memory, else ``None``."""
    try:
        provider, name = resolve(model)
        size = provider.pending_load_bytes(name)
    except WorkbenchError:
        return None  # the call reports it
    return None if size is None else f"Loading the model… ({size / 1e6:.0f} MB, once per session)"


async def _clear_once_loaded(model: str, answer: Answer, notify: Callable[[], Any]) -> None:
    """Drop the loading notice as soon as the model is in memory (its first token may come later)."""
    provider, name = resolve(model)
    while answer.loading:
        await asyncio.sleep(0.1)
        if answer.loading and provider.pending_load_bytes(name) is None:
            answer.loading = None
            notify()


async def stream_into(runner: Runner, request: Request, answer: Answer, notify: Callable[[], Any],
                      **call_kwargs: Any) -> Response | None:
    """Run one request, streaming into ``answer``; cancellation marks it stopped.

    If the model must first be loaded (the local model's first call), the
    answer says so, with the size, until the model is in memory.
    """
    answer.begin(request.params.n)
    answer.loading = loading_notice(request.model)
    notify()
    watch = asyncio.ensure_future(_clear_once_loaded(request.model, answer, notify)) if answer.loading else None

    def on_delta(delta: Delta) -> None:
        answer.apply(delta)
        notify()

    try:
        response = await runner.call(request, on_delta=on_delta, **call_kwargs)
    except asyncio.CancelledError:
        answer.stop()
        notify()
        raise
    except Exception as exc:  # noqa: BLE001 - a failure is shown under the answer
        answer.fail(friendly_error(exc), type(exc).__name__)
        notify()
        return None
    finally:
        if watch is not None:
            watch.cancel()
    answer.finish(response)
    notify()
    return response


class OneModelState(RunningState):
    """A running state with one chosen model (Playground, chat mode): its key, asked for and given here."""

    model: str

    @property
    def missing_key(self) -> str | None:
        """Environment variable of the chosen model's missing key, else ``None``."""
        return missing_key(self.model)

    def provide_key(self, value: str) -> bool:
        """Use ``value`` as this session's key for the chosen model's provider."""
        return self._use_key(self.missing_key or key_env(self.model), value)
