"""Issue 18 items 14 and 15 in Voila at 1,280 px, driven as a user would: rename a Compare column,
see each column's few-shot examples, fill an inputs grid and run it, read honest parameter defaults,
a comparison's verdict as HTML, the report as a link; the demo's presenter note stays out of view."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page

from . import lab
from .servers import KERNEL_NAME, VoilaServer
from .test_widgets_lab import _click, _snap

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "notebooks" / "demos" / "five_minute_demo.ipynb"

CELLS = [
    # the kernel starts in a temporary folder: the repository root makes tests.results_factory importable
    ("code", f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
             "import workbench as wb\nfrom tests.results_factory import two_variants"),
    ("markdown", None),  # the demo's presenter note, as shipped
    ("code", "shot = wb.Prompt(system='Label the sentiment.', user='{text}',\n"
             "                 examples=[('I love it', 'positive'), ('Awful service', 'negative')])\n"
             "wb.Compare({'few-shot': shot, 'zero-shot': wb.Prompt(user='Sentiment of: {text}')}, 'mock:echo',\n"
             "           text='Great food', runner=wb.Runner(log=':memory:', progress=False))"),
    ("code", "wb.Compare('Hello {name}', ['local:smollm2', 'mock:echo'], name='Ann')"),
    ("code", "results = two_variants([0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0])\n"
             "wb.compare(results, 'v1', 'v2')"),
    ("code", "wb.compare(two_variants([1, 0, 1, 0, 1, 0], [0, 1, 1, 0, 1, 1]), 'v1', 'v2')"),
    ("code", "wb.report_html(results, 'grid_report.html', title='v1 against v2')"),
]


def _write(server: VoilaServer, name: str) -> None:
    demo = json.loads(DEMO.read_text(encoding="utf-8"))
    note = next("".join(c["source"]) for c in demo["cells"] if "wb-presenter-note" in "".join(c["source"]))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(note) if kind == "markdown" else nbformat.v4.new_code_cell(src)
                for kind, src in CELLS]
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, str(server.root_dir / name))


def _fits(page: Page, selector: str) -> bool:
    return page.locator(selector).first.evaluate(
        "e => e.scrollWidth <= e.clientWidth + 1 && e.getBoundingClientRect().right <= window.innerWidth")


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_compare_rename_examples_grid_and_verdicts_in_voila(page: Page, voila_server: VoilaServer) -> None:
    _write(voila_server, "compare_grid.ipynb")
    lab.open_voila(page, voila_server, "compare_grid.ipynb")
    try:
        assert page.viewport_size["width"] == 1280
        body = page.locator("body").inner_text()
        assert "Presenter's note" not in body  # kept out of the audience's view
        assert page.locator(".wb-presenter-note").count() == 1 and not page.locator(".wb-presenter-note").is_visible()

        cmp = page.locator(".wb-compare").first
        first, second = cmp.locator(".wb-variant").nth(0), cmp.locator(".wb-variant").nth(1)
        examples = first.locator(".wb-examples:not(.wb-conversation)")
        assert examples.is_visible() and "few-shot examples (2)" in examples.inner_text()
        assert [t.strip().lower() for t in examples.locator(".wb-msg-role").all_inner_texts()] == [
            "user", "assistant", "user", "assistant"]
        assert not second.locator(".wb-examples:not(.wb-conversation)").is_visible()

        lab.wait_kernel_idle(page)
        name = first.locator(".wb-variant-name input")
        name.fill("terse")
        name.press("Enter")
        lab.wait_kernel_idle(page)
        _click(page, ".wb-compare >> nth=0 >> .wb-grid-add")
        _click(page, ".wb-compare >> nth=0 >> .wb-grid-add")
        lab.wait_kernel_idle(page)
        heads = cmp.locator(".wb-grid-variant").all_inner_texts()
        assert [h.strip() for h in heads] == ["terse", "zero-shot"]  # the new name flows into the grid
        fields = cmp.locator(".wb-grid-field-text input")
        fields.nth(0).fill("The soup was cold")
        fields.nth(1).fill("Lovely staff")
        lab.wait_kernel_idle(page)
        _click(page, ".wb-compare >> nth=0 >> .wb-grid-run")
        lab.wait_for_text(page, ".wb-compare .wb-run-status", "4/4 answered")
        cells = [c.strip() for c in cmp.locator(".wb-grid-cell").all_inner_texts()]
        assert cells == ["The soup was cold", "Sentiment of: The soup was cold",
                         "Lovely staff", "Sentiment of: Lovely staff"], cells
        assert _fits(page, ".wb-compare")
        _snap(page, ".wb-compare", "voila_compare-grid")

        mixed = page.locator(".wb-compare").nth(1)
        hint = mixed.locator(".wb-param-default-temperature")
        assert hint.is_visible() and hint.inner_text().strip() == "smollm2 0.2 · echo: provider default"
        assert not mixed.locator(".wb-param-temperature .wb-param-number").is_visible()
        assert "0.70" not in mixed.locator(".wb-params").inner_text()
        _snap(page, ".wb-compare >> nth=1 >> .wb-params", "voila_compare-param-defaults")

        verdicts = page.locator(".wb-verdict")
        assert verdicts.count() == 2
        win, tie = verdicts.nth(0), verdicts.nth(1)
        assert "v2 wins over v1 on quality" in win.locator(".wb-verdict-head").inner_text()
        assert "No real difference between v1 and v2" in tie.locator(".wb-verdict-head").inner_text()
        for i in range(2):
            assert _fits(page, f".wb-verdict >> nth={i}")
        win.scroll_into_view_if_needed()
        win.screenshot(path=str(Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
                                / "voila_verdict-win.png"))
        link = page.locator("a.wb-report-link")
        assert link.is_visible() and link.get_attribute("href") == "grid_report.html"
        assert "Open the report" in link.inner_text()
    finally:
        lab.shutdown_voila_kernel(page)


@pytest.mark.browser
def test_the_presenter_note_shows_in_jupyterlab(page: Page, lab_server) -> None:
    """The same cell Voila hides is there for the presenter in JupyterLab."""
    lab_server.copy_notebook(DEMO, "demo_presenter.ipynb")
    lab.open_notebook(page, lab_server, "demo_presenter.ipynb")
    note = page.locator(".jp-MarkdownCell").filter(has_text="Presenter's note").first
    note.wait_for(state="visible", timeout=lab.WAIT_TIMEOUT_MS)
    assert "rename a Compare column" in note.inner_text()
    _snap(page, ".jp-MarkdownCell >> nth=1", "lab_presenter-note")
