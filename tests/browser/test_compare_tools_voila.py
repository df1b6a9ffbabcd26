"""Issue 12 item 7 in Voila at 1,280 px: a Compare whose columns call tools (a conversation column and a
plain one, one call valid and one not) and a Compare with a response_format (one answer fits the
schema, one does not), each column showing its verdict; screenshots for a person to look at."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page

from . import lab
from .servers import KERNEL_NAME, VoilaServer
from .test_widgets_lab import _click, _snap

REPO = Path(__file__).resolve().parents[2]

SETUP = f'''import sys
sys.path.insert(0, {str(REPO)!r})  # the kernel starts in a temporary folder
import workbench as wb
from workbench import testing

@wb.tool
def get_order(order_id: str) -> dict:
    """Look an order up by its id."""
    return {{"order_id": order_id, "status": "shipped"}}

@wb.tool
def get_weather(city: str) -> str:
    """Get the weather in a city."""
    return "sunny"

def agent(messages, params):
    if "weather" in messages[-1]["content"]:
        return {{"tool_calls": [{{"name": "get_weather", "arguments": {{"town": "Oslo"}}}}]}}
    return {{"tool_calls": [{{"name": "get_order", "arguments": {{"order_id": "A17"}}}}]}}

testing.script("agent", default=agent)
testing.script("extract", default=lambda m, p: '{{"name": "Anna", "age": 31}}' if "JSON" in m[-1]["content"]
               else "Anna is thirty-one.")
testing.script("sweep", ['{{"name": "Anna", "age": 31}}', "Anna, 31", '{{"name": "Anna", "age": 31}}',
                         '{{"name": "Anna"}}'])
runner = wb.Runner(log=":memory:", progress=False)'''

TOOLS = '''chat = wb.Prompt(system="You support customers of Acme.",
                 messages=[("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "{question}")])
wb.Compare({"chat": chat, "weather": "Ask about the weather in Oslo, then: {question}"}, "mock:agent",
           tools=[get_order, get_weather], question="Where is order A17?", runner=runner)'''

SCHEMA = '''schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}
wb.Compare({"json": "Extract the person as JSON: {text}", "prose": "Who is this? {text}"}, "mock:extract",
           response_format=schema, text="Anna is 31.", runner=runner)'''


SWEEP = '''wb.Sweep("Extract the person as JSON: {text}", "mock:sweep", parameter="seed", values=[1, 2], repeats=2,
         response_format=schema, text="Anna is 31.", runner=runner)'''


def _write(server: VoilaServer, name: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (SETUP, TOOLS, SCHEMA, SWEEP)]
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, str(server.root_dir / name))


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_compare_shows_tool_calls_and_schema_validity_per_column_in_voila(page: Page,
                                                                         voila_server: VoilaServer) -> None:
    _write(voila_server, "compare_tools.ipynb")
    lab.open_voila(page, voila_server, "compare_tools.ipynb")
    try:
        tools_cmp, schema_cmp = page.locator(".wb-compare").nth(0), page.locator(".wb-compare").nth(1)
        assert "tools get_order, get_weather" in tools_cmp.locator(".wb-tools-info").inner_text()
        chat_col = tools_cmp.locator(".wb-variant").nth(0)
        conversation = chat_col.locator(".wb-conversation")
        assert conversation.is_visible() and "conversation (3 messages)" in conversation.inner_text()
        assert [t.strip().lower() for t in conversation.locator(".wb-msg-role").all_inner_texts()] == [
            "user", "assistant", "user"]

        _click(page, ".wb-compare >> nth=0 >> button.wb-run")
        lab.wait_for_text(page, ".wb-compare >> nth=0 >> .wb-run-status", "2/2 answered")
        valid = tools_cmp.locator(".wb-variant").nth(0).locator(".wb-toolcall")
        invalid = tools_cmp.locator(".wb-variant").nth(1).locator(".wb-toolcall")
        valid.first.wait_for(state="visible", timeout=lab.WAIT_TIMEOUT_MS)
        assert "wb-toolcall-valid" in valid.first.get_attribute("class")
        assert 'get_order({"order_id": "A17"})' in valid.first.inner_text()
        assert "wb-toolcall-invalid" in invalid.first.get_attribute("class")
        assert "'city' is a required property" in invalid.first.inner_text()
        _snap(page, ".wb-compare >> nth=0", "voila_compare-tool-calls")

        _click(page, ".wb-compare >> nth=1 >> button.wb-run")
        lab.wait_for_text(page, ".wb-compare >> nth=1 >> .wb-run-status", "2/2 answered")
        ok = schema_cmp.locator(".wb-variant").nth(0).locator(".wb-validity")
        bad = schema_cmp.locator(".wb-variant").nth(1).locator(".wb-validity")
        ok.first.wait_for(state="visible", timeout=lab.WAIT_TIMEOUT_MS)
        assert "valid JSON for the schema" in ok.inner_text() and '"age": 31' in ok.inner_text()
        assert "invalid" in bad.inner_text() and "The answer is not JSON" in bad.inner_text()
        for i in range(2):  # nothing spills out of its column at 1,280 px
            assert page.locator(f".wb-compare >> nth={i}").evaluate(
                "e => e.scrollWidth <= e.clientWidth + 1 && e.getBoundingClientRect().right <= window.innerWidth")
        _snap(page, ".wb-compare >> nth=1", "voila_compare-schema-validity")

        sweep = page.locator(".wb-sweep").first
        _click(page, ".wb-sweep >> nth=0 >> button.wb-run")
        lab.wait_for_text(page, ".wb-sweep >> nth=0 >> .wb-run-status", "4/4 answered")
        headers = " ".join(sweep.locator(".wb-group-header").all_inner_texts())
        rates = [int(n) for n in re.findall(r"· valid (\d)/2", headers)]
        assert len(rates) == 2 and sum(rates) == 2, headers  # two of the four answers fit the schema
        assert sweep.locator(".wb-validity").count() == 4
        _snap(page, ".wb-sweep >> nth=0", "voila_sweep-schema-validity")
    finally:
        lab.shutdown_voila_kernel(page)
