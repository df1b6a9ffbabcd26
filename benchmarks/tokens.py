"""Benchmark 6: the token lens on the local model: what ``logprobs=True, top_logprobs=5`` costs.

Speed: ``wb.stream("local:smollm2", ...)`` with ``logprobs=True, top_logprobs=5``
against the same call without, same prompts, seeds, temperature and
max_tokens, back to back in alternating order, so the paired ratio of tokens/s
is the figure (target >= 0.9). The log-probabilities come from a logits
processor at each sampled position (``workbench/providers/_logits.py``), not
from llama.cpp's ``logits_all=True``, which would keep every position's logits.

Memory: the tokens of those answers as stored in the run log (the
``tokens_json`` column, compact JSON) and as decoded ``Token`` objects in
Python (tracemalloc), each scaled to 1,000 calls of the benchmark's length.
"""

from __future__ import annotations

import tempfile
import tracemalloc
from pathlib import Path

from ._common import Section, Settings, joined, median, paired_ratios, spread
from .local_model import PROMPTS, TEMPERATURE, Timing, timed

TOP = 5


def _generate(runner: object, prompt: str, seed: int, max_tokens: int, tokens: bool) -> Timing:
    import time

    import workbench as wb

    extra = {"logprobs": True, "top_logprobs": TOP} if tokens else {}
    cpu = time.process_time()
    start = time.perf_counter()
    pieces = wb.stream("local:smollm2", prompt, seed=seed, temperature=TEMPERATURE, max_tokens=max_tokens,
                       cache=False, runner=runner, **extra)
    timing = timed(pieces, start)
    timing.tokens = int(runner.run_log.calls(limit=1)["completion_tokens"].iloc[0])  # type: ignore[attr-defined]
    CPU_S.append((tokens, time.process_time() - cpu, timing.tokens))
    return timing


#: (with tokens?, CPU seconds of this process, tokens generated) per generation: CPU time is what the
#: logprobs cost, and unlike wall time it does not count the time other jobs on a busy machine took.
CPU_S: list[tuple[bool, float, int]] = []


def run(settings: Settings) -> list[Section]:
    import workbench as wb
    from workbench._tokens import decode_tokens

    with tempfile.TemporaryDirectory(prefix="wb-bench-tokens-") as tmp:
        runner = wb.Runner(log=Path(tmp) / "runs.sqlite", progress=False)
        for tokens in (False, True):  # load the model and warm the caches outside the timing
            _generate(runner, "Hello", 0, 8, tokens)
        plain: list[Timing] = []
        lens: list[Timing] = []
        prompts = PROMPTS[: max(settings.local_prompts, 1)]
        rounds = max(1, settings.runs - 2) if not settings.quick else 1
        for r in range(rounds):
            for i, prompt in enumerate(prompts):
                both = [(False, plain), (True, lens)]
                for tokens, runs in both if (r + i) % 2 == 0 else both[::-1]:
                    runs.append(_generate(runner, prompt, 1000 * r + i, settings.local_max_tokens, tokens))
        stored = runner.run_log._read(lambda c: c.execute(  # type: ignore[union-attr]
            "SELECT tokens_json, completion_tokens FROM calls WHERE tokens_json IS NOT NULL").fetchall())
        runner.run_log.close()  # type: ignore[union-attr]
    stored = stored[1:]  # the warm-up call is not one of the benchmark's
    log_bytes = [len(text.encode("utf-8")) for text, _ in stored]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    decoded = [decode_tokens(text) for text, _ in stored]
    in_memory = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    n_tokens = sum(len(d[0] or []) for d in decoded if d)
    section = _report(plain, lens, settings, log_bytes, in_memory, len(stored), n_tokens)
    timed_cpu = CPU_S[2:]  # the warm-up calls are not the benchmark's
    per_cpu = {flag: [n / s for f, s, n in timed_cpu if f == flag and s] for flag in (False, True)}
    cpu_ratio = paired_ratios(per_cpu[True], per_cpu[False])
    section.rows.insert(1, section.add(
        "tokens per CPU-second with logprobs (this process)", f"{median(per_cpu[True]):.1f}",
        f"{median(per_cpu[False]):.1f}", f"{median(cpu_ratio):.3f}", "≥ 0.9", median(cpu_ratio) >= 0.9,
        note=joined("CPU time of this process only (less sensitive to other jobs than wall time, not immune)",
                    spread(cpu_ratio, "pairs"))))
    section.rows.pop()  # add() appended it; it was inserted after the wall-time row
    return [section]


def _report(plain: list[Timing], lens: list[Timing], s: Settings, log_bytes: list[int], in_memory: int,
            calls: int, n_tokens: int) -> Section:
    section = Section("7. Token lens (local model)")
    speed = paired_ratios([t.tokens_per_s for t in lens], [t.tokens_per_s for t in plain])
    section.add(f"tokens/s with logprobs=True, top_logprobs={TOP}", f"{median([t.tokens_per_s for t in lens]):.1f}",
                f"{median([t.tokens_per_s for t in plain]):.1f}", f"{median(speed):.3f}", "≥ 0.9",
                median(speed) >= 0.9, note=joined(f"{len(lens)} generations per side; baseline: the same call "
                                                  "without logprobs", spread(speed, "pairs")))
    per_call = sum(log_bytes) / max(calls, 1)
    per_token = sum(log_bytes) / max(n_tokens, 1)
    section.add("stored tokens in the run log, per 1,000 calls", f"{per_call * 1000 / 1e6:.2f} MB",
                note=f"{per_token:.0f} bytes a token with {TOP} alternatives, {n_tokens / max(calls, 1):.0f} tokens "
                     "a call (compact JSON, log-probabilities to 3 decimals)")
    section.add("decoded Token objects in memory, per 1,000 calls", f"{in_memory / max(calls, 1) * 1000 / 1e6:.1f} MB",
                note=f"{in_memory / max(n_tokens, 1):.0f} bytes a token (tracemalloc)")
    section.notes.append(f"Token lens: both sides are `wb.stream('local:smollm2', ...)` with `cache=False`, "
                         f"temperature={TEMPERATURE}, max_tokens={s.local_max_tokens}, one seed per prompt; one side "
                         f"adds `logprobs=True, top_logprobs={TOP}`.")
    return section
