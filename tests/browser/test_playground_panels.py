"""Issue 18, items 10, 12 and 13 in Voila, as a user meets them.

* The first run of the local model says "Loading the model… (98 MB …)" over
  the empty answer while the model loads (a fresh kernel: not loaded yet).
* History: after two runs, the History panel lists them; clicking the older
  one puts its prompt and answer back into the Playground.
* Code: the Code panel shows the ``wb.complete(...)`` call and the JSON body.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from . import lab
from .servers import VoilaServer
from .test_widgets_lab import _click, _snap

CELLS = [
    "import workbench as wb\nfrom workbench import testing",
    (
        "local = wb.Playground(wb.Prompt(user='Say {word}.'), 'local:smollm2', word='hi', max_tokens=6,\n"
        "                      runner=wb.Runner(log=':memory:', progress=False))\n"
        "local.add_class('pg-local')\n"
        "local"
    ),
    (
        "model = testing.script('hist', ['Owls hunt at night.', 'Bats use echoes.'])\n"
        "pg = wb.Playground(wb.Prompt(system='Be brief.', user='Tell me about owls.'), model, temperature=0.4,\n"
        "                   runner=wb.Runner(log=':memory:', progress=False))\n"
        "pg.add_class('pg-mock')\n"
        "pg"
    ),
]


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_loading_notice_history_and_code_in_voila(page: Page, voila_server: VoilaServer) -> None:
    voila_server.write_notebook("panels.ipynb", CELLS)
    lab.open_voila(page, voila_server, "panels.ipynb")
    try:
        local = ".pg-local"
        _click(page, f"{local} button.wb-run")
        lab.wait_for_text(page, f"{local} .wb-answer-header", "Loading the model… (98 MB")
        _snap(page, local, "panels-loading-model")
        lab.wait_for_text(page, f"{local} .wb-run-status", "done in", timeout_ms=lab.WAIT_TIMEOUT_MS * 4)
        assert "model load" in page.locator(f"{local} .wb-figures").inner_text()

        pg = ".pg-mock"
        _click(page, f"{pg} button.wb-run")
        lab.wait_for_text(page, f"{pg} .wb-run-status", "done in")
        lab.fill_textarea(page, f"{pg} .wb-user", "Tell me about bats.")
        _click(page, f"{pg} button.wb-run")
        lab.wait_for_text(page, f"{pg} .wb-answer", "Bats use echoes.")

        page.locator(f"{pg} .wb-history-box").get_by_text("History", exact=True).click()
        lab.wait_for_text(page, f"{pg} .wb-history option", "echoes.")  # (a list shows spaces as no-break spaces)
        assert page.locator(f"{pg} .wb-history option").count() == 1  # "this prompt": the bats prompt only
        lab.wait_kernel_idle(page)
        page.locator(f"{pg} .wb-history-scope button").filter(has_text="all runs").click()
        lab.wait_for_text(page, f"{pg} .wb-history option", "night.")
        options = [t.replace("\xa0", " ") for t in page.locator(f"{pg} .wb-history option").all_inner_texts()]
        assert len(options) == 2 and "temperature=0.4" in options[1] and '"Owls hunt at night."' in options[1], options
        lab.wait_kernel_idle(page)
        page.locator(f"{pg} .wb-history select").select_option(index=1)  # a click on the older run
        lab.wait_for_text(page, f"{pg} .wb-answer", "Owls hunt at night.")
        page.wait_for_function("sel => document.querySelector(sel).value === 'Tell me about owls.'",
                               arg=f"{pg} .wb-user textarea", timeout=lab.WAIT_TIMEOUT_MS)
        lab.wait_for_text(page, f"{pg} .wb-info", "Loaded run #")
        _snap(page, pg, "panels-history-loaded")

        page.locator(f"{pg} .wb-code-box").get_by_text("Code", exact=True).click()
        lab.wait_for_text(page, f"{pg} .wb-code-py", "wb.complete(")
        python = page.locator(f"{pg} .wb-code-py").inner_text()
        assert "'mock:hist'" in python and "Tell me about owls." in python and "temperature=0.4" in python
        body = page.locator(f"{pg} .wb-code-json").inner_text()
        assert '"messages"' in body and '"temperature": 0.4' in body
        _snap(page, f"{pg} .wb-code-panel", "panels-code")
        assert page.locator(".wb-error:visible").count() == 0
    finally:
        lab.shutdown_voila_kernel(page)
