"""The real openai and mistralai SDKs talk to a loopback fake over real sockets."""

from __future__ import annotations

import asyncio
import time

import pytest

import workbench as wb
from tests.fakeserver import FakeServer

PARAMS = dict(temperature=0.3, top_p=0.8, max_tokens=50, seed=7, stop=["STOP"], presence_penalty=0.1,
              frequency_penalty=0.2)


@pytest.fixture
def server():
    with FakeServer() as s:
        yield s


@pytest.fixture
def openai_fake(server, monkeypatch, fresh_providers):
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    wb.set_key("OPENAI_API_KEY", "test-key")
    return server


@pytest.fixture(params=["openai:gpt-4o-mini", "mistral:mistral-small-latest"])
def model(request, server, monkeypatch, fresh_providers) -> str:
    """Each test using it runs once per SDK, both pointed at the fake server."""
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    monkeypatch.setenv("MISTRAL_SERVER_URL", server.mistral_base_url)
    wb.set_key("OPENAI_API_KEY", "test-key")
    wb.set_key("MISTRAL_API_KEY", "test-key")
    return request.param


@pytest.fixture
def mistral_fake(server, monkeypatch, fresh_providers):
    monkeypatch.setenv("MISTRAL_SERVER_URL", server.mistral_base_url)
    wb.set_key("MISTRAL_API_KEY", "test-key")
    return server


def _last_body(server) -> dict:
    return server.requests[-1]["json"]


# --- parameter mapping on the wire ------------------------------------------------
def test_openai_sends_every_parameter_under_its_wire_name(openai_fake, runner):
    r = wb.complete("openai:gpt-4o-mini", "hello there", n=2, runner=runner, cache=False, **PARAMS)
    body = _last_body(openai_fake)
    assert body["model"] == "gpt-4o-mini" and body["messages"] == [{"role": "user", "content": "hello there"}]
    assert {k: body[k] for k in ("temperature", "top_p", "max_completion_tokens", "seed", "stop",
                                 "presence_penalty", "frequency_penalty", "n")} == {
        "temperature": 0.3, "top_p": 0.8, "max_completion_tokens": 50, "seed": 7, "stop": ["STOP"],
        "presence_penalty": 0.1, "frequency_penalty": 0.2, "n": 2}
    assert openai_fake.requests[-1]["authorization"] == "Bearer test-key"
    assert r.text == "Echo: hello there" and len(r.choices) == 2


def test_mistral_sends_random_seed_and_parameters(mistral_fake, runner):
    r = wb.complete("mistral:mistral-small-latest", "bonjour", runner=runner, cache=False, **PARAMS)
    body = _last_body(mistral_fake)
    assert mistral_fake.requests[-1]["provider"] == "mistral"
    assert body["random_seed"] == 7 and "seed" not in body
    assert {k: body[k] for k in ("temperature", "top_p", "max_tokens", "stop", "presence_penalty",
                                 "frequency_penalty")} == {
        "temperature": 0.3, "top_p": 0.8, "max_tokens": 50, "stop": ["STOP"], "presence_penalty": 0.1,
        "frequency_penalty": 0.2}
    assert r.text == "Echo: bonjour" and r.finish_reason == "stop"


def test_mistral_sends_system_few_shot_and_user_messages_unchanged(mistral_fake, runner):
    # the provider hands the SDK its typed message objects (cheaper to validate); the wire must not change
    p = wb.Prompt(system="Be terse.", user="{q}", examples=[("2+2?", "4")])
    r = wb.complete("mistral:mistral-small-latest", p, q="3+3?", runner=runner, cache=False)
    sent = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"}, {"role": "user", "content": "3+3?"}]
    wire = _last_body(mistral_fake)["messages"]
    assert [{k: m[k] for k in ("role", "content")} for m in wire] == sent
    assert all(set(m) <= {"role", "content", "prefix"} and not m.get("prefix") for m in wire)
    assert r.request["messages"] == sent  # the log keeps plain messages
    chunks = list(wb.stream("mistral:mistral-small-latest", p, q="3+3?", runner=runner, cache=False))
    assert "".join(chunks) == "Echo: 3+3?" and _last_body(mistral_fake)["messages"] == wire
    from workbench.providers._mistral import sdk_messages

    assert not any(isinstance(m, dict) for m in sdk_messages(sent))  # the cheap path is taken
    assert sdk_messages([{"role": "tool", "content": "x"}]) == [{"role": "tool", "content": "x"}]  # else dicts


def test_compatible_endpoint_uses_max_tokens(server, runner, fresh_providers):
    wb.add_endpoint("ollama", base_url=server.openai_base_url, models=["llama3.2"], key_env="FAKE_OLLAMA_KEY")
    wb.set_key("FAKE_OLLAMA_KEY", "test-key")
    r = wb.complete("ollama:llama3.2", "hi", max_tokens=1, runner=runner)
    assert _last_body(server)["max_tokens"] == 1 and "max_completion_tokens" not in _last_body(server)
    assert r.text == "Echo:" and r.finish_reason == "length"
    assert r.request["base_url"] == server.openai_base_url
    assert "ollama:llama3.2" in wb.models().names


def test_endpoint_without_model_list_accepts_any_model(server, runner, fresh_providers):
    server.api_key = None
    wb.add_endpoint("vllm", base_url=server.openai_base_url)
    assert wb.complete("vllm:whatever-model", "yo", runner=runner).text == "Echo: yo"


# --- responses ---------------------------------------------------------------------
def test_response_carries_usage_latency_cost_and_request(model, server, runner):
    server.latency = 0.05
    r = wb.complete(model, wb.Prompt(system="be brief", user="three words here"), runner=runner)
    assert r.usage.prompt_tokens == 5 and r.usage.completion_tokens == 4  # words, as the fake counts them
    assert r.latency_s >= 0.05 and r.provider == model.split(":")[0] and r.model == model
    price = wb._pricing.price_of(model)
    assert r.cost_usd == pytest.approx((5 * price[0] + 4 * price[1]) / 1e6)
    assert r.request["messages"][0] == {"role": "system", "content": "be brief"}
    assert "test-key" not in repr(r.request)


def test_unknown_price_is_none_not_zero(openai_fake, runner):
    wb.add_model("openai:gpt-99")
    assert wb.complete("openai:gpt-99", "x", runner=runner).cost_usd is None


def test_streaming_deltas_usage_and_time_to_first_token(model, server, runner):
    server.chunk_delay = 0.02
    chunks = list(wb.stream(model, "one two three four", runner=runner))
    # the words arrive one by one; each is shown once the next one shows where it ends (key redaction)
    assert "".join(chunks) == "Echo: one two three four" and len(chunks) >= 5
    row = runner.run_log.calls().iloc[0]
    assert row["text"] == "Echo: one two three four" and row["completion_tokens"] == 5
    assert 0 < row["ttft_s"] < row["latency_s"]
    body = _last_body(server)
    assert body["stream"] is True
    if model.startswith("openai"):
        assert body["stream_options"] == {"include_usage": True}


def test_stop_and_length_finish_reasons(openai_fake, runner):
    assert wb.complete("openai:gpt-4o-mini", "a b STOP c", stop="STOP", runner=runner).text == "Echo: a b "
    r = wb.complete("openai:gpt-4o-mini", "a b c d", max_tokens=2, runner=runner)
    assert r.text == "Echo: a" and r.finish_reason == "length"


# --- errors and retries -----------------------------------------------------------
def test_401_is_not_retried_and_names_the_env_var(openai_fake, runner):
    wb.set_key("OPENAI_API_KEY", "sk-wrong-key-0123456789abcdefghij")
    r = wb.complete("openai:gpt-4o-mini", "x", runner=runner, raise_errors=False)
    assert r.error_type == "AuthenticationError" and "OPENAI_API_KEY" in r.error and r.attempts == 1
    assert openai_fake.stats["requests"] == 1 and "sk-wrong-key" not in r.error
    with pytest.raises(wb.AuthenticationError):
        wb.complete("openai:gpt-4o-mini", "x", runner=runner)


@pytest.mark.parametrize("status", ["400", "403"])
def test_client_errors_are_not_retried(status, openai_fake, runner):
    openai_fake.script([status])
    r = wb.complete("openai:gpt-4o-mini", "x", runner=runner, raise_errors=False)
    assert r.attempts == 1 and openai_fake.stats["requests"] == 1
    assert r.error_type == ("BadRequestError" if status == "400" else "AuthenticationError")


def test_429_waits_as_long_as_retry_after_says(openai_fake, runner):
    openai_fake.script(["429:0.4", "ok"])
    started = time.perf_counter()
    r = wb.complete("openai:gpt-4o-mini", "x", runner=runner)
    assert r.ok and r.attempts == 2 and time.perf_counter() - started >= 0.4
    assert r.retried == ["RateLimitError"] and "1 retry (RateLimitError)" in r.figures()
    assert runner.run_log.calls().iloc[0]["retried_json"] == '["RateLimitError"]'


@pytest.mark.parametrize("fault", ["500", "502", "503", "429-no-retry-after", "reset", "malformed", "empty"])
def test_transient_failures_are_retried_until_an_answer(model, fault, server, runner):
    runner.max_wait = 0.05
    server.script([fault, fault])
    r = wb.complete(model, "still here", runner=runner)
    assert r.ok and r.text == "Echo: still here" and r.attempts == 3


def test_retries_are_bounded_and_end_as_an_error_result(openai_fake, runner):
    runner.max_retries, runner.max_wait = 2, 0.01
    openai_fake.script(["500"] * 5)
    r = wb.complete("openai:gpt-4o-mini", "x", runner=runner, raise_errors=False)
    assert r.error_type == "ServerError" and r.attempts == 3 and openai_fake.stats["requests"] == 3
    row = runner.run_log.calls().iloc[0]
    assert row["status"] == "error" and row["attempts"] == 3


def test_timeout_is_retried_then_reported(openai_fake, runner):
    runner.timeout, runner.max_retries, runner.max_wait = 0.3, 1, 0.01
    openai_fake.hang_seconds = 5
    openai_fake.script(["timeout", "timeout"])
    started = time.perf_counter()
    r = wb.complete("openai:gpt-4o-mini", "x", runner=runner, raise_errors=False)
    assert r.error_type == "ProviderTimeoutError" and r.attempts == 2 and r.retried == ["ProviderTimeoutError"]
    assert time.perf_counter() - started < 3


def test_a_cut_stream_is_retried_and_never_logged_as_complete(model, server, runner):
    runner.max_wait = 0.01
    server.script(["cut:3"])
    seen = []
    request = runner.prepare(model, wb.Prompt(user="alpha beta gamma delta"))
    r = asyncio.run(runner.call(request, on_delta=seen.append))
    assert r.ok and r.text == "Echo: alpha beta gamma delta" and r.attempts == 2
    assert any(d.reset for d in seen)  # the viewer was told to drop the partial answer
    after_reset = seen[[d.reset for d in seen].index(True) + 1:]
    assert "".join(d.text for d in after_reset) == r.text


def test_cut_stream_with_no_retry_left_is_an_error_row(openai_fake, runner):
    runner.max_retries = 0
    openai_fake.script(["cut:3"])
    request = runner.prepare("openai:gpt-4o-mini", wb.Prompt(user="alpha beta gamma delta"))
    r = asyncio.run(runner.call(request, on_delta=lambda d: None))
    assert not r.ok and r.error_type in ("StreamInterruptedError", "ProviderConnectionError")
    row = runner.run_log.calls().iloc[0]
    assert row["status"] == "error"
    assert runner.run_log.lookup(request.cache_key) is None


# --- many calls -----------------------------------------------------------------------
def test_batch_runs_concurrently_up_to_the_limit(openai_fake, log):
    openai_fake.latency = 0.2
    runner = wb.Runner(log=log, concurrency={"openai": 10}, progress=False)
    requests = [runner.prepare("openai:gpt-4o-mini", wb.Prompt(user=f"q{i}")) for i in range(20)]
    started = time.perf_counter()
    results = asyncio.run(runner.run(requests))
    wall = time.perf_counter() - started
    assert [r.text for r in results] == [f"Echo: q{i}" for i in range(20)]
    assert wall < 2.0  # 20 x 0.2 s would take 4 s one at a time; 10 at once need 0.4 s
    assert log.count() == 20


def test_a_rejected_key_stops_the_batch_early(openai_fake, log):
    wb.set_key("OPENAI_API_KEY", "wrong-key-0123456789")
    runner = wb.Runner(log=log, concurrency=2, progress=False)
    requests = [runner.prepare("openai:gpt-4o-mini", wb.Prompt(user=f"q{i}")) for i in range(30)]
    results = asyncio.run(runner.run(requests))
    assert len(results) == 30 and all(r.error_type == "AuthenticationError" for r in results)
    assert openai_fake.stats["requests"] <= 3  # the in-flight ones, not all 30
    assert sum("Not sent" in r.error for r in results) >= 27
    assert log.count() == 30  # every request ends as an explicit error row


def test_bad_input_in_a_batch_is_refused_before_any_call(openai_fake, runner):
    good = runner.prepare("openai:gpt-4o-mini", wb.Prompt(user="ok"))
    bad = wb._types.Request("openai:gpt-4o-nope", good.messages)
    with pytest.raises(wb.ModelNotFoundError, match="Unknown model 'openai:gpt-4o-nope'. Did you mean 'openai:gpt-4o"):
        asyncio.run(runner.run([good, bad]))
    assert openai_fake.stats["requests"] == 0


def test_cache_hits_skip_the_call_and_are_marked(openai_fake, runner):
    first = wb.complete("openai:gpt-4o-mini", "same", temperature=0, runner=runner)
    second = wb.complete("openai:gpt-4o-mini", "same", temperature=0, runner=runner)
    unseeded = [wb.complete("openai:gpt-4o-mini", "same", runner=runner) for _ in range(2)]
    assert openai_fake.stats["requests"] == 3
    assert not first.cached and second.cached and second.text == first.text and second.cost_usd == 0
    assert not any(r.cached for r in unseeded)
    forced = wb.complete("openai:gpt-4o-mini", "same", temperature=0, cache=False, runner=runner)
    assert not forced.cached and openai_fake.stats["requests"] == 4


def test_sqlite_rows_hold_request_response_and_no_key(openai_fake, runner):
    wb.set_key("OPENAI_API_KEY", "test-key")
    wb.complete("openai:gpt-4o-mini", wb.Prompt(user="log {x}"), x="me", temperature=0, runner=runner)
    row = runner.run_log.calls().iloc[0]
    assert row["model"] == "openai:gpt-4o-mini" and row["status"] == "ok" and row["text"] == "Echo: log me"
    assert row["prompt_hash"] == wb.Prompt(user="log {x}").hash
    assert row["prompt_tokens"] == 2 and row["completion_tokens"] == 3 and row["cost_usd"] > 0
    assert '"temperature": 0.0' in row["request_json"]
    dump = "\n".join(runner.run_log._conn.iterdump())
    assert "test-key" not in dump


def test_missing_sdk_names_the_extra(monkeypatch, fresh_providers):
    import sys

    monkeypatch.setitem(sys.modules, "openai", None)  # as if not installed
    wb.set_key("OPENAI_API_KEY", "test-key")
    with pytest.raises(wb.MissingDependencyError, match=r"pip install 'prompt-workbench\[openai\]'"):
        wb.complete("openai:gpt-4o-mini", "x", cache=False)


def test_unknown_provider_lists_known_ones():
    with pytest.raises(wb.ModelNotFoundError) as err:
        wb.complete("anthropic:claude", "x")
    assert "local, mistral, mock, openai" in str(err.value) and "wb.add_endpoint" in str(err.value)
