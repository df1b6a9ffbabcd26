"""HTML views: a comparison's verdict (who won, by how much, or no real difference), the report's
prompts as role-labelled messages, and report_html's path shown as a link in Jupyter."""

from __future__ import annotations

import os
import re
from pathlib import Path

import workbench as wb

from .results_factory import make_results, two_variants


def _text(markup: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", markup, flags=re.S)))


def test_a_clear_winner_is_named_with_its_margin_and_figures():
    results = two_variants([0] * 12, [1] * 10 + [0] * 2)
    c = wb.compare(results, "v1", "v2")
    page = c._repr_html_()
    assert "<pre" not in page  # preformatted text is what wrapped mid-word ("e ach", "+0. 417")
    text = _text(page)
    assert "v2 wins over v1 on quality: by 0.833" in text
    assert "0.000" in text and "0.833" in text and "+0.833" in text  # both means and the difference
    assert f"{c.wins} / {c.losses} / {c.ties}" in text and "p" in text
    assert "wb-win" in page


def test_no_real_difference_is_said_plainly_with_the_cases_needed():
    results = two_variants([1, 0, 1, 0, 1, 0], [0, 1, 1, 0, 1, 1])
    c = wb.compare(results, "v1", "v2")
    assert not c.significant
    text = _text(c._repr_html_())
    assert "No real difference between v1 and v2 on quality (observed +0.167, within chance)" in text
    assert "you would need about" in text  # the verdict's planning figure is kept
    assert "wins over" not in text


def test_identical_variants_say_no_difference_without_an_observed_figure():
    text = _text(wb.compare(two_variants([1, 0, 1], [1, 0, 1]), "v1", "v2")._repr_html_())
    assert "No real difference between v1 and v2 on quality" in text and "observed" not in text


def test_report_html_path_displays_as_a_link_and_is_still_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = two_variants([0, 1, 0, 1], [1, 1, 1, 0])
    (tmp_path / "out").mkdir()
    path = wb.report_html(results, tmp_path / "out" / "report.html")
    assert isinstance(path, Path) and path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    link = path._repr_html_()
    assert "<a " in link and "href='out/report.html'" in link and "report.html" in _text(link)
    assert os.fspath(path) == str(tmp_path / "out" / "report.html")


def test_report_shows_prompts_as_role_labelled_messages_not_json():
    results = make_results({("terse", "m"): [[1], [0]], ("kind", "m"): [[1], [1]]})
    results.attrs["prompts"] = {
        "terse": wb.Prompt(system="Answer in one word.", user="Sentiment of: {text}",
                           examples=[("I love it", "positive")]).to_dict(),
        "kind": wb.Prompt(user="Please classify {text}").to_dict(),
    }
    page = wb.report_html(results)
    assert '"system":' not in page and '"examples":' not in page  # no raw JSON
    block = page.split("<h2>Prompts</h2>", 1)[1].split("<h2>", 1)[0]
    roles = re.findall(r"class='wb-msg-role'>(\w+)<", block)
    assert roles == ["system", "user", "assistant", "user", "user"]
    assert "Answer in one word." in block and "I love it" in block and "Sentiment of: {text}" in block
