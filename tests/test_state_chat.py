"""Playground chat mode as plain state (mock model): turns, run, reply, regenerate, tool cards, schema panel."""

from __future__ import annotations

import workbench as wb
from workbench import testing
from workbench.state.chat import ChatState


@wb.tool
def get_order(order_id: str) -> dict:
    """Look an order up by its id."""
    return {"order_id": order_id, "status": "shipped"}


def test_turns_run_reply_regenerate(runner):
    model = testing.script("chat", ["Hello!", "One sentence.", "Hi again {x}"])
    chat = ChatState(model, system="Be brief.", runner=runner)
    seen: list[str] = []
    chat.observe(seen.append)
    chat.add("user", "Hi {there}")
    chat.run()
    assert [(t.role, t.text) for t in chat.turns] == [("user", "Hi {there}"), ("assistant", "Hello!")]
    assert testing.calls("chat")[0].messages[1]["content"] == "Hi {there}"  # braces are text
    chat.reply("Shorter?")
    assert chat.turns[-1].text == "One sentence."
    chat.move(2, 0)
    chat.move(0, 2)
    chat.regenerate(1)  # drops the answer and what followed, runs again
    assert [t.role for t in chat.turns] == ["user", "assistant"] and chat.turns[-1].text == "Hi again {x}"
    assert "turns" in seen and chat.listener_errors == []


def test_tool_cards_and_schema_panel(runner):
    model = testing.script("tools", [{"tool_calls": [{"name": "get_order", "arguments": {"order_id": "A17"}},
                                                     {"name": "get_order", "arguments": {"order_id": "B2"}}]},
                                     lambda messages, params: "Both: " + " / ".join(
                                         m["content"] for m in messages if m["role"] == "tool")])
    chat = ChatState(model, tools=[get_order], runner=runner)
    chat.add("user", "Where are A17 and B2?")
    chat.run()
    first, second = chat.pending_calls
    assert (first.name, first.arguments) == ("get_order", {"order_id": "A17"})
    chat.run_call(first.id)
    chat.answer_call(second.id, "lost in transit")
    assert chat.pending_calls == []
    chat.run()
    assert chat.turns[-1].text == 'Both: {"order_id": "A17", "status": "shipped"} / lost in transit'
    chat.schema_text = '{"type": "objekt"}'
    ok, why = chat.schema_status
    assert ok is False and "not a valid JSON schema" in why
    assert chat.run() is None and "not valid" in chat.error
    chat.schema_text = '{"type": "object"'
    assert chat.schema_status[0] is False
    chat.schema_text = '{"type": "object"}'
    assert chat.schema_status == (True, "valid schema")
