"""Whose cost is the grammar? Raw llama.cpp's tokens/s with a JSON-schema grammar against without.

Benchmark 9 measures the workbench with ``response_format`` against the workbench without it. This
probe asks the same question of raw ``Llama.create_chat_completion`` (``response_format={"type":
"json_object", "schema": ...}``, which is what the local provider hands to llama.cpp), so the two
ratios can be set side by side: if raw llama.cpp loses as much, the cost is its grammar sampler's.

Run: ``python -m benchmarks.grammar_probe``. Measured (2026-12-01, idle 2-core machine, llama-cpp-python
0.3.36, SmolLM2-135M, 1 thread, 12 interleaved pairs, two runs): median 0.56 both times, pairs 0.51-0.66.
"""

from __future__ import annotations

import statistics
import time

from llama_cpp import Llama

from workbench.providers._local import smollm2_path

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}
TEXTS = ["Anna is 31 years old and lives in Oslo.", "My neighbour Tom turned 45 last week.",
         "Maria, aged 27, works as a nurse.", "The winner was Kenji, a 19-year-old student.",
         "Priya is 52 and teaches chemistry.", "At 68, George still runs every morning."]


def tokens_per_second(llm: Llama, text: str, constrained: bool) -> float:
    """One generation's completion tokens over its wall time, first token included."""
    messages = [{"role": "system", "content": "Extract the person as JSON with name and age."},
                {"role": "user", "content": text}]
    extra = {"response_format": {"type": "json_object", "schema": SCHEMA}} if constrained else {}
    started = time.perf_counter()
    answer = llm.create_chat_completion(messages, max_tokens=48, temperature=0.7, seed=1, **extra)
    return answer["usage"]["completion_tokens"] / (time.perf_counter() - started)


def main() -> None:
    llm = Llama(model_path=str(smollm2_path()), n_ctx=2048, n_threads=1, verbose=False)
    tokens_per_second(llm, TEXTS[0], False), tokens_per_second(llm, TEXTS[0], True)  # warm up both paths
    ratios = [tokens_per_second(llm, text, True) / tokens_per_second(llm, text, False)
              for _ in range(2) for text in TEXTS]
    print(f"raw llama.cpp tokens/s with the grammar / without: median {statistics.median(ratios):.2f}, "
          f"pairs {min(ratios):.2f}-{max(ratios):.2f} ({len(ratios)} pairs)")


if __name__ == "__main__":
    main()
