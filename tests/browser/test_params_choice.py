"""The reasoning_effort dropdown (a "choice" parameter, built from Params' schema) in Voila, as a user meets it.

Unset it shows "medium" dimmed (like an unset number) and its box unticked; choosing "low" ticks the box and
undims it, and the Code panel's
call carries ``reasoning_effort='low'`` for an OpenAI reasoning model.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from . import lab
from .servers import VoilaServer
from .test_widgets_lab import _snap

CELLS = [
    "import workbench as wb",
    (
        "pg = wb.Playground(wb.Prompt(user='How many r in strawberry?'), 'openai:o4-mini', max_tokens=400,\n"
        "                   runner=wb.Runner(log=':memory:', progress=False))\n"
        "pg.add_class('pg-reason')\n"
        "pg"
    ),
]


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_reasoning_effort_dropdown_sets_the_parameter(page: Page, voila_server: VoilaServer) -> None:
    voila_server.write_notebook("choice.ipynb", CELLS)
    lab.open_voila(page, voila_server, "choice.ipynb")
    try:
        pg = ".pg-reason"
        select = page.locator(f"{pg} .wb-param-reasoning_effort select")
        select.wait_for(timeout=lab.WAIT_TIMEOUT_MS)
        assert select.input_value() == "medium"
        assert not page.locator(f"{pg} .wb-set-reasoning_effort input").is_checked()
        assert float(select.evaluate("e => getComputedStyle(e).opacity")) < 1  # dimmed while unset
        assert [o.strip() for o in select.locator("option").all_inner_texts()] == ["minimal", "low", "medium", "high"]
        _snap(page, f"{pg} .wb-params", "params-choice-unset")

        lab.wait_kernel_idle(page)
        select.select_option("low")
        page.wait_for_function("sel => document.querySelector(sel).checked", arg=f"{pg} .wb-set-reasoning_effort input",
                               timeout=lab.WAIT_TIMEOUT_MS)
        page.wait_for_function("sel => getComputedStyle(document.querySelector(sel)).opacity === '1'",
                               arg=f"{pg} .wb-param-reasoning_effort select", timeout=lab.WAIT_TIMEOUT_MS)
        lab.wait_kernel_idle(page)
        page.locator(f"{pg} .wb-code-box").get_by_text("Code", exact=True).click()
        lab.wait_for_text(page, f"{pg} .wb-code-py", "reasoning_effort='low'")
        assert '"reasoning_effort": "low"' in page.locator(f"{pg} .wb-code-json").inner_text()
        _snap(page, f"{pg} .wb-params", "params-choice-low")
        assert page.locator(".wb-error:visible").count() == 0
    finally:
        lab.shutdown_voila_kernel(page)
