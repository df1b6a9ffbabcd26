"""A demo-style notebook served with Voila: Compare two prompts, then Sweep temperature and plot.

This is how a live demo runs (``voila notebooks/demos/<demo>.ipynb``): no
code visible, only the widgets. The test fills the shared variable, runs the
Compare (both columns stream and show their figures), runs a small Sweep on
the offline model and checks that the answers are grouped by value and the
matplotlib plot is shown as an image.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from . import lab
from .servers import VoilaServer
from .test_widgets_lab import _click, _click_and_time_first_token, _snap, _wait_done

DEMO_CELLS = [
    "import workbench as wb",
    (
        "wb.Compare({'plain': wb.Prompt(user='Describe {product} in one sentence.'),\n"
        "            'pitch': wb.Prompt(system='You write upbeat marketing copy.',\n"
        "                               user='Write a one-line slogan for {product}.')},\n"
        "           models='local:smollm2', max_tokens=24, seed=2)"
    ),
    (
        "wb.Sweep(wb.Prompt(user='Name a fruit and say why you like it.'), 'local:smollm2',\n"
        "         parameter='temperature', values=[0, 1.2], repeats=2, max_tokens=12)"
    ),
]


@pytest.mark.browser
def test_demo_notebook_in_voila(page: Page, voila_server: VoilaServer) -> None:
    voila_server.write_notebook("demo_widgets.ipynb", DEMO_CELLS)
    lab.open_voila(page, voila_server, "demo_widgets.ipynb")
    try:
        cmp, sweep = ".wb-compare", ".wb-sweep"
        assert page.locator(f"{cmp} .wb-variant").count() == 2
        assert page.locator("text=import workbench").count() == 0  # Voila hides the code
        lab.fill_textarea(page, f"{cmp} .wb-var-product", "a solar-powered kettle")
        first, every = _click_and_time_first_token(page, cmp, f"{cmp} .wb-variant .wb-answer")
        print(f"\nCompare in Voila: first token {first:.2f} s, in both columns {every:.2f} s")
        figures = _wait_done(page, cmp, count=2)
        assert all("tokens in" in f and "latency" in f for f in figures), figures

        _click(page, f"{sweep} button.wb-run")
        page.locator(f"{sweep} .wb-plot").wait_for(state="visible", timeout=lab.WAIT_TIMEOUT_MS * 3)
        lab.wait_for_text(page, f"{sweep} .wb-run-status", "4/4 answered", timeout_ms=lab.WAIT_TIMEOUT_MS * 3)
        headers = page.locator(f"{sweep} .wb-group-header").all_inner_texts()
        assert [h.split(" · ")[0] for h in headers] == ["temperature = 0", "temperature = 1.2"], headers
        assert all("mean length (characters)" in h and "(n=2)" in h for h in headers), headers
        assert page.locator(f"{sweep} .wb-group").nth(0).locator(".wb-answer").count() == 2
        natural = page.locator(f"{sweep} .wb-plot").evaluate("img => img.naturalWidth")
        assert natural >= 300, "the sweep plot did not load as an image"
        assert page.locator(".wb-error:visible").count() == 0
        lab.assert_widgets_rendered(page)
        _snap(page, cmp, "voila_demo-compare")
        _snap(page, sweep, "voila_demo-sweep")
    finally:
        lab.shutdown_voila_kernel(page)


KEY_COMPARE_CELLS = [
    "import os\nimport workbench as wb\nfrom workbench import testing\nos.environ.pop('OPENAI_API_KEY', None)",
    (
        "model = testing.script('cmp', ['Oak trees live for centuries.', 'Pines keep their needles.',\n"
        "                               'Birches have white bark.'])\n"
        "wb.Compare(wb.Prompt(user='Name {thing}.'), [model, model], thing='a tree')"
    ),
]


@pytest.mark.browser
def test_compare_runs_the_columns_with_a_key_in_voila(page: Page, voila_server: VoilaServer) -> None:
    """Issue 18 item 8: a column switched to a model without a key is cleared and named; the others run."""
    voila_server.write_notebook("compare_key.ipynb", KEY_COMPARE_CELLS)
    lab.open_voila(page, voila_server, "compare_key.ipynb")
    try:
        cmp = ".wb-compare"
        _click(page, f"{cmp} button.wb-run")
        lab.wait_for_text(page, f"{cmp} .wb-run-status", "2/2 answered")
        column_b = page.locator(f"{cmp} .wb-variant").nth(1)
        old_b = column_b.locator(".wb-answer").inner_text().strip()
        assert old_b
        lab.wait_kernel_idle(page)
        option = column_b.locator(".wb-model select option").filter(has_text=re.compile(r"^openai:gpt-4o-mini(\s|$)"))
        column_b.locator(".wb-model select").select_option(option.first.get_attribute("value"))
        lab.wait_kernel_idle(page)
        assert old_b not in column_b.inner_text()  # the old model's answer is not left under the new header
        _click(page, f"{cmp} button.wb-run")
        lab.wait_for_text(page, f"{cmp} .wb-run-status", "1/2 answered · 1 needs a key")
        column_a = page.locator(f"{cmp} .wb-variant").nth(0)
        assert column_a.locator(".wb-figures").inner_text().strip()  # column A ran again
        assert old_b not in column_b.inner_text()
        assert "OPENAI_API_KEY" in column_b.locator(".wb-answer-error").inner_text()
        message = page.locator(f"{cmp} .wb-messages .wb-error").inner_text()
        assert "not run" in message and "OPENAI_API_KEY" in message, message
        assert page.locator(f"{cmp} .wb-key").is_visible()
        _snap(page, cmp, "voila_compare-missing-key")
    finally:
        lab.shutdown_voila_kernel(page)


STALE_CELLS = [
    "import workbench as wb\nfrom workbench import testing",
    (
        "model = testing.script('stale', [testing.fault('bad_request'), 'Owls fly at night.'])\n"
        "wb.Playground(wb.Prompt(user='Tell me about {topic}.'), model, topic='owls',\n"
        "              runner=wb.Runner(log=':memory:', progress=False, max_retries=0))"
    ),
]


@pytest.mark.browser
def test_playground_failed_run_and_stale_status_in_voila(page: Page, voila_server: VoilaServer) -> None:
    """Issue 18 item 6: a failed run shows only its error; "done in" goes once the prompt is edited."""
    voila_server.write_notebook("stale.ipynb", STALE_CELLS)
    lab.open_voila(page, voila_server, "stale.ipynb")
    try:
        pg = ".wb-playground"
        _click(page, f"{pg} button.wb-run")
        lab.wait_for_text(page, f"{pg} .wb-answer-error", "400")
        assert page.locator(f"{pg} .wb-answer:visible").count() == 0
        assert page.locator(f"{pg} .wb-rating:visible").count() == 0
        _snap(page, pg, "voila_playground-failed")
        _click(page, f"{pg} button.wb-run")
        lab.wait_for_text(page, f"{pg} .wb-run-status", "done in")
        assert "Owls fly at night." in page.locator(f"{pg} .wb-answer").inner_text()
        lab.fill_textarea(page, f"{pg} .wb-user", "Tell me two things about {topic}.")
        lab.wait_kernel_idle(page)
        page.wait_for_function("sel => document.querySelector(sel).innerText.trim() === ''",
                               arg=f"{pg} .wb-run-status", timeout=lab.WAIT_TIMEOUT_MS)
        _snap(page, pg, "voila_playground-edited")
    finally:
        lab.shutdown_voila_kernel(page)


PARAMS_CELLS = [
    "import workbench as wb",
    "wb.Playground(wb.Prompt(user='Say hi.'), 'local:smollm2')",
]


@pytest.mark.browser
def test_parameter_form_in_voila(page: Page, voila_server: VoilaServer) -> None:
    """Issue 18 items 2-4: descriptions on hover, the local model's real defaults, a note when a value is clamped."""
    voila_server.write_notebook("params.ipynb", PARAMS_CELLS)
    lab.open_voila(page, voila_server, "params.ipynb")
    try:
        pg = ".wb-playground"
        name = page.locator(f"{pg} .wb-param-name-temperature .wb-param-name")
        assert name.is_visible() and "Randomness" in (name.get_attribute("title") or "")
        temperature = page.locator(f"{pg} .wb-param-temperature input[type=number]")
        max_tokens = page.locator(f"{pg} .wb-param-max_tokens input[type=number]")
        assert float(temperature.input_value()) == 0.2 and int(max_tokens.input_value()) == 512
        lab.wait_kernel_idle(page)
        temperature.fill("5")
        temperature.press("Enter")
        lab.wait_for_text(page, f"{pg} .wb-param-note-temperature", "using 2")
        page.wait_for_function("el => parseFloat(el.value) === 2", arg=temperature.element_handle())
        max_tokens.fill("0")
        max_tokens.press("Enter")
        lab.wait_for_text(page, f"{pg} .wb-param-note-max_tokens", "using 1")
        name.hover()
        _snap(page, f"{pg} .wb-params", "voila_params-clamped")
    finally:
        lab.shutdown_voila_kernel(page)
