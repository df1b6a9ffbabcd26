"""The HTML report opens in headless Chromium and shows its plots, summary and verdicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page

import workbench as wb

from ..results_factory import make_results


@pytest.fixture
def report_html(tmp_path) -> str:
    rng = np.random.default_rng(4)
    scores = {(variant, "local:smollm2", t): [[float(rng.random() < p - t / 5) for _ in range(3)] for _ in range(20)]
              for variant, p in (("vague", 0.35), ("precise", 0.8)) for t in (0.0, 0.7)}
    results = make_results(scores, params=["temperature"], latency={"vague": 0.1, "precise": 0.3})
    path = wb.report_html(results, tmp_path / "report.html", title="Sentiment: vague vs precise")
    return path.read_text(encoding="utf-8")


@pytest.mark.browser
def test_report_shows_its_plots_summary_and_verdict(page: Page, report_html: str):
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url[:80]))
    page.set_content(report_html, wait_until="load")

    assert page.locator("h1").inner_text() == "Sentiment: vague vs precise"
    images = page.locator("figure img")
    assert images.count() >= 5
    for i in range(images.count()):
        image = images.nth(i)
        image.scroll_into_view_if_needed()
        loaded = image.evaluate("img => img.complete && img.naturalWidth > 300 && img.naturalHeight > 150")
        assert loaded, f"plot {i} ({image.get_attribute('alt')}) did not render"
        box = image.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 150
    verdict = page.locator(".verdict").first.inner_text()
    assert "precise scores higher than vague" in verdict and ("p = " in verdict or "p < 0.0001" in verdict)
    rows = page.locator("h2:has-text('Summary') + .table-wrap table tbody tr")
    assert rows.count() == 4  # 2 variants x 2 temperatures, one scorer
    assert "precise" in rows.nth(2).inner_text()
    assert not failed  # self-contained: nothing was fetched
    page.locator("h1").scroll_into_view_if_needed()


@pytest.mark.browser
def test_report_tables_fit_a_1280_px_window_and_prompts_read_as_messages(page: Page, tmp_path):
    """Issue 18 item 15: the summary table ran off a 1,280 px window; prompts were raw JSON."""
    rng = np.random.default_rng(7)
    long_names = ("precise-with-one-worked-example-and-format", "vague-question-without-any-guidance")
    scores = {(variant, model, t, p): [[float(rng.random() < 0.6) for _ in range(2)] for _ in range(8)]
              for variant in long_names for model in ("local:smollm2", "openai:gpt-4o-mini-2024-07-18")
              for t in (0.0, 0.7) for p in (0.9, 1.0)}
    results = make_results(scores, params=["temperature", "top_p"])
    results.attrs["prompts"] = {long_names[0]: wb.Prompt(system="Reply with the city only.", user="{text}",
                                                         examples=[("Ken lives in Osaka.", "Osaka")]).to_dict(),
                                long_names[1]: wb.Prompt(user="Where does this person live? {text}").to_dict()}
    path = wb.report_html(results, tmp_path / "wide.html", title="Wide summary")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.set_content(path.read_text(encoding="utf-8"), wait_until="load")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280  # no sideways scrolling
    summary = page.locator("h2:has-text('Summary') + .table-wrap table")
    assert summary.locator("tbody tr").count() == 16
    assert summary.evaluate("t => t.getBoundingClientRect().right") <= 1280
    assert summary.evaluate("t => t.offsetWidth <= t.parentElement.clientWidth")  # fits: nothing hidden to scroll
    roles = page.locator("h2:has-text('Prompts') ~ .wb-messages .wb-msg-role").all_inner_texts()
    assert [r.strip().lower() for r in roles] == ["system", "user", "assistant", "user", "user"]
    assert '"system"' not in page.locator("body").inner_text()
    page.locator("h2:has-text('Summary')").evaluate("h => h.scrollIntoView()")
    shots = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "report-summary-1280.png"))
    page.locator("h2:has-text('Prompts')").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "report-prompts-1280.png"))
