"""The offline model (SmolLM2-135M via llama.cpp) with a response format and with tools, both by grammar."""

from __future__ import annotations

import pytest

import workbench as wb

pytestmark = pytest.mark.filterwarnings("ignore")

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}


@wb.tool
def get_order(order_id: str) -> dict:
    """Look an order up by its id."""
    return {"order_id": order_id, "status": "shipped"}


@wb.tool
def get_weather(city: str) -> str:
    """Get the weather in a city."""
    return f"Sunny in {city}"


def test_response_format_constrains_the_local_answer_to_the_schema(runner):
    r = wb.complete("local:smollm2", "Extract the person: {text}", text="Anna is 31 years old.",
                    response_format=SCHEMA, temperature=0, max_tokens=60, runner=runner)
    assert r.parse_error is None and set(r.parsed) == {"name", "age"} and isinstance(r.parsed["age"], int)
    assert r.request["response_format"] == {"type": "json_object", "schema": SCHEMA}  # llama.cpp's grammar


def test_local_tool_call_by_grammar_and_the_loop(runner):
    chat = wb.Prompt(system="You support customers of {company}.",
                     messages=[("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "{question}")])
    r = wb.complete("local:smollm2", chat, tools=[get_order, get_weather], tool_choice="required", company="Acme",
                    question="Where is order A17?", temperature=0, max_tokens=60, runner=runner)
    assert len(r.tool_calls) == 1 and r.tool_calls[0].name in {"get_order", "get_weather"}
    assert r.tool_calls[0].valid and r.text == ""
    looped = wb.complete("local:smollm2", chat, tools=[get_order], run_tools=True, max_steps=2, company="Acme",
                         question="Where is order A17?", temperature=0, max_tokens=60, runner=runner)
    steps = [*looped.steps, looped]
    assert steps[0].tool_calls and looped.tool_results[0]["name"] == "get_order"
    assert looped.messages[3] == {"role": "user", "content": "Where is order A17?"}
    assert any(m["role"] == "tool" for m in looped.messages)
    assert looped.tool_calls == [] or "max_steps=2" in looped.tool_errors[-1]  # answered, or stopped and said so
