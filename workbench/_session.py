"""Plain state behind the Playground, Compare and Sweep widgets (no ipywidgets here).

Everything a widget does (validate, run, stream, stop, rate, save a version,
diff, load, sweep, plot) is a method of a state object in this module, so it
can be called from code and tested without a browser; the views in
:mod:`workbench.widgets` only copy values between widgets and these objects.

State objects are *observable*: setting a public attribute, or calling a
method that changes something, calls every listener registered with
:meth:`Observable.observe` with the name of what changed. Views subscribe to
refresh themselves, so ``playground.state.user = "..."`` updates the screen.
Listeners may be called from the portal thread while an answer streams.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import difflib
import html
import io
import itertools
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ._errors import (
    CancelledRunError,
    ModelNotFoundError,
    ParamsError,
    PromptError,
    RunLogError,
    ScorerError,
    WorkbenchError,
)
from ._keys import redact, set_key
from ._log import RunLog, Version
from ._params import PARAM_NAMES, Params, param_bounds
from ._portal import submit
from ._prompt import Prompt, as_prompt
from ._runner import Runner, get_runner
from ._types import Delta, Request, Response, split_model

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Observable",
    "Answer",
    "ParamSpec",
    "param_specs",
    "variables_in",
    "friendly_error",
    "Throttle",
    "VersionDiff",
    "diff_versions",
    "version_label",
    "PlaygroundState",
    "Variant",
    "CompareState",
    "SweepPoint",
    "SweepState",
    "MEASURES",
    "parse_sweep_values",
]

Status = Literal["idle", "running", "done", "error", "stopped"]
Listener = Callable[[str], Any]

#: Most variants a Compare shows side by side (columns stay readable up to 4).
MAX_VARIANTS = 4
#: A Sweep asking for more calls than this is refused with the figures.
MAX_SWEEP_CALLS = 200


# --------------------------------------------------------------------------- #
# Small helpers
# --------------------------------------------------------------------------- #


def friendly_error(exc: BaseException) -> str:
    """One readable line for an exception: our errors already name the fix."""
    if isinstance(exc, WorkbenchError):
        return str(exc)
    return redact(f"Unexpected {type(exc).__name__}: {exc}")


_VARIABLE = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


def variables_in(system: str | None, user: str, examples: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Variable names of a prompt being typed, in order of first appearance.

    Unlike :attr:`Prompt.variable_order` this never raises: half-typed text
    such as ``"Tell me about {top"`` must not make the form flicker, so a
    template that does not parse yet falls back to the complete ``{names}``.
    """
    try:
        return Prompt(user=user, system=system or None, examples=tuple(examples)).variable_order
    except PromptError:
        texts = [system or "", *itertools.chain.from_iterable(examples), user]
        names: list[str] = []
        for text in texts:
            names += [n for n in _VARIABLE.findall(text) if n not in names]
        return names


def _prompt_from_text(system: str | None, user: str, examples: Sequence[tuple[str, str]] = (),
                      name: str | None = None) -> Prompt:
    return Prompt(user=user, system=system or None, examples=tuple(examples), name=name)


def _check_filled(names: Sequence[str], values: Mapping[str, str]) -> dict[str, str]:
    """The values of ``names``; an empty field is reported as missing, in widget words."""
    empty = [n for n in names if not str(values.get(n, "") or "")]
    if empty:
        listed = ", ".join("{" + n + "}" for n in empty)
        raise PromptError(
            f"The prompt uses {listed} but {'its field is' if len(empty) == 1 else 'their fields are'} empty. "
            f"Fix: type a value in the {', '.join(repr(n) for n in empty)} field under the prompt "
            "(or remove the placeholder)."
        )
    return {n: str(values[n]) for n in names}


def build_params(values: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Params:
    """Validated :class:`Params` from a form's values; ``None`` or ``""`` means "unset"."""
    merged = {**values, **(overrides or {})}
    return Params.build(**{k: v for k, v in merged.items() if v is not None and v != "" and v != ()})


def missing_key(model: str) -> str | None:
    """The environment variable of ``model``'s provider when its key is missing, else ``None``.

    An unknown provider is not a key problem: :meth:`Runner.prepare` reports it.
    """
    from .providers import get_provider

    try:
        provider = get_provider(split_model(model)[0])
    except ModelNotFoundError:
        return None
    if provider.has_key():
        return None
    return provider.key_env


def provide_key(env_var: str, value: str) -> bool:
    """Keep ``value`` as the session key for ``env_var``; ``False`` if it is blank.

    Nothing is stored anywhere else: callers must clear their copy (a
    password widget's value) at once.
    """
    if not value or not value.strip():
        return False
    set_key(env_var, value)
    return True


def _model_names() -> list[str]:
    from .providers import models

    return models().names


def _default_model() -> str:
    from .providers import default_model

    return default_model()


# --------------------------------------------------------------------------- #
# Observation
# --------------------------------------------------------------------------- #


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
        try:
            self._listener_list().remove(listener)
        except ValueError:
            pass

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


# --------------------------------------------------------------------------- #
# Answers
# --------------------------------------------------------------------------- #


@dataclass(eq=False)
class Answer:
    """One answer as shown: streamed text per sample, then the logged response.

    ``texts`` has one entry per sample (``n``); ``response`` is set when the
    call finished (its ``call_id`` is what ratings refer to); ``error`` holds
    one readable message when it failed.
    """

    label: str = ""
    model: str = ""
    texts: list[str] = field(default_factory=lambda: [""])
    status: Status = "idle"
    response: Response | None = None
    error: str | None = None
    error_type: str | None = None
    rating: int | None = None
    note: str = ""
    started_at: float | None = None
    first_delta_s: float | None = None

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""

    @property
    def call_id(self) -> int | None:
        return self.response.call_id if self.response is not None else None

    @property
    def running(self) -> bool:
        return self.status == "running"

    def figures(self) -> str:
        """The figures line under the answer (tokens, latency, first token, cost, cached)."""
        return self.response.figures() if self.response is not None and self.response.ok else ""

    # --- lifecycle (called by the states, usually in the portal thread) ----
    def begin(self, samples: int = 1) -> None:
        self.texts = [""] * max(1, samples)
        self.status = "running"
        self.response = None
        self.error = self.error_type = None
        self.rating, self.note = None, ""
        self.started_at = time.perf_counter()
        self.first_delta_s = None

    def apply(self, delta: Delta) -> None:
        """Add a streamed piece; ``reset`` (the runner is retrying) clears what was shown."""
        if delta.reset:
            self.texts = [""] * len(self.texts)
            return
        if self.first_delta_s is None and self.started_at is not None and delta.text:
            self.first_delta_s = time.perf_counter() - self.started_at
        texts = list(self.texts)
        while len(texts) <= delta.index:
            texts.append("")
        texts[delta.index] += delta.text
        self.texts = texts

    def finish(self, response: Response) -> None:
        self.response = response
        if response.ok:
            self.texts = list(response.choices) or [response.text]
            self.status = "done"
        else:
            if response.text and not self.text:
                self.texts = [response.text]
            self.error = response.error or "The call failed."
            self.error_type = response.error_type
            self.status = "error"

    def fail(self, message: str, error_type: str | None = None) -> None:
        self.error, self.error_type, self.status = message, error_type, "error"

    def stop(self) -> None:
        self.status = "stopped"
        self.error_type = CancelledRunError.__name__
        self.error = "Stopped before the answer was complete; the partial answer is logged as an error row."

    # --- static form ---------------------------------------------------------
    def summary_html(self) -> str:
        head = html.escape(self.label or self.model)
        parts = [f"<div style='font-weight:600;margin:6px 0 2px'>{head}</div>"] if head else []
        for i, text in enumerate(self.texts):
            prefix = f"<i>sample {i + 1}</i><br>" if len(self.texts) > 1 else ""
            parts.append("<div style='white-space:pre-wrap;border-left:3px solid #2f6fdf;padding:4px 8px;"
                         f"margin:2px 0'>{prefix}{html.escape(redact(text))}</div>")
        if self.error:
            parts.append(f"<div style='color:#b00020'>{html.escape(self.error)}</div>")
        if self.figures():
            parts.append(f"<div style='color:#666;font-size:90%'>{html.escape(self.figures())}</div>")
        return "".join(parts)

    def summary_text(self) -> str:
        lines = [f"[{self.label or self.model}]"] if (self.label or self.model) else []
        lines += [redact(t) for t in self.texts if t]
        if self.error:
            lines.append(f"error: {self.error}")
        if self.figures():
            lines.append(self.figures())
        return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Parameter controls, from the schema
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ParamSpec:
    """How to show one parameter: the kind of control, its bounds and its help.

    ``kind`` is ``"float"`` (a slider), ``"count"`` (a small whole-number
    slider), ``"int"`` (a number box, for wide ranges such as max_tokens) or
    ``"strings"`` (a list of strings: stop). ``optional`` parameters can be
    left unset, meaning the provider's default.
    """

    name: str
    kind: Literal["float", "count", "int", "strings"]
    low: float | None
    high: float | None
    step: float
    default: Any
    shown: Any
    description: str
    optional: bool
    max_items: int | None = None


#: What an unset control shows (dimmed) until the user sets it.
_SHOWN_WHEN_UNSET = {"temperature": 0.7, "top_p": 1.0, "max_tokens": 256, "seed": 0,
                     "presence_penalty": 0.0, "frequency_penalty": 0.0}


def param_specs() -> list[ParamSpec]:
    """One :class:`ParamSpec` per parameter, built from ``Params.model_json_schema()``."""
    props = Params.model_json_schema()["properties"]
    specs = []
    for name in PARAM_NAMES:
        prop = props[name]
        options = prop.get("anyOf", [prop])
        types = {o.get("type") for o in options}
        optional = "null" in types
        main = next(o for o in options if o.get("type") != "null")
        low, high = param_bounds(name) if main.get("type") in ("number", "integer") else (None, None)
        if main.get("type") == "number":
            kind = "float"
            step = 0.01 if (high or 1) - (low or 0) <= 1 else 0.05
        elif main.get("type") == "integer":
            kind = "count" if low is not None and high is not None and high - low <= 64 else "int"
            step = 1
        else:
            kind, step = "strings", 1
        default = prop.get("default")
        shown = default if default is not None else _SHOWN_WHEN_UNSET.get(name, low if low is not None else ())
        specs.append(ParamSpec(name, kind, low, high, step, default, shown, prop.get("description", ""),
                               optional, main.get("maxItems")))
    return specs


# --------------------------------------------------------------------------- #
# Versions
# --------------------------------------------------------------------------- #


def version_label(version: Version) -> str:
    """``#3 shorter-system · 2025-06-01 14:03 · 1a2b3c4d`` (id, name, local time, short hash)."""
    try:
        when = datetime.fromisoformat(version.created_at).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        when = version.created_at
    return f"#{version.id} {version.name} · {when} · {version.prompt_hash[:8]}"


def _version_lines(version: Version) -> list[str]:
    prompt = version.prompt
    lines = [f"model: {version.model or '(default)'}"]
    params = version.params or {}
    lines += [f"{k}: {params[k]!r}" for k in sorted(params)] or ["(provider default parameters)"]
    if prompt.get("system"):
        lines.append("--- system ---")
        lines += str(prompt["system"]).splitlines() or [""]
    for i, (q, a) in enumerate(prompt.get("examples") or (), 1):
        lines.append(f"--- example {i}: user ---")
        lines += str(q).splitlines() or [""]
        lines.append(f"--- example {i}: assistant ---")
        lines += str(a).splitlines() or [""]
    lines.append("--- user ---")
    lines += str(prompt.get("user", "")).splitlines() or [""]
    return lines


@dataclass(frozen=True)
class VersionDiff:
    """A line diff of two saved versions; ``lines`` are ``(" " | "+" | "-", text)``."""

    a: Version
    b: Version
    lines: tuple[tuple[str, str], ...]

    @property
    def changed(self) -> bool:
        return any(kind != " " for kind, _ in self.lines)

    @property
    def text(self) -> str:
        head = f"--- {version_label(self.a)}\n+++ {version_label(self.b)}\n"
        return head + "\n".join(f"{kind} {line}" for kind, line in self.lines)

    def to_html(self) -> str:
        """Lines of both versions, removed ones red, added ones green (escaped, readable)."""
        styles = {"+": "background:#e6ffec;color:#116329", "-": "background:#ffebe9;color:#82071e",
                  " ": "color:#333"}
        rows = "".join(
            f"<div class='wb-diff-{'add' if k == '+' else 'del' if k == '-' else 'same'}' "
            f"style='{styles[k]};white-space:pre-wrap;padding:0 6px'>"
            f"<span style='user-select:none;opacity:.6'>{k if k != ' ' else '&nbsp;'}</span> "
            f"{html.escape(line) or '&nbsp;'}</div>"
            for k, line in self.lines
        )
        note = "" if self.changed else "<div style='color:#666'>The two versions are identical.</div>"
        return (
            "<div class='wb-diff' style='font-family:var(--jp-code-font-family,monospace);font-size:12px'>"
            f"<div style='color:#82071e'>&minus; {html.escape(version_label(self.a))}</div>"
            f"<div style='color:#116329'>+ {html.escape(version_label(self.b))}</div>"
            f"<div style='border:1px solid #ddd;border-radius:4px;margin-top:4px'>{rows}</div>{note}</div>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.text


def diff_versions(a: Version, b: Version) -> VersionDiff:
    """Diff two versions line by line (prompt texts, parameters and model)."""
    out: list[tuple[str, str]] = []
    for line in difflib.ndiff(_version_lines(a), _version_lines(b)):
        kind = line[:1]
        if kind in ("+", "-", " "):
            out.append((kind, line[2:]))
    return VersionDiff(a, b, tuple(out))


# --------------------------------------------------------------------------- #
# Shared run machinery
# --------------------------------------------------------------------------- #


def _resolve_runner(runner: Runner | None, log: RunLog | str | None) -> tuple[Runner, RunLog | None]:
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


class _RunningState(Observable):
    """What the three states share: runner, log, error message, run/stop and waiting."""

    runner: Runner
    log: RunLog | None
    error: str | None
    running: bool

    def _init_run(self, runner: Runner | None, log: RunLog | str | None) -> None:
        self._runner, self._log = _resolve_runner(runner, log)
        self._future: concurrent.futures.Future[Any] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._stop_requested = False
        self._done = threading.Event()
        self._done.set()
        self.error = None
        self.info: str | None = None
        self.running = False

    @property
    def runner(self) -> Runner:
        return self._runner

    # the editing shared by every state: variables and parameters are plain dicts
    variables: dict[str, str]
    params: dict[str, Any]

    def prepare(self) -> Any:
        """The validated request(s) a run would send; raises on bad input. Each state defines it."""
        raise NotImplementedError

    def validate(self) -> str | None:
        """The message :meth:`start` would show, or ``None`` when a run can start."""
        try:
            self.prepare()  # each state's own: the requests a run would send
        except Exception as exc:  # noqa: BLE001
            return friendly_error(exc)
        return None

    def _use_key(self, env: str | None, value: str) -> bool:
        """Keep ``value`` as the session key for ``env``; clear the error that asked for it."""
        if env is None or not provide_key(env, value):
            return False
        if self.error and env in self.error:
            self.error = None
        self.info = f"Key for {env} set for this session (it is not saved)."
        self.changed("key")
        return True

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

    @property
    def log(self) -> RunLog | None:
        return self._log

    @property
    def future(self) -> concurrent.futures.Future[Any] | None:
        return self._future

    def _need_log(self, what: str) -> RunLog:
        if self._log is None:
            raise RunLogError(f"{what} needs a run log, but logging is off for this runner. "
                              "Fix: pass log=wb.RunLog('runs.sqlite') (or a runner with a log).")
        return self._log

    def _guarded(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn``; a failure becomes ``self.error`` (one readable message) and ``None``."""
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never as a traceback
            self.error = friendly_error(exc)
            return None
        return result

    def start(self) -> concurrent.futures.Future[Any] | None:
        """Validate, then start the run in the portal and return at once.

        On invalid input nothing is sent: ``error`` says why and ``None`` is
        returned. This is what the Run button calls.
        """
        if self.running:
            self.error = "A run is already going. Fix: wait for it, or press Stop."
            return None
        try:
            work = self._prepare_run()
        except Exception as exc:  # noqa: BLE001 - validation errors are shown in the widget
            self.error = friendly_error(exc)
            return None
        self.error = None
        self.info = None
        self._done.clear()
        self.running = True
        self._future = submit(self._execute(work))
        return self._future

    def run(self, timeout: float | None = None) -> Any:
        """Run and wait (from code or tests); raises on invalid input like the one-call API."""
        work = self._prepare_run()
        self.error = None
        self._done.clear()
        self.running = True
        self._future = submit(self._execute(work))
        try:
            return self._future.result(timeout)
        except KeyboardInterrupt:
            self.stop()
            raise

    async def arun(self) -> Any:
        """Async twin of :meth:`run`, for code that already runs an event loop."""
        work = self._prepare_run()
        self.error = None
        self._done.clear()
        self.running = True
        return await self._execute(work)

    def stop(self) -> bool:
        """Cancel the running calls (each is logged as an error row with its partial text).

        The task is cancelled inside its loop, not through the Future, so the
        Future (and :meth:`wait`) completes only after the state was updated.
        """
        if not self.running:
            return False
        self._stop_requested = True
        task = self._task
        if task is not None:
            task.get_loop().call_soon_threadsafe(task.cancel)
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the current run finished (and its state was updated); ``True`` if it did."""
        return self._done.wait(timeout)

    async def _execute(self, work: Any) -> Any:
        self._task = asyncio.current_task()
        try:
            if self._stop_requested:  # Stop pressed before the task even started
                raise asyncio.CancelledError
            return await self._perform(work)
        finally:
            self._task = None
            self._stop_requested = False
            self.running = False
            self._done.set()

    # subclasses
    def _prepare_run(self) -> Any:
        raise NotImplementedError

    async def _perform(self, work: Any) -> Any:
        raise NotImplementedError

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


async def _stream_into(runner: Runner, request: Request, answer: Answer, notify: Callable[[], Any],
                       **call_kwargs: Any) -> Response | None:
    """Run one request, streaming into ``answer``; cancellation marks it stopped."""
    answer.begin(request.params.n)
    notify()

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
    answer.finish(response)
    notify()
    return response


def _split_kwargs(kwargs: Mapping[str, Any], prompt: Prompt) -> tuple[dict[str, Any], dict[str, Any]]:
    from ._api import _split

    return _split(kwargs, prompt)


# --------------------------------------------------------------------------- #
# Playground
# --------------------------------------------------------------------------- #


class PlaygroundState(_RunningState):
    """One prompt, one model, one answer (``n`` samples), versions and ratings.

    Fields a view edits: ``system``, ``user``, ``examples``, ``variables``
    (variable values, kept for variables that were removed so they come back
    when retyped), ``model`` and ``params`` (only the parameters that are set).

    >>> s = PlaygroundState(wb.Prompt(user="Tell me about {topic}"), model="local:smollm2",
    ...                     max_tokens=32, log=":memory:")  # doctest: +SKIP
    >>> s.set_variable("topic", "owls"); s.run().text  # doctest: +SKIP
    """

    def __init__(self, prompt: Prompt | str | None = None, model: str | None = None, *,
                 variables: Mapping[str, Any] | None = None, runner: Runner | None = None,
                 log: RunLog | str | None = None, **kwargs: Any) -> None:
        p = as_prompt(prompt or "", template=True)
        param_kwargs, var_kwargs = _split_kwargs(kwargs, p)
        self._init_run(runner, log)
        self.system: str = p.system or ""
        self.user: str = p.user
        self.examples: tuple[tuple[str, str], ...] = p.examples
        self.name: str | None = p.name
        self.variables: dict[str, str] = {k: str(v) for k, v in {**(variables or {}), **var_kwargs}.items()}
        self.model: str = model or _default_model()
        self.params: dict[str, Any] = build_params(param_kwargs).set()
        self.answer: Answer = Answer(model=self.model)

    # --- editing ---------------------------------------------------------
    @property
    def variable_names(self) -> list[str]:
        return variables_in(self.system, self.user, self.examples)

    def prompt(self) -> Prompt:
        """The prompt as typed (raises :class:`PromptError` on a malformed placeholder)."""
        return _prompt_from_text(self.system, self.user, self.examples, self.name)

    def build_params(self) -> Params:
        return build_params(self.params)

    @property
    def missing_key(self) -> str | None:
        """Environment variable of the chosen model's missing key, else ``None``."""
        return missing_key(self.model)

    def provide_key(self, value: str) -> bool:
        """Use ``value`` as this session's key for the chosen model's provider."""
        env = self.missing_key
        if env is None:
            from .providers import get_provider

            env = get_provider(split_model(self.model)[0]).key_env
        return self._use_key(env, value)

    def prepare(self) -> Request:
        """Validate everything offline (variables, parameters, model, key) and return the request."""
        prompt = self.prompt()
        values = _check_filled(prompt.variable_order, self.variables)
        return self._runner.prepare(self.model, prompt, values, self.build_params(), tags={"source": "playground"})

    # --- running ---------------------------------------------------------
    def _prepare_run(self) -> Request:
        request = self.prepare()
        self.answer = Answer(label=self.name or "", model=self.model)
        return request

    async def _perform(self, request: Request) -> Response | None:
        return await _stream_into(self._runner, request, self.answer, lambda: self.changed("answer"))

    # --- ratings ---------------------------------------------------------
    def rate(self, rating: int | None, note: str | None = None) -> None:
        """Rate the current answer +1 / -1 (``None`` clears) with an optional note, in the run log."""
        self._rate(self.answer, rating, note)

    # --- versions --------------------------------------------------------
    def save_version(self, name: str, note: str | None = None) -> Version:
        """Store the prompt as typed, with its parameters and model, under ``name``."""
        version = self._need_log("Saving a version").save_version(
            name, self.prompt(), self.build_params().set(), self.model, note)
        self.info = f"Saved {version_label(version)}."
        self.changed("versions")
        return version

    def versions(self) -> list[Version]:
        """Saved versions, newest first."""
        return self._log.versions() if self._log is not None else []

    def _version(self, version: int | Version) -> Version:
        return version if isinstance(version, Version) else self._need_log("Loading a version").version(int(version))

    def diff(self, a: int | Version, b: int | Version) -> VersionDiff:
        """A readable diff between two saved versions (ids or :class:`Version` objects)."""
        return diff_versions(self._version(a), self._version(b))

    def load_version(self, version: int | Version) -> Version:
        """Put a saved version back into the editor (prompt, parameters and model)."""
        v = self._version(version)
        p = Prompt.from_dict(v.prompt)
        self.system, self.user, self.examples, self.name = p.system or "", p.user, p.examples, v.name
        self.params = build_params(v.params).set()
        if v.model:
            self.model = v.model
        self.info = f"Loaded {version_label(v)}."
        self.changed("loaded")
        return v

    # --- static form -----------------------------------------------------
    def summary_text(self) -> str:
        lines = [f"Playground · {self.model} · {Params.build(self.params).describe()}"]
        if self.system:
            lines.append(f"[system] {self.system}")
        lines.append(f"[user] {self.user}")
        for name in self.variable_names:
            lines.append(f"  {name} = {self.variables.get(name, '')!r}")
        if self.answer.status != "idle":
            lines.append(self.answer.summary_text())
        return redact("\n".join(lines))

    def summary_html(self) -> str:
        return _static_card("Playground", self.model, self.params, [(self.system, self.user)],
                            {n: self.variables.get(n, "") for n in self.variable_names},
                            [self.answer] if self.answer.status != "idle" else [])


def _static_card(title: str, model: str | None, params: Mapping[str, Any],
                 prompts: Sequence[tuple[str, str]], values: Mapping[str, str], answers: Sequence[Answer]) -> str:
    """The HTML a saved notebook shows where the live widget cannot render (GitHub, nbviewer)."""
    esc = lambda s: html.escape(redact(str(s)))  # noqa: E731
    head = f"<b>{esc(title)}</b>"
    if model:
        head += f" · <code>{esc(model)}</code>"
    head += f" · {esc(Params.build(**{k: v for k, v in params.items() if k in PARAM_NAMES}).describe())}"
    body = []
    for system, user in prompts:
        if system:
            body.append(f"<div><i>system</i><pre style='white-space:pre-wrap;margin:2px 0'>{esc(system)}</pre></div>")
        body.append(f"<div><i>user</i><pre style='white-space:pre-wrap;margin:2px 0'>{esc(user)}</pre></div>")
    if values:
        body.append("<div>" + " · ".join(f"<code>{{{esc(k)}}}</code> = {esc(v)!s}" for k, v in values.items())
                    + "</div>")
    body += [a.summary_html() for a in answers]
    return ("<div class='wb-static' style='border:1px solid #ddd;border-radius:6px;padding:8px 12px;"
            f"font-family:sans-serif;font-size:13px'>{head}{''.join(body)}"
            "<div style='color:#999;font-size:11px;margin-top:6px'>(static view of a workbench widget: "
            "run the notebook to use it)</div></div>")


# --------------------------------------------------------------------------- #
# Compare
# --------------------------------------------------------------------------- #


@dataclass(eq=False)
class Variant:
    """One column of a Compare: a prompt and a model (plus parameter overrides)."""

    label: str
    system: str = ""
    user: str = ""
    examples: tuple[tuple[str, str], ...] = ()
    model: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def prompt(self) -> Prompt:
        return _prompt_from_text(self.system, self.user, self.examples, self.label)

    @classmethod
    def of(cls, label: str, prompt: Prompt | str, model: str, params: Mapping[str, Any] | None = None) -> Variant:
        p = as_prompt(prompt, template=True)
        return cls(label, p.system or "", p.user, p.examples, model, dict(params or {}))


def _labels(count: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(count)]


class CompareState(_RunningState):
    """The same variables and parameters through 2-4 variants (prompt and/or model) at once.

    ``prompts`` may be one prompt, a list, or a ``{label: prompt}`` mapping;
    ``models`` one model or a list. Every prompt runs on every model (at most
    four columns). With one prompt and one model, two identical columns are
    made so there is something to edit.
    """

    def __init__(self, prompts: Prompt | str | Sequence[Prompt | str] | Mapping[str, Prompt | str] | None = None,
                 models: str | Sequence[str] | None = None, *, variables: Mapping[str, Any] | None = None,
                 runner: Runner | None = None, log: RunLog | str | None = None, **kwargs: Any) -> None:
        self._init_run(runner, log)
        variants = _make_variants(prompts, models)
        first = variants[0].prompt()
        param_kwargs, var_kwargs = _split_kwargs(kwargs, first)
        self.variants: list[Variant] = variants
        self.variables: dict[str, str] = {k: str(v) for k, v in {**(variables or {}), **var_kwargs}.items()}
        self.params: dict[str, Any] = build_params(param_kwargs).set()
        self.answers: list[Answer] = [Answer(label=v.label, model=v.model) for v in variants]

    @property
    def variable_names(self) -> list[str]:
        names: list[str] = []
        for v in self.variants:
            names += [n for n in variables_in(v.system, v.user, v.examples) if n not in names]
        return names

    def update_variant(self, index: int, **changes: Any) -> Variant:
        """Change a variant's ``label``, ``system``, ``user``, ``model`` or ``params``."""
        variant = self.variants[index]
        for key, value in changes.items():
            if not hasattr(variant, key):
                raise ParamsError(f"A variant has no field {key!r}. Fix: use label, system, user, examples, model or params.")
            setattr(variant, key, value)
        if "label" in changes or "model" in changes:
            self.answers[index].label, self.answers[index].model = variant.label, variant.model
        self.changed("variant")
        return variant

    def add_variant(self, prompt: Prompt | str | None = None, model: str | None = None,
                    label: str | None = None) -> Variant:
        """Add a column (a copy of the last one unless a prompt or model is given)."""
        if len(self.variants) >= MAX_VARIANTS:
            raise ParamsError(f"A Compare shows at most {MAX_VARIANTS} variants. Fix: remove one first.")
        last = self.variants[-1]
        used = {v.label for v in self.variants}
        label = label or next(l for l in _labels(MAX_VARIANTS + len(used)) if l not in used)
        if prompt is None:
            variant = Variant(label, last.system, last.user, last.examples, model or last.model, dict(last.params))
        else:
            variant = Variant.of(label, prompt, model or last.model)
        self.variants = [*self.variants, variant]
        self.answers = [*self.answers, Answer(label=variant.label, model=variant.model)]
        return variant

    def remove_variant(self, index: int) -> None:
        if len(self.variants) <= 1:
            raise ParamsError("A Compare needs at least one variant.")
        self.variants = [v for i, v in enumerate(self.variants) if i != index]
        self.answers = [a for i, a in enumerate(self.answers) if i != index]

    @property
    def missing_keys(self) -> list[str]:
        """Environment variables of missing keys, for the models of all variants."""
        out: list[str] = []
        for v in self.variants:
            env = missing_key(v.model)
            if env and env not in out:
                out.append(env)
        return out

    def provide_key(self, value: str, env_var: str | None = None) -> bool:
        return self._use_key(env_var or next(iter(self.missing_keys), None), value)

    def prepare(self) -> list[Request]:
        """One request per variant; the first invalid variant is named in the error."""
        requests = []
        for v in self.variants:
            try:
                prompt = v.prompt()
                values = _check_filled(prompt.variable_order, self.variables)
                params = build_params(self.params, v.params)
                requests.append(self._runner.prepare(v.model, prompt, values, params,
                                                     tags={"source": "compare", "variant": v.label}))
            except WorkbenchError as exc:
                raise type(exc)(f"Variant {v.label}: {exc}") from None
        return requests

    def _prepare_run(self) -> list[Request]:
        requests = self.prepare()
        self.answers = [Answer(label=v.label, model=v.model) for v in self.variants]
        return requests

    async def _perform(self, requests: list[Request]) -> list[Response | None]:
        answers = list(self.answers)

        async def one(i: int, request: Request) -> Response | None:
            return await _stream_into(self._runner, request, answers[i], lambda: self.changed(f"answer:{i}"))

        return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(requests))))

    def rate(self, index: int, rating: int | None, note: str | None = None) -> None:
        """Rate the answer in column ``index``."""
        self._rate(self.answers[index], rating, note)

    def summary_text(self) -> str:
        lines = [f"Compare · {len(self.variants)} variants · {Params.build(self.params).describe()}"]
        for v, a in zip(self.variants, self.answers):
            lines.append(f"[{v.label}] {v.model}: {v.user!r}")
            if a.status != "idle":
                lines.append(a.summary_text())
        return redact("\n".join(lines))

    def summary_html(self) -> str:
        parts = []
        for v, a in zip(self.variants, self.answers):
            parts.append(_static_card(f"Variant {v.label}", v.model, {**self.params, **v.params},
                                      [(v.system, v.user)], {}, [a] if a.status != "idle" else []))
        values = {n: self.variables.get(n, "") for n in self.variable_names}
        shown = " · ".join(f"<code>{{{html.escape(k)}}}</code> = {html.escape(redact(v))}" for k, v in values.items())
        return (f"<div class='wb-static'><b>Compare</b> {shown}<div style='display:grid;"
                f"grid-template-columns:repeat({len(parts)},1fr);gap:8px'>{''.join(parts)}</div></div>")


def _make_variants(prompts: Any, models: str | Sequence[str] | None) -> list[Variant]:
    if prompts is None:
        labelled: list[tuple[str | None, Prompt | str]] = [(None, "")]
    elif isinstance(prompts, Mapping):
        labelled = [(str(k), p) for k, p in prompts.items()]
    elif isinstance(prompts, (Prompt, str)):
        labelled = [(None, prompts)]
    else:
        labelled = [(None, p) for p in prompts]
    model_list = [models] if isinstance(models, str) else list(models or []) or [_default_model()]
    combos = [(label, p, m) for (label, p), m in itertools.product(labelled, model_list)]
    if len(combos) > MAX_VARIANTS:
        raise ParamsError(
            f"{len(labelled)} prompts x {len(model_list)} models make {len(combos)} columns; a Compare shows "
            f"at most {MAX_VARIANTS}. Fix: compare fewer prompts or models at once (or use wb.Experiment)."
        )
    if len(combos) == 1:
        combos = combos * 2
    letters = dict(zip(range(len(labelled)), _labels(MAX_VARIANTS)))
    variants = []
    for i, (label, p, m) in enumerate(combos):
        prompt_label = label or letters[(i // len(model_list)) % len(labelled)]
        if len(model_list) == 1:
            name = label or _labels(MAX_VARIANTS)[i]
        elif len(labelled) == 1:
            name = label or split_model(m)[1]
        else:
            name = f"{prompt_label} · {split_model(m)[1]}"
        variants.append(Variant.of(name, p, m))
    seen: dict[str, int] = {}
    for v in variants:  # duplicate labels (same prompt twice) get a suffix
        seen[v.label] = seen.get(v.label, 0) + 1
        if seen[v.label] > 1:
            v.label = f"{v.label} ({seen[v.label]})"
    return variants


# --------------------------------------------------------------------------- #
# Sweep
# --------------------------------------------------------------------------- #


def _length(output: str, case: Mapping[str, Any]) -> float:
    return float(len(output))


def _words(output: str, case: Mapping[str, Any]) -> float:
    return float(len(output.split()))


#: Built-in measures of an answer: name -> scorer-like callable.
MEASURES: dict[str, Callable[[str, Mapping[str, Any]], float]] = {
    "length (characters)": _length,
    "words": _words,
}

#: Parameters a Sweep can vary (``n`` changes the shape of the answer, not its value),
#: with the values offered when the parameter is chosen.
DEFAULT_SWEEPS: dict[str, tuple[float | int, ...]] = {
    "temperature": (0.0, 0.5, 1.0, 1.5),
    "top_p": (0.1, 0.5, 0.9, 1.0),
    "max_tokens": (16, 64, 256),
    "seed": (0, 1, 2, 3),
    "presence_penalty": (-1.0, 0.0, 1.0, 2.0),
    "frequency_penalty": (-1.0, 0.0, 1.0, 2.0),
}
SWEEPABLE = tuple(DEFAULT_SWEEPS)


def _scorer_name(scorer: Any) -> str:
    return str(getattr(scorer, "name", None) or getattr(scorer, "__name__", None) or type(scorer).__name__)


def score_value(result: Any) -> float:
    """A number from a scorer's result: a number, a bool, or an object with ``.value``."""
    value = getattr(result, "value", result)
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ScorerError(f"The scorer returned {result!r}, not a number. Fix: return a number or a Score.") from None


def parse_sweep_values(text: str | Iterable[Any], parameter: str) -> list[float | int]:
    """``"0, 0.5, 1"`` -> ``[0.0, 0.5, 1.0]``, each checked against the parameter's bounds."""
    if parameter not in SWEEPABLE:
        raise ParamsError(f"{parameter!r} cannot be swept. Fix: choose one of {', '.join(SWEEPABLE)}.")
    items = [s for s in re.split(r"[,;\s]+", text.strip()) if s] if isinstance(text, str) else list(text)
    if not items:
        raise ParamsError(f"No values to sweep {parameter} over. Fix: type some, e.g. 0, 0.5, 1, 1.5.")
    whole = Params.model_fields[parameter].annotation in (int, int | None)
    out: list[float | int] = []
    for item in items:
        try:
            number = float(item)
        except (TypeError, ValueError):
            raise ParamsError(f"{item!r} is not a number. Fix: list numbers separated by commas, e.g. 0, 0.5, 1.") from None
        if whole:
            if not number.is_integer():
                raise ParamsError(f"{parameter} takes whole numbers, not {item}. Fix: e.g. 16, 64, 256.")
            number = int(number)
        Params.build(**{parameter: number})  # bounds, with the friendly message
        if number not in out:
            out.append(number)
    return out


@dataclass(eq=False)
class SweepPoint:
    """One call of a sweep: the parameter value, the repeat index and its answer."""

    value: float | int
    repeat: int
    answer: Answer
    measure: float | None = None
    measure_error: str | None = None


class SweepState(_RunningState):
    """One prompt, one parameter swept over values, each value repeated; a measure per answer.

    The measure is ``"length (characters)"`` by default, ``"words"``, or any
    scorer given in ``scorers`` (a callable ``scorer(output, case)`` returning
    a number or a Score with ``.value``, e.g. from :mod:`workbench.scorers`;
    ``case`` holds the variables and ``expected``, if given).
    """

    def __init__(self, prompt: Prompt | str | None = None, model: str | None = None, *,
                 parameter: str = "temperature", values: Sequence[float] | str | None = None,
                 repeats: int = 3, measure: str | Callable[..., Any] | None = None,
                 scorers: Sequence[Callable[..., Any]] | Mapping[str, Callable[..., Any]] = (),
                 expected: Any = None, variables: Mapping[str, Any] | None = None, runner: Runner | None = None,
                 log: RunLog | str | None = None, **kwargs: Any) -> None:
        p = as_prompt(prompt or "", template=True)
        param_kwargs, var_kwargs = _split_kwargs(kwargs, p)
        self._init_run(runner, log)
        self.expected: Any = expected
        self.system: str = p.system or ""
        self.user: str = p.user
        self.examples: tuple[tuple[str, str], ...] = p.examples
        self.variables: dict[str, str] = {k: str(v) for k, v in {**(variables or {}), **var_kwargs}.items()}
        self.model: str = model or _default_model()
        self.params: dict[str, Any] = build_params(param_kwargs).set()
        self.parameter: str = parameter
        self.sweep_values: list[float | int] = parse_sweep_values(
            DEFAULT_SWEEPS.get(parameter, ()) if values is None else values, parameter)
        self.repeats: int = _check_repeats(repeats)
        self.scorers: dict[str, Callable[..., Any]] = dict(MEASURES)
        items = scorers.items() if isinstance(scorers, Mapping) else ((_scorer_name(s), s) for s in scorers)
        for name, scorer in items:
            self.scorers[name] = scorer
        if callable(measure):
            self.scorers[_scorer_name(measure)] = measure
            measure = _scorer_name(measure)
        self.measure: str = measure or "length (characters)"
        if self.measure not in self.scorers:
            raise ScorerError(f"Unknown measure {self.measure!r}. Fix: use one of {', '.join(self.scorers)}.")
        self.points: list[SweepPoint] = []

    # --- editing ---------------------------------------------------------
    @property
    def variable_names(self) -> list[str]:
        return variables_in(self.system, self.user, self.examples)

    def set_parameter(self, name: str, values: str | Iterable[Any] | None = None) -> None:
        """Sweep ``name`` instead, over ``values`` (default: a typical range for it)."""
        chosen = parse_sweep_values(DEFAULT_SWEEPS.get(name, ()) if values is None else values, name)
        self.parameter = name
        self.sweep_values = chosen

    def set_values(self, text: str | Iterable[Any]) -> list[float | int]:
        """Set the swept values from text (``"0, 0.5, 1"``) or numbers; raises on a bad one."""
        self.sweep_values = parse_sweep_values(text, self.parameter)
        return self.sweep_values

    def prompt(self) -> Prompt:
        return _prompt_from_text(self.system, self.user, self.examples)

    @property
    def missing_key(self) -> str | None:
        return missing_key(self.model)

    def provide_key(self, value: str) -> bool:
        return self._use_key(self.missing_key, value)

    @property
    def calls(self) -> int:
        return len(self.sweep_values) * self.repeats

    def prepare(self) -> list[tuple[float | int, int, Request]]:
        """``(value, repeat, request)`` for every call, all validated before any is sent."""
        _check_repeats(self.repeats)
        values = parse_sweep_values(self.sweep_values, self.parameter)
        if self.calls > MAX_SWEEP_CALLS:
            raise ParamsError(f"This sweep would make {self.calls} calls ({len(values)} values x {self.repeats} "
                              f"repeats); the limit is {MAX_SWEEP_CALLS}. Fix: fewer values or repeats.")
        prompt = self.prompt()
        filled = _check_filled(prompt.variable_order, self.variables)
        out = []
        for value in values:
            params = build_params(self.params, {self.parameter: value})
            for repeat in range(self.repeats):
                tags = {"source": "sweep", "parameter": self.parameter, "value": value}
                out.append((value, repeat, self._runner.prepare(self.model, prompt, filled, params,
                                                                repeat=repeat, tags=tags)))
        return out

    # --- running ---------------------------------------------------------
    def _prepare_run(self) -> list[Request]:
        planned = self.prepare()
        self.points = [SweepPoint(v, r, Answer(label=f"repeat {r + 1}", model=self.model))
                       for v, r, _ in planned]
        return [req for _, _, req in planned]

    async def _perform(self, requests: list[Request]) -> list[Response]:
        points = list(self.points)
        for point in points:
            point.answer.begin(1)
        self.changed("points")

        def on_result(i: int, response: Response) -> None:
            points[i].answer.finish(response)
            self._score(points[i])
            self.changed(f"point:{i}")

        try:
            return await self._runner.run(requests, on_result=on_result, progress=False)
        except asyncio.CancelledError:
            for point in points:
                if point.answer.running:
                    point.answer.stop()
            self.changed("points")
            raise

    # --- measures --------------------------------------------------------
    @property
    def measures(self) -> list[str]:
        return list(self.scorers)

    def set_measure(self, name: str) -> None:
        """Choose the measure plotted (rescoring answers already there)."""
        if name not in self.scorers:
            raise ScorerError(f"Unknown measure {name!r}. Fix: use one of {', '.join(self.scorers)}.")
        self.measure = name
        for point in self.points:
            self._score(point)
        self.changed("points")

    def _score(self, point: SweepPoint) -> None:
        answer = point.answer
        point.measure, point.measure_error = None, None
        if answer.status != "done":
            return
        try:
            point.measure = score_value(self.scorers[self.measure](answer.text, self.case()))
        except Exception as exc:  # noqa: BLE001 - a scorer bug is reported, not raised mid-run
            point.measure_error = f"{self.measure}: {friendly_error(exc)}"

    def case(self) -> dict[str, Any]:
        """What scorers receive as ``case``: the variables, plus ``expected`` when one was given."""
        case: dict[str, Any] = dict(self.variables)
        if self.expected is not None:
            case["expected"] = self.expected
        return case

    @property
    def measure_errors(self) -> list[str]:
        return [p.measure_error for p in self.points if p.measure_error]

    def groups(self) -> list[tuple[float | int, list[SweepPoint]]]:
        """Points grouped by parameter value, in the order of the values."""
        order: dict[float | int, list[SweepPoint]] = {}
        for point in self.points:
            order.setdefault(point.value, []).append(point)
        return list(order.items())

    def summary(self) -> list[dict[str, Any]]:
        """Per value: mean, min, max and count of the measure over answers that have one."""
        rows = []
        for value, points in self.groups():
            xs = [p.measure for p in points if p.measure is not None and not math.isnan(p.measure)]
            rows.append({
                "value": value, "n": len(xs), "mean": sum(xs) / len(xs) if xs else math.nan,
                "min": min(xs) if xs else math.nan, "max": max(xs) if xs else math.nan,
                "errors": sum(1 for p in points if p.answer.status == "error"),
            })
        return rows

    def to_frame(self) -> Any:
        """One row per call: value, repeat, output, measure, tokens, latency, error, call_id."""
        import pandas as pd

        rows = []
        for p in self.points:
            r = p.answer.response
            rows.append({
                self.parameter: p.value, "repeat": p.repeat, "output": p.answer.text, self.measure: p.measure,
                "completion_tokens": r.usage.completion_tokens if r else None,
                "latency_s": r.latency_s if r else None, "error": p.answer.error,
                "rating": p.answer.rating, "call_id": p.answer.call_id,
            })
        return pd.DataFrame(rows)

    def figure(self) -> Figure:
        """The measure against the parameter: every answer as a dot, the mean as a line.

        Built on a bare :class:`matplotlib.figure.Figure` (no pyplot), so it
        can be drawn from any thread and never opens a window or a second
        inline copy.
        """
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 3.4), dpi=100, layout="constrained")
        ax = fig.add_subplot()
        rows = [r for r in self.summary() if r["n"]]
        xs, ys = self._jittered_points()
        if rows:
            ax.plot([r["value"] for r in rows], [r["mean"] for r in rows], "-", color="#D55E00", linewidth=2,
                    marker="D", markersize=5, label="mean", zorder=2)
        if xs:
            ax.plot(xs, ys, "o", markerfacecolor="none", markeredgecolor="#0072B2", markersize=7,
                    markeredgewidth=1.5, label="each answer", zorder=3)
        if rows or xs:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=9)
            if min(ys) >= 0:
                ax.set_ylim(bottom=0, top=max(ys) * 1.1 if max(ys) > 0 else 1)
        else:
            ax.text(0.5, 0.5, "no answers yet", ha="center", va="center", transform=ax.transAxes, color="#888")
        ax.set_xlabel(self.parameter)
        ax.set_ylabel(self.measure)
        ax.set_title(f"{self.measure} vs {self.parameter} · {self.model} · {self.repeats} repeat"
                     f"{'s' if self.repeats != 1 else ''} per value", fontsize=10)
        if self.sweep_values:
            ax.set_xticks(list(self.sweep_values))
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        return fig

    def _jittered_points(self) -> tuple[list[float], list[float]]:
        """Every answer's measure, nudged sideways when several share a value so none hides another."""
        values = [float(v) for v in self.sweep_values] or [0.0]
        span = (max(values) - min(values)) or 1.0
        xs: list[float] = []
        ys: list[float] = []
        for _, points in self.groups():
            scored = [p for p in points if p.measure is not None and not math.isnan(p.measure)]
            for i, point in enumerate(scored):
                offset = (i - (len(scored) - 1) / 2) * span * 0.012
                xs.append(float(point.value) + offset)
                ys.append(float(point.measure))  # type: ignore[arg-type]
        return xs, ys

    def png(self) -> bytes:
        """:meth:`figure` as PNG bytes (what the widget's Image shows)."""
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png")
        return buffer.getvalue()

    def rate(self, index: int, rating: int | None, note: str | None = None) -> None:
        """Rate the answer of point ``index``."""
        self._rate(self.points[index].answer, rating, note)

    def summary_text(self) -> str:
        lines = [f"Sweep · {self.model} · {self.parameter} over {self.sweep_values} x {self.repeats} repeats",
                 f"[user] {self.user}"]
        for row in self.summary():
            lines.append(f"  {self.parameter}={row['value']}: mean {self.measure} {row['mean']:.1f} (n={row['n']})")
        return redact("\n".join(lines))

    def summary_html(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(str(r['value']))}</td><td>{r['mean']:.1f}</td><td>{r['n']}</td></tr>"
            for r in self.summary()
        )
        table = (f"<table><tr><th>{html.escape(self.parameter)}</th><th>mean {html.escape(self.measure)}</th>"
                 f"<th>n</th></tr>{rows}</table>") if rows else ""
        card = _static_card(f"Sweep of {self.parameter} over {self.sweep_values} x {self.repeats}", self.model,
                            self.params, [(self.system, self.user)],
                            {n: self.variables.get(n, "") for n in self.variable_names}, [])
        return card + table


def _check_repeats(repeats: int) -> int:
    if not isinstance(repeats, int) or isinstance(repeats, bool) or not 1 <= repeats <= 50:
        raise ParamsError(f"repeats={repeats!r} is not allowed. Fix: use a whole number from 1 to 50.")
    return repeats
