"""Item 5: a server asking to wait longer than ``max_wait`` fails that call at once, saying what would honour it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

import workbench as wb
from workbench import testing
from workbench.providers._http import retry_after_from_headers


def _an_hour_ahead() -> float:
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    return retry_after_from_headers({"Retry-After": format_datetime(when, usegmt=True)})


@pytest.mark.parametrize("wait", [3600.0, float("inf"), "http-date"])
def test_retry_after_beyond_max_wait_fails_at_once(runner, wait):
    name = f"slow-down-{wait}"
    wait = _an_hour_ahead() if wait == "http-date" else wait
    assert wait > 3500
    model = testing.script(name, [testing.fault("rate_limit", retry_after=wait), "answer"])
    started = time.perf_counter()
    response = _call(runner, model)
    elapsed = time.perf_counter() - started
    assert not response.ok and response.error_type == "RateLimitError"
    assert "max_wait" in response.error and "wb.configure(max_wait=" in response.error
    assert ("no end" in response.error) if wait == float("inf") else (f"{wait / 60:.0f} min" in response.error)
    assert len(testing.calls(name)) == 1 and response.attempts == 1  # not re-requested
    assert elapsed < 1.5  # runner.max_wait is 2 s: nothing was waited


def test_retry_after_within_max_wait_is_still_honoured(runner):
    model = testing.script("brief", [testing.fault("rate_limit", retry_after=0.2), "answer"])
    response = _call(runner, model)
    assert response.ok and response.text == "answer" and response.retried == ["RateLimitError"]


def _call(runner: wb.Runner, model: str) -> wb.Response:
    from workbench._portal import run_sync

    return run_sync(runner.call(runner.prepare(model, wb.Prompt(user="hi"))))
