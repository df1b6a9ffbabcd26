"""Batch runs with tools, tool_choice and response_format (issue 14: "requests are the same ones the
online path would send"): the JSONL lines carry the same bodies the online calls send to the loopback
server, and the collected rows have the same tool_calls / parsed / parse_error columns as online."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import workbench as wb
from tests.conftest import PLANTED_KEY, point_sdks_at
from tests.fakebatch import BatchAPI
from tests.fakeserver import FakeServer, Reply, message_text
from workbench._types import Request
from workbench.state.code import raw_request

OPENAI = "openai:gpt-4o-mini"
MISTRAL = "mistral:mistral-small-latest"
CASES = pd.DataFrame({"id": ["a", "b", "c"], "q": ["order A17", "order B2", "order bad"]})
SCHEMA = {"type": "object", "properties": {"order": {"type": "string"}, "items": {"type": "integer"}},
          "required": ["order", "items"]}


@wb.tool
def get_order(order_id: str) -> dict:
    """Look an order up by its id."""
    return {"order_id": order_id}


def _responder(body: dict) -> object:
    """Calls get_order, or answers JSON, from the question's last word; 'bad' gets a wrong answer."""
    word = message_text(body["messages"][-1].get("content")).split()[-1]
    if body.get("tools"):
        return Reply("", (("get_order", {"order_id": word} if word != "bad" else {"order": 1}),))
    if body.get("response_format"):
        return json.dumps({"order": word, "items": 2 if word != "bad" else "two"})
    return f"Echo: {word}"


@pytest.fixture
def server(monkeypatch, fresh_providers):
    with FakeServer(api_key=PLANTED_KEY, responder=_responder) as s:
        yield point_sdks_at(s, monkeypatch)


EXTRAS = {
    "tools": {"tools": [get_order], "params": {"tool_choice": "required", "max_tokens": 30}},
    "response_format": {"response_format": SCHEMA, "params": {"max_tokens": 30}},
}


def _exp(runner, model, name, extra, **kw):
    return wb.Experiment("Look up {q}", models=model, cases=CASES, runner=runner, name=name, **extra, **kw)


def _by_messages(bodies):
    return {json.dumps(b["messages"], sort_keys=True): b for b in bodies}


@pytest.mark.parametrize("what", sorted(EXTRAS))
@pytest.mark.parametrize("model", [OPENAI, MISTRAL])
def test_batch_lines_and_columns_match_the_online_run(model, what, server, runner):
    api = BatchAPI.mount(server, process_s=0.05)
    batched = _exp(runner, model, "batched", EXTRAS[what]).run(batch=True, progress=False, verbose=False, poll_s=0.05)
    online = _exp(runner, model, "online", EXTRAS[what], cache=False).run(progress=False, verbose=False)
    # the same bodies: every line's body is the body the online call of the same cell sent
    (batch_id,) = api.batches
    lines = _by_messages(line["body"] for line in api.input_lines(batch_id))
    sent = _by_messages(r["json"] for r in server.requests if r["path"].endswith("/chat/completions"))
    assert len(lines) == len(sent) == len(CASES) and lines.keys() == sent.keys()
    for key, body in lines.items():
        assert body[what] == sent[key][what]  # tools / response_format in the provider's wire shape
        assert body.get("tool_choice") == sent[key].get("tool_choice")
        assert {k: v for k, v in sent[key].items() if k in body} == body
        assert set(sent[key]) - set(body) <= {"stream"}, "the online call sent something the line lacks"
    # the same columns
    columns = ["case_id", "output", "error", *(["tool_calls"] if what == "tools" else ["parsed", "parse_error"])]
    assert batched[columns].to_dict("records") == online[columns].to_dict("records")
    assert batched["error"].isna().all()
    if what == "tools":
        assert json.loads(batched.loc[0, "tool_calls"]) == [{"name": "get_order", "arguments": {"order_id": "A17"}}]
        assert "error" in json.loads(batched.loc[2, "tool_calls"])[0]  # arguments that miss the schema, named
        assert {"tools", "tool_choice"} <= set(next(iter(lines.values())))
    else:
        assert json.loads(batched.loc[0, "parsed"]) == {"order": "A17", "items": 2}
        assert pd.isna(batched.loc[0, "parse_error"]) and pd.isna(batched.loc[2, "parsed"])
        assert "items" in batched.loc[2, "parse_error"]


@pytest.mark.parametrize("model", [OPENAI, MISTRAL])
def test_collected_rows_come_back_from_the_log_with_their_tool_calls(model, server, runner):
    """A new Experiment with the same definition reads the batch rows from the log: same columns, no batch."""
    api = BatchAPI.mount(server, process_s=0.05)
    first = _exp(runner, model, "again", EXTRAS["tools"]).run(batch=True, progress=False, verbose=False, poll_s=0.05)
    again = _exp(runner, model, "again", EXTRAS["tools"]).run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert api.stats["batches_created"] == 1
    assert again["tool_calls"].tolist() == first["tool_calls"].tolist() and first["tool_calls"].notna().all()


@pytest.mark.parametrize("model", [OPENAI, MISTRAL])
def test_the_code_panels_raw_request_shows_tools_and_response_format(model, server, runner):
    request: Request = runner.prepare(model, wb.Prompt(user="Look up {q}"), {"q": "order A17"},
                                      wb.Params.build(tool_choice="required"), tools=[get_order])
    raw = raw_request(request)
    wb.complete(model, wb.Prompt(user="Look up {q}"), q="order A17", tool_choice="required", tools=[get_order],
                cache=False, runner=runner)
    sent = server.requests[-1]["json"]
    assert raw.body["tools"] == sent["tools"] and raw.body["tool_choice"] == sent["tool_choice"]
    request = runner.prepare(model, wb.Prompt(user="Look up {q}"), {"q": "order A17"}, wb.Params.build(),
                             response_format=SCHEMA)
    wb.complete(model, wb.Prompt(user="Look up {q}"), q="order A17", response_format=SCHEMA, cache=False,
                runner=runner)
    assert raw_request(request).body["response_format"] == server.requests[-1]["json"]["response_format"]
