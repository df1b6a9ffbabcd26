"""Playground chat mode as plain state (mock model): turns, variables, run, reply, regenerate, tool cards,
the schema panel, and errors named before any call."""

from __future__ import annotations

import json

import pytest

import workbench as wb
from workbench import testing
from workbench.state.chat import ChatState, schema_check

PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}


@wb.tool
def get_order(order_id: str) -> dict:
    """Look an order up by its id."""
    return {"order_id": order_id, "status": "shipped"}


@wb.tool
def broken(order_id: str) -> dict:
    """Always fails."""
    raise RuntimeError("database down")


def test_a_conversation_prompt_becomes_editable_turns_with_variables(runner):
    chat = wb.Prompt(system="You support customers of {company}.",
                     messages=[("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "{question}")])
    model = testing.script("turns", ["Shipped."])
    s = ChatState(chat, model, runner=runner, company="Acme", temperature=0.2)
    assert [(t.role, t.text) for t in s.turns] == [
        ("system", "You support customers of {company}."), ("user", "Hi"),
        ("assistant", "Hello! How can I help?"), ("user", "{question}")]
    assert s.variable_names == ["company", "question"] and s.variables == {"company": "Acme"}
    assert s.params == {"temperature": 0.2}
    assert s.start() is None and "{question}" in s.error and "empty" in s.error  # named, nothing sent
    assert testing.calls("turns") == []
    s.set_variable("question", "Where is my order?")
    s.run()
    sent = testing.calls("turns")[0].messages
    assert sent[0]["content"] == "You support customers of Acme." and sent[-1]["content"] == "Where is my order?"
    assert (s.turns[-1].role, s.turns[-1].text, s.turns[-1].literal) == ("assistant", "Shipped.", True)
    assert s.turns[-1].response.call_id is not None  # logged by the runner


def test_turns_run_reply_regenerate(runner):
    model = testing.script("chat", ["Hello {not a var}!", "One sentence.", "Hi again"])
    s = ChatState(wb.Prompt(system="Be brief.", user="Hi {who}"), model, runner=runner, who="there")
    seen: list[str] = []
    s.observe(seen.append)
    s.run()
    assert [(t.role, t.text) for t in s.turns][-1] == ("assistant", "Hello {not a var}!")
    s.reply("Shorter?")  # the answer's braces are text, not variables: it is sent back as is
    assert testing.calls("chat")[1].messages[2]["content"] == "Hello {not a var}!"
    assert s.turns[-1].text == "One sentence." and len(s.turns) == 5
    s.move(3, 0)
    assert s.turns[0].text == "Shorter?"
    s.move(0, 3)
    s.regenerate(2)  # an answer: dropped with what followed, then run again
    assert [t.role for t in s.turns] == ["system", "user", "assistant"] and s.turns[-1].text == "Hi again"
    s.add("user", "And?")
    s.add("assistant", "draft", at=1)
    s.delete(1)
    s.set_role(3, "system")
    assert s.turns[3].role == "system"
    assert "turns" in seen and s.listener_errors == []


def test_regenerate_from_a_user_turn_keeps_it(runner):
    model = testing.script("regen", ["A1", "A2", "A3"])
    s = ChatState("Q1", model, runner=runner)
    s.run()
    s.reply("Q2")
    s.regenerate(0)  # a user turn: kept, everything after it dropped
    assert [t.text for t in s.turns] == ["Q1", "A3"]
    with pytest.raises(wb.PromptError, match="no turn 9"):
        s.regenerate(8)


def test_tool_cards_typed_and_run_then_continue(runner):
    model = testing.script("tools", [{"tool_calls": [{"name": "get_order", "arguments": {"order_id": "A17"}},
                                                     {"name": "get_order", "arguments": {"order_id": "B2"}}]},
                                     lambda messages, params: "Both: " + " / ".join(
                                         m["content"] for m in messages if m["role"] == "tool")])
    s = ChatState("Where are A17 and B2?", model, tools=[get_order], runner=runner)
    s.run()
    first, second = s.pending_calls
    assert (first.name, first.arguments, first.valid) == ("get_order", {"order_id": "A17"}, True)
    assert "get_order" in s.info and "Continue" in s.info
    assert s.start() is None and "no result yet" in s.error  # refused before any call
    assert len(testing.calls("tools")) == 1
    s.answer_call(second.id, "lost in {transit}")  # typed out of order: results still follow the calls' order
    s.run_call(first.id)
    assert [t.tool_call_id for t in s.turns if t.role == "tool"] == [first.id, second.id]
    assert s.pending_calls == [] and s.result_of(first.id).text == '{"order_id": "A17", "status": "shipped"}'
    s.run()
    assert s.turns[-1].text == 'Both: {"order_id": "A17", "status": "shipped"} / lost in {transit}'
    sent = testing.calls("tools")[1]
    assert sent.messages[1]["tool_calls"][0]["function"]["name"] == "get_order"
    assert [t.name for t in sent.options.tools] == ["get_order"]


def test_a_failing_tool_becomes_an_error_result_and_a_named_message(runner):
    model = testing.script("broken", [{"tool_calls": [{"name": "broken", "arguments": {"order_id": "A1"}}]}])
    s = ChatState("Check A1", model, tools=[broken, {"name": "raw_tool", "description": "no function",
                                                    "parameters": {"type": "object", "properties": {}}}],
                  runner=runner)
    s.run()
    (call,) = s.pending_calls
    turn = s.run_call(call.id)
    assert "database down" in json.loads(turn.text)["error"]
    assert "RuntimeError" in s.error and "Fix:" in s.error
    with pytest.raises(wb.ToolError, match="not waiting for a result"):
        s.answer_call(call.id, "again")


def test_invalid_arguments_show_on_the_card(runner):
    model = testing.script("badargs", [{"tool_calls": [{"name": "get_order", "arguments": {"id": 3}}]}])
    s = ChatState("Order?", model, tools=[get_order], runner=runner)
    s.run()
    (call,) = s.pending_calls
    assert not call.valid and "order_id" in call.error


def test_tool_choice_goes_to_the_request(runner):
    model = testing.script("choice", ["ok"])
    s = ChatState("Hi", model, tools=[get_order], runner=runner)
    assert s.tool_choice_options == ["auto", "none", "required", "get_order"]
    s.set_tool_choice("get_order")
    s.run()
    assert testing.calls("choice")[0].options.tool_choice == "get_order"
    with pytest.raises(wb.ToolError, match="Fix"):
        s.set_tool_choice("nope")


def test_schema_panel_validated_as_typed_and_answers_checked(runner):
    model = testing.script("schema", ['{"name": "Ada", "age": 36}', '{"name": "Bob"}'])
    s = ChatState("Extract: Ada, 36", model, runner=runner)
    s.schema_text = '{"type": "objekt"}'
    ok, why = s.schema_status
    assert ok is False and "not a valid JSON schema" in why and "Fix" in why
    assert s.start() is None and "response format is not valid" in s.error
    assert testing.calls("schema") == []  # nothing sent
    s.schema_text = '{"type": "object"'
    assert s.schema_status[0] is False and "not valid JSON" in s.schema_status[1]
    s.schema_text = json.dumps(PERSON)
    assert s.schema_status == (True, "valid schema")
    s.run()
    assert s.turns[-1].validity == (True, "valid against the response format's schema")
    assert testing.calls("schema")[0].options.response_format.schema == PERSON
    s.reply("Now Bob")
    ok, why = s.turns[-1].validity
    assert ok is False and "age" in why
    assert schema_check("") == (None, "")


def test_a_pydantic_response_format_is_kept_while_its_text_is_unchanged(runner):
    from pydantic import BaseModel

    class Person(BaseModel):
        name: str
        age: int

    model = testing.script("pyd", ['{"name": "Ada", "age": 36}'])
    s = ChatState("Ada, 36", model, response_format=Person, runner=runner)
    assert '"age"' in s.schema_text
    s.run()
    assert isinstance(s.turns[-1].response.parsed, Person)


def test_stop_keeps_the_partial_answer_out_of_the_turns(runner):
    model = testing.script("slow", ["one two three four five six seven eight"], chunk_delay=0.2)
    s = ChatState("Count", model, runner=runner)
    s.start()
    from tests.conftest import wait_until

    wait_until(lambda: s.answer.text != "")
    s.stop()
    s.wait(5)
    assert s.answer.status == "stopped" and [t.role for t in s.turns] == ["user"]


def test_empty_and_wrong_input_is_named(runner):
    s = ChatState(None, "mock:x", runner=runner)
    assert [(t.role, t.text) for t in s.turns] == [("user", "")]
    assert s.start() is None and "empty" in s.error and "Fix" in s.error
    s.delete(0)
    assert s.start() is None and "conversation is empty" in s.error
    with pytest.raises(wb.PromptError, match="role"):
        s.add("robot", "hi")
    with pytest.raises(wb.PromptError, match="reply is empty"):
        s.reply("  ")
    assert "Chat · mock:x" in s.summary_text() and "wb-static" in s.summary_html()
