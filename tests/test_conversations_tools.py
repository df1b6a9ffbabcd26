"""Conversations, @wb.tool schemas, response formats: offline units and the mock model's tool loop."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import BaseModel

import workbench as wb
from workbench import testing
from workbench._structured import as_response_format, parse_json_answer, strict_compatible
from workbench.state.versions import diff_versions


class Address(BaseModel):
    city: str
    zip_code: str | None = None


@wb.tool
def ship(order_id: str, speed: Literal["standard", "express"], address: Address, gift: bool = False) -> dict:
    """Ship an order to an address.

    Args:
        order_id: The order's id, e.g. A17.
        speed: How fast to ship.
    """
    return {"order_id": order_id, "speed": speed, "city": address.city, "gift": gift}


class Opaque:
    """A class pydantic has no schema for."""


# --- conversations ------------------------------------------------------------------


def test_conversation_renders_every_message_with_variables():
    chat = wb.Prompt(system="You support customers of {company}.",
                     messages=[("user", "Hi, I am {name}"), ("assistant", "Hello {name}!"), ("user", "{question}")])
    assert chat.variable_order == ["company", "name", "question"]
    assert chat.render(company="Acme", name="Bo", question="Where?") == [
        {"role": "system", "content": "You support customers of Acme."},
        {"role": "user", "content": "Hi, I am Bo"}, {"role": "assistant", "content": "Hello Bo!"},
        {"role": "user", "content": "Where?"}]


def test_render_errors_name_the_message():
    with pytest.raises(wb.PromptError, match=r"message 3 \(assistant\) has an unmatched brace"):
        wb.Prompt(system="s", messages=[("user", "Hi"), ("assistant", "Hello {"), ("user", "q")])
    chat = wb.Prompt(system="s", messages=[("user", "Hi"), ("assistant", "Dear {who}"), ("user", "q")])
    with pytest.raises(wb.PromptError, match=r"'who' is used in message 3 \(assistant\)"):
        chat.render()
    with pytest.raises(wb.PromptError, match=r"Message 2 has the role 'robot'"):
        wb.Prompt(system="s", messages=[("robot", "beep")])
    with pytest.raises(wb.PromptError, match=r"Message 2 \(user\) is empty"):
        wb.Prompt(messages=[("user", "a"), ("user", "  ")]).render()


def test_shorthand_keeps_its_hash_and_a_conversation_hash_covers_every_turn():
    import hashlib

    short = wb.Prompt(system="s", user="u {x}", examples=[("q", "a")])
    payload = json.dumps({"system": "s", "user": "u {x}", "examples": (("q", "a"),)}, sort_keys=True,
                         ensure_ascii=False)  # the formula before conversations: logged hashes stay valid
    assert short.hash == hashlib.sha256(payload.encode()).hexdigest()[:16]
    assert wb.Prompt.from_dict(short.to_dict()).hash == short.hash and "messages" not in short.to_dict()
    a = wb.Prompt(messages=[("user", "Hi"), ("assistant", "Hello"), ("user", "q")])
    b = wb.Prompt(messages=[("user", "Hi"), ("assistant", "Hello!"), ("user", "q")])
    assert a.hash != b.hash and wb.Prompt.from_dict(a.to_dict()) == a


def test_from_messages_keeps_tool_turns_and_braces_literal():
    messages = [{"role": "user", "content": "Order {A17}?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "get", "arguments": '{"id": "A17"}'}}]},
                {"role": "tool", "tool_call_id": "c1", "content": '{"status": "shipped"}'}]
    p = wb.Prompt.from_messages(messages)
    assert p.render() == messages


def test_versions_diff_shows_conversation_turns(log):
    a = wb.Prompt(messages=[("user", "Hi"), ("assistant", "Hello"), ("user", "q")])
    b = a.with_(messages=(*a.messages[:1], ("assistant", "Hello there"), *a.messages[2:]))
    va, vb = log.save_version("chat", a, {}), log.save_version("chat", b, {})
    diff = diff_versions(log.version(va.id), log.version(vb.id))
    assert ("-", "Hello") in diff.lines and ("+", "Hello there") in diff.lines
    assert (" ", "--- message 2: assistant ---") in diff.lines


# --- tools ----------------------------------------------------------------------------


def test_tool_schema_from_types_and_docstring():
    assert ship.name == "ship" and ship.description == "Ship an order to an address."
    params = ship.parameters
    assert params["required"] == ["order_id", "speed", "address"]
    assert params["properties"]["order_id"] == {"type": "string", "description": "The order's id, e.g. A17."}
    assert params["properties"]["speed"]["enum"] == ["standard", "express"]
    assert params["properties"]["gift"] == {"type": "boolean", "default": False}
    assert params["properties"]["address"] == {"$ref": "#/$defs/Address"}
    assert params["$defs"]["Address"]["required"] == ["city"]
    assert ship("A1", "express", Address(city="Oslo")) == {"order_id": "A1", "speed": "express", "city": "Oslo",
                                                            "gift": False}
    assert ship.run({"order_id": "A1", "speed": "standard", "address": {"city": "Rome"}})["city"] == "Rome"
    assert "'fast' is not one of" in ship.check_arguments({"order_id": "A", "speed": "fast",
                                                           "address": {"city": "x"}})


def test_bad_tools_are_named_errors():
    def no_hint(x) -> str:
        """Doc."""

    def no_doc(x: int) -> str:
        pass

    def odd(x: Opaque) -> str:
        """Doc."""

    def star(*args: int) -> str:
        """Doc."""

    with pytest.raises(wb.ToolError, match="Parameter 'x' of tool 'no_hint' has no type hint"):
        wb.tool(no_hint)
    with pytest.raises(wb.ToolError, match="has no docstring"):
        wb.tool(no_doc)
    with pytest.raises(wb.ToolError, match="parameter 'x' .* has a type with no JSON schema"):
        wb.tool(odd)
    with pytest.raises(wb.ToolError, match=r"takes \*args"):
        wb.tool(star)
    with pytest.raises(wb.ToolError, match="not allowed"):
        wb.tool(name="has space")(lambda: None)
    with pytest.raises(wb.ToolError, match="not a valid JSON schema"):
        wb.complete("mock:m", "x", tools=[{"name": "t", "parameters": {"type": "objekt"}}])


def test_raw_tool_dicts_in_both_shapes():
    spec = {"name": "lookup", "description": "Look up.", "parameters": {"type": "object", "properties": {}}}
    request = wb.build_request("mock:m", "x", tools=[spec, {"type": "function", "function": {**spec, "name": "b"}}])
    assert [t.name for t in request.tools] == ["lookup", "b"] and request.tools[0].fn is None


# --- structured output --------------------------------------------------------------------


def test_response_format_forms_and_parsing():
    class Person(BaseModel):
        name: str
        age: int

    rf = as_response_format(Person)
    assert rf.name == "Person" and strict_compatible(rf.schema) is False  # pydantic sets no additionalProperties
    assert rf.parse('```json\n{"name": "A", "age": 3}\n```')[0] == Person(name="A", age=3)
    assert "age" in rf.parse('{"name": "A", "age": "old"}')[1]
    openai_shape = as_response_format({"type": "json_schema", "json_schema": {"name": "p", "schema": {
        "type": "object"}, "strict": True}})
    assert (openai_shape.name, openai_shape.strict) == ("p", True)
    assert parse_json_answer("Sure! {}", {"type": "object"})[1].startswith("The answer is not JSON")
    with pytest.raises(wb.SchemaError, match="gives no schema"):
        as_response_format({"type": "json_object"})
    with pytest.raises(wb.SchemaError, match="not a pydantic model"):
        as_response_format(dict)


# --- the tool loop on the mock model --------------------------------------------------


def test_tool_loop_on_mock_runs_pydantic_arguments_and_logs(runner):
    model = testing.script("agent", [
        {"tool_calls": [{"name": "ship", "arguments": {"order_id": "A17", "speed": "express",
                                                       "address": {"city": "Oslo"}}}]},
        lambda messages, params: "Shipped: " + messages[-1]["content"],
    ])
    r = wb.complete(model, "Ship A17 to Oslo, fast.", tools=[ship], run_tools=True, runner=runner)
    assert json.loads(r.text.removeprefix("Shipped: ")) == {"order_id": "A17", "speed": "express", "city": "Oslo",
                                                             "gift": False}
    sent = testing.calls("agent")[1].messages
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert testing.calls("agent")[0].options.tools[0].name == "ship"
    assert [m["role"] for m in r.messages] == ["user", "assistant", "tool", "assistant"]


def test_reply_on_error_and_empty_text_are_refused(runner):
    model = testing.script("r", ["fine"])
    r = wb.complete(model, "hi", runner=runner)
    with pytest.raises(wb.ToolError, match="needs the text"):
        r.reply("  ")
    assert r.reply("more").messages[-2] == {"role": "user", "content": "more"}
