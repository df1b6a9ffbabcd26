"""Parallel local decoding: several answers decoded together are the answers decoded alone.

The real SmolLM2 model runs (short answers). Three ways of decoding the same requests are compared
text for text: together in the batch engine, one by one in the batch engine, and one by one
through ``Llama.create_chat_completion`` (``parallel=0``, the single path the engine replaces).
"""

from __future__ import annotations

import asyncio

import pytest

from workbench._params import Params
from workbench._structured import as_response_format
from workbench._tools import CallOptions
from workbench._types import Delta
from workbench.providers import get_provider
from workbench.providers._local import LocalProvider

pytestmark = pytest.mark.local_model

PROMPTS = ["Invent a name for a cat.", "Write a haiku about rain.", "Describe the sea."]
SETTINGS = [dict(seed=1, temperature=0.7), dict(seed=2, temperature=1.3), dict(seed=3, temperature=0)]


@pytest.fixture(scope="module")
def batched():
    return LocalProvider(parallel=4)


@pytest.fixture(scope="module")
def single():
    return LocalProvider(parallel=0)


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def _together(provider, calls):
    return await asyncio.gather(*(provider.complete("smollm2", m, p, options=o) for m, p, o in calls))


def _one_by_one(provider, calls):
    return [asyncio.run(_together(provider, [c]))[0] for c in calls]


def test_answers_decoded_together_equal_answers_decoded_alone(batched, single):
    calls = [(_user(text), Params.build(max_tokens=12, **s), None) for text in PROMPTS for s in SETTINGS]
    steps, tokens = _engine_counts(batched)
    together = asyncio.run(_together(batched, calls))
    steps, tokens = _engine_counts(batched, steps, tokens)
    alone = _one_by_one(batched, calls)
    reference = _one_by_one(single, calls)
    texts = [c.choices[0] for c in together]
    assert texts == [c.choices[0] for c in alone]
    assert texts == [c.choices[0] for c in reference]
    assert [c.finish_reason for c in together] == [c.finish_reason for c in reference]
    assert len(set(texts)) > len(PROMPTS)  # the seeds and temperatures really sampled different answers
    assert tokens > 2 * steps  # the engine did decode several sequences per step


def _engine_counts(provider, steps0=0, tokens0=0):
    engine = provider._engines.get("smollm2")
    if engine is None:
        return 0, 0
    return engine.steps - steps0, engine.step_tokens - tokens0


def test_stop_logprobs_n_and_schema_match_the_single_path(batched, single):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    json_only = CallOptions(response_format=as_response_format(schema))
    calls = [
        (_user("Describe the weather today."), Params.build(max_tokens=16, temperature=0, stop=["e"]), None),
        (_user("Name a fruit."), Params.build(max_tokens=6, seed=4, temperature=1.0, logprobs=True, top_logprobs=2),
         None),
        (_user("Name a colour."), Params.build(max_tokens=6, seed=5, temperature=1.0, n=3), None),
        (_user("Anna is 31 years old. Extract the person as JSON."), Params.build(max_tokens=24, temperature=0),
         json_only),
    ]
    together = asyncio.run(_together(batched, calls))
    reference = _one_by_one(single, calls)
    for got, want in zip(together, reference, strict=True):
        assert got.choices == want.choices and got.finish_reason == want.finish_reason
    assert "e" not in together[0].choices[0] and together[0].finish_reason == "stop"
    assert len(set(together[2].choices)) > 1
    got_tokens, want_tokens = together[1].tokens[0], reference[1].tokens[0]
    assert [t.text for t in got_tokens] == [t.text for t in want_tokens]
    assert [t.logprob for t in got_tokens] == pytest.approx([t.logprob for t in want_tokens], abs=1e-6)
    assert [t.top for t in got_tokens] == [t.top for t in want_tokens] and len(got_tokens[0].top) == 2
    assert together[3].choices[0].lstrip().startswith("{")


def test_streams_decoded_together_arrive_as_deltas_that_add_up(batched):
    async def one(text):
        pieces, final = [], None
        async for item in batched.stream("smollm2", _user(text), Params.build(max_tokens=12, temperature=0)):
            if isinstance(item, Delta):
                pieces.append(item.text)
            else:
                final = item
        return pieces, final

    async def both():
        return await asyncio.gather(one(PROMPTS[0]), one(PROMPTS[1]))

    for pieces, final in asyncio.run(both()):
        assert len(pieces) > 2 and "".join(pieces) == final.choices[0]


def test_a_stopped_stream_frees_its_sequence(batched):
    async def stop_early():
        stream = batched.stream("smollm2", _user("Tell me a long story."), Params.build(max_tokens=200, seed=1))
        async for item in stream:
            if isinstance(item, Delta):
                break
        await stream.aclose()
        await asyncio.sleep(0.5)  # the engine drops a cancelled answer at its next step

    asyncio.run(stop_early())
    engine = batched._engines["smollm2"]
    assert all(slot.job is None for slot in engine.slots)
    again = asyncio.run(_together(batched, [(_user("Say yes."), Params.build(max_tokens=4, temperature=0), None)]))
    assert again[0].choices[0]


def test_memory_is_one_context_window_per_sequence(batched):
    import llama_cpp

    asyncio.run(_together(batched, [(_user("Hi"), Params.build(max_tokens=2, temperature=0), None)]))
    engine = batched._engines["smollm2"]
    assert llama_cpp.llama_n_ctx(engine.ctx) == batched.context_window("smollm2") * 4
    assert llama_cpp.llama_n_seq_max(engine.ctx) == 4


def test_the_runner_sends_local_calls_concurrently_when_parallel(runner):
    provider = get_provider("local")
    saved = provider.parallel
    try:
        provider.set_parallel(3)
        assert wb_runner_limit(runner, provider) == 6
        provider.set_parallel(0)
        assert wb_runner_limit(runner, provider) == 1
    finally:
        provider.set_parallel(saved)


def wb_runner_limit(runner, provider):
    return runner.limit_for(provider)


def test_a_long_prompt_beside_a_short_one_decodes_as_alone(batched, single):
    """Beyond 256 cached tokens llama.cpp attends over more (masked) cells: the answers must not move."""
    story = "The lighthouse keeper climbed the stairs every evening and lit the lamp. " * 22  # ~300 tokens
    calls = [(_user(story + "Summarise the story."), Params.build(max_tokens=8, seed=7, temperature=1.0), None),
             (_user("Name a bird."), Params.build(max_tokens=8, seed=8, temperature=1.0), None)]
    together = asyncio.run(_together(batched, calls))
    reference = _one_by_one(single, calls)
    assert [c.choices for c in together] == [c.choices for c in reference]
    assert together[0].usage.prompt_tokens > 256
