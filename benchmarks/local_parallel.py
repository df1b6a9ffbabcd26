"""Benchmark: parallel local decoding (several answers as sequences of one llama.cpp context).

The workload is ``examples/local_experiment.py``'s experiment: two sentiment prompts x 30
reviews x temperatures 0 and 0.7 x 3 repeats = 360 calls of up to 8 tokens on SmolLM2-135M,
run as the example runs it (``wb.Experiment(...).run()``, a fresh log each time so nothing is
reused). The same experiment is run with the local provider set to ``parallel=0`` (one answer
at a time through ``Llama.create_chat_completion``: the path before this feature) and to
``parallel=N``, in alternating order, so a drift in the machine's load falls on both sides;
the ratio is the median of the paired ratios. A third side is llama-cpp-python used directly:
a plain loop of ``Llama.create_chat_completion`` over the same 360 messages.

Then calls/s for 1, 2, 4 and 8 sequences on a shorter slice (interleaved the same way), and the
latency of a single interactive call (one ``wb.complete`` alone, ``parallel=0`` vs ``N``).
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Any

from ._common import REPO_ROOT, Section, Settings, joined, median, paired_ratios, spread


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("local_experiment", REPO_ROOT / "examples" / "local_experiment.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _experiment(example: Any, reviews: int, log: Path, repeats: int = 3) -> tuple[int, float]:
    """Run the example's experiment on the first ``reviews`` reviews: (calls, seconds)."""
    import pandas as pd

    import workbench as wb

    cases = pd.DataFrame(example.REVIEWS[:reviews], columns=["review", "expected"])
    runner = wb.Runner(log=log, progress=False)  # a fresh runner: it takes the provider's concurrency now
    experiment = wb.Experiment(prompts={"vague": example.VAGUE, "precise": example.PRECISE}, models=["local:smollm2"],
                               params={"temperature": [0, 0.7], "max_tokens": 8}, cases=cases,
                               scorers=[wb.scorers.label_match(["positive", "negative"])], repeats=repeats,
                               name="bench-parallel", runner=runner)
    start = time.perf_counter()
    results = experiment.run()
    elapsed = time.perf_counter() - start
    errors = int(results["error"].notna().sum()) if "error" in results else 0
    if errors:
        raise RuntimeError(f"{errors} calls of the benchmark experiment failed")
    return len(results), elapsed


def _raw_loop(example: Any, reviews: int, repeats: int = 3) -> tuple[int, float]:
    """The same calls through ``Llama.create_chat_completion`` in a plain loop (its own ``Llama``)."""
    from llama_cpp import Llama

    from workbench.providers import get_provider
    from workbench.providers._local import smollm2_path

    provider = get_provider("local")
    llama = Llama(model_path=str(smollm2_path()), n_ctx=provider.context_window("smollm2"),
                  n_threads=provider.n_threads, verbose=False)  # type: ignore[attr-defined]
    calls = []
    for prompt in (example.VAGUE, example.PRECISE):
        for review, _ in example.REVIEWS[:reviews]:
            messages = prompt.render({"review": review})
            for temperature in (0, 0.7):
                calls += [(messages, temperature)] * repeats
    llama.create_chat_completion(messages=calls[0][0], max_tokens=2)  # warm, as the workbench's model is
    start = time.perf_counter()
    for messages, temperature in calls:
        llama.create_chat_completion(messages=messages, temperature=temperature, max_tokens=8)
    elapsed = time.perf_counter() - start
    llama.close()
    return len(calls), elapsed


def _single_call(prompt: str, seed: int) -> float:
    import workbench as wb

    runner = wb.Runner(log=False, progress=False)
    start = time.perf_counter()
    wb.complete("local:smollm2", prompt, seed=seed, temperature=0.7, max_tokens=32, cache=False, runner=runner)
    return time.perf_counter() - start


def run(settings: Settings) -> list[Section]:
    from workbench.providers import get_provider
    from workbench.providers._local_batch import default_parallel

    provider: Any = get_provider("local")
    chosen = default_parallel() or 4  # the default is 0 (one at a time): measure the engine with 4
    saved = provider.parallel
    example = _example()
    reviews = 1 if settings.quick else len(example.REVIEWS)
    rounds = 1 if settings.quick else 2
    sweep_reviews = 1 if settings.quick else 5
    section = Section("8. Parallel local decoding (SmolLM2-135M, 2 prompts x reviews x 2 temperatures x 3 repeats)")
    try:
        with tempfile.TemporaryDirectory(prefix="wb-bench-parallel-") as tmp:
            logs = iter(Path(tmp) / f"runs-{i}.sqlite" for i in range(10_000))
            provider.set_parallel(chosen)
            _experiment(example, 1, next(logs), repeats=1)  # load the model and make the engine outside the timing
            before: list[float] = []
            after: list[float] = []
            raw: list[float] = []
            calls = 0
            for r in range(rounds):
                sides = [(0, before), (chosen, after)]
                for parallel, out in sides if r % 2 == 0 else sides[::-1]:
                    provider.set_parallel(parallel)
                    calls, seconds = _experiment(example, reviews, next(logs))
                    out.append(calls / seconds)
                n_raw, seconds = _raw_loop(example, reviews)
                raw.append(n_raw / seconds)
            gain = paired_ratios(after, before)
            vs_raw = paired_ratios(after, raw)
            section.add(f"calls/s, {calls}-call experiment, parallel={chosen} vs one at a time",
                        f"{median(after):.2f}", f"{median(before):.2f}", f"{median(gain):.2f}", "≥ 2",
                        median(gain) >= 2, note=joined(f"{rounds} interleaved rounds", spread(gain, "rounds")))
            section.add("calls/s vs raw `Llama.create_chat_completion` loop", f"{median(after):.2f}",
                        f"{median(raw):.2f}", f"{median(vs_raw):.2f}", note=spread(vs_raw, "rounds"))
            # sequences: 1, 2, 4, 8 against one at a time, on a slice, interleaved
            sweep: dict[int, list[float]] = {n: [] for n in ((0, 2) if settings.quick else (0, 1, 2, 4, 8))}
            order = list(sweep)
            for r in range(rounds):
                for parallel in order if r % 2 == 0 else order[::-1]:
                    provider.set_parallel(parallel)
                    n_calls, seconds = _experiment(example, sweep_reviews, next(logs))
                    sweep[parallel].append(n_calls / seconds)
            for parallel in [n for n in sweep if n]:
                ratios = paired_ratios(sweep[parallel], sweep[0])
                section.add(f"calls/s with {parallel} sequence{'s' if parallel > 1 else ''} ({n_calls} calls)",
                            f"{median(sweep[parallel]):.2f}", f"{median(sweep[0]):.2f}", f"{median(ratios):.2f}",
                            note="baseline: one at a time" + (" (chosen)" if parallel == chosen else ""))
            # a single interactive call must not be slower
            alone: dict[int, list[float]] = {0: [], chosen: []}
            prompts = ["Write a short poem about a lighthouse keeper.", "Give three tips for writing a clear email."]
            pairs = 1 if settings.quick else 6
            for i in range(pairs):
                for parallel in (0, chosen) if i % 2 == 0 else (chosen, 0):
                    provider.set_parallel(parallel)
                    alone[parallel].append(_single_call(prompts[i % 2], 100 + i))
            slow = paired_ratios(alone[chosen], alone[0])
            section.add("single interactive call latency (32 tokens), engine vs one-at-a-time path",
                        f"{median(alone[chosen]) * 1000:.0f} ms", f"{median(alone[0]) * 1000:.0f} ms",
                        f"{median(slow):.2f}", "≤ 1.05", median(slow) <= 1.05,
                        note=joined("ratio = engine / single path (lower is better)", spread(slow, "pairs")))
    finally:
        provider.set_parallel(saved)
    section.notes.append(
        f"Parallel decoding: `parallel={chosen}` sequences of one llama.cpp context (not unified: one KV stream "
        "per sequence, each of n_ctx tokens), generation steps batched across sequences, prompts evaluated one "
        "sequence per decode with the slot's previous prompt reused as a prefix. Answers are bit-identical to "
        "the answers decoded alone (tests/test_local_parallel.py).")
    return [section]
