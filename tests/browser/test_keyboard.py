"""Issue 18, item 11: Ctrl/Cmd+Enter in a prompt box runs, Esc stops, in Voila and in JupyterLab.

The keys are pressed as a user presses them, with the caret in the text box.
The text is typed and Ctrl+Enter pressed at once, without waiting for the
kernel: the run must use what was just typed (the key message may overtake
the text box's own update). In JupyterLab the notebook must not also run the
cell (its execution count stays) and Esc must not leave the widget's run going.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from . import lab
from .servers import LabServer, VoilaServer
from .test_widgets_lab import _snap

#: Words a slow echo streams one by one (0.25 s each): time enough to press Esc mid-answer.
LONG = " ".join(f"word{i}" for i in range(40))

CELLS = [
    "import workbench as wb\nfrom workbench import testing",
    (
        "echo = testing.script('keys', [], chunk_delay=0.25)  # unscripted: echoes the user message\n"
        "pg = wb.Playground(wb.Prompt(user='Say hi.'), echo,\n"
        "                   runner=wb.Runner(log=':memory:', progress=False, max_retries=0))\n"
        "pg"
    ),
]

COMPARE_CELL = (
    "cmp = wb.Compare({'a': wb.Prompt(user='A {thing}.'), 'b': wb.Prompt(user='B {thing}.')},\n"
    "                 testing.script('keys-cmp', []), thing='kite',\n"
    "                 runner=wb.Runner(log=':memory:', progress=False))\n"
    "cmp"
)


def _type_and_run(page: Page, scope: str, text: str) -> None:
    """Put the caret in the user box, replace its text by typing, and press Ctrl+Enter at once."""
    box = page.locator(f"{scope} .wb-user textarea").first
    box.click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(text, delay=5)
    page.keyboard.press("Control+Enter")


def _run_and_stop_by_keys(page: Page, pg: str, where: str) -> None:
    """Ctrl+Enter runs what was just typed; Esc stops a long answer mid-way."""
    _type_and_run(page, pg, "Echo: alpha beta gamma")
    lab.wait_for_text(page, f"{pg} .wb-run-status", "done in")
    assert page.locator(f"{pg} .wb-answer").inner_text().strip() == "Echo: alpha beta gamma"
    _snap(page, pg, f"keyboard_{where}-ran")

    _type_and_run(page, pg, LONG)
    lab.wait_for_text(page, f"{pg} .wb-answer", "word2")
    page.keyboard.press("Escape")
    lab.wait_for_text(page, f"{pg} .wb-run-status", "stopped")
    shown = page.locator(f"{pg} .wb-answer").inner_text()
    assert "word2" in shown and "word39" not in shown, shown
    _snap(page, pg, f"keyboard_{where}-stopped")


@pytest.mark.browser
def test_keys_run_and_stop_in_voila(page: Page, voila_server: VoilaServer) -> None:
    voila_server.write_notebook("keys_voila.ipynb", [*CELLS, COMPARE_CELL])
    lab.open_voila(page, voila_server, "keys_voila.ipynb")
    try:
        _run_and_stop_by_keys(page, ".wb-playground", "voila")
        # the Compare shares the mechanism: Ctrl+Enter in the second variant's box runs every column
        cmp = ".wb-compare"
        box = page.locator(f"{cmp} .wb-user textarea").nth(1)
        box.click()
        page.keyboard.press("End")
        page.keyboard.type(" Now.", delay=5)
        page.keyboard.press("Control+Enter")
        lab.wait_for_text(page, f"{cmp} .wb-run-status", "2/2 answered")
        answers = [t.strip() for t in page.locator(f"{cmp} .wb-answer").all_inner_texts()]
        assert answers == ["A kite.", "B kite. Now."], answers
    finally:
        lab.shutdown_voila_kernel(page)


_EXECUTION_COUNT_JS = """() => {
  const cell = window.jupyterapp.shell.currentWidget.content.widgets[1];
  return cell.model.executionCount;
}"""


@pytest.mark.browser
def test_keys_run_and_stop_in_jupyterlab(page: Page, lab_server: LabServer) -> None:
    lab_server.write_notebook("keys_lab.ipynb", CELLS)
    lab.run_notebook(page, lab_server, "keys_lab.ipynb")
    count = page.evaluate(_EXECUTION_COUNT_JS)
    _run_and_stop_by_keys(page, ".wb-playground", "lab")
    lab.wait_kernel_idle(page)
    assert page.evaluate(_EXECUTION_COUNT_JS) == count, "Ctrl+Enter also re-ran the notebook cell"
    assert page.locator(".wb-playground").count() == 1
