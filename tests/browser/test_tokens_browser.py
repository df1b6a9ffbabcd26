"""The token lens (issue 13) in a real browser: wb.TokenView in Voila and JupyterLab.

On the offline model: the coloured tokens and the legend render, clicking a
token shows its alternatives, clicking an alternative continues the answer
from it (a branch appears beside the original, logged as a new call), and the
temperature slider re-weights the chosen token's alternatives. In JupyterLab
the saved notebook keeps a readable static HTML of the view (with the
alternatives in ``title`` tooltips). Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page

from . import lab
from .servers import LabServer, VoilaServer
from .test_widgets_lab import _click, _snap

CELLS = [
    "import workbench as wb",
    (
        "r = wb.complete('local:smollm2', 'Name three colours of the rainbow.', temperature=0, max_tokens=20,\n"
        "                logprobs=True, top_logprobs=5)\n"
        "view = wb.TokenView(r)\n"
        "view"
    ),
]
VIEW = ".wb-token-view-widget"
#: The page runs the model while it loads; on a shared 2-core machine that can take minutes.
OPEN_MS = 300_000


def _exercise_view(page: Page, prefix: str) -> None:
    """Select a token, branch from an alternative, move the temperature: what a learner does."""
    tokens = page.locator(f"{VIEW} .wb-tok")
    assert tokens.count() >= 5
    assert page.locator(f"{VIEW} .wb-token-legend").is_visible()
    title = tokens.nth(1).get_attribute("title") or ""
    assert "alternatives:" in title and "%" in title, title  # the hover text
    _snap(page, VIEW, f"{prefix}-tokens")

    _click(page, f"{VIEW} .wb-tok-2")
    lab.wait_kernel_idle(page)
    assert page.locator(f"{VIEW} .wb-tok-2.wb-tok-selected").count() == 1
    lab.wait_for_text(page, f"{VIEW} .wb-token-detail-view", "#2")

    before = page.locator(f"{VIEW} .wb-temp-view").inner_text()
    lab.set_slider(page, f"{VIEW} .wb-temp", 0.3)
    lab.wait_for_text(page, f"{VIEW} .wb-temp-view", "at temperature 0.3")
    assert page.locator(f"{VIEW} .wb-temp-view").inner_text() != before
    _snap(page, f"{VIEW} .wb-token-panel", f"{prefix}-temperature")

    alternatives = page.locator(f"{VIEW} .wb-branch-alt")
    assert alternatives.count() >= 1
    forced = alternatives.first.inner_text()
    _click(page, f"{VIEW} .wb-branch-alt >> nth=0")
    page.locator(f"{VIEW} .wb-branch").first.wait_for(state="visible", timeout=OPEN_MS)
    branch = page.locator(f"{VIEW} .wb-branch").first.inner_text()
    assert "branch at #2" in branch, branch
    assert page.locator(f"{VIEW} .wb-error:visible").count() == 0
    print(f"\n{prefix}: branched with {forced!r}: {branch[:120]!r}")
    _snap(page, f"{VIEW} .wb-branches", f"{prefix}-branch")


@pytest.mark.browser
@pytest.mark.timeout(900)  # the model runs while the page loads: minutes on a busy 2-core machine
def test_token_view_in_voila(page: Page, voila_server: VoilaServer) -> None:
    voila_server.write_notebook("tokens_voila.ipynb", CELLS)
    lab.open_voila(page, voila_server, "tokens_voila.ipynb", timeout_ms=OPEN_MS)
    try:
        lab.assert_widgets_rendered(page)
        _exercise_view(page, "voila_tokens")
    finally:
        lab.shutdown_voila_kernel(page)


@pytest.mark.browser
@pytest.mark.timeout(900)
def test_token_view_in_jupyterlab_and_its_saved_html(page: Page, lab_server: LabServer) -> None:
    lab_server.write_notebook("tokens_lab.ipynb", CELLS)
    lab.run_notebook(page, lab_server, "tokens_lab.ipynb", timeout_ms=OPEN_MS)
    try:
        _exercise_view(page, "lab_tokens")
        lab.save_notebook_when_summary_shows(page, "branch at #2")
        saved = json.loads((lab_server.root_dir / "tokens_lab.ipynb").read_text())
        static = "".join("".join(o.get("data", {}).get("text/html", "")) for o in saved["cells"][1]["outputs"])
        assert "wb-token" in static and "alternatives:" in static and "token probability" in static
        assert "branch at #2" in static  # the summary follows the state: the branch is in the saved file
    finally:
        lab_server.delete_sessions(lab_server.session_ids())
