"""The grader's verdicts as a learner sees them in JupyterLab (headless Chromium), on a scripted mock model.

A sampled exercise checked with ``temperature=0`` and ``seed=7`` must show the
pass rate with its 95% interval and, under the table, the two notes saying
that neither was used; a skill exercise's verdict shows its findings. Both
are looked at in the screenshots.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from . import lab
from .servers import LabServer

SETUP = """
import re
import workbench as wb
from workbench import testing

def world(messages, params):
    text = messages[-1]["content"]
    name = re.search(r"Maria Lopez|John Smith|Anna Berg|Peter Novak|Omar Haddad", text).group(0)
    return name if params.seed % 2000 == 0 else f"The person is {name}."

testing.script("names", default=world)
"""

PROMPT_CHECK = """
result = wb.exercises.check("01-extract-name", "Text: {text}", model="mock:names", temperature=0, seed=7)
result
"""

SKILL_CHECK = """
wb.exercises.check("04-write-scorer", wb.exercises.starter("04-write-scorer").submission())
"""

SCREENSHOTS = lab.SCREENSHOTS


_snap = lab.snap


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_a_verdict_shows_its_interval_and_what_the_grader_did_not_use(page: Page, lab_server: LabServer) -> None:
    lab_server.write_notebook("exercises_lab.ipynb", [SETUP, PROMPT_CHECK, SKILL_CHECK])
    lab.open_notebook(page, lab_server, "exercises_lab.ipynb", timeout_ms=lab.OPEN_TIMEOUT_MS)
    lab.run_all_cells(page, timeout_ms=lab.OPEN_TIMEOUT_MS)  # HTML results, no widgets to wait for
    verdict = page.locator(".wb-check").first
    verdict.wait_for(timeout=lab.WAIT_TIMEOUT_MS)
    text = verdict.inner_text()
    # seeds 0, 2000 and 4000 of the grader's 0..4000 answer with the bare name: 3 of 5 runs = 60%, the pass mark
    assert "PASSED" in text and "60%" in text and "95% CI 41%-77%" in text, text
    assert "Note: temperature=0 was not used" in text and "Note: seed=7 was not used" in text, text
    assert "The person is" in text  # a failing run is shown with its answer
    _snap(page, ".wb-check", "exercise-sampled-verdict")
    skill = page.locator(".wb-check").nth(1)
    skill.wait_for(timeout=lab.WAIT_TIMEOUT_MS)
    assert "NOT YET" in skill.inner_text() and "04-write-scorer" in skill.inner_text()
    # JupyterLab right-aligns table cells; the verdicts' cells are left-aligned, next to their case
    for cell in (verdict.locator("td").last, skill.locator("td").first):
        assert cell.evaluate("e => getComputedStyle(e).textAlign") == "left"
    skill.locator("p").first.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "exercise-skill-verdict.png"))  # the top of a tall verdict
