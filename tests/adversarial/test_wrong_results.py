"""Issue 11, items 11, 13-16: wrong results, crashes and messages found by an adversarial test."""

from __future__ import annotations

import pytest

import workbench as wb

# Item 11: the judge's stated denominator is not ignored.

@pytest.mark.parametrize("answer", ["Score: 3/10", "SCORE: 3 / 10\nclose enough", "3/10"])
def test_judge_score_out_of_another_maximum_is_not_read_on_the_rubric_scale(answer):
    judge = wb.scorers.llm_judge("The answer is correct.", "mock:judge", scale=(1, 5))
    score = judge.parse(answer)
    assert score.value is None and score.passed is None  # not 0.5, not a pass
    assert "3/10" in score.explanation.replace(" ", "") and "1-5" in score.explanation


@pytest.mark.parametrize("answer", ["Score: 4/5 good", "SCORE: 4", "4/5"])
def test_judge_score_on_the_rubric_scale_still_reads(answer):
    judge = wb.scorers.llm_judge("The answer is correct.", "mock:judge", scale=(1, 5))
    score = judge.parse(answer)
    assert score.value == pytest.approx(0.75) and score.passed is True
