"""Issue 12 item 7, the states: Compare and Sweep take tools, response_format and conversation prompts
(checked when built, before any call) and read each answer's tool calls and schema validity."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import BaseModel

import workbench as wb
from workbench import state as S
from workbench import testing


@wb.tool
def get_order(order_id: str) -> dict:
    """Look an order up by its id."""
    return {"order_id": order_id}


@wb.tool
def get_weather(city: str) -> str:
    """Get the weather in a city."""
    return city


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}


class Person(BaseModel):
    name: str
    age: int


def _agent(messages, params):
    """get_order for order questions (with the id), get_weather with a wrong argument name otherwise."""
    question = messages[-1]["content"]
    if "weather" in question:
        return {"tool_calls": [{"name": "get_weather", "arguments": {"town": "Oslo"}}]}
    return {"tool_calls": [{"name": "get_order", "arguments": {"order_id": question.split()[-1].strip("?")}}]}


CHAT = wb.Prompt(system="You support customers of {company}.",
                 messages=[("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "{question}")])


def test_compare_sends_tools_and_shows_each_columns_tool_calls(runner):
    model = testing.script("agent", default=_agent)
    c = S.CompareState({"chat": CHAT, "plain": "Weather or order: {question}"}, model, runner=runner,
                       tools=[get_order, get_weather], company="Acme", question="Where is order A17?")
    c.run(timeout=60)
    sent = testing.calls("agent")
    assert all([t.name for t in call.options.tools] == ["get_order", "get_weather"] for call in sent)
    chat_call = next(call for call in sent if len(call.messages) == 4)
    assert [m["role"] for m in chat_call.messages] == ["system", "user", "assistant", "user"]
    calls = [a.response.tool_calls for a in c.answers]
    assert [[(t.name, t.arguments, t.valid) for t in cs] for cs in calls] == [
        [("get_order", {"order_id": "A17"}, True)]] * 2
    text = c.summary_text()
    assert 'tool call get_order({"order_id": "A17"})' in text and "tools: get_order, get_weather" in text
    html = c.summary_html()
    assert "wb-toolcall-valid" in html and "get_order" in html and "wb-toolcall-invalid" not in html

    c.set_variable("question", "What is the weather in Oslo?")
    c.run(timeout=60)
    invalid = c.answers[1].response.tool_calls[0]
    assert not invalid.valid and "'city' is a required property" in invalid.error
    assert "INVALID: " in c.summary_text() and "wb-toolcall-invalid" in c.summary_html()


def test_compare_with_a_schema_says_valid_or_invalid_per_column_and_in_the_grid(runner):
    model = testing.script("extract", default=lambda m, p: '{"name": "Anna", "age": 31}' if "A:" in m[-1]["content"]
                           else '{"name": "Anna"}')
    c = S.CompareState({"good": "A: {text}", "bad": "B: {text}"}, model, runner=runner, response_format=SCHEMA,
                       text="Anna is 31.")
    c.run(timeout=60)
    good, bad = (a.response for a in c.answers)
    assert good.parsed == {"name": "Anna", "age": 31} and bad.parsed is None
    assert "'age' is a required property" in bad.parse_error
    assert testing.calls("extract")[0].options.response_format.schema == SCHEMA
    html = c.summary_html()
    assert html.count("wb-valid-badge") == 1 and html.count("wb-invalid-badge") == 1
    assert "&#x27;age&#x27; is a required property" in html
    assert 'valid: {"name": "Anna", "age": 31}' in c.summary_text()
    c.add_row({"text": "Bo is 5."})
    c.add_row({"text": "Cy is 7."})
    c.run_grid(timeout=60)
    table = c.grid_table()
    assert list(table["good valid"]) == [True, True] and list(table["bad valid"]) == [False, False]


def test_a_pydantic_model_as_response_format_gives_instances(runner):
    model = testing.script("person", default='{"name": "Anna", "age": 31}')
    c = S.CompareState(["{text}", "Extract: {text}"], model, runner=runner, response_format=Person, text="x")
    c.run(timeout=60)
    assert all(isinstance(a.response.parsed, Person) for a in c.answers)
    assert 'valid: {"name": "Anna", "age": 31}' in c.summary_text()


@pytest.mark.parametrize("make", [S.CompareState, S.SweepState])
def test_bad_tools_and_schemas_are_refused_when_built_before_any_call(make, runner):
    def untyped(order_id):
        """No type hints."""

    with pytest.raises(wb.SchemaError, match="is not a valid JSON schema"):
        make("Hi {x}", "mock:never", runner=runner, x="1", response_format={"type": "objekt"})
    with pytest.raises(wb.ToolError, match="type hint"):
        make("Hi {x}", "mock:never", runner=runner, x="1", tools=[untyped])
    with pytest.raises(wb.ToolError, match="Two tools are called 'get_order'"):
        make("Hi {x}", "mock:never", runner=runner, x="1", tools=[get_order, get_order])
    with pytest.raises(wb.ToolError, match="neither auto, none, required nor one of the tools"):
        make("Hi {x}", "mock:never", runner=runner, x="1", tools=[get_order], tool_choice="get_wether")
    with pytest.raises(wb.SchemaError, match="gives no schema"):
        make("Hi {x}", "mock:never", runner=runner, x="1", response_format={"type": "json_object"})
    assert testing.calls() == []


def test_a_conversation_variant_covers_every_turn(runner):
    chat = wb.Prompt(system="Be {tone}.", messages=[("user", "About {topic}?"), ("assistant", "Yes, {topic}."),
                                                    ("user", "More, in {words} words.")])
    c = S.CompareState({"chat": chat, "single": "Tell me about {topic}"}, "mock:echo", runner=runner,
                       tone="brief", topic="owls", words="5")
    assert c.variable_names == ["tone", "topic", "words"]
    text = c.summary_text()
    assert "[chat] mock:echo: conversation of 4 messages" in text
    assert "(assistant) 'Yes, {topic}.'" in text and "(user) 'More, in {words} words.'" in text
    assert "Yes, {topic}." in c.summary_html()
    c.add_variant()  # a copy of the last column: not the conversation
    c.add_variant(chat)
    assert c.variants[3].messages == chat.messages and c.variants[2].messages == ()
    c.run(timeout=60)
    assert c.answers[0].text == "More, in 5 words." and c.answers[3].text == "More, in 5 words."
    sent = [call.messages for call in testing.calls("echo") if len(call.messages) == 4][0]
    assert sent[2] == {"role": "assistant", "content": "Yes, owls."}
    c.update_variant(0, messages=[("user", "About {topic}?"), {"role": "assistant", "content": "Yes, {topic}."}])
    assert c.variants[0].messages == chat.messages[:2]  # pairs and dicts become turns
    assert c.variants[0].variable_names() == ["tone", "topic"]  # the turn holding {words} is gone
    with pytest.raises(wb.PromptError, match="has the role 'robot'"):
        c.update_variant(0, messages=[("robot", "Hi")])
    assert c.variants[0].messages == chat.messages[:2]
    with pytest.raises(wb.ParamsError, match="label, system, user, examples, model, params, messages"):
        c.update_variant(0, prompt="Hi")


def test_half_typed_placeholders_in_a_conversation_never_raise(runner):
    c = S.CompareState(CHAT, "mock:echo", runner=runner)
    c.update_variant(0, system="Support {comp")
    assert c.variants[0].variable_names() == ["question"]  # the complete {names} still count


def _mixed(messages, params):
    """Alternates: the right tool, a wrong tool with bad arguments, plain text."""
    n = len(testing.calls("mixed"))
    return [{"tool_calls": [{"name": "get_order", "arguments": {"order_id": "A1"}}]},
            {"tool_calls": [{"name": "get_weather", "arguments": {"town": "x"}}]}, "just text"][(n - 1) % 3]


def test_sweep_with_tools_gives_tool_call_rates_and_the_tool_scorers_as_measures(runner):
    model = testing.script("mixed", default=_mixed)
    sw = S.SweepState(CHAT, model, values=[0.0, 1.0], repeats=3, tools=[get_order, get_weather],
                      expected_tool="get_order", runner=runner, company="Acme", question="Where is A1?")
    assert sw.measure == "tool_called" and {"valid_tool_call", "tool_called"} <= set(sw.measures)
    assert sw.variable_names == ["company", "question"]
    sw.run(timeout=60)
    rows = sw.summary()
    totals = {k: sum(r[k] * r["answered"] for r in rows) for k in ("tool_call", "valid_call", "right_tool")}
    assert totals == {"tool_call": 4, "valid_call": 2, "right_tool": 2}  # 6 calls: 2 right, 2 wrong tool, 2 text
    assert sum(r["mean"] * r["n"] for r in rows) == 2  # the tool_called measure agrees
    assert all(sw.describe_rates(r).startswith("tool call ") for r in rows)
    assert "right tool" in sw.summary_text() and "<th>right tool</th>" in sw.summary_html()
    frame = sw.to_frame()
    assert frame["tool_calls"].notna().sum() == 4
    assert any(json.loads(t)[0].get("error") for t in frame["tool_calls"].dropna())
    sw.set_measure("valid_tool_call")
    assert sum(p.measure for p in sw.points) == 2


def test_sweep_with_a_schema_gives_a_validity_rate_per_value(runner):
    answers = ['{"name": "A", "age": 1}', "not json", '{"name": "B", "age": 2}', '{"name": "C"}']
    model = testing.script("schema", answers)
    sw = S.SweepState("Extract: {text}", model, parameter="seed", values=[1, 2], repeats=2, response_format=SCHEMA,
                      runner=runner, text="x")
    assert sw.measure == "schema_valid"
    sw.run(timeout=60)
    rows = sw.summary()
    assert sum(r["valid"] * r["answered"] for r in rows) == 2 and all(r["answered"] == 2 for r in rows)
    assert [r["mean"] for r in rows] == [r["valid"] for r in rows]
    assert sw.measure_is_pass_fail()
    frame = sw.to_frame()
    assert frame["parsed"].notna().sum() == 2 and frame["parse_error"].notna().sum() == 2
    assert "valid " in sw.summary_text() and "<th>valid</th>" in sw.summary_html()


def test_sweep_rates_are_nan_before_any_answer_and_absent_without_tools(runner):
    sw = S.SweepState("Hi {x}", "mock:echo", values=[0.0], repeats=1, runner=runner, x="1",
                      response_format=SCHEMA)
    assert sw.rate_names() == ["valid"] and math.isnan(sw.extras.rates([])["valid"])
    plain = S.SweepState("Hi {x}", "mock:echo", values=[0.0], repeats=1, runner=runner, x="1")
    plain.run(timeout=60)
    assert plain.measure == "length (characters)" and "valid" not in plain.summary()[0]
    with pytest.raises(wb.ScorerError, match="expected_tool='get_weather' is not one of the tools"):
        S.SweepState("Hi", "mock:echo", runner=runner, tools=[get_order], expected_tool="get_weather")


@pytest.mark.local_model
def test_compare_on_the_local_model_with_a_schema_gives_valid_parsed_columns(runner):
    """The real path: llama.cpp's grammar from the schema, two short columns, each answer parsed."""
    schema = {"type": "object", "properties": {"sentiment": {"enum": ["positive", "negative"]}},
              "required": ["sentiment"]}
    c = S.CompareState({"terse": "Sentiment of: {text}", "json": "Give the sentiment of this review as JSON: {text}"},
                       "local:smollm2", runner=runner, response_format=schema, text="I love it!", max_tokens=16,
                       temperature=0)
    c.run(timeout=300)
    assert [a.status for a in c.answers] == ["done", "done"]
    assert all(a.response.parsed["sentiment"] in ("positive", "negative") for a in c.answers)
    assert c.summary_html().count("wb-valid-badge") == 2
