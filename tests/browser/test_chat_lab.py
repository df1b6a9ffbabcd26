"""Chat mode (issue 12, item 6) in a real JupyterLab, as a user drives it, on a scripted mock model.

``wb.Playground(prompt, model, tools=[get_order])`` opens in chat mode. The test edits a turn,
runs, sees the tool-call card (arguments, valid against the tool's schema), types the tool's
result, continues, types a response-format schema (first broken: the reason shows before any
call), replies twice and sees one answer valid and one invalid against the schema, with the
reason. Every call is in the run log (nothing paid for is lost). Screenshots of the widget are
saved in ``test-artifacts/screenshots/chat_lab-*.png``.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from playwright.sync_api import Page

from . import lab
from .servers import JupyterEnv, LabServer

SETUP = '''
import workbench as wb
from workbench import testing

@wb.tool
def get_order(order_id: str) -> dict:
    """Look an order up by its id."""
    return {"order_id": order_id, "status": "shipped"}

def after_tool(messages, params):
    result = [m["content"] for m in messages if m["role"] == "tool"][-1]
    return f"Your order's status, from the tool: {result}"

testing.script("support", [
    {"tool_calls": [{"name": "get_order", "arguments": {"order_id": "A17"}}]},
    after_tool,
    '{"order_id": "A17", "status": "delayed"}',
    '{"order_id": "A17"}',
])
'''

PLAYGROUND = '''
pg = wb.Playground(wb.Prompt(system="You help the customers of {company}.", user="Where is my order?"),
                   "mock:support", tools=[get_order], company="Acme")
pg.add_class("chat-lab")
pg
'''

SCHEMA = {"type": "object", "properties": {"order_id": {"type": "string"}, "status": {"type": "string"}},
          "required": ["order_id", "status"]}

SCREENSHOTS = lab.SCREENSHOTS

ROOT = ".chat-lab .wb-chat"


_snap = lab.snap


def _click(page: Page, selector: str) -> None:
    lab.wait_kernel_idle(page)
    page.locator(selector).filter(visible=True).first.click()  # (each turn has a Continue; one shows)


def _wait_turn_text(page: Page, text: str) -> None:
    """Wait until some turn's text area holds ``text`` (a textarea's value is not its inner text)."""
    page.wait_for_function(
        "([sel, text]) => [...document.querySelectorAll(sel)].some((t) => t.value.includes(text))",
        arg=[f"{ROOT} .wb-turn-text textarea", text], timeout=lab.WAIT_TIMEOUT_MS)


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_chat_mode_in_jupyterlab(page: Page, lab_server: LabServer, jupyter_env: JupyterEnv) -> None:
    lab_server.write_notebook("chat_lab.ipynb", [SETUP, PLAYGROUND])
    lab.run_notebook(page, lab_server, "chat_lab.ipynb")
    turns = page.locator(f"{ROOT} .wb-turns > .wb-turn")
    assert turns.count() == 2
    assert page.locator(f"{ROOT} .wb-turn-role select").first.input_value() == "system"
    assert page.locator(f"{ROOT} .wb-var-company input").input_value() == "Acme"
    assert page.locator(".chat-lab .wb-editor").first.is_hidden()  # the single-prompt editor gives way

    # edit the user turn: a new {order} variable gets its field
    lab.fill_textarea(page, f"{ROOT} .wb-turns > .wb-turn:nth-child(2) .wb-turn-text", "Where is order {order}?")
    page.locator(f"{ROOT} .wb-var-order input").wait_for(state="visible")
    lab.fill_textarea(page, f"{ROOT} .wb-var-order", "A17")
    page.locator(f"{ROOT} .wb-tool-get_order").get_by_text("get_order", exact=True).click()  # open its schema
    lab.wait_for_text(page, f"{ROOT} .wb-tool-schema", '"order_id"')

    _click(page, f"{ROOT} button.wb-run")
    lab.wait_for_text(page, f"{ROOT} .wb-call-head", "get_order")
    card = page.locator(f"{ROOT} .wb-call").first
    assert "arguments fit the schema" in card.locator(".wb-call-head").inner_text()
    assert json.loads(card.locator(".wb-call-args").inner_text()) == {"order_id": "A17"}
    assert card.locator("button.wb-call-run").is_enabled()
    _snap(page, ROOT, "chat_lab-tool-call")

    # type the tool's result by hand, then Continue
    lab.fill_textarea(page, f"{ROOT} .wb-call-result", '{"order_id": "A17", "status": "delayed"}')
    _click(page, f"{ROOT} button.wb-call-use")
    lab.wait_for_text(page, f"{ROOT} .wb-turn-note", "result of get_order")
    _click(page, f"{ROOT} button.wb-continue")
    _wait_turn_text(page, "Your order's status, from the tool:")
    assert turns.count() == 5

    # the response-format panel: a broken schema is explained before any call
    lab.fill_textarea(page, f"{ROOT} .wb-schema", '{"type": "object", "properties": ')
    lab.wait_for_text(page, f"{ROOT} .wb-schema-status", "not valid JSON")
    lab.fill_textarea(page, f"{ROOT} .wb-schema", '{"type": "objekt"}')
    lab.wait_for_text(page, f"{ROOT} .wb-schema-status", "not a valid JSON schema")
    _snap(page, f"{ROOT} .wb-chat-side", "chat_lab-schema-invalid")
    lab.fill_textarea(page, f"{ROOT} .wb-schema", json.dumps(SCHEMA, indent=2))
    lab.wait_for_text(page, f"{ROOT} .wb-schema-status", "valid schema")

    lab.fill_textarea(page, f"{ROOT} .wb-reply", "As JSON, please.")
    _click(page, f"{ROOT} button.wb-send")
    lab.wait_for_text(page, f"{ROOT} .wb-turn-note", "valid against the response format's schema")
    lab.fill_textarea(page, f"{ROOT} .wb-reply", "Once more.")
    _click(page, f"{ROOT} button.wb-send")
    lab.wait_for_text(page, f"{ROOT} .wb-turn-note", "'status' is a required property")
    assert turns.count() == 9
    assert page.locator(f"{ROOT} .wb-error:visible").count() == 0
    page.set_viewport_size({"width": 1280, "height": 2200})  # the whole conversation fits in the notebook panel
    _snap(page, ROOT, "chat_lab-schema")
    page.set_viewport_size({"width": 760, "height": 2600})  # a narrow window: the side column goes below
    page.wait_for_timeout(300)
    _snap(page, ROOT, "chat_lab-narrow")

    with sqlite3.connect(jupyter_env.workbench_db) as conn:
        rows = conn.execute("SELECT status, request_json FROM calls WHERE tags_json LIKE '%\"source\": \"chat\"%'"
                            " ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["ok"] * 4, rows
    second = json.loads(rows[1][1])
    assert any(m.get("role") == "tool" and "delayed" in m.get("content", "") for m in second["messages"])
