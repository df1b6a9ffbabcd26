"""Experiments with conversations, tools and response formats (mock model): history column, the
tool scorers, the tool_calls / parsed / parse_error columns, the HTML report and the promptfoo export."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

import workbench as wb
from workbench import scorers, testing


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


def _agent(messages, params):
    """Calls get_order with the id in the question, except for weather questions."""
    question = messages[-1]["content"]
    if "weather" in question:
        return {"tool_calls": [{"name": "get_weather", "arguments": {"town": "Oslo"}}]}  # invalid arguments
    return {"tool_calls": [{"name": "get_order", "arguments": {"order_id": question.split()[-1].strip("?")}}]}


def test_tool_scorers_and_columns(runner):
    model = testing.script("agent", default=_agent)
    cases = pd.DataFrame({
        "question": ["Where is order A17?", "What is the weather in Oslo?", "Status of order B2?"],
        "expected_tool": ["get_order", "get_weather", "get_order"],
        "expected_arguments": ['{"order_id": "a17"}', '{"city": "Oslo"}', '{"order_id": "B3"}'],
    })
    exp = wb.Experiment("{question}", model, cases=cases, runner=runner, tools=[get_order, get_weather],
                        scorers=[scorers.tool_called(), scorers.valid_tool_call(),
                                 scorers.tool_called("get_order", label="order")])
    results = exp.run(progress=False, verbose=False)
    assert list(results["tool_called"]) == [1.0, 0.0, 0.0]  # partial, case-insensitive; invalid args; wrong id
    assert "argument 'city' missing" in results["tool_called_explanation"][1]
    assert "expected \"B3\", got \"B2\"" in results["tool_called_explanation"][2]
    assert list(results["valid_tool_call"]) == [1.0, 0.0, 1.0]
    assert "'city' is a required property" in results["valid_tool_call_explanation"][1]
    assert list(results["order"]) == [1.0, 0.0, 1.0]
    assert json.loads(results["tool_calls"][0]) == [{"name": "get_order", "arguments": {"order_id": "A17"}}]
    report = wb.report_html(results).replace("<wbr>", "")  # headers may break after "_"
    assert "tool_calls" in report and "get_order" in report and "order_id" in report


def test_history_column_and_schema_valid(runner):
    def answer(messages, params):
        return '{"name": "Anna", "age": 31}' if len(messages) > 2 else '{"name": "Anna"}'

    model = testing.script("extract", default=answer)
    cases = pd.DataFrame({"text": ["Anna is 31.", "Anna."],
                          "history": [[["user", "Extract {people}"], ["assistant", "Send the text."]], None]})
    exp = wb.Experiment(wb.Prompt(system="Extract as JSON.", user="{text}"), model, cases=cases, runner=runner,
                        response_format=SCHEMA, scorers=[scorers.schema_valid()])
    results = exp.run(progress=False, verbose=False)
    sent = testing.calls("extract")[0].messages
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "Extract {people}"  # history is literal text
    assert list(results["schema_valid"]) == [1.0, 0.0]
    assert json.loads(results["parsed"][0]) == {"name": "Anna", "age": 31}
    assert "'age' is a required property" in results["parse_error"][1]
    assert "parsed" in wb.report_html(results)


def test_bad_history_is_a_cases_error(runner):
    with pytest.raises(wb.CasesError, match="not a JSON list of messages"):
        wb.Experiment("{text}", "mock:m", cases=pd.DataFrame({"text": ["a"], "history": ["not json"]}),
                      runner=runner)


def test_tool_scorer_without_a_response_says_how():
    with pytest.raises(wb.ScorerError, match="call it with the response"):
        scorers.valid_tool_call()("text", {})


def test_promptfoo_export_carries_conversations_tools_and_response_format(runner, monkeypatch, fresh_providers):
    wb.set_key("OPENAI_API_KEY", "sk-test-not-real-000000000000")
    wb.set_key("MISTRAL_API_KEY", "test-key-not-real-0000000000")
    chat = wb.Prompt(system="You help {company}.", messages=[("user", "Hi"), ("assistant", "Hello!"),
                                                             ("user", "{question}")])
    exp = wb.Experiment(chat, ["openai:gpt-4o-mini", "mistral:mistral-small-latest"],
                        params={"tool_choice": "required"}, runner=runner,
                        cases=pd.DataFrame({"company": ["Acme"], "question": ["Where is A17?"]}),
                        tools=[get_order], scorers=[scorers.valid_tool_call()])
    config = yaml.safe_load(wb.to_promptfoo(exp))
    messages = json.loads(config["prompts"][0]["raw"])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == "{{question}}"
    openai, mistral = config["providers"]
    assert openai["config"]["tools"][0]["function"]["name"] == "get_order"
    assert openai["config"]["tool_choice"] == "required" and mistral["config"]["tool_choice"] == "any"
    assert config["defaultTest"]["assert"] == [{"type": "is-valid-openai-tools-call", "metric": "valid_tool_call"}]
    exp2 = wb.Experiment("{q}", "openai:gpt-4o-mini", runner=runner, cases=pd.DataFrame({"q": ["x"]}),
                         response_format=SCHEMA)
    provider = yaml.safe_load(wb.to_promptfoo(exp2))["providers"][0]
    assert provider["config"]["response_format"]["json_schema"]["schema"] == SCHEMA


def test_batch_with_tools_is_refused_only_for_a_model_without_a_batch_api(runner):
    """Tools and schemas go into batch lines (tests/test_batch_tools.py); the mock has no batch API."""
    exp = wb.Experiment("{q}", "mock:m", runner=runner, cases=pd.DataFrame({"q": ["x"]}), tools=[get_order])
    with pytest.raises(wb.BatchUnsupportedError, match="has no batch API.*exp.run\\(\\)"):
        exp.run(batch=True, progress=False, verbose=False)
    assert testing.calls("m") == []
