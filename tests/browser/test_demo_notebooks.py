"""The shipped demo notebook, served as an app: ``voila notebooks/demos/five_minute_demo.ipynb``.

Voila runs the real file (not a stand-in): the Compare shows its two prompts
with answers already in, the Sweep its plot, the experiment its chart and
verdict; no code and no error is visible. Then the presenter's move: press
Run in the Compare, and the answers stream again into both columns.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from . import lab
from .servers import VoilaServer
from .test_widgets_lab import _click_and_time_first_token, _snap, _wait_done

DEMO = Path(__file__).resolve().parents[2] / "notebooks" / "demos" / "five_minute_demo.ipynb"


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_five_minute_demo_serves_in_voila(page: Page, voila_server: VoilaServer) -> None:
    voila_server.copy_notebook(DEMO, "five_minute_demo.ipynb")
    lab.open_voila(page, voila_server, "five_minute_demo.ipynb", timeout_ms=lab.OPEN_TIMEOUT_MS * 4)
    try:
        cmp, sweep = ".wb-compare", ".wb-sweep"
        assert page.locator(f"{cmp} .wb-variant").count() == 2
        assert page.locator("text=import workbench").count() == 0  # Voila hides the code
        assert len(_wait_done(page, cmp, count=2)) >= 2  # the notebook ran the Compare: figures are shown
        page.locator(f"{sweep} .wb-plot").wait_for(state="visible", timeout=lab.WAIT_TIMEOUT_MS)
        assert page.locator(f"{sweep} .wb-plot").evaluate("img => img.naturalWidth") >= 300
        body = page.locator("body").inner_text()
        assert "precise" in body and "vague" in body
        assert "scores higher than" in body or "cannot tell" in body  # the verdict, in words
        assert page.locator("img").count() >= 2  # the Sweep plot and the experiment's chart
        assert "Traceback" not in body and page.locator(".wb-error:visible").count() == 0

        first, every = _click_and_time_first_token(page, cmp, f"{cmp} .wb-variant .wb-answer")
        print(f"\nfive-minute demo in Voila: first token {first:.2f} s, both columns {every:.2f} s")
        figures = _wait_done(page, cmp, count=2)
        assert all("tokens in" in f and "latency" in f for f in figures), figures
        lab.assert_widgets_rendered(page)
        _snap(page, cmp, "five_minute_demo-compare")
        _snap(page, sweep, "five_minute_demo-sweep")
    finally:
        lab.shutdown_voila_kernel(page)
