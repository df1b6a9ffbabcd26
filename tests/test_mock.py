"""The ``mock:`` provider and ``workbench.testing``: scripted answers and faults, in-process."""

from __future__ import annotations

import pytest

import workbench as wb
from workbench import testing

ANSWER = "The answer is 42."


@pytest.fixture
def quick(runner):
    """The test runner with retries that wait (almost) nothing."""
    runner.max_wait = 0.01
    return runner


# --- defect 8.2: a stream retried mid-answer ----------------------------------------------------
def test_joined_stream_equals_the_logged_answer_after_a_mid_stream_retry(quick):
    model = testing.script("cut-once", [testing.fault("stream_cut", text=ANSWER, after_chars=11), ANSWER])
    pieces = list(wb.stream(model, "question?", runner=quick, cache=False))
    row = quick.run_log.calls().iloc[0]
    assert row["text"] == ANSWER and row["attempts"] == 2
    assert "".join(pieces) == ANSWER  # not "The answer The answer is 42."


def test_a_retry_that_changes_the_answer_stops_the_stream_with_the_fix(quick):
    model = testing.script("cut-then-other", [testing.fault("stream_cut", text=ANSWER, after_chars=11),
                                              "The question was odd."])
    pieces: list[str] = []
    with pytest.raises(wb.StreamInterruptedError, match="changed on retry") as err:
        for piece in wb.stream(model, "question?", runner=quick, cache=False):
            pieces.append(piece)
    message = str(err.value)
    assert "wb.complete" in message and ("temperature=0" in message or "seed" in message)
    row = quick.run_log.calls().iloc[0]
    assert row["text"] == "The question was odd." and row["status"] == "ok"  # the full answer is logged
    assert f"call_id {row['id']}" in message
    shown = "".join(pieces)
    assert ANSWER[:11].startswith(shown) and "question" not in shown  # nothing of the other answer was shown


def test_a_retry_shorter_than_what_was_shown_is_a_change_too(quick):
    model = testing.script("cut-then-shorter", [testing.fault("stream_cut", text=ANSWER, after_chars=11), "The"])
    with pytest.raises(wb.StreamInterruptedError, match="changed on retry"):
        list(wb.stream(model, "question?", runner=quick, cache=False))


@pytest.mark.parametrize("after", [0, 1, 4, 11, 16])
def test_the_joined_stream_is_exact_wherever_the_cut_falls(quick, after):
    model = testing.script(f"cut-at-{after}", [testing.fault("stream_cut", text=ANSWER, after_chars=after), ANSWER])
    assert "".join(wb.stream(model, "q", runner=quick, cache=False)) == ANSWER
