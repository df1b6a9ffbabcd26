"""Item 3: a write lock held by another connection never freezes the event loop, and a lock held too
long ends the run with one RunLogError and every paid answer kept."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import workbench as wb
from workbench import testing

CALLS = 10


def _hold_lock(path, seconds: float | None) -> tuple[sqlite3.Connection, threading.Event]:
    """Another connection takes the write lock (``BEGIN EXCLUSIVE``), released after ``seconds`` or on demand."""
    holder = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO schema_migrations VALUES ('held-by-test', 'now')")
    release = threading.Event()

    def releaser() -> None:
        release.wait(seconds)
        holder.execute("ROLLBACK")
        holder.close()

    threading.Thread(target=releaser, daemon=True).start()
    return holder, release


async def _run_with_ticker(runner: wb.Runner, requests) -> tuple[object, list[float]]:
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    try:
        outcome: object = await runner.run(requests)
    except wb.RunLogError as exc:
        outcome = exc
    done.set()
    await task
    return outcome, gaps


def _requests(runner: wb.Runner, model: str):
    return [runner.prepare(model, wb.Prompt(user="{q}"), {"q": f"q{i}"}) for i in range(CALLS)]


def test_held_lock_does_not_freeze_the_loop_and_calls_finish(tmp_path, capsys):
    path = tmp_path / "runs.sqlite"
    log = wb.RunLog(path)
    runner = wb.Runner(log=log, concurrency=4, progress=False)
    model = testing.script("locked", default="fine")
    _hold_lock(path, 3.0)
    started = time.perf_counter()
    results, gaps = asyncio.run(_run_with_ticker(runner, _requests(runner, model)))
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nlock held 3 s: run took {elapsed:.2f} s, longest event-loop stall {max(gaps) * 1000:.0f} ms")
    assert isinstance(results, list) and all(r.ok for r in results) and len(results) == CALLS
    assert elapsed >= 2.0  # the writes really waited for the lock
    assert max(gaps) < 1.0  # ...but the event loop kept running meanwhile (it stalled ~3 s before)
    assert log.count() == CALLS and all(r.call_id is not None for r in results)


def test_lock_held_past_the_limit_gives_one_error_and_loses_nothing(tmp_path):
    path = tmp_path / "runs.sqlite"
    log = wb.RunLog(path, busy_timeout_s=0.5)
    runner = wb.Runner(log=log, concurrency=4, progress=False)
    model = testing.script("stuck", default="fine")
    _, release = _hold_lock(path, 60.0)
    started = time.perf_counter()
    outcome, gaps = asyncio.run(_run_with_ticker(runner, _requests(runner, model)))
    elapsed = time.perf_counter() - started
    assert isinstance(outcome, wb.RunLogError), outcome
    assert "locked" in str(outcome) and "Fix" in str(outcome)
    assert elapsed < 15.0 and max(gaps) < 1.0
    paid = len(testing.calls("stuck"))
    assert paid <= 4  # no call started after the log failed
    release.set()
    deadline = time.monotonic() + 30
    while True:  # the holder's thread rolls back; then the kept answers can be written
        try:
            log.close()
            break
        except wb.RunLogError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM calls WHERE status = 'ok'").fetchone()[0] == paid
