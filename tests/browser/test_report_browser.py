"""The HTML report opens in headless Chromium and shows its plots, summary and verdicts."""

from __future__ import annotations

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
    rows = page.locator("h2:has-text('Summary') + table tbody tr")
    assert rows.count() == 4  # 2 variants x 2 temperatures, one scorer
    assert "precise" in rows.nth(2).inner_text()
    assert not failed  # self-contained: nothing was fetched
    page.locator("h1").scroll_into_view_if_needed()
