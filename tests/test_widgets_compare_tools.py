"""Issue 12 item 7 through the widgets (no browser): each Compare column shows its answer's tool calls
(valid or not) and schema validity, a conversation variant shows every turn, the inputs grid marks
calls and validity, and the Sweep's value headers give the validity and tool-call rates."""

from __future__ import annotations

import pytest

import workbench as wb
from workbench import testing

from .test_widgets import shown, text_of, with_class


@wb.tool
def get_order(order_id: str) -> dict:
    """Look an order up by its id."""
    return {"order_id": order_id}


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}


def _agent(messages, params):
    if "bad" in messages[-1]["content"]:
        return {"tool_calls": [{"name": "get_order", "arguments": {"id": 17}}]}
    return {"tool_calls": [{"name": "get_order", "arguments": {"order_id": "A17"}}]}


def test_each_column_shows_its_tool_calls_valid_or_not(runner):
    model = testing.script("agent", default=_agent)
    chat = wb.Prompt(system="You help.", messages=[("user", "Hi"), ("assistant", "Hello!"), ("user", "{q}")])
    cmp = wb.Compare({"chat": chat, "bad": "bad {q}"}, model, runner=runner, tools=[get_order], q="A17?")
    first, second = cmp.columns
    assert not shown(first.extras) and not shown(second.extras)
    assert shown(cmp.tools_info) and "tools get_order" in text_of(cmp.tools_info)
    cmp.run_button.click()
    assert cmp.state.wait(30)
    assert shown(first.extras) and shown(second.extras)
    assert "wb-toolcall-valid" in first.extras.value and 'get_order({"order_id": "A17"})' in text_of(first.extras)
    assert "wb-toolcall-invalid" in second.extras.value
    assert "'order_id' is a required property" in text_of(second.extras)
    # right under the answer, whose empty text box is not shown for an answer that is only tool calls
    parts = list(first.answer.children)
    assert parts.index(first.extras) == parts.index(first.answer.samples) + 1
    assert not shown(first.answer.samples) and shown(first.answer.figures)
    # the conversation: every turn, read-only, and the user box says it adds one more turn
    assert shown(first.conversation) and not shown(second.conversation)
    assert "conversation (3 messages)" in text_of(first.conversation)
    assert first.conversation.value.count("wb-msg-assistant") == 1 and "Hello!" in first.conversation.value
    assert "after the conversation" in first.user.placeholder and "after" not in second.user.placeholder
    # the inputs grid marks each cell's calls
    cmp.inputs.add_row.click()
    cmp.inputs.fields[0]["q"].value = "B2?"
    cmp.inputs.run.click()
    assert cmp.state.wait(30)
    good, bad = (text_of(c) for c in cmp.inputs.cells[0])
    assert good == '→ get_order({"order_id": "A17"}) ✓'
    assert bad.startswith('→ get_order({"id": 17}) ✗') and "'order_id' is a required property" in bad


def test_each_column_says_whether_its_answer_fits_the_schema(runner):
    model = testing.script("extract", default=lambda m, p: '{"name": "Anna", "age": 31}' if "A:" in m[-1]["content"]
                           else "Anna, 31")
    cmp = wb.Compare({"json": "A: {text}", "prose": "B: {text}"}, model, runner=runner, response_format=SCHEMA,
                     text="Anna is 31.")
    assert "response_format response" in text_of(cmp.tools_info)
    cmp.run_button.click()
    assert cmp.state.wait(30)
    ok, bad = (c.extras for c in cmp.columns)
    assert "wb-valid-badge" in ok.value and '{"name": "Anna", "age": 31}' in text_of(ok)
    assert "wb-invalid-badge" in bad.value and "The answer is not JSON" in text_of(bad)
    assert all(shown(c.answer.samples) for c in cmp.columns)  # answers with text keep their box
    cmp.state.update_variant(1, user="A: {text}")  # now both columns answer JSON
    cmp.run_button.click()
    assert cmp.state.wait(30)
    assert "wb-valid-badge" in bad.value and "wb-invalid-badge" not in bad.value


def test_without_tools_or_schema_nothing_extra_is_shown(runner):
    cmp = wb.Compare(["A {x}", "B {x}"], "mock:echo", runner=runner, x="1")
    assert not shown(cmp.tools_info)
    cmp.run_button.click()
    assert cmp.state.wait(30)
    assert all(not shown(c.extras) and not shown(c.conversation) for c in cmp.columns)


@pytest.mark.parametrize("with_tools", [False, True])
def test_sweep_headers_give_the_rates_and_answers_their_calls(runner, with_tools):
    if with_tools:
        model = testing.script("sw", [{"tool_calls": [{"name": "get_order", "arguments": {"order_id": "1"}}]},
                                      "text", "text", "text"])
        sw = wb.Sweep("Order {x}", model, values=[0, 1], repeats=2, runner=runner, x="1", tools=[get_order],
                      expected_tool="get_order")
    else:
        model = testing.script("sw", ['{"name": "A", "age": 1}', "no", "no", "no"])
        sw = wb.Sweep("Extract {x}", model, values=[0, 1], repeats=2, runner=runner, x="1", response_format=SCHEMA)
    assert sw.measure.value == ("tool_called" if with_tools else "schema_valid")
    sw.run_button.click()
    assert sw.state.wait(30)
    headers = " ".join(text_of(h) for h in with_class(sw.groups, "wb-group-header"))
    if with_tools:
        assert headers.count("tool call ") == 2 and "right tool 1/2" in headers and "right tool 0/2" in headers
    else:
        assert "valid 1/2" in headers and "valid 0/2" in headers
    extras = [x for x in with_class(sw.groups, "wb-answer-extras") if shown(x)]
    assert len(extras) == (1 if with_tools else 4)
    assert ("wb-toolcall-valid" if with_tools else "wb-valid-badge") in " ".join(x.value for x in extras)


def test_a_sweep_of_a_conversation_shows_its_turns(runner):
    chat = wb.Prompt(messages=[("user", "Hi"), ("assistant", "Hello!"), ("user", "{q}")])
    sw = wb.Sweep(chat, "mock:echo", values=[0], repeats=1, runner=runner, q="why?")
    assert shown(sw.conversation) and "conversation (3 messages)" in text_of(sw.conversation)
    sw.run_button.click()
    assert sw.state.wait(30)
    assert sw.state.points[0].answer.text == "why?"
