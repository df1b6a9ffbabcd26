"""Benchmark 4: the embedded model through the workbench against raw ``llama-cpp-python``.

Both sides load the same GGUF file with the same ``n_ctx`` and ``n_threads``
and generate with the same prompts, ``seed``, ``temperature`` and
``max_tokens``: the workbench through ``wb.stream`` (validation, the portal
thread, the provider's worker thread, logging), the baseline through
``Llama.create_chat_completion(stream=True)`` called directly. Each side has
its own ``Llama`` so that llama.cpp's prompt-prefix reuse treats both alike;
every prompt is run by both sides back to back, in alternating order.

Tokens are the streamed pieces (llama.cpp streams one token per chunk);
tokens/s is tokens over the whole call as the caller sees it (first byte of
the call to the last token), so the time to first token is included.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._common import Section, Settings, joined, median, paired_ratios, spread

PROMPTS = [
    "Explain in a few sentences why the sky is blue.",
    "Write a short poem about a lighthouse keeper.",
    "List five uses for a paper clip, one per line.",
    "Describe how a bicycle works to a ten-year-old.",
    "Give three tips for writing a clear email.",
    "What is the difference between weather and climate?",
]
TEMPERATURE = 0.7


@dataclass
class Timing:
    """One generation as the caller saw it."""

    tokens: int
    ttft_s: float
    total_s: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.total_s if self.total_s else 0.0


def timed(pieces: Iterable[Any], start: float) -> Timing:
    """Consume a stream of pieces, noting when the first one and the last one arrived."""
    first = None
    count = 0
    for _ in pieces:
        if first is None:
            first = time.perf_counter()
        count += 1
    end = time.perf_counter()
    return Timing(count, (first or end) - start, end - start)


class Raw:
    """``llama_cpp.Llama`` used directly, with the workbench's settings for ``local:smollm2``."""

    def __init__(self, n_ctx: int, n_threads: int) -> None:
        from llama_cpp import Llama

        from workbench.providers._local import smollm2_path

        self.llama = Llama(model_path=str(smollm2_path()), n_ctx=n_ctx, n_threads=n_threads, verbose=False)

    def generate(self, prompt: str, seed: int, max_tokens: int) -> Timing:
        start = time.perf_counter()
        chunks = self.llama.create_chat_completion(messages=[{"role": "user", "content": prompt}], stream=True,
                                                   seed=seed, temperature=TEMPERATURE, max_tokens=max_tokens)
        pieces = (c for c in chunks if c["choices"][0].get("delta", {}).get("content"))
        return timed(pieces, start)

    def close(self) -> None:
        self.llama.close()


class Workbench:
    """``wb.stream`` on ``local:smollm2``, logging to a file like a user's session."""

    def __init__(self, log: Path) -> None:
        import workbench as wb

        self.runner = wb.Runner(log=log, progress=False)

    def generate(self, prompt: str, seed: int, max_tokens: int) -> Timing:
        import workbench as wb

        start = time.perf_counter()
        pieces = wb.stream("local:smollm2", prompt, seed=seed, temperature=TEMPERATURE, max_tokens=max_tokens,
                           cache=False, runner=self.runner)
        timing = timed(pieces, start)
        # count tokens, not pieces: the key redactor may merge a few pieces into one (see StreamRedactor)
        timing.tokens = int(self.runner.run_log.calls(limit=1)["completion_tokens"].iloc[0])
        return timing


def run(settings: Settings) -> list[Section]:
    from workbench.providers import get_provider

    provider = get_provider("local")
    n_ctx, n_threads = provider.context_window("smollm2"), provider.n_threads  # type: ignore[attr-defined]
    raw = Raw(n_ctx, n_threads)
    with tempfile.TemporaryDirectory(prefix="wb-bench-local-") as tmp:
        bench = Workbench(Path(tmp) / "runs.sqlite")
        for side in (raw, bench):  # load the model and warm the caches outside the timing
            side.generate("Hello", 0, 8)
        wb_runs: list[Timing] = []
        raw_runs: list[Timing] = []
        prompts = PROMPTS[: settings.local_prompts]
        rounds = max(1, settings.runs - 2) if not settings.quick else 1
        for r in range(rounds):
            for i, prompt in enumerate(prompts):
                both = [(raw, raw_runs), (bench, wb_runs)]
                for side, runs in both if (r + i) % 2 == 0 else both[::-1]:  # alternate which side goes first
                    runs.append(side.generate(prompt, 1000 * r + i, settings.local_max_tokens))
    raw.close()
    return [_report(wb_runs, raw_runs, settings, n_ctx, n_threads)]


def _report(wb_runs: list[Timing], raw_runs: list[Timing], s: Settings, n_ctx: int, n_threads: int) -> Section:
    section = Section("4. Local model (SmolLM2-135M, llama.cpp)")
    same_tokens = all(a.tokens == b.tokens for a, b in zip(wb_runs, raw_runs, strict=True))
    speed = paired_ratios([t.tokens_per_s for t in wb_runs], [t.tokens_per_s for t in raw_runs])
    ttft = paired_ratios([t.ttft_s for t in raw_runs], [t.ttft_s for t in wb_runs])
    section.add("tokens/s (whole call, first token included)", f"{median([t.tokens_per_s for t in wb_runs]):.1f}",
                f"{median([t.tokens_per_s for t in raw_runs]):.1f}", f"{median(speed):.3f}", "≥ 0.95",
                median(speed) >= 0.95, note=joined(f"{len(wb_runs)} generations per side", spread(speed, "pairs")))
    section.add("time to first token", f"{median([t.ttft_s for t in wb_runs]) * 1000:.1f} ms",
                f"{median([t.ttft_s for t in raw_runs]) * 1000:.1f} ms", f"{median(ttft):.3f}",
                note="ratio = raw / workbench (higher is better)")
    section.add("tokens per generation", f"{median([t.tokens for t in wb_runs]):.0f}",
                f"{median([t.tokens for t in raw_runs]):.0f}",
                note="same tokens on both sides" if same_tokens else "token counts differ between the sides")
    section.notes.append(f"Settings on both sides: n_ctx={n_ctx}, n_threads={n_threads}, temperature={TEMPERATURE}, "
                         f"max_tokens={s.local_max_tokens}, one seed per prompt; the workbench call is "
                         "`wb.stream(...)` with `cache=False`, the baseline "
                         "`Llama.create_chat_completion(stream=True)`.")
    return section
