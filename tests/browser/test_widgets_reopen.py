"""Issue 18, item 1: a notebook run and saved in JupyterLab reopens readable.

JupyterLab does not save widget state by default, so once the kernel is gone
the widget's output says "Error displaying widget: model not found". The
user's prompt and latest answer must still be shown when the file is opened
again (a static summary kept next to the widget, updated as it changes).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page

from . import lab
from .servers import LabServer

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

CELLS = [
    "import workbench as wb\nfrom workbench import testing",
    (
        "model = testing.script('reopen', ['Owls hunt at night and fly silently.'])\n"
        "pg = wb.Playground(wb.Prompt(user='Say hello.'), model=model)\n"
        "pg"
    ),
]


@pytest.mark.browser
def test_playground_reopens_readable_after_save(page: Page, lab_server: LabServer) -> None:
    lab_server.write_notebook("reopen_lab.ipynb", CELLS)
    lab.run_notebook(page, lab_server, "reopen_lab.ipynb")
    pg = ".wb-playground"
    lab.fill_textarea(page, f"{pg} .wb-user", "Tell me one fact about owls, please.")
    lab.wait_kernel_idle(page)
    page.locator(f"{pg} button.wb-run").click()
    lab.wait_for_text(page, f"{pg} .wb-answer", "fly silently")
    lab.wait_kernel_idle(page)
    # while the widget is live, the summary beside it is not shown twice
    cell_output = page.locator(".jp-OutputArea").filter(has=page.locator(pg))
    assert "static view" not in cell_output.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    cell_output.screenshot(path=str(SCREENSHOTS / "reopen_lab-live.png"))

    lab.save_notebook_when_summary_shows(page, "fly silently")
    saved = json.loads((lab_server.root_dir / "reopen_lab.ipynb").read_text())
    outputs = saved["cells"][1]["outputs"]
    assert any("fly silently" in "".join(o.get("data", {}).get("text/html", "")) for o in outputs), outputs

    # the kernel is shut and the notebook opened again, as on another day
    lab_server.delete_sessions(lab_server.session_ids())
    page.goto("about:blank")
    lab.open_notebook(page, lab_server, "reopen_lab.ipynb")
    area = page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea")
    area.get_by_text("fly silently").first.wait_for(state="visible", timeout=lab.WAIT_TIMEOUT_MS)
    # the widget manager has given up on the model: its error line is in the page, but not shown
    area.locator(".jp-OutputArea-output").filter(has_text="model not found").wait_for(
        state="attached", timeout=lab.WAIT_TIMEOUT_MS)
    shown = area.inner_text()
    assert "Tell me one fact about owls, please." in shown, shown
    assert "Owls hunt at night and fly silently." in shown, shown
    assert "model not found" not in shown, shown
    area.screenshot(path=str(SCREENSHOTS / "reopen_lab-after-save.png"))
