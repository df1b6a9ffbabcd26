"""Tools and structured output over the real openai and mistralai SDKs, against the loopback fake.

Each test runs once per SDK (``model`` fixture): tool definitions and ``tool_choice`` in the
provider's wire shape, tool calls back (parallel ones too, and streamed ones whose arguments
arrive in fragments), ``response_format`` sent as each API names it, and the tool loop with
every step logged and linked to the first.
"""

from __future__ import annotations

import asyncio
import json
from typing import Literal

import pytest
from pydantic import BaseModel

import workbench as wb
from tests.fakeserver import FakeServer, Reply, json_responder, tool_call_responder

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}


@wb.tool
def get_order(order_id: str) -> dict:
    """Look an order up by its id."""
    return {"order_id": order_id, "status": "shipped"}


@wb.tool
def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    """Get the weather in a city."""
    return f"21 {unit} in {city}"


CHAT = wb.Prompt(system="You support customers of {company}.",
                 messages=[("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "{question}")])


@pytest.fixture
def server():
    with FakeServer() as s:
        yield s


@pytest.fixture(params=["openai:gpt-4o-mini", "mistral:mistral-small-latest"])
def model(request, server, monkeypatch, fresh_providers) -> str:
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    monkeypatch.setenv("MISTRAL_SERVER_URL", server.mistral_base_url)
    wb.set_key("OPENAI_API_KEY", "test-key")
    wb.set_key("MISTRAL_API_KEY", "test-key")
    return request.param


def _body(server) -> dict:
    return server.requests[-1]["json"]


def _plain(messages: list[dict]) -> list[dict]:
    """Messages without fields an SDK adds by itself (mistralai sends ``prefix: false``)."""
    return [{k: v for k, v in m.items() if k != "prefix"} for m in messages]


def test_conversation_is_sent_whole_and_reply_continues_it(model, server, runner):
    r = wb.complete(model, CHAT, company="Acme", question="Where is my order?", runner=runner, temperature=0.2)
    sent = _plain(_body(server)["messages"])
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0]["content"] == "You support customers of Acme." and sent[-1]["content"] == "Where is my order?"
    assert r.text == "Echo: Where is my order?"
    assert r.messages[-1] == {"role": "assistant", "content": r.text} and r.messages[:-1] == sent
    r2 = r.reply("Answer in {one} sentence.")  # literal text, not a template
    sent2 = _plain(_body(server)["messages"])
    assert sent2[:-1] == r.messages and sent2[-1] == {"role": "user", "content": "Answer in {one} sentence."}
    assert _body(server).get("temperature") == 0.2  # same parameters
    assert r2.text == "Echo: Answer in {one} sentence." and r2.call_id != r.call_id


def test_tools_and_tool_choice_in_the_wire_shape(model, server, runner):
    server.responder = tool_call_responder([("get_order", {"order_id": "A17"})])
    r = wb.complete(model, CHAT, tools=[get_order, get_weather], tool_choice="required", company="Acme",
                    question="Where is order A17?", runner=runner)
    body = _body(server)
    assert body["tools"][0] == {"type": "function", "function": get_order.spec()}
    assert body["tools"][1]["function"]["parameters"]["properties"]["unit"]["enum"] == ["C", "F"]
    assert body["tool_choice"] == ("required" if model.startswith("openai") else "any")
    assert [(c.name, c.arguments, c.valid) for c in r.tool_calls] == [("get_order", {"order_id": "A17"}, True)]
    assert r.tool_calls[0].raw == '{"order_id": "A17"}' and r.tool_calls[0].id
    assert r.finish_reason == "tool_calls"
    wb.complete(model, CHAT, tools=[get_order, get_weather], tool_choice="get_weather", company="Acme",
                question="Weather?", runner=runner)
    assert _body(server)["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


@pytest.mark.parametrize("streamed", [False, True])
def test_parallel_tool_calls_and_streamed_fragments(model, server, runner, streamed):
    server.responder = tool_call_responder([("get_weather", {"city": "Paris", "unit": "F"}),
                                            ("get_order", {"order_id": "B2044-long-id"})])
    request = wb.build_request(model, "Weather in Paris and order B2044?", tools=[get_order, get_weather],
                               runner=runner)
    deltas: list = []
    r = asyncio.run(runner.call(request, on_delta=deltas.append if streamed else None))
    assert _body(server).get("stream", False) is streamed
    assert "".join(d.text for d in deltas) == ""  # no text, only calls
    assert [(c.name, c.arguments) for c in r.tool_calls] == [
        ("get_weather", {"city": "Paris", "unit": "F"}), ("get_order", {"order_id": "B2044-long-id"})]
    assert len({c.id for c in r.tool_calls}) == 2


def test_invalid_arguments_are_kept_with_the_reason(model, server, runner):
    server.responder = lambda body: Reply("", (("get_weather", {"city": "Oslo", "unit": "K"}),
                                               ("get_order", '{"order_id": '), ("delete_all", {})))
    r = wb.complete(model, "go", tools=[get_order, get_weather], runner=runner)
    weather, order, unknown = r.tool_calls
    assert not weather.valid and "'K' is not one of ['C', 'F']" in weather.error
    assert order.arguments is None and "not JSON" in order.error and order.raw == '{"order_id": '
    assert "no tool 'delete_all'" in unknown.error
    logged = runner.run_log.call(r.call_id)
    assert [c.error for c in logged.tool_calls] == [c.error for c in r.tool_calls]


def test_response_format_json_schema_is_sent_and_parsed(model, server, runner):
    server.responder = json_responder({"name": "Anna", "age": 31})
    r = wb.complete(model, "Extract the person: {text}", text="Anna is 31.", response_format=SCHEMA, runner=runner)
    fmt = _body(server)["response_format"]
    assert fmt == {"type": "json_schema", "json_schema": {"name": "response", "schema": SCHEMA, "strict": False}}
    assert r.parsed == {"name": "Anna", "age": 31} and r.parse_error is None
    server.responder = json_responder({"name": "Anna"})
    r = wb.complete(model, "Extract the person: {text}", text="Anna.", response_format=SCHEMA, runner=runner)
    assert r.parsed is None and "'age' is a required property" in r.parse_error
    logged = runner.run_log.call(r.call_id)
    assert logged.parse_error == r.parse_error


def test_pydantic_response_format_is_strict_and_parsed_into_the_model(model, server, runner):
    class Person(BaseModel):
        name: str
        age: int

    strict = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    server.responder = json_responder({"name": "Bo", "age": 7})
    r = wb.complete(model, "Extract: Bo is 7", response_format=Person, runner=runner)
    assert isinstance(r.parsed, Person) and r.parsed.age == 7
    assert _body(server)["response_format"]["json_schema"]["name"] == "Person"
    r = wb.complete(model, "Extract: Bo is 7", response_format=strict, runner=runner)
    assert _body(server)["response_format"]["json_schema"]["strict"] is True  # strict where the schema allows it


def test_run_tools_loop_logs_every_step_linked_to_the_first(model, server, runner):
    server.responder = tool_call_responder([("get_order", {"order_id": "A17"})], then="Your order:")
    r = wb.complete(model, CHAT, tools=[get_order], run_tools=True, company="Acme", question="Where is A17?",
                    runner=runner)
    assert r.text == 'Your order: {"order_id": "A17", "status": "shipped"}'
    assert len(r.steps) == 1 and r.steps[0].tool_calls[0].name == "get_order"
    assert r.tool_results[0]["output"] == '{"order_id": "A17", "status": "shipped"}'
    sent = _body(server)["messages"]
    assert sent[-2]["tool_calls"][0]["function"] == {"name": "get_order", "arguments": '{"order_id": "A17"}'}
    assert sent[-1]["role"] == "tool" and sent[-1]["tool_call_id"] == sent[-2]["tool_calls"][0]["id"]
    calls = runner.run_log.calls()
    first = r.steps[0].call_id
    assert list(calls.sort_values("id")["id"]) == [first, r.call_id]
    assert r.parent_call_id == first and (r.steps[0].step, r.step) == (1, 2)
    assert runner.run_log.call(r.call_id).parent_call_id == first


def test_run_tools_failures_go_back_to_the_model_and_are_kept(model, server, runner):
    @wb.tool
    def explode(reason: str) -> str:
        """Always fails."""
        raise RuntimeError(f"boom: {reason}")

    server.responder = tool_call_responder([("explode", {"reason": "x"}), ("get_order", {"id": "wrong"})])
    r = wb.complete(model, "go", tools=[explode, get_order], run_tools=True, runner=runner)
    assert "Tool explode raised RuntimeError: boom: x" in r.tool_errors[0]
    assert "was not run" in r.tool_errors[1] and "'order_id' is a required property" in r.tool_errors[1]
    tool_messages = [m for m in _body(server)["messages"] if m["role"] == "tool"]
    assert "boom: x" in tool_messages[0]["content"] and "order_id" in tool_messages[1]["content"]
    assert "boom: x" in r.text  # the model saw the error


def test_max_steps_reached_is_logged_and_shown(model, server, runner):
    server.responder = lambda body: Reply("", (("get_order", {"order_id": "A1"}),))  # never stops calling
    r = wb.complete(model, "go", tools=[get_order], run_tools=True, max_steps=2, runner=runner)
    assert len(r.steps) == 1 and "max_steps=2" in r.tool_errors[-1]
    assert "max_steps=2" in repr(r)
    rows = runner.run_log.calls().sort_values("id")
    assert list(rows["status"]) == ["ok", "ok", "error"]
    end = runner.run_log.call(int(rows["id"].iloc[-1]))
    assert end.error_type == "ToolLoopError" and end.parent_call_id == r.steps[0].call_id
    assert end.tool_calls[0].name == "get_order"  # the calls that were not run are in the log


def test_bad_input_is_refused_before_any_call(model, server, runner):
    def untyped(x):
        """No hints."""

    cases = [
        (dict(tools=[untyped]), wb.ToolError, "no type hint"),
        (dict(tools=[get_order, get_order]), wb.ToolError, "Two tools are called 'get_order'"),
        (dict(tools=[{"name": "bad name!", "parameters": {}}]), wb.ToolError, "^[a-zA-Z0-9_-]{1,64}$"),
        (dict(tools=[{"type": "function", "function": {"name": "raw", "parameters": {"type": "object"}}}],
              run_tools=True), wb.ToolError, "only a JSON-schema definition"),
        (dict(tools=[get_order], run_tools=True, max_steps=0), wb.ToolError, "max_steps=0"),
        (dict(response_format={"type": "object", "properties": {"a": {"type": "strnig"}}}), wb.SchemaError,
         "not a valid JSON schema"),
        (dict(tools=[get_order], tool_choice="get_weather"), wb.ToolError, "neither auto, none, required"),
        (dict(tool_choice="required"), wb.ToolError, "no tools"),
    ]
    for kwargs, error, text in cases:
        with pytest.raises(error) as err:
            wb.complete(model, "hi", runner=runner, **kwargs)
        assert text in str(err.value) and "Fix" in str(err.value) or error is wb.SchemaError
    ends_assistant = wb.Prompt(messages=[("user", "Hi"), ("assistant", "Hello")])
    if model.startswith("mistral"):
        with pytest.raises(wb.PromptError, match=r"Message 2 \(assistant\) ends the conversation"):
            wb.complete(model, ends_assistant, runner=runner)
    orphan = wb.Prompt(messages=[{"role": "tool", "tool_call_id": "c1", "content": "42"}, ("user", "and?")])
    with pytest.raises(wb.PromptError, match="no earlier assistant message made"):
        wb.complete(model, orphan, runner=runner)
    assert server.requests == []


def test_compatible_server_without_tools_says_so(server, runner, fresh_providers):
    wb.add_endpoint("plain", server.openai_base_url, models=["m"], key_env=None)
    server.api_key = None
    server.reject_features = True
    r = wb.complete("plain:m", "hi", tools=[get_order], runner=runner, raise_errors=False)
    assert r.error_type == "BadRequestError" and "carried tools" in r.error and "Fix: drop tools" in r.error
    assert r.attempts == 1  # not retried


def test_tool_results_and_conversation_cache_keys_differ(model, server, runner):
    a = wb.build_request(model, "hi", runner=runner, temperature=0)
    b = wb.build_request(model, "hi", runner=runner, temperature=0, tools=[get_order])
    c = wb.build_request(model, "hi", runner=runner, temperature=0, response_format=SCHEMA)
    d = wb.build_request(model, wb.Prompt(messages=[("user", "hi")]), runner=runner, temperature=0)
    assert len({a.cache_key, b.cache_key, c.cache_key}) == 3
    assert d.cache_key == a.cache_key  # the same messages sent: the same answer


def test_cached_answer_keeps_tool_calls_and_parsed(model, server, runner):
    server.responder = json_responder({"name": "Anna", "age": 31})
    first = wb.complete(model, "x", response_format=SCHEMA, runner=runner, temperature=0)
    again = wb.complete(model, "x", response_format=SCHEMA, runner=runner, temperature=0)
    assert again.cached and again.parsed == first.parsed == {"name": "Anna", "age": 31}
    server.responder = tool_call_responder([("get_order", {"order_id": "Z"})])
    first = wb.complete(model, "y", tools=[get_order], runner=runner, temperature=0)
    again = wb.complete(model, "y", tools=[get_order], runner=runner, temperature=0)
    assert again.cached and again.tool_calls == first.tool_calls
    assert json.loads(json.dumps(again.to_dict(), default=str))["tool_calls"][0]["name"] == "get_order"


def test_fake_streams_openai_arguments_in_fragments_and_mistral_calls_whole(server):
    """The wire itself: what the SDKs read (so the accumulator above is tested on real fragments)."""
    import mistralai.client
    import openai

    server.responder = tool_call_responder([("get_weather", {"city": "Paris"}), ("get_order", {"order_id": "A17"})])
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="test-key")
    tools = [{"type": "function", "function": get_weather.spec()}, {"type": "function", "function": get_order.spec()}]
    deltas = [c.choices[0].delta.tool_calls for c in client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], tools=tools, stream=True)
        if c.choices and c.choices[0].delta.tool_calls]
    by_index: dict[int, list[str]] = {}
    for d in deltas:
        if d[0].function.arguments:
            by_index.setdefault(d[0].index, []).append(d[0].function.arguments)
    assert "".join(by_index[0]) == '{"city": "Paris"}' and len(by_index[0]) > 1  # in fragments
    assert "".join(by_index[1]) == '{"order_id": "A17"}' and len(by_index[1]) > 1
    m = mistralai.client.Mistral(api_key="test-key", server_url=server.mistral_base_url)
    events = list(m.chat.stream(model="mistral-small-latest", messages=[{"role": "user", "content": "x"}],
                                tools=tools))
    whole = [e.data.choices[0].delta.tool_calls for e in events
             if e.data.choices and e.data.choices[0].delta.tool_calls]
    assert len(whole) == 1 and [c.function.name for c in whole[0]] == ["get_weather", "get_order"]
