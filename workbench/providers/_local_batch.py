"""Several local answers decoded together: one llama.cpp context, one sequence per request.

llama.cpp's own server (``--parallel N``) keeps N *slots* in one context and, at each step,
decodes the next token of every busy slot in a single ``llama_decode``. On a CPU a decode of a
few tokens costs little more than a decode of one (the weights are read once per step), so N
answers come out in not much more time than one. :class:`BatchEngine` does the same with
llama-cpp-python's low-level API: ``llama_batch`` with one ``seq_id`` per request, a sampler
chain per request (its own seed and parameters), ``llama_memory_seq_rm`` to free a slot.

**Each answer is bit-identical to the answer decoded alone** (and to the answer of
``Llama.create_chat_completion`` with the same seed), because of three choices, each measured
(``tests/test_local_parallel.py``, ``benchmarks/local_parallel.py``):

* The context is *not* unified (``kv_unified=False``): every sequence has its own KV stream,
  laid out from cell 0 exactly as in a context of its own. In a unified cache the sequences'
  cells interleave, and the attention's SIMD sums then add the same numbers in another order.
* A generation step gives every busy sequence exactly one token, which is what a sequence
  decoded alone gets; prompts are evaluated one sequence per ``llama_decode`` (never mixed
  with other sequences' tokens, which would make llama.cpp split them unevenly).
* A prompt chunk is never a single token: llama.cpp's attention takes another kernel for a
  one-token batch (measured: whole prompt vs prompt-then-last-token differ by up to 0.48 in a
  logit). So a slot that already holds a prefix of the new prompt (its previous request: the
  server's ``cache_prompt``) re-evaluates at least the last two prompt tokens, and a long
  prompt's last chunk is never one token.

Features that llama-cpp-python's chat path has and this engine does not (mirostat, a
``logits_processor`` or ``logit_bias``, an answer continued from an assistant prefix) are
routed to the single path by the provider (:meth:`Job.from_chat_call` returns ``None``).
"""

from __future__ import annotations

import codecs
import functools
import random
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._logits import LogprobCapture

__all__ = ["BatchEngine", "Job", "chat_call", "default_parallel"]

Emit = Callable[[str, Any], None]
_NO_IDS = np.empty(0, dtype=np.intc)
_NO_LOGITS = np.empty(0, dtype=np.single)


class _Captured(Exception):
    """Raised by :class:`_Recorder` to leave the chat handler once it has built its completion call."""


class _Recorder:
    """Stands in for ``Llama`` inside llama-cpp-python's chat handler and records the completion call.

    The handler lays the messages out with the model's chat template, tokenizes them, adds the
    template's stop strings and builds the grammar for ``response_format``; running the very same
    handler keeps the batched prompt identical to the single path's, for any model.
    """

    def __init__(self, llama: Any) -> None:
        self._llama = llama
        self.verbose = False
        self.call: dict[str, Any] = {}

    def tokenize(self, *args: Any, **kwargs: Any) -> list[int]:
        return self._llama.tokenize(*args, **kwargs)

    def create_completion(self, **kwargs: Any) -> Any:
        self.call = kwargs
        raise _Captured


def chat_call(llama: Any, messages: list[dict[str, Any]], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The ``create_completion`` keyword arguments that ``create_chat_completion(messages, **kwargs)`` makes."""
    from llama_cpp import llama_chat_format

    handler: Any = (llama.chat_handler or llama._chat_handlers.get(llama.chat_format)
               or llama_chat_format.get_chat_completion_handler(llama.chat_format))
    recorder = _Recorder(llama)
    defaults = {"temperature": 0.2, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "typical_p": 1.0,
                "repeat_penalty": 1.0, "stop": []}  # create_chat_completion's own defaults
    try:
        handler(llama=recorder, messages=messages, stream=True, **{**defaults, **kwargs})
    except _Captured:
        return recorder.call
    raise RuntimeError("the chat handler did not build a completion call")  # pragma: no cover


@dataclass
class Job:
    """One answer to decode: its prompt tokens, how to sample, when to stop, where to send the text."""

    prompt: list[int]
    max_tokens: int
    stop: list[bytes]
    temperature: float
    top_p: float
    top_k: int
    min_p: float
    typical_p: float
    repeat_penalty: float
    frequency_penalty: float
    presence_penalty: float
    seed: int
    grammar: Any  # llama_cpp.LlamaGrammar | None
    top_logprobs: int | None  # None: no log-probabilities
    emit: Emit
    cancel: threading.Event
    index: int = 0
    stopping: Any = None  # the chat template's stopping criteria (``tokens -> bool``), asked as generate() asks
    # decoding state
    tokens: list[int] = field(default_factory=list)
    text: bytes = b""
    sent: int = 0  # characters of the answer already emitted
    finished: str | None = None
    capture: LogprobCapture | None = None
    sampler: Any = None

    @classmethod
    def from_chat_call(cls, call: dict[str, Any], n_ctx: int, emit: Emit, cancel: threading.Event,
                       index: int = 0) -> Job | None:
        """A job from :func:`chat_call`'s result, or ``None`` if it asks for what the engine does not do."""
        if (call.get("mirostat_mode") or call.get("logits_processor") or call.get("logit_bias")
                or call.get("suffix") is not None):
            return None
        prompt = list(call["prompt"])
        if not prompt or len(prompt) >= n_ctx:
            return None  # the single path reports it
        max_tokens = call.get("max_tokens")
        if max_tokens is None or max_tokens <= 0:
            max_tokens = n_ctx - len(prompt)
        max_tokens = max_tokens if max_tokens + len(prompt) < n_ctx else n_ctx - len(prompt)
        stop = call.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        seed = call.get("seed")
        if seed is None:
            seed = random.randint(0, 2**32)  # as create_completion does for an unseeded call
        logprobs = call.get("logprobs")
        return cls(prompt=prompt, max_tokens=max_tokens, stop=[s.encode("utf-8") for s in stop],
                   temperature=float(call.get("temperature", 0.8)), top_p=float(call.get("top_p", 0.95)),
                   top_k=int(call.get("top_k", 40)), min_p=float(call.get("min_p", 0.05)),
                   typical_p=float(call.get("typical_p", 1.0)), repeat_penalty=float(call.get("repeat_penalty", 1.0)),
                   frequency_penalty=float(call.get("frequency_penalty", 0.0)),
                   presence_penalty=float(call.get("presence_penalty", 0.0)), seed=int(seed),
                   grammar=call.get("grammar"), top_logprobs=None if logprobs is None else int(logprobs),
                   emit=emit, cancel=cancel, index=index, stopping=call.get("stopping_criteria"))


def _sampler_chain(job: Job, llama: Any) -> Any:
    """The same chain as ``Llama._init_sampler`` builds for these parameters (same order, same seed)."""
    import llama_cpp as lc

    chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())

    def add(sampler: Any) -> None:
        lc.llama_sampler_chain_add(chain, sampler)

    add(lc.llama_sampler_init_penalties(llama.n_vocab(), llama.last_n_tokens_size, job.repeat_penalty,
                                        job.frequency_penalty, job.presence_penalty))
    if job.grammar is not None:
        add(lc.llama_sampler_init_grammar(llama._model.vocab, job.grammar._grammar.encode("utf-8"),
                                          job.grammar._root.encode("utf-8")))
    if job.temperature < 0.0:
        add(lc.llama_sampler_init_dist(job.seed))
    elif job.temperature == 0.0:
        add(lc.llama_sampler_init_greedy())
    else:
        add(lc.llama_sampler_init_top_k(job.top_k))
        add(lc.llama_sampler_init_typical(job.typical_p, 1))
        add(lc.llama_sampler_init_top_p(job.top_p, 1))
        add(lc.llama_sampler_init_min_p(job.min_p, 1))
        add(lc.llama_sampler_init_temp(job.temperature))
        add(lc.llama_sampler_init_dist(job.seed))
    return chain


@dataclass
class _Slot:
    seq: int
    cached: list[int] = field(default_factory=list)  # the tokens this sequence's KV stream holds, from position 0
    job: Job | None = None
    pending: int | None = None  # a sampled token still to be fed to the model


def default_parallel() -> int:
    """Sequences decoded together by default: 0 (one answer at a time), from the measurements.

    On the shared 2-core machine (load average ~20) the example experiment ran at 0.49-0.60x the calls/s
    with 4 sequences: its answers are 8 tokens, so prompt evaluation dominates, and one-at-a-time
    decoding re-evaluates only the last token of a prompt it just saw (the experiment's repeats come in a
    row), while concurrent repeats land in different sequences and each evaluates the whole prompt.
    Generation-heavy calls were at parity (benchmarks/README.md). ``WORKBENCH_LOCAL_PARALLEL=N`` or
    ``set_parallel(N)`` turns the engine on; ``python -m benchmarks --only parallel`` measures it.
    """
    return 0


class BatchEngine:
    """A llama.cpp context with ``n_seq`` sequences and a thread that decodes them together."""

    def __init__(self, llama: Any, n_seq: int, n_ctx: int, n_threads: int, n_threads_batch: int) -> None:
        import llama_cpp as lc

        self.llama = llama
        self.n_seq = n_seq
        self.n_ctx = n_ctx
        self.n_batch = int(llama.n_batch)
        params = lc.llama_context_default_params()
        params.n_ctx = n_ctx * n_seq  # each sequence gets a stream of n_ctx cells: memory bounded by n_ctx x n_seq
        params.n_batch = params.n_ubatch = self.n_batch
        params.n_seq_max = n_seq
        params.n_threads, params.n_threads_batch = n_threads, n_threads_batch
        params.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as Llama() sets it: the same kernels
        params.kv_unified = False
        params.no_perf = True
        self._lc = lc
        self.n_threads, self.n_threads_batch = n_threads, n_threads_batch
        self._threads: tuple[int, int] = (n_threads, n_threads_batch)
        self.ctx = lc.llama_init_from_model(llama._model.model, params)
        if not self.ctx:
            raise RuntimeError(f"llama.cpp could not make a context for {n_seq} sequences of {n_ctx} tokens")
        self.mem = lc.llama_get_memory(self.ctx)
        self.batch = lc.llama_batch_init(max(self.n_batch, n_seq), 0, 1)
        self.n_vocab = llama.n_vocab()
        self.slots = [_Slot(i) for i in range(n_seq)]
        self._waiting: deque[Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="workbench-local-batch", daemon=True)
        self._thread.start()
        self.steps = 0  # generation steps (decodes) so far, and tokens decoded in them
        self.step_tokens = 0

    # --- the caller's side ------------------------------------------------------------------
    def submit(self, jobs: Sequence[Job]) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the local batch engine is closed")
            self._waiting.extend(jobs)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=30)
        if self.ctx:
            self._lc.llama_batch_free(self.batch)
            self._lc.llama_free(self.ctx)
            self.ctx = None

    # --- the decoding thread --------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._waiting and not any(s.job for s in self.slots):
                    self._cond.wait()
                if self._closed:
                    return
                admitted = self._admit_locked()
            for slot in admitted:
                self._guard(slot, self._start)
            busy = [s for s in self.slots if s.job is not None and s.pending is not None]
            if busy:
                self._step(busy)

    def _admit_locked(self) -> list[_Slot]:
        """Give waiting jobs free slots: the one whose cached tokens share the longest prefix."""
        admitted = []
        free = [s for s in self.slots if s.job is None]
        while self._waiting and free:
            job = self._waiting.popleft()
            if job.cancel.is_set():
                job.emit("finish", (job.index, "cancelled"))
                job.emit("end", (job.index, 0))
                continue
            best = max(free, key=lambda s: _common_prefix(s.cached, job.prompt))
            free.remove(best)
            best.job = job
            admitted.append(best)
        return admitted

    def _guard(self, slot: _Slot, action: Callable[[_Slot], None]) -> None:
        try:
            action(slot)
        except Exception as exc:  # noqa: BLE001 - handed to the caller's loop
            self._fail(slot, exc)

    def _fail(self, slot: _Slot, exc: Exception) -> None:
        job = slot.job
        self._release(slot, forget=True)
        if job is not None:
            job.emit("error", exc)

    def _start(self, slot: _Slot) -> None:
        """Evaluate the job's prompt in its slot (reusing the cached prefix) and sample its first token."""
        lc, job = self._lc, slot.job
        assert job is not None
        job.sampler = _sampler_chain(job, self.llama)
        if job.top_logprobs is not None:
            job.capture = LogprobCapture(self.llama, job.top_logprobs)
        keep = min(_common_prefix(slot.cached, job.prompt), len(job.prompt) - 2)  # >= 2 tokens re-evaluated
        keep = max(keep, 0)
        if keep < len(slot.cached):
            lc.llama_memory_seq_rm(self.mem, slot.seq, keep, -1)
            del slot.cached[keep:]
        rest = job.prompt[keep:]
        self._use_threads(self.n_threads_batch)  # a prompt: as many threads as the single path gives it
        at = 0
        while at < len(rest):
            size = min(self.n_batch, len(rest) - at)
            if 0 < len(rest) - at - size < 2:  # never leave a one-token last chunk (another attention kernel)
                size -= 2
            self._decode([(t, keep + at + i, slot.seq, at + i == len(rest) - 1)
                          for i, t in enumerate(rest[at:at + size])])
            slot.cached.extend(rest[at:at + size])
            at += size
        self._sample(slot, self._out_index)

    def _step(self, busy: list[_Slot]) -> None:
        """One token for every busy sequence, in one decode."""
        live = []
        for slot in busy:
            job = slot.job
            assert job is not None
            if job.cancel.is_set():
                self._finish(slot, "cancelled")
            else:
                live.append(slot)
        if not live:
            return
        # A generation step of several sequences is a small batch: llama.cpp would give it n_threads_batch
        # threads, but the single path decodes each token with n_threads, and on a shared 2-core machine
        # a second spinning thread cost far more than it gained (benchmarks/README.md).
        self._use_threads(self.n_threads)
        try:
            self._decode([(s.pending, len(s.cached), s.seq, True) for s in live])
        except Exception as exc:  # noqa: BLE001
            for slot in live:
                self._fail(slot, exc)
            return
        self.steps += 1
        self.step_tokens += len(live)
        for i, slot in enumerate(live):
            assert slot.pending is not None
            slot.cached.append(slot.pending)
            slot.pending = None
            self._guard(slot, functools.partial(self._sample, index=i))

    def _use_threads(self, batch_threads: int) -> None:
        if self._threads[1] != batch_threads:
            self._lc.llama_set_n_threads(self.ctx, self.n_threads, batch_threads)
            self._threads = (self.n_threads, batch_threads)

    def _decode(self, items: list[tuple[int | None, int, int, bool]]) -> None:
        lc, batch = self._lc, self.batch
        batch.n_tokens = len(items)
        last = 0
        for i, (token, pos, seq, logits) in enumerate(items):
            batch.token[i], batch.pos[i] = token, pos
            batch.seq_id[i][0], batch.n_seq_id[i] = seq, 1
            batch.logits[i] = logits
            last = i if logits else last
        self._out_index = last
        rc = lc.llama_decode(self.ctx, batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode failed ({rc}): no room in the KV cache or the batch was invalid")

    def _sample(self, slot: _Slot, index: int) -> None:
        """Sample the job's next token from output ``index`` of the last decode, and act on it."""
        lc, job = self._lc, slot.job
        assert job is not None
        if job.capture is not None:  # the raw logits of this position, before the sampler reshapes them
            row = np.ctypeslib.as_array(lc.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,))
            job.capture(_NO_IDS, row)
        token = int(lc.llama_sampler_sample(job.sampler, self.ctx, index))
        if job.stopping is not None and job.stopping(np.asarray(slot.cached, dtype=np.intc), _NO_LOGITS):
            if job.capture is not None:
                job.capture._pending = None
            self._finish(slot, "stop")  # as Llama.generate: asked about the tokens evaluated so far
            return
        if lc.llama_vocab_is_eog(self.llama._model.vocab, token):
            if job.capture is not None:
                job.capture._pending = None  # the end-of-turn token is not part of the answer
            self._finish(slot, "stop")
            return
        if job.capture is not None:
            job.capture._settle(token)
        job.tokens.append(token)
        job.text += self.llama._model.detokenize([token], special=False)
        if not _incomplete_utf8(job.text):
            hits = [s for s in job.stop if s in job.text]
            if hits:  # like create_completion: the first stop string in the list's order that appears
                job.text = job.text[: job.text.index(hits[0])]
                self._finish(slot, "stop")
                return
            self._send(job, held=_stop_prefix(job.text, job.stop))
        if len(job.tokens) >= job.max_tokens:
            self._finish(slot, "length")
            return
        slot.pending = token

    def _send(self, job: Job, held: int = 0) -> None:
        """Emit the answer's new text, keeping back bytes that may begin a stop string."""
        text = _decode_utf8(job.text[: len(job.text) - held] if held else job.text)
        if len(text) > job.sent:
            job.emit("delta", (job.index, text[job.sent:]))
            job.sent = len(text)

    def _finish(self, slot: _Slot, reason: str) -> None:
        job = slot.job
        assert job is not None
        if reason != "cancelled":
            self._send(job)
        job.emit("finish", (job.index, reason))
        if job.capture is not None:
            job.emit("tokens", (job.index, job.capture.tokens(_decode_utf8(job.text))))
        job.emit("end", (job.index, len(job.tokens)))
        self._release(slot)

    def _release(self, slot: _Slot, forget: bool = False) -> None:
        job = slot.job
        if job is not None and job.sampler is not None:
            self._lc.llama_sampler_free(job.sampler)
            job.sampler = None
        slot.job, slot.pending = None, None
        if forget:  # after an error the stream's contents are unknown: start it afresh next time
            self._lc.llama_memory_seq_rm(self.mem, slot.seq, -1, -1)
            slot.cached.clear()


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _incomplete_utf8(data: bytes) -> bool:
    """Whether ``data`` ends inside a multi-byte UTF-8 character (then stop strings are not checked yet)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte (or ASCII): how long should its character be?
            need = 1 if byte < 0x80 else 2 if byte >= 0xC0 and byte < 0xE0 else 3 if byte < 0xF0 else 4
            return need > back
    return False


def _stop_prefix(text: bytes, stops: Sequence[bytes]) -> int:
    """How many bytes at the end of ``text`` could be the beginning of a stop string (held back)."""
    held = 0
    for stop in stops:
        for size in range(min(len(stop), len(text)), 0, -1):
            if text.endswith(stop[:size]):
                held = max(held, size)
                break
    return held


def _decode_utf8(data: bytes) -> str:
    decoder = codecs.getincrementaldecoder("utf-8")("ignore")
    return decoder.decode(data)  # an unfinished character at the end is left out until it is complete
