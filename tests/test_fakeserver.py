"""The fake server must look like the real APIs to the real SDKs.

Every test drives the installed ``openai`` / ``mistralai`` SDKs (or raw HTTP
where an SDK cannot express the request) against ``tests.fakeserver``, with
SDK retries off unless a test is about retries.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from mistralai.client import Mistral
from mistralai.client import errors as mistral_errors
from openai import AsyncOpenAI, OpenAI

from tests.fakeserver import FakeServer, FakeServerProcess, Fault, FaultPlan, plan_completion, split_tokens

pytestmark = pytest.mark.timeout(60)

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "one two three four"}]
REPLY = "Echo: one two three four"  # 5 words; the prompt has 2 + 4 = 6 words


@pytest.fixture()
def server() -> Iterator[FakeServer]:
    with FakeServer() as srv:
        yield srv


@pytest.fixture()
def oai(server: FakeServer) -> Iterator[OpenAI]:
    with OpenAI(api_key="test-key", base_url=server.openai_base_url, max_retries=0, timeout=5) as client:
        yield client


@pytest.fixture()
def mistral(server: FakeServer) -> Iterator[Mistral]:
    with Mistral(api_key="test-key", server_url=server.mistral_base_url, timeout_ms=5000) as client:
        yield client


def raw_post(url: str, body: dict[str, Any], key: str | None = "test-key") -> tuple[int, dict[str, Any]]:
    """POST JSON without an SDK (for requests the SDKs refuse to build)."""
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --------------------------------------------------------------------------- happy paths


def test_openai_non_stream_echoes_and_counts_words(server: FakeServer, oai: OpenAI) -> None:
    result = oai.chat.completions.create(model="gpt-test", messages=MESSAGES)

    assert result.object == "chat.completion" and result.id.startswith("chatcmpl-")
    assert result.model == "gpt-test"
    assert [c.message.content for c in result.choices] == [REPLY]
    assert result.choices[0].message.role == "assistant" and result.choices[0].finish_reason == "stop"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (6, 5, 11)
    record = server.requests[-1]
    assert (record["path"], record["provider"], record["method"]) == ("/v1/chat/completions", "openai", "POST")
    assert record["authorization"] == "Bearer test-key" and record["headers"]["authorization"] == "<redacted>"
    assert record["json"]["messages"] == MESSAGES


def test_async_openai_stream_word_chunks_and_usage_chunk(server: FakeServer) -> None:
    async def collect() -> list[Any]:
        async with AsyncOpenAI(api_key="test-key", base_url=server.openai_base_url, max_retries=0) as client:
            stream = await client.chat.completions.create(
                model="gpt-test", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
            return [chunk async for chunk in stream]

    chunks = asyncio.run(collect())

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert pieces == ["Echo:", " one", " two", " three", " four"]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5
    assert all(c.usage is None for c in chunks[:-1])


def test_openai_stream_without_include_usage_sends_no_usage(oai: OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))

    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_mistral_complete_async_parses_with_sdk_models(server: FakeServer) -> None:
    async def call() -> Any:
        async with Mistral(api_key="test-key", server_url=server.mistral_base_url) as client:
            return await client.chat.complete_async(model="mistral-small", messages=MESSAGES)

    result = asyncio.run(call())

    assert type(result).__name__ == "ChatCompletionResponse"
    assert result.object == "chat.completion" and result.model == "mistral-small"
    assert result.choices[0].message.content == REPLY and result.choices[0].finish_reason == "stop"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (6, 5)
    assert server.requests[-1]["provider"] == "mistral"


def test_mistral_stream_async_has_usage_in_last_chunk(server: FakeServer) -> None:
    async def collect() -> list[Any]:
        async with Mistral(api_key="test-key", server_url=server.mistral_base_url) as client:
            stream = await client.chat.stream_async(model="mistral-small", messages=MESSAGES)
            return [event.data async for event in stream]

    chunks = asyncio.run(collect())

    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content for c in chunks) == REPLY
    assert len(chunks) == 7  # role, five words, finish
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage.total_tokens == 11
    assert all(c.usage is None for c in chunks[:-1])


def test_models_endpoint_in_both_formats(oai: OpenAI, mistral: Mistral) -> None:
    assert [m.id for m in oai.models.list().data] == ["fake-model"]
    cards = mistral.models.list().data
    assert [(type(c).__name__, c.id) for c in cards] == [("BaseModelCard", "fake-model")]


# --------------------------------------------------------------------------- request options


@pytest.mark.parametrize("sdk", ["openai", "mistral"])
def test_n_returns_n_choices(sdk: str, oai: OpenAI, mistral: Mistral) -> None:
    if sdk == "openai":
        result = oai.chat.completions.create(model="m", messages=MESSAGES, n=3)
    else:
        result = mistral.chat.complete(model="m", messages=MESSAGES, n=3)

    assert [c.index for c in result.choices] == [0, 1, 2]
    assert {c.message.content for c in result.choices} == {REPLY}
    assert result.usage.completion_tokens == 15


def test_openai_stream_with_n_streams_every_choice(oai: OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="m", messages=MESSAGES, n=2, stream=True))
    texts = {0: "", 1: ""}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == {0: REPLY, 1: REPLY}


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
def test_openai_max_tokens_truncates_with_length(param: str, oai: OpenAI) -> None:
    result = oai.chat.completions.create(model="m", messages=MESSAGES, **{param: 2})

    assert result.choices[0].message.content == "Echo: one"
    assert result.choices[0].finish_reason == "length" and result.usage.completion_tokens == 2


def test_mistral_stream_max_tokens_truncates_with_length(mistral: Mistral) -> None:
    chunks = [e.data for e in mistral.chat.stream(model="m", messages=MESSAGES, max_tokens=3)]

    assert "".join(c.choices[0].delta.content for c in chunks) == "Echo: one two"
    assert chunks[-1].choices[0].finish_reason == "length" and chunks[-1].usage.completion_tokens == 3


def test_stop_cuts_before_the_stop_string(oai: OpenAI, mistral: Mistral) -> None:
    openai_result = oai.chat.completions.create(model="m", messages=MESSAGES, stop=["three", "zzz"])
    mistral_result = mistral.chat.complete(model="m", messages=MESSAGES, stop="two")

    assert openai_result.choices[0].message.content == "Echo: one two "
    assert openai_result.choices[0].finish_reason == "stop"
    assert mistral_result.choices[0].message.content == "Echo: one "


def test_responder_overrides_the_echo() -> None:
    with (FakeServer(responder=lambda body: f"model was {body['model']}") as srv,
          OpenAI(api_key="test-key", base_url=srv.openai_base_url, max_retries=0) as client):
        result = client.chat.completions.create(model="abc", messages=MESSAGES)
    assert result.choices[0].message.content == "model was abc"


def test_split_tokens_rejoins_exactly() -> None:
    text = "  Echo:\n two  spaces\tand tab  "
    assert "".join(split_tokens(text)) == text
    assert len(split_tokens(text)) == len(text.split())


def test_plan_completion_prefers_length_when_cut_short() -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "stop": "d", "max_tokens": 2}
    completion = plan_completion(body, "a b c d e", "id")
    assert (completion.text, completion.finish_reason) == ("a b", "length")


# --------------------------------------------------------------------------- auth and HTTP errors


def test_wrong_key_raises_each_sdks_auth_error(server: FakeServer) -> None:
    with (OpenAI(api_key="wrong-key", base_url=server.openai_base_url, max_retries=0) as client,
          pytest.raises(openai.AuthenticationError) as openai_error):
        client.chat.completions.create(model="m", messages=MESSAGES)
    with (Mistral(api_key="wrong-key", server_url=server.mistral_base_url) as mistral_client,
          pytest.raises(mistral_errors.SDKError) as mistral_error):
        mistral_client.chat.complete(model="m", messages=MESSAGES)

    assert openai_error.value.status_code == 401 and openai_error.value.code == "invalid_api_key"
    assert mistral_error.value.status_code == 401
    assert json.loads(mistral_error.value.body)["message"] == "Unauthorized"
    assert server.stats["unauthorized"] == 2 and server.stats["ok"] == 0


def test_missing_key_gets_openai_error_shape(server: FakeServer) -> None:
    status, body = raw_post(server.openai_base_url + "/chat/completions", {"messages": MESSAGES}, key=None)

    assert status == 401
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "invalid_request_error"


def test_429_retry_after_is_readable_from_both_sdk_errors(server: FakeServer, oai: OpenAI,
                                                         mistral: Mistral) -> None:
    server.script(["429:0.2", "429:3"])
    with pytest.raises(openai.RateLimitError) as openai_error:
        oai.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(mistral_errors.SDKError) as mistral_error:
        mistral.chat.complete(model="m", messages=MESSAGES)

    assert openai_error.value.response.headers["retry-after"] == "0.2"
    assert openai_error.value.code == "rate_limit_exceeded"
    assert mistral_error.value.status_code == 429 and mistral_error.value.headers["retry-after"] == "3"
    body = json.loads(mistral_error.value.body)
    assert body["object"] == "error" and set(body) == {"object", "message", "type", "param", "code"}
    assert server.stats["faults"] == {"429": 2}


def test_429_without_retry_after_has_no_header(server: FakeServer, oai: OpenAI) -> None:
    server.script(["429-no-retry-after"])
    with pytest.raises(openai.RateLimitError) as error:
        oai.chat.completions.create(model="m", messages=MESSAGES)
    assert "retry-after" not in error.value.response.headers


def test_openai_sdk_retries_after_a_scripted_429(server: FakeServer) -> None:
    server.script(["429:0.1", "ok", "500", "500"])
    with OpenAI(api_key="test-key", base_url=server.openai_base_url, max_retries=1) as client:
        started = time.monotonic()
        result = client.chat.completions.create(model="m", messages=MESSAGES)
        waited = time.monotonic() - started
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=MESSAGES)

    assert result.choices[0].message.content == REPLY and 0.1 <= waited < 1.0
    assert [r["headers"]["x-stainless-retry-count"] for r in server.requests] == ["0", "1", "0", "1"]
    assert server.faults.pending == 0


@pytest.mark.parametrize(("kind", "exc_type"), [
    ("400", openai.BadRequestError), ("401", openai.AuthenticationError),
    ("403", openai.PermissionDeniedError), ("500", openai.InternalServerError),
    ("502", openai.InternalServerError), ("503", openai.InternalServerError),
])
def test_status_faults_map_to_openai_exceptions(kind: str, exc_type: type[Exception], server: FakeServer,
                                                oai: OpenAI) -> None:
    server.script([kind])
    with pytest.raises(exc_type) as error:
        oai.chat.completions.create(model="m", messages=MESSAGES)

    assert error.value.status_code == int(kind)
    if kind == "502":  # a gateway page, not JSON
        assert error.value.response.headers["content-type"] == "text/html"
    else:
        assert set(error.value.body) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("kind", ["400", "403", "500", "502", "503"])
def test_status_faults_raise_mistral_sdk_error(kind: str, server: FakeServer, mistral: Mistral) -> None:
    server.script([kind])
    with pytest.raises(mistral_errors.SDKError) as error:
        mistral.chat.complete(model="m", messages=MESSAGES)
    assert error.value.status_code == int(kind)


def test_invalid_body_gets_400(server: FakeServer) -> None:
    status, body = raw_post(server.openai_base_url + "/chat/completions", {"model": "m"})
    assert status == 400 and "messages" in body["error"]["message"]
    assert server.stats["bad_request"] == 1


# --------------------------------------------------------------------------- broken transports


def test_cut_stream_breaks_the_openai_stream_mid_way(server: FakeServer, oai: OpenAI) -> None:
    server.script(["cut"])
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in oai.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            received.append(chunk)

    assert received, "some chunks arrive before the cut"
    assert all(c.choices[0].finish_reason is None for c in received)


def test_cut_stream_breaks_the_mistral_stream_mid_way(server: FakeServer, mistral: Mistral) -> None:
    server.script(["cut:2"])
    received = []
    with pytest.raises(httpx2.RemoteProtocolError):
        for event in mistral.chat.stream(model="m", messages=MESSAGES):
            received.append(event.data)

    assert len(received) == 2 and all(c.usage is None for c in received)


def test_cut_non_stream_is_a_connection_error(server: FakeServer, oai: OpenAI, mistral: Mistral) -> None:
    server.script(["cut", "cut"])
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(httpx2.RemoteProtocolError):
        mistral.chat.complete(model="m", messages=MESSAGES)


def test_reset_is_a_connection_error(server: FakeServer, oai: OpenAI, mistral: Mistral) -> None:
    server.script(["reset", "reset", "ok"])
    with pytest.raises(openai.APIConnectionError) as error:
        oai.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(httpx2.TransportError):
        mistral.chat.complete(model="m", messages=MESSAGES)

    assert not isinstance(error.value, openai.APITimeoutError)
    assert oai.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == REPLY


def test_timeout_hangs_until_the_client_gives_up(server: FakeServer) -> None:
    server.script(["timeout:10", "timeout:10"])
    started = time.monotonic()
    with (OpenAI(api_key="test-key", base_url=server.openai_base_url, max_retries=0, timeout=0.3) as client,
          pytest.raises(openai.APITimeoutError)):
        client.chat.completions.create(model="m", messages=MESSAGES)
    with (Mistral(api_key="test-key", server_url=server.mistral_base_url, timeout_ms=300) as mistral_client,
          pytest.raises(httpx2.TimeoutException)):
        mistral_client.chat.complete(model="m", messages=MESSAGES)

    assert time.monotonic() - started < 3
    assert server.stats["faults"] == {"timeout": 2}


def test_malformed_json_raises_in_both_sdks(server: FakeServer, oai: OpenAI, mistral: Mistral) -> None:
    server.script(["malformed"] * 4)
    with pytest.raises(json.JSONDecodeError):  # openai does not wrap it in an OpenAIError
        oai.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(json.JSONDecodeError):
        list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    with pytest.raises(mistral_errors.ResponseValidationError):
        mistral.chat.complete(model="m", messages=MESSAGES)
    with pytest.raises(mistral_errors.ResponseValidationError):
        list(mistral.chat.stream(model="m", messages=MESSAGES))


def test_empty_returns_no_choices(server: FakeServer, oai: OpenAI, mistral: Mistral) -> None:
    server.script(["empty", "empty"])
    assert oai.chat.completions.create(model="m", messages=MESSAGES).choices == []
    assert mistral.chat.complete(model="m", messages=MESSAGES).choices == []


# --------------------------------------------------------------------------- plans, records, performance


def test_seeded_fault_rate_is_reproducible(server: FakeServer, oai: OpenAI) -> None:
    def outcomes() -> list[str]:
        seen = []
        for _ in range(30):
            try:
                oai.chat.completions.create(model="m", messages=MESSAGES)
                seen.append("ok")
            except openai.APIStatusError as exc:
                seen.append(str(exc.status_code))
        return seen

    server.fault_rate(0.3, kinds=["429", "500"], seed=7)
    first = outcomes()
    server.fault_rate(0.3, kinds=["429", "500"], seed=7)
    second = outcomes()

    assert first == second
    assert {"ok", "429", "500"} <= set(first)
    assert server.stats["faults_total"] == 2 * (30 - first.count("ok"))


def test_fault_plan_script_precedes_rate_and_rejects_unknown_kinds() -> None:
    plan = FaultPlan()
    plan.set_rate(1.0, ["503"], seed=1)
    plan.script(["ok", "429:0.5"])
    assert [plan.draw(), plan.draw(), plan.draw()] == [None, Fault("429", 0.5), Fault("503")]
    with pytest.raises(ValueError):
        plan.script(["bogus"])


def test_reset_clears_records_counters_and_faults(server: FakeServer, oai: OpenAI) -> None:
    server.script(["500", "500"])
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="m", messages=MESSAGES)
    server.reset()

    assert server.requests == [] and server.stats["requests"] == 0 and server.faults.pending == 0
    oai.chat.completions.create(model="m", messages=MESSAGES)
    assert server.stats["ok"] == 1


def test_keep_alive_connection_is_reused(server: FakeServer, oai: OpenAI) -> None:
    for _ in range(4):
        oai.chat.completions.create(model="m", messages=MESSAGES)
    assert len({r["client"] for r in server.requests}) == 1


def test_concurrent_requests_are_not_serialised(server: FakeServer) -> None:
    server.latency = 0.3

    async def burst() -> float:
        async with AsyncOpenAI(api_key="test-key", base_url=server.openai_base_url, max_retries=0) as client:
            started = time.monotonic()
            await asyncio.gather(*(client.chat.completions.create(model="m", messages=MESSAGES)
                                   for _ in range(20)))
            return time.monotonic() - started

    elapsed = asyncio.run(burst())
    assert 0.3 <= elapsed < 1.5, elapsed  # serialised would take 6 s


def test_chunk_delay_paces_the_stream(server: FakeServer, oai: OpenAI) -> None:
    server.chunk_delay = 0.05
    started = time.monotonic()
    chunks = list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert time.monotonic() - started >= 0.05 * (len(chunks) - 1)


def test_format_follows_prefix_forced_provider_and_body_hints(server: FakeServer) -> None:
    with OpenAI(api_key="test-key", base_url=server.url + "/mistral/v1", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert "system_fingerprint" not in json.loads(raw.text)  # Mistral shape
    with Mistral(api_key="test-key", server_url=server.url + "/openai") as client:
        client.chat.complete(model="m", messages=MESSAGES)
    _, body = raw_post(server.openai_base_url + "/chat/completions", {"messages": MESSAGES, "random_seed": 1})
    server.provider = "mistral"
    _, forced = raw_post(server.openai_base_url + "/chat/completions", {"messages": MESSAGES})

    assert [r["provider"] for r in server.requests] == ["mistral", "openai", "mistral", "mistral"]
    assert "system_fingerprint" not in body and "system_fingerprint" not in forced


# --------------------------------------------------------------------------- out of process


def test_process_mode_serves_and_is_controllable() -> None:
    with FakeServerProcess(latency=0.01, script=["429"]) as proc:
        assert proc.url.startswith("http://127.0.0.1:")
        with OpenAI(api_key="test-key", base_url=proc.openai_base_url, max_retries=0) as client:
            with pytest.raises(openai.RateLimitError):
                client.chat.completions.create(model="m", messages=MESSAGES)
            proc.script(["503"])
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(model="m", messages=MESSAGES)
            assert client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == REPLY
        assert proc.stats["faults"] == {"429": 1, "503": 1}
    assert proc.final_stats is not None and proc.final_stats["requests"] == 3


def test_module_cli_prints_url_first_and_stops_on_sigterm() -> None:
    command = [sys.executable, "-m", "tests.fakeserver", "--port", "0", "--latency", "0.2"]
    child = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with Mistral(api_key="test-key", server_url=url) as client:
            assert client.chat.complete(model="m", messages=MESSAGES).choices[0].message.content == REPLY
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0
    assert json.loads(out.strip().splitlines()[-1])["stats"]["ok"] == 1
