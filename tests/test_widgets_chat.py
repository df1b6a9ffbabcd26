"""Chat mode's view (``wb.Chat`` and the Playground's "Chat mode"), driven programmatically on mock models:
type into turns, click the buttons, and check the state and what the view shows."""

from __future__ import annotations

import json

import ipywidgets as w

import workbench as wb
from workbench import testing

from .conftest import wait_until
from .test_widgets import shown, text_of, with_class


@wb.tool
def get_order(order_id: str) -> dict:
    """Look an order up by its id."""
    return {"order_id": order_id, "status": "shipped"}


PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}


def _run(chat, button=None) -> None:
    (button or chat.run_button).click()
    assert wait_until(lambda: chat.state.future is not None and chat.state.future.done() and not chat.state.running)
    assert chat.state.listener_errors == []


def test_turns_are_editable_with_role_menus_buttons_and_variable_fields(runner):
    chat = wb.Chat(wb.Prompt(system="You support {company}.", messages=[("user", "Hi"), ("assistant", "Hello!"),
                                                                         ("user", "{question}")]),
                   "mock:any", runner=runner, company="Acme")
    assert {"wb-root", "wb-chat"} <= set(chat._dom_classes)
    views = with_class(chat, "wb-turn")
    assert [v.role.value for v in views] == ["system", "user", "assistant", "user"]
    assert [v.text.value for v in views][1:3] == ["Hi", "Hello!"]
    assert [f.description for f in with_class(chat.variables, "wb-var")] == ["company", "question"]
    assert chat.variable_field("company").value == "Acme"
    views[1].text.value = "Hi, I am {name}"  # typing a variable adds its field
    assert chat.state.turns[1].text == "Hi, I am {name}" and chat.variable_field("name") in chat.variables.children
    views[2].role.value = "user"
    assert chat.state.turns[2].role == "user" and "wb-turn-user" in views[2]._dom_classes
    views[2].up.click()
    assert chat.state.turns[1].text == "Hello!" and chat.turn_view(1) is views[2]  # the same view moved
    assert chat.turn_view(0).up.disabled and chat.turn_view(3).down.disabled
    chat.turn_view(1).delete.click()
    assert len(chat.state.turns) == 3 and len(with_class(chat, "wb-turn")) == 3
    chat.add_role.value = "assistant"
    chat.add_turn.click()
    assert chat.state.turns[-1].role == "assistant" and chat.turn_view(3).role.value == "assistant"


def test_run_streams_then_appends_the_answer_and_the_reply_box_continues(runner):
    model = testing.script("chatw", ["Your order {A17} shipped.", "Yes."])
    chat = wb.Chat("Where is my order?", model, runner=runner)
    _run(chat)
    assert [t.role for t in chat.state.turns] == ["user", "assistant"]
    answer = chat.turn_view(1)
    assert answer.text.value == "Your order {A17} shipped." and "literal text" in text_of(answer.note)
    assert "tokens" in text_of(answer.note)  # the figures line of the logged call
    assert not shown(chat.answer)  # the live answer box only shows while streaming (or on failure)
    assert chat.variables.children == (chat.variables.empty,)  # an answer's braces are not variables
    chat.reply.value = "Sure?"
    _run(chat, chat.send)
    assert [t.text for t in chat.state.turns][-2:] == ["Sure?", "Yes."] and chat.reply.value == ""
    assert "done in" in chat.status.value


def test_regenerate_from_here_drops_what_followed(runner):
    model = testing.script("regenw", ["first", "second", "third"])
    chat = wb.Chat("Q", model, runner=runner)
    _run(chat)
    chat.reply.value = "Q2"
    _run(chat, chat.send)
    _run(chat, chat.turn_view(1).regen)
    assert [t.text for t in chat.state.turns] == ["Q", "third"]


def test_tool_call_cards_typed_result_run_function_and_continue(runner):
    model = testing.script("toolw", [
        {"tool_calls": [{"name": "get_order", "arguments": {"order_id": "A17"}},
                        {"name": "get_order", "arguments": {"order_id": 17}}]},
        lambda messages, params: "Results: " + " | ".join(m["content"] for m in messages if m["role"] == "tool")])
    chat = wb.Chat("Where are A17 and 17?", model, tools=[get_order], runner=runner)
    schema_box = with_class(chat.tools, "wb-tool-get_order")[0]
    assert isinstance(schema_box, w.Accordion) and schema_box.selected_index is None  # collapsed
    assert json.loads(text_of(schema_box.children[0]).split("by its id.", 1)[1])["name"] == "get_order"
    assert chat.tools.choice.options == ("auto", "none", "required", "get_order")
    _run(chat)
    view = chat.turn_view(1)
    good, bad = view.calls.children
    assert "get_order" in text_of(good.head) and "arguments fit the schema" in text_of(good.head)
    assert json.loads(text_of(good.args)) == {"order_id": "A17"}
    assert "invalid" in text_of(bad.head) and "not of type 'string'" in text_of(bad.head)
    assert not shown(view.cont)
    chat.run_button.click()  # refused: the calls have no results
    assert "no result yet" in text_of(chat.messages.error) and len(testing.calls("toolw")) == 1
    good.run_fn.click()
    bad.result.value = "no such order"
    bad.use.click()
    assert not shown(good.result) and "answered by turn 3" in text_of(good.done)
    assert [v.role.value for v in with_class(chat, "wb-turn")] == ["user", "assistant", "tool", "tool"]
    assert "result of get_order" in text_of(chat.turn_view(2).note)
    assert shown(view.cont)
    _run(chat, view.cont)
    assert chat.state.turns[-1].text == 'Results: {"order_id": "A17", "status": "shipped"} | no such order'
    assert not shown(view.cont)


def test_schema_panel_validates_as_typed_and_answers_show_validity(runner):
    model = testing.script("schemaw", ['{"name": "Ada", "age": 36}', '{"name": "Bob"}'])
    chat = wb.Chat("Extract: Ada, 36", model, runner=runner)
    assert "No schema" in text_of(chat.schema_status)
    chat.schema.value = '{"type": "object",'
    assert "invalid" in text_of(chat.schema_status) and "not valid JSON" in text_of(chat.schema_status)
    chat.schema.value = '{"type": "objekt"}'
    assert "not a valid JSON schema" in text_of(chat.schema_status)
    chat.run_button.click()
    assert "response format is not valid" in text_of(chat.messages.error) and testing.calls("schemaw") == []
    chat.schema.value = json.dumps(PERSON)
    assert "valid schema" in text_of(chat.schema_status) and not shown(chat.messages.error)
    _run(chat)
    assert "valid against the response format's schema" in text_of(chat.turn_view(1).note)
    chat.reply.value = "Now Bob"
    _run(chat, chat.send)
    note = text_of(chat.turn_view(3).note)
    assert "invalid" in note and "'age' is a required property" in note


def test_a_failed_run_shows_its_error_and_adds_no_turn(runner):
    model = testing.script("failw", [testing.fault("auth")])
    chat = wb.Chat("Hi", model, runner=runner)
    _run(chat)
    assert [t.role for t in chat.state.turns] == ["user"]
    assert shown(chat.answer) and shown(chat.answer.error) and "Fix" in text_of(chat.answer.error)


def test_playground_chat_mode_button_and_constructor(runner):
    model = testing.script("pgchat", ["Hello Ada."])
    pg = wb.Playground(wb.Prompt(system="Be brief.", user="Greet {who}."), model, runner=runner, who="Ada",
                       temperature=0.3)
    assert pg.chat is None and shown(pg.chat_button)
    pg.chat_button.click()
    assert pg.chat_mode and shown(pg.chat) and not shown(pg.children[1])  # the prompt editor is hidden
    chat = pg.chat
    assert [(t.role, t.text) for t in chat.state.turns] == [("system", "Be brief."), ("user", "Greet {who}.")]
    assert chat.state.variables["who"] == "Ada" and chat.state.params == {"temperature": 0.3}
    assert chat.state.runner is pg.state.runner
    _run(chat)
    assert chat.state.turns[-1].text == "Hello Ada." and testing.calls("pgchat")[0].params["temperature"] == 0.3
    chat.back.click()
    assert not pg.chat_mode and shown(pg.children[1])
    pg.show_chat()
    assert pg.chat is chat and len(chat.state.turns) == 3  # the conversation is kept between switches

    conv = wb.Playground(wb.Prompt(messages=[("user", "Hi"), ("assistant", "Hello"), ("user", "Order?")]),
                         "mock:any", tools=[get_order], runner=runner)
    assert conv.chat_mode and [t.role for t in conv.chat.state.turns] == ["user", "assistant", "user"]
    assert [t.name for t in conv.chat.state.tools] == ["get_order"]
    assert not wb.Playground("Hi", "mock:any", runner=runner).chat_mode


def test_the_chat_has_a_readable_static_form(runner):
    chat = wb.Chat(wb.Prompt(system="S", user="U"), "mock:any", runner=runner)
    bundle = chat._repr_mimebundle_()
    assert "[system] S" in bundle["text/plain"] and "wb-static" in bundle["text/html"]


def test_ctrl_enter_in_the_reply_box_sends_the_reply(runner):
    model = testing.script("keyw", ["A1", "A2"])
    chat = wb.Chat("Q1", model, runner=runner)
    _run(chat)
    chat.shortcuts._on_key("run", {"classes": ["wb-reply"], "rank": 0, "value": "Q2"})
    assert wait_until(lambda: not chat.state.running and chat.state.turns[-1].text == "A2")
    assert [t.text for t in chat.state.turns] == ["Q1", "A1", "Q2", "A2"] and chat.reply.value == ""


def test_in_chat_mode_the_playground_keys_and_saved_summary_follow_the_chat(runner):
    model = testing.script("modekeys", ["A1"])
    pg = wb.Playground("Prompt-mode text", model, runner=runner, chat=True)
    pg.shortcuts._on_key("run", None)  # the Playground's own listener also hears keys pressed in the chat
    assert pg.state.future is None  # ... and leaves them to the chat's
    pg.chat.shortcuts._on_key("run", None)
    assert wait_until(lambda: pg.chat.state.turns[-1].text == "A1" and not pg.chat.state.running)
    assert "A1" in pg._fallback_html() and "<b>Chat</b>" in pg._fallback_html()
    pg.show_chat(False)
    assert "Playground" in pg._fallback_html() and "<b>Chat</b>" not in pg._fallback_html()


def test_a_key_typed_into_a_turn_is_flagged_and_masked_in_the_saved_summary(runner):
    from .conftest import PLANTED_KEY

    chat = wb.Chat("Hi", "mock:any", runner=runner)
    assert not shown(chat.key_warning)
    chat.turn_view(0).text.value = f"my key is {PLANTED_KEY}"
    assert shown(chat.key_warning) and "turn 1 (user)" in text_of(chat.key_warning) and "Fix" in text_of(
        chat.key_warning)
    assert PLANTED_KEY not in text_of(chat.key_warning)
    bundle = chat._repr_mimebundle_()
    assert PLANTED_KEY not in bundle["text/plain"] and PLANTED_KEY not in bundle["text/html"]


def test_the_answer_streams_into_the_live_box_then_becomes_a_turn(runner):
    model = testing.script("streamw", ["one two three four five six"], chunk_delay=0.15)
    chat = wb.Chat("Count", model, runner=runner)
    chat.run_button.click()
    assert wait_until(lambda: chat.state.running and shown(chat.answer)
                      and "two" in text_of(chat.answer._sample_widget(0)))
    assert chat.run_button.disabled and not chat.stop_button.disabled and chat.send.disabled
    assert len(chat.state.turns) == 1  # not a turn until it is complete
    assert wait_until(lambda: not chat.state.running and len(chat.state.turns) == 2)
    assert chat.turn_view(1).text.value == "one two three four five six" and not shown(chat.answer)
