"""Reasoning models and prompt caching: usage, parameters, the log, cost, the parameter form, local reuse.

The hosted cases use the real ``openai`` and ``mistralai`` SDKs over loopback against
``tests/fakeserver.py``, which reports ``completion_tokens_details.reasoning_tokens`` for
reasoning model names and ``prompt_tokens_details.cached_tokens`` for a long prompt prefix it
saw before, and rejects ``temperature`` for reasoning models with OpenAI's 400. The local cases
run SmolLM2 for real: llama.cpp keeps the longest common prompt prefix in its KV cache.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

import workbench as wb
from tests.conftest import PLANTED_KEY, point_sdks_at
from tests.fakeserver import CACHE_MIN_TOKENS, REASONING_TOKENS, FakeServer
from workbench._errors import BadRequestError, UnsupportedParamError
from workbench._params import Params
from workbench._pricing import CACHED_INPUT_PRICES, PRICES, estimate_cost, usage_cost
from workbench._types import Completion, Delta, Usage
from workbench.providers import get_provider

#: A system prompt of 1100 words: above the 1024-token minimum OpenAI caches (the fake counts words).
LONG_SYSTEM = " ".join(f"rule{i}" for i in range(1100))
QUESTION = "Is the order late?"


@pytest.fixture
def server(monkeypatch, fresh_providers):
    with FakeServer(api_key=PLANTED_KEY) as s:
        yield point_sdks_at(s, monkeypatch)


def _messages(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _direct(provider_name: str, model: str, messages: list[dict[str, str]], params: Params, *, stream: bool,
            sdk_models: bool) -> Completion:
    """One call straight through the provider (one of its two paths), the final Completion."""
    provider = get_provider(provider_name)
    provider.sdk_models = sdk_models

    async def go() -> Completion:
        if not stream:
            return await provider.complete(model, messages, params, timeout=10)
        final = None
        async for item in provider.stream(model, messages, params, timeout=10):
            if not isinstance(item, Delta):
                final = item
        assert final is not None
        return final

    try:
        return asyncio.run(go())
    finally:
        provider.sdk_models = False


PATHS = [pytest.param(stream, sdk, id=f"{'stream' if stream else 'complete'}-{'sdk' if sdk else 'wire'}")
         for stream in (False, True) for sdk in (False, True)]


# --------------------------------------------------------------------------- usage: reasoning and cached tokens

@pytest.mark.parametrize(("stream", "sdk_models"), PATHS)
def test_openai_reasoning_tokens_are_read_from_usage(server, stream, sdk_models):
    done = _direct("openai", "o4-mini", _messages("You help.", "Say three words"),
                   Params(reasoning_effort="high", max_tokens=1000), stream=stream, sdk_models=sdk_models)
    answer_words = len(done.choices[0].split())
    assert done.usage.reasoning_tokens == REASONING_TOKENS["high"] == 256
    assert done.usage.completion_tokens == 256 + answer_words  # hidden reasoning is inside completion_tokens
    sent = server.requests[-1]["json"]
    assert sent["reasoning_effort"] == "high" and sent["max_completion_tokens"] == 1000 and "max_tokens" not in sent
    if stream:
        assert sent["stream_options"] == {"include_usage": True}  # OpenAI sends usage only when asked


@pytest.mark.parametrize(("stream", "sdk_models"), PATHS)
@pytest.mark.parametrize(("provider", "model"), [("openai", "gpt-4o-mini"), ("mistral", "mistral-small-latest")])
def test_cached_tokens_are_read_when_a_long_prefix_was_seen(server, provider, model, stream, sdk_models):
    first = _direct(provider, model, _messages(LONG_SYSTEM, QUESTION), Params(), stream=stream,
                    sdk_models=sdk_models)
    second = _direct(provider, model, _messages(LONG_SYSTEM, "Where is my parcel?"), Params(), stream=stream,
                     sdk_models=sdk_models)
    other = _direct(provider, model, _messages("Short. " + LONG_SYSTEM, QUESTION), Params(), stream=stream,
                    sdk_models=sdk_models)
    assert first.usage.cached_tokens == 0  # nothing seen yet
    assert second.usage.cached_tokens >= CACHE_MIN_TOKENS and second.usage.cached_tokens <= second.usage.prompt_tokens
    assert other.usage.cached_tokens == 0  # the variable part first: no shared prefix, nothing cached
    assert first.usage.reasoning_tokens == 0  # not a reasoning model


def test_a_short_prompt_is_never_cached(server):
    for _ in range(2):
        done = _direct("openai", "gpt-4o-mini", _messages("You help.", QUESTION), Params(), stream=False,
                       sdk_models=False)
    assert done.usage.cached_tokens == 0  # under 1024 tokens, as OpenAI


# --------------------------------------------------------------------------- cost

def test_cost_bills_cached_input_at_the_cached_price_and_reasoning_once():
    inp, out = PRICES["openai:gpt-4o-mini"]
    cached_price = CACHED_INPUT_PRICES["openai:gpt-4o-mini"]
    usage = Usage(2000, 100, cached_tokens=1536)
    assert estimate_cost("openai:gpt-4o-mini", usage) == pytest.approx(
        (464 * inp + 1536 * cached_price + 100 * out) / 1e6)
    assert estimate_cost("openai:gpt-4o-mini", usage) < estimate_cost("openai:gpt-4o-mini", Usage(2000, 100))
    # reasoning tokens are inside completion_tokens: billed once, as output
    o_in, o_out = PRICES["openai:o4-mini"]
    assert estimate_cost("openai:o4-mini", Usage(100, 300, reasoning_tokens=256)) == pytest.approx(
        (100 * o_in + 300 * o_out) / 1e6)
    # a model without a cached price: cached tokens cost the full input price (never less than they may)
    assert usage_cost((1.0, 2.0), Usage(1000, 0, cached_tokens=1000)) == pytest.approx(1000 * 1.0 / 1e6)
    assert wb.cached_price_of("mistral:mistral-small-latest") == PRICES["mistral:mistral-small-latest"][0]
    wb.set_cached_price("mistral:mistral-small-latest", 0.01)
    try:
        assert wb.cached_price_of("mistral:mistral-small-latest") == 0.01
    finally:
        CACHED_INPUT_PRICES.pop("mistral:mistral-small-latest")


def test_a_cache_hit_is_logged_priced_and_shown_in_results(server, runner, log):
    first = wb.complete("openai:gpt-4o-mini", _messages(LONG_SYSTEM, QUESTION), runner=runner, cache=False)
    second = wb.complete("openai:gpt-4o-mini", _messages(LONG_SYSTEM, "Where is my parcel?"), runner=runner,
                         cache=False)
    assert first.usage.cached_tokens == 0 and second.usage.cached_tokens >= CACHE_MIN_TOKENS
    assert f"({second.usage.cached_tokens} from the prompt cache)" in second.figures()
    assert "prompt cache" not in first.figures()
    inp, out = PRICES["openai:gpt-4o-mini"]
    u = second.usage
    assert second.cost_usd == pytest.approx(((u.prompt_tokens - u.cached_tokens) * inp
                                             + u.cached_tokens * CACHED_INPUT_PRICES["openai:gpt-4o-mini"]
                                             + u.completion_tokens * out) / 1e6)
    log.flush()
    assert log.call(second.call_id).usage == second.usage  # read back from the log
    frame = log.calls()
    assert {"reasoning_tokens", "cached_tokens"} <= set(frame.columns)
    assert int(frame.loc[frame.id == second.call_id, "cached_tokens"].iloc[0]) == u.cached_tokens


def test_reasoning_tokens_are_columns_of_experiment_results(server, runner):
    exp = wb.Experiment(prompts={"v": "Answer: {q}"}, models=["openai:o4-mini"],
                        cases=[{"q": "one"}, {"q": "two"}], params={"reasoning_effort": "low"}, runner=runner)
    results = exp.run(progress=False, verbose=False)
    assert list(results["reasoning_tokens"]) == [REASONING_TOKENS["low"]] * 2
    assert list(results["cached_tokens"]) == [0, 0]


def test_rows_logged_before_migration_010_read_zero(tmp_path, monkeypatch):
    from workbench import _log

    path = tmp_path / "old.sqlite"
    monkeypatch.setattr(_log, "MIGRATIONS", _log.MIGRATIONS[:9])  # the schema as 0798f865 made it
    wb.RunLog(path).close()
    monkeypatch.undo()
    with sqlite3.connect(path) as conn:  # a row as 0798f865 wrote it: no reasoning/cached columns
        conn.execute("INSERT INTO calls (created_at, model, provider, cache_key, request_json, status, text, "
                     "prompt_tokens, completion_tokens, uid) VALUES ('2026-01-01', 'openai:gpt-4o-mini', 'openai', "
                     "'k', '{}', 'ok', 'x', 3, 1, 'u1')")
    conn.close()
    new = wb.RunLog(path)
    (call_id,) = new.calls()["id"]
    assert new.call(int(call_id)).usage == Usage(3, 1, 0, 0)
    columns = {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(calls)")}
    assert {"reasoning_tokens", "cached_tokens"} <= columns
    new.close()


# --------------------------------------------------------------------------- reasoning parameters

@pytest.mark.parametrize("param", [{"temperature": 0.2}, {"top_p": 0.5}, {"presence_penalty": 0.5},
                                   {"frequency_penalty": 0.5}, {"stop": ["\n"]}, {"logprobs": True}])
def test_a_parameter_reasoning_models_reject_is_refused_before_any_call(server, runner, param):
    name = next(iter(param))
    with pytest.raises(UnsupportedParamError) as err:
        wb.complete("openai:o4-mini", "Hi", runner=runner, **param)
    message = str(err.value)
    assert name in message and "openai:o4-mini" in message and "reasoning_effort" in message
    assert "Fix: remove it" in message
    assert server.stats["requests"] == 0  # the pre-check fired: nothing reached the server


def test_the_fake_answers_the_same_mistake_with_openais_400(server):
    """Without the pre-check the call is spent and comes back as OpenAI's 400 (what the check spares)."""
    provider = get_provider("openai")
    with pytest.raises(BadRequestError) as err:
        asyncio.run(provider.complete("o4-mini", _messages("You help.", "Hi"), Params(temperature=0.2), timeout=10))
    assert err.value.status == 400 and "temperature" in str(err.value)
    assert server.stats["requests"] == 1


def test_reasoning_effort_on_a_chat_model_is_refused(server, runner):
    with pytest.raises(UnsupportedParamError, match="not a reasoning model.*Fix: remove reasoning_effort"):
        wb.complete("openai:gpt-4o-mini", "Hi", runner=runner, reasoning_effort="low")
    with pytest.raises(UnsupportedParamError, match="'minimal' is for the gpt-5 family"):
        wb.complete("openai:o4-mini", "Hi", runner=runner, reasoning_effort="minimal")
    assert server.stats["requests"] == 0
    done = wb.complete("openai:gpt-5-mini", "Hi", runner=runner, reasoning_effort="minimal")
    assert done.usage.reasoning_tokens == 0 and server.requests[-1]["json"]["reasoning_effort"] == "minimal"


def test_mistral_sends_reasoning_effort_to_its_sdk(server, runner):
    done = wb.complete("mistral:mistral-small-latest", "Hi there", runner=runner, reasoning_effort="high",
                       temperature=0.3)
    sent = server.requests[-1]["json"]
    assert sent["reasoning_effort"] == "high" and sent["temperature"] == 0.3
    assert done.text == "Echo: Hi there"


def test_a_compatible_server_gets_reasoning_effort_as_given(server, runner):
    """A compatible server's models are its own: no OpenAI rules, its max_tokens name, the parameters sent."""
    wb.add_endpoint("mine", server.openai_base_url, models=["think-7b"], key_env="FAKEAPI_KEY")
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    wb.complete("mine:think-7b", "Hi", runner=runner, reasoning_effort="high", temperature=0.6, max_tokens=50)
    sent = server.requests[-1]["json"]
    assert (sent["reasoning_effort"], sent["temperature"], sent["max_tokens"]) == ("high", 0.6, 50)


def test_local_models_refuse_reasoning_effort_before_any_call(runner):
    with pytest.raises(UnsupportedParamError) as err:
        wb.complete("local:smollm2", "Hi", runner=runner, reasoning_effort="low")
    assert "not a reasoning model" in str(err.value) and "Fix: remove reasoning_effort" in str(err.value)
    assert runner.run_log.count() == 0


def test_reasoning_effort_is_validated():
    with pytest.raises(wb.ParamsError, match="give 'minimal', 'low', 'medium' or 'high'"):
        Params.build(reasoning_effort="max")
    assert Params.build(reasoning_effort="low").set() == {"reasoning_effort": "low"}


def test_a_small_budget_is_spent_on_hidden_reasoning_first(server, runner):
    done = wb.complete("openai:o4-mini", "Tell me a long story please", runner=runner, max_tokens=64,
                       raise_errors=False)
    assert done.usage.reasoning_tokens == 64 and done.text == "" and done.finish_reason == "length"
    assert "64 out (64 hidden reasoning)" in done.figures()


# --------------------------------------------------------------------------- the parameter form

def test_the_parameter_form_offers_reasoning_effort_as_a_choice():
    from workbench.state import param_specs
    from workbench.widgets._parts import ParamControls

    spec = {s.name: s for s in param_specs()}["reasoning_effort"]
    assert spec.kind == "choice" and spec.options == ("minimal", "low", "medium", "high") and spec.optional
    changes: list[tuple[str, Any]] = []
    form = ParamControls({}, lambda name, value: changes.append((name, value)))
    control = form.controls["reasoning_effort"]
    assert list(control.options) == ["minimal", "low", "medium", "high"]
    assert form.toggles["reasoning_effort"].value is False  # unset: the model's default
    control.value = "high"
    assert changes[-1] == ("reasoning_effort", "high") and form.toggles["reasoning_effort"].value is True
    form.toggles["reasoning_effort"].value = False
    assert changes[-1] == ("reasoning_effort", None)
    form.set_values({"reasoning_effort": "low"})
    assert control.value == "low" and form.toggles["reasoning_effort"].value is True


# --------------------------------------------------------------------------- local prompt caching, measured

def test_local_calls_report_prompt_tokens_reused_from_the_kv_cache(runner):
    system = "You are the help desk of a bicycle shop. Answer in one short sentence. " * 8
    ask = dict(runner=runner, cache=False, max_tokens=4, temperature=0)
    first = wb.complete("local:smollm2", _messages(system, "What is a chain?"), **ask)
    again = wb.complete("local:smollm2", _messages(system, "What is a brake?"), **ask)
    other = wb.complete("local:smollm2", _messages("Different. " + system, "What is a brake?"), **ask)
    provider = get_provider("local")
    with provider._lock:
        llama = provider._load("smollm2")
        question = len(llama.tokenize(b"What is a brake?", add_bos=False))
        # the chat template's opening (<|im_start|>system + newline) is all two different first messages share
        header = len(llama.tokenize(b"<|im_start|>system\n", add_bos=False, special=True))
    # everything but the new user turn came from the KV cache: what was evaluated is the question and its
    # template tokens (a few more than the question's own)
    assert again.usage.cached_tokens > 0.8 * again.usage.prompt_tokens
    assert question <= again.usage.prompt_tokens - again.usage.cached_tokens <= question + 12
    assert first.usage.cached_tokens < again.usage.cached_tokens
    assert other.usage.cached_tokens <= header  # a different first message: (almost) nothing reused
    seeded = wb.complete("local:smollm2", _messages("Different. " + system, "What is a brake?"), seed=1, **ask)
    assert seeded.usage.cached_tokens == 0  # a seeded call evaluates its prompt from scratch (see _local.py)


def test_the_parallel_engine_reports_its_slot_reuse_too(runner):
    provider = get_provider("local")
    before = provider.parallel
    provider.set_parallel(2)
    try:
        system = "You are the help desk of a bicycle shop. Answer in one short sentence. " * 8
        ask = dict(runner=wb.Runner(log=None, progress=False), cache=False, max_tokens=4, temperature=0)
        wb.complete("local:smollm2", _messages(system, "What is a chain?"), **ask)
        again = wb.complete("local:smollm2", _messages(system, "What is a brake?"), **ask)
    finally:
        provider.set_parallel(before)
    assert again.usage.cached_tokens > 0.8 * again.usage.prompt_tokens  # the slot kept the system prompt


def test_a_max_tokens_sweep_on_a_reasoning_model_shows_the_hidden_tokens(server, runner):
    from workbench import state as S

    s = S.SweepState("Tell me a long story about owls", "openai:o4-mini", parameter="max_tokens", values="20, 200",
                     repeats=1, runner=runner, reasoning_effort="low")
    s.run(timeout=60)
    frame = s.to_frame().set_index("max_tokens")
    assert list(frame["reasoning_tokens"]) == [REASONING_TOKENS["low"]] * 2
    # 20 tokens: 16 of them went to hidden reasoning, 4 were left for the answer
    assert frame.loc[20, "completion_tokens"] == 20 and len(frame.loc[20, "output"].split()) == 4
