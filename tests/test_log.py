from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

import workbench as wb
from workbench._log import MIGRATIONS
from workbench._types import Request, Response, Usage


def _request(text: str = "hi", **params) -> Request:
    return Request("local:smollm2", ({"role": "user", "content": text},), wb.Params.build(**params), "abc")


def _response(text: str = "hello") -> Response:
    return Response(text=text, model="local:smollm2", provider="local", finish_reason="stop", choices=[text],
                    usage=Usage(3, 4), latency_s=0.5, cost_usd=0.0, request={"model": "smollm2"})


def test_migrations_are_applied_once_and_recorded(tmp_path):
    path = tmp_path / "log.sqlite"
    wb.RunLog(path).close()
    wb.RunLog(path).close()  # reopening applies nothing twice
    names = [r[0] for r in sqlite3.connect(path).execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]


def test_wal_mode_on_files(tmp_path):
    log = wb.RunLog(tmp_path / "log.sqlite")
    assert log._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_record_and_lookup_round_trip(log):
    call_id = log.record(_request(), _response())
    hit = log.lookup(_request().cache_key)
    assert hit is not None and hit.cached and hit.text == "hello" and hit.call_id == call_id
    assert hit.usage == Usage(3, 4) and hit.latency_s == 0.0
    assert log.lookup(_request("other").cache_key) is None


def test_errors_are_logged_but_never_served_from_cache(log):
    failed = Response(text="partial", model="local:smollm2", provider="local", error="boom", error_type="ServerError")
    log.record(_request(), failed)
    assert log.lookup(_request().cache_key) is None
    row = log.calls().iloc[0]
    assert row["status"] == "error" and row["error_type"] == "ServerError"


def test_memory_log_works(tmp_path):
    log = wb.RunLog(":memory:")
    log.record(_request(), _response())
    assert log.count() == 1


def test_versions_and_ratings(log):
    prompt = wb.Prompt(system="s", user="u {x}")
    v1 = log.save_version("draft", prompt, {"temperature": 0.2}, "local:smollm2")
    v2 = log.save_version("draft", prompt.with_(user="u2 {x}"), {}, None)
    assert [v.id for v in log.versions("draft")] == [v2.id, v1.id]
    assert wb.Prompt.from_dict(log.version(v1.id).prompt) == prompt
    assert v1.short_hash == prompt.hash[:7]
    call_id = log.record(_request(), _response())
    log.rate(call_id, 1, "good")
    log.rate(call_id, -1, "changed my mind")  # the latest rating wins
    calls = log.calls()
    assert calls.loc[0, "rating"] == -1 and calls.loc[0, "rating_note"] == "changed my mind"
    with pytest.raises(wb.RunLogError, match="rating=5"):
        log.rate(call_id, 5)
    with pytest.raises(wb.RunLogError, match="No call with id 999"):
        log.rate(999, 1)


def test_foreign_sqlite_file_is_refused_with_fix(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(wb.RunLogError) as err:
        wb.RunLog(path)
    assert "another program" in str(err.value) and "WORKBENCH_DB" in str(err.value)


def test_corrupt_file_is_refused_with_fix(tmp_path):
    path = tmp_path / "corrupt.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(wb.RunLogError) as err:
        wb.RunLog(path)
    assert "not a readable SQLite database" in str(err.value) and "move the file aside" in str(err.value)


def test_default_path_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "env.sqlite"))
    assert wb.RunLog().path == tmp_path / "env.sqlite"


def test_two_processes_write_at_once_without_losing_rows(tmp_path):
    """Two notebooks logging to one file: WAL + busy timeout + retries, no row lost."""
    path = tmp_path / "shared.sqlite"
    wb.RunLog(path).close()
    script = textwrap.dedent(f"""
        import sys
        import workbench as wb
        from workbench._types import Request, Response
        log = wb.RunLog({str(path)!r})
        tag = sys.argv[1]
        for i in range(200):
            req = Request("local:smollm2", ({{"role": "user", "content": f"{{tag}}-{{i}}"}},), wb.Params())
            log.record(req, Response(text=str(i), model="local:smollm2", provider="local"))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, tag]) for tag in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    log = wb.RunLog(path)
    assert log.count() == 400
    assert log.integrity_check() == "ok"


def test_two_logs_opening_one_new_file_at_once_both_open(tmp_path):
    """Switching a new file to WAL raced: one of two logs opened at once got "database is locked"."""
    import threading

    errors: list[BaseException] = []
    for round_ in range(40):
        path = tmp_path / f"shared-{round_}.sqlite"
        barrier = threading.Barrier(2)

        def open_log(path=path, barrier=barrier) -> None:
            try:
                barrier.wait()
                wb.RunLog(path).versions()
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=open_log) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == []
