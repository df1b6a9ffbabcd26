"""The run log: every call, saved prompt version and rating, in one SQLite file.

Rows are written as each call completes, so nothing computed is lost when a
kernel dies; the same rows serve as the cache and let an interrupted
experiment resume. WAL mode and a busy timeout let two notebooks write to one
log at once. The schema evolves through small named migrations. Text that
could carry a secret passes through :func:`redact` before it is stored.

Nothing paid for is lost to the log itself:

- Writes run in one writer thread per log (never on the event loop), so a
  lock held by another process stalls only the writes, not the kernel.
- A write that fails (disk full, lock held past ``busy_timeout_s``, file not
  writable) keeps its row in memory and in a fallback file next to the log
  (``<log>.unsaved-<pid>.jsonl``), sets :attr:`RunLog.failure` (the runner
  then starts no new call) and raises one :class:`RunLogError` naming the
  cause, the fallback file and the fix. Kept rows are written first by the
  next write attempt (:meth:`RunLog.flush`, the next run, ``close()``); a
  fallback file left by a killed process is imported when the log is opened.
- A log file deleted or replaced while open is noticed at the next write: a
  warning, then a new log at the path holding everything the old one had.
- Cells of an experiment are *claimed* (:meth:`RunLog.claim`) before they
  are called, so two processes on one log never pay twice for a cell; a claim
  whose owner died, or whose lease ran out, is taken over.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import RunLogError
from ._keys import redact, redact_obj
from ._prompt import Prompt
from ._tokens import decode_tokens, encode_tokens
from ._types import Request, Response, Usage

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RunLog", "Version", "default_log_path", "MIGRATIONS"]

T = TypeVar("T")
APPLICATION_ID = 0x57424E43  # "WBNC": marks a file as a workbench log

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_calls",
        """
        CREATE TABLE calls (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            cache_key TEXT NOT NULL,
            prompt_hash TEXT,
            request_json TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
            text TEXT,
            choices_json TEXT,
            finish_reason TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            latency_s REAL,
            ttft_s REAL,
            cost_usd REAL,
            cached INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 1,
            error_type TEXT,
            error TEXT,
            tags_json TEXT
        );
        CREATE INDEX calls_cache_key ON calls (cache_key, status);
        """,
    ),
    (
        "002_versions",
        """
        CREATE TABLE versions (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            prompt_hash TEXT NOT NULL,
            prompt_json TEXT NOT NULL,
            params_json TEXT NOT NULL,
            model TEXT,
            note TEXT
        );
        CREATE INDEX versions_name ON versions (name);
        """,
    ),
    (
        "003_ratings",
        """
        CREATE TABLE ratings (
            call_id INTEGER PRIMARY KEY REFERENCES calls (id),
            created_at TEXT NOT NULL,
            rating INTEGER CHECK (rating IN (-1, 0, 1)),
            note TEXT
        );
        """,
    ),
    (
        "004_experiments",
        """
        CREATE TABLE experiments (
            id TEXT PRIMARY KEY,
            name TEXT,
            created_at TEXT NOT NULL,
            config_json TEXT NOT NULL
        );
        ALTER TABLE calls ADD COLUMN experiment_id TEXT;
        ALTER TABLE calls ADD COLUMN cell_key TEXT;
        CREATE INDEX calls_experiment ON calls (experiment_id, cell_key);
        """,
    ),
    (
        "005_retry_causes",
        # why each failed attempt of a call failed: JSON list of error type names
        "ALTER TABLE calls ADD COLUMN retried_json TEXT",
    ),
    (
        "006_call_uids_and_claims",
        # uid: a row's identity across files (fallback files and rebuilt logs are merged by it);
        # claims: a cell being called right now by some process (owner), until expires_at (unix time)
        """
        ALTER TABLE calls ADD COLUMN uid TEXT;
        UPDATE calls SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL;
        CREATE UNIQUE INDEX calls_uid ON calls (uid);
        CREATE TABLE claims (
            experiment_id TEXT NOT NULL,
            cell_key TEXT NOT NULL,
            owner TEXT NOT NULL,
            claimed_at TEXT NOT NULL,
            expires_at REAL NOT NULL,
            PRIMARY KEY (experiment_id, cell_key)
        );
        """,
    ),
    (
        "007_batches",
        # batch-API jobs of experiments (workbench/_batch.py): one row per provider batch, and which cells it holds
        """
        CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            experiment_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            endpoint_url TEXT,
            key_fingerprint TEXT,
            input_file_id TEXT,
            state TEXT NOT NULL,
            provider_status TEXT,
            counts_json TEXT,
            output_file_id TEXT,
            error_file_id TEXT,
            cells INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            collected_at TEXT
        );
        CREATE INDEX batches_experiment ON batches (experiment_id);
        CREATE TABLE batch_cells (
            batch_id TEXT NOT NULL REFERENCES batches (id),
            cell_key TEXT NOT NULL,
            PRIMARY KEY (batch_id, cell_key)
        );
        CREATE INDEX batch_cells_cell ON batch_cells (cell_key)
        """,
    ),
    (
        "008_token_logprobs",
        # per choice, the answer's tokens when logprobs were asked: compact JSON (workbench/_tokens.py)
        "ALTER TABLE calls ADD COLUMN tokens_json TEXT",
    ),
    (
        "009_conversations_tools",
        # tool calls the model made (JSON list of {id, name, arguments, raw, error}); the answer parsed
        # against response_format (JSON) or why it is not; a tool loop's step and its first call's id
        """
        ALTER TABLE calls ADD COLUMN tool_calls_json TEXT;
        ALTER TABLE calls ADD COLUMN parsed_json TEXT;
        ALTER TABLE calls ADD COLUMN parse_error TEXT;
        ALTER TABLE calls ADD COLUMN parent_call_id INTEGER;
        ALTER TABLE calls ADD COLUMN step INTEGER;
        CREATE INDEX calls_parent ON calls (parent_call_id)
        """,
    ),
    (
        "010_reasoning_cached_tokens",
        # hidden reasoning tokens (inside completion_tokens) and prompt tokens served from a prompt cache
        # (inside prompt_tokens), as the provider reported them; rows written before this migration read 0
        """
        ALTER TABLE calls ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE calls ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0
        """,
    ),
]

_open_logs: weakref.WeakSet[RunLog] = weakref.WeakSet()


def _wal(conn: sqlite3.Connection, patience_s: float) -> None:
    """Switch to WAL mode. Two logs opening one new file at once race for this switch, and SQLite
    answers "database is locked" at once rather than through its busy handler: so wait here."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def default_log_path() -> Path:
    """``$WORKBENCH_DB`` if set, else ``runs.sqlite`` in the user's data directory."""
    env = os.environ.get("WORKBENCH_DB")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("prompt-workbench", appauthor=False) / "runs.sqlite"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _dumps(obj: Any) -> str:
    return redact(json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str))


@dataclass(frozen=True)
class Version:
    """A saved prompt version."""

    id: int
    name: str
    created_at: str
    prompt_hash: str
    prompt: dict[str, Any]
    params: dict[str, Any]
    model: str | None
    note: str | None = None

    @property
    def short_hash(self) -> str:
        return self.prompt_hash[:7]


class RunLog:
    """A SQLite run log. ``RunLog(":memory:")`` for tests, a path, or the default.

    ``busy_timeout_s`` is how long a write waits for a lock another process
    holds before it fails (the answer is kept, see :attr:`failure`).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, busy_timeout_s: float = 30.0) -> None:
        self.path = ":memory:" if str(path) == ":memory:" else Path(path) if path else default_log_path()
        self._lock = threading.RLock()  # the writing connection (and the file's identity)
        self._busy_timeout_s = busy_timeout_s
        #: rows that could not be written yet, oldest first: (table, row); written before any new row.
        #: Replaced, never changed in place, so readers on the event loop need no lock (that a writer
        #: waiting for another process's lock may hold).
        self._pending: list[tuple[str, dict[str, Any]]] = []
        #: why the last write failed, until kept rows are written; the runner starts no call meanwhile
        self.failure: RunLogError | None = None
        self._jobs: deque[tuple[Callable[[], Any] | _Rows | _Claim, Future[Any]]] = deque()
        self._jobs_cond = threading.Condition()
        self._writer_running = False
        self._loop_batches: dict[Any, list[tuple[_Rows | _Claim, Any]]] = {}  # per event loop, this turn's jobs
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._recovered: Path | None = None  # the old file's content, while no log at the path took it in
        self._side_files: dict[str, tuple[int, int]] = {}  # identity of the open file's -wal and -shm
        self._conn = self._open()
        self._reader, self._read_lock = self._open_reader()
        self._remember_identity()
        self._import_unsaved()
        _open_logs.add(self)

    @property
    def _on_disk(self) -> bool:
        return self.path != ":memory:"

    # --- opening and migrations ------------------------------------------
    def _open(self) -> sqlite3.Connection:
        if self._on_disk:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                str(self.path), timeout=self._busy_timeout_s, check_same_thread=False, isolation_level=None,
                factory=_RedactingConnection,
            )
            conn.row_factory = sqlite3.Row
            conn.execute("BEGIN")  # both reads from one snapshot: another log may be creating this file now
            try:
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            finally:
                conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise RunLogError(
                f"{self.path} is not a readable SQLite database ({exc}). "
                "Fix: move the file aside, or point WORKBENCH_DB (or log=) at a new file."
            ) from None
        if tables and app_id != APPLICATION_ID:
            conn.close()
            raise RunLogError(
                f"{self.path} is a SQLite database of another program (tables: {', '.join(sorted(tables)[:5])}), "
                "not a workbench run log. Fix: point WORKBENCH_DB (or log=) at a new file."
            )
        if self._on_disk:
            _wal(conn, self._busy_timeout_s)
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")
        conn.execute("PRAGMA foreign_keys=ON")
        self._migrate(conn)
        return conn

    def _open_reader(self) -> tuple[sqlite3.Connection, Any]:
        """A second connection for reads: in WAL mode they never wait for a writer, in any process."""
        if not self._on_disk:  # a second ":memory:" connection would be another database
            return self._conn, self._lock
        conn = sqlite3.connect(str(self.path), timeout=self._busy_timeout_s, check_same_thread=False,
                               isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")
        return conn, threading.Lock()

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                         "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                for statement in filter(str.strip, sql.split(";")):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, _now()))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction. SQLite's busy handler waits up to ``busy_timeout_s`` for another
        process's lock (in the writer thread, or the caller's: never on the event loop)."""
        with self._lock:
            self._check_file()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                _rollback(self._conn)  # SQLite may have rolled back already (e.g. on a full disk)
                raise

    def _read(self, fn: Callable[[sqlite3.Connection], T], *, settled: bool = True) -> T:
        """Run a read on the reading connection; ``settled`` first waits for writes already queued
        (what a user reads includes what was just recorded). The runner's own reads on the event
        loop pass ``settled=False`` and never wait for a lock."""
        if settled and threading.current_thread().name != self._writer_name:
            self._submit(lambda: None).result()
        with self._read_lock:
            return fn(self._reader)

    @property
    def _writer_name(self) -> str:
        return f"workbench-log-writer {self.path}"

    # --- the writer thread -----------------------------------------------
    def _submit(self, fn: Callable[[], T] | _Rows | _Claim) -> Future[Any]:
        """Run ``fn`` in this log's writer thread (started on demand, gone after 2 s idle).

        Rows to write (:class:`_Rows`) and claims (:class:`_Claim`) queued together share one
        transaction (group commit): under load the log costs one commit per batch, not per row.
        """
        future: Future[Any] = Future()
        with self._jobs_cond:
            self._jobs.append((fn, future))
            if not self._writer_running:
                self._writer_running = True
                threading.Thread(target=self._write_loop, name=self._writer_name,
                                 daemon=True).start()
            self._jobs_cond.notify()
        return future

    def _write_loop(self) -> None:
        while True:
            with self._jobs_cond:
                if not self._jobs:
                    self._jobs_cond.wait(timeout=2.0)
                if not self._jobs:
                    self._writer_running = False
                    return
                job = self._jobs.popleft()
                group = [job]
                while isinstance(job[0], (_Rows, _Claim)) and self._jobs and len(group) < 500 \
                        and isinstance(self._jobs[0][0], (_Rows, _Claim)):
                    group.append(self._jobs.popleft())
            group = [(fn, future) for fn, future in group if future.set_running_or_notify_cancel()]
            if not group:
                continue
            if isinstance(group[0][0], (_Rows, _Claim)):
                self._run_group(group)
                continue
            fn, future = group[0]
            try:
                assert callable(fn)
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for it
                future.set_exception(exc)

    def _run_group(self, group: list[tuple[Any, Future[Any]]]) -> None:
        """Rows and claims in one transaction; after a failure, each alone (rows are only kept)."""
        with self._lock:
            if self.failure is not None or self._pending:
                for job, future in group:
                    try:
                        future.set_result(self._write_rows(job.rows, retry=False) if isinstance(job, _Rows)
                                          else self._claim(job.experiment_id, job.cell_key, job.lease_s))
                    except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for it
                        future.set_exception(exc)
                return
            try:
                with self._tx() as conn:
                    results = [[self._insert(conn, t, r) for t, r in job.rows] if isinstance(job, _Rows)
                               else self._claim_in(conn, job) for job, _ in group]
            except (sqlite3.Error, OSError, RunLogError) as exc:
                self._pending = self._pending + [row for job, _ in group if isinstance(job, _Rows)
                                                 for row in job.rows]
                self._cause = exc
                self._fail(exc)
                for _, future in group:
                    future.set_exception(self._copy_failure())
                return
        for (_, future), result in zip(group, results, strict=True):
            future.set_result(result)

    async def _await(self, fn: Callable[[], T] | _Rows | _Claim) -> Any:
        """Run a job for a coroutine. Rows and claims asked for in the same turn of the event loop
        are gathered and done together in one transaction (see :meth:`_try_now`)."""
        import asyncio

        if not isinstance(fn, (_Rows, _Claim)):
            return await asyncio.wrap_future(self._submit(fn))
        loop = asyncio.get_running_loop()
        batch = self._loop_batches.get(loop)
        if batch is None:
            batch = self._loop_batches[loop] = []
            loop.call_soon(self._run_loop_batch, loop)
        future = loop.create_future()
        batch.append((fn, future))
        return await future

    def _run_loop_batch(self, loop: Any) -> None:
        batch = self._loop_batches.pop(loop, [])
        done, results = self._try_now([job for job, _ in batch])
        if done:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            return
        for job, future in batch:  # the writer thread waits (off the loop) and keeps rows on failure
            self._submit(job).add_done_callback(partial(_hand_over, loop, future))

    def _try_now(self, jobs: list[_Rows | _Claim]) -> tuple[bool, list[Any]]:
        """Do row and claim jobs at once, on the calling thread, if that cannot wait for anything.

        The common case (no failure, nothing queued, the writer idle, no other process holding
        the lock) then costs one short transaction, as before the writer thread existed; anything
        else (a lock held elsewhere: SQLite's busy timeout is 0 here, a full disk, a changed file)
        is left to the writer thread, which waits and keeps rows as documented.
        """
        if self.failure is not None or self._pending or self._jobs:
            return False, []
        if not self._lock.acquire(blocking=False):
            return False, []
        conn = self._conn
        try:
            if self._file_changed() is not None or self._jobs:
                return False, []
            conn.execute("PRAGMA busy_timeout=0")
            try:
                conn.execute("BEGIN IMMEDIATE")
                results = [[self._insert(conn, t, r) for t, r in job.rows] if isinstance(job, _Rows)
                           else self._claim_in(conn, job) for job in jobs]
                conn.execute("COMMIT")
            except sqlite3.Error:
                _rollback(conn)
                return False, []
            return True, results
        finally:
            try:
                conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")
            finally:
                self._lock.release()

    def close(self) -> None:
        """Write what is kept in memory, then close. Raises :class:`RunLogError` (and stays open) if
        kept rows still cannot be written."""
        self._submit(lambda: None).result()  # let queued writes finish
        with self._lock:
            if self._pending:
                self._write_rows([])
            if self._reader is not self._conn:
                self._reader.close()
            self._conn.close()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        _open_logs.discard(self)

    def integrity_check(self) -> str:
        return self._read(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0])

    # --- failures: keep the rows, say why once, write them later ---------
    def flush(self) -> None:
        """Write the rows kept after a failed write; raises :class:`RunLogError` if the log still cannot
        take them (they stay kept)."""
        self._submit(lambda: self._write_rows([])).result()

    async def aflush(self) -> None:
        await self._await(lambda: self._write_rows([]))

    @property
    def unsaved(self) -> int:
        """How many rows are kept in memory because the log could not take them yet."""
        return len(self._pending)

    def _unsaved_path(self) -> Path:
        name = f"{Path(self.path).name if self._on_disk else 'memory-log'}.unsaved-{os.getpid()}.jsonl"
        return (Path(self.path).parent if self._on_disk else Path(tempfile.gettempdir())) / name

    def _spill(self) -> tuple[Path | None, str]:
        """Save the kept rows to the fallback file (next to the log, else in the temp folder)."""
        if not self._pending:
            self._drop_spill()
            return None, ""
        text = "".join(json.dumps({"table": t, "row": redact_obj(r)}, ensure_ascii=False, default=str) + "\n"
                       for t, r in self._pending)
        problems = []
        for target in (self._unsaved_path(), Path(tempfile.gettempdir()) / self._unsaved_path().name):
            try:
                tmp = target.with_name(target.name + ".tmp")
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, target)
                return target, ""
            except OSError as exc:
                problems.append(f"{target}: {exc.strerror or exc}")
        return None, "; ".join(problems)

    def _drop_spill(self) -> None:
        for target in (self._unsaved_path(), Path(tempfile.gettempdir()) / self._unsaved_path().name):
            with suppress(OSError):
                target.unlink()

    def _error(self, cause: BaseException | str, spilled: Path | None, spill_problem: str) -> RunLogError:
        text = str(cause)
        lowered = text.lower()
        answers = sum(1 for t, _ in self._pending if t == "calls")
        if "full" in lowered:
            what = f"the disk is full ({text})"
            fix = ("free disk space, or point wb.configure(log=...) / WORKBENCH_DB at a disk with room; "
                   "then run again (kept rows are written first)")
        elif "locked" in lowered or "busy" in lowered:
            what = f"another process held its write lock for more than {self._busy_timeout_s:g} s ({text})"
            fix = ("let the other notebook's run finish (or stop it), then run again; "
                   "RunLog(path, busy_timeout_s=...) waits longer")
        elif isinstance(cause, RunLogError):
            what = text
            fix = ("move that file away, or point wb.configure(log=...) / WORKBENCH_DB at another file; "
                   "then run again (kept rows are written first)")
        else:
            what = f"{type(cause).__name__}: {text}" if isinstance(cause, BaseException) else text
            fix = "check that the log file and its folder exist and are writable, then run again"
        where = (f"saved to {spilled}" if spilled is not None
                 else f"kept in memory only (no fallback file could be written: {spill_problem})")
        kept = (f"{answers} answer(s) not yet in the log are {where} and are written to the log when it "
                "can take them (the next run, log.flush() or log.close())" if self._pending
                else "No answer was lost")
        err = RunLogError(
            f"The run log {self.path} could not be written: {what}. {kept}. No new call is started until "
            f"the log can be written. Fix: {fix}."
        )
        err.unsaved_path = str(spilled) if spilled is not None else None
        return err

    def _fail(self, cause: BaseException | str) -> RunLogError:
        spilled, problem = self._spill()
        self.failure = self._error(cause, spilled, problem)
        return self.failure

    def _copy_failure(self) -> RunLogError:
        """A fresh error describing the current failure (each raise gets its own instance)."""
        failure = self.failure
        err = RunLogError(str(failure) if failure is not None else
                          f"The run log {self.path} failed a moment ago. Fix: run again.")
        err.unsaved_path = failure.unsaved_path if failure is not None else None
        return err

    def _write_rows(self, rows: list[tuple[str, dict[str, Any]]], *, retry: bool = True) -> list[int | None]:
        """Write kept rows and then ``rows`` in one transaction; ids of ``rows`` (calls) or ``None``.

        After a failure, new rows are only kept (no write is tried, so a locked log does not make
        every answer wait again) until a retry (``retry=True``: flush, close, the next run).
        """
        with self._lock:
            if self.failure is not None and not retry:
                self._pending = self._pending + rows
                self._fail(self._cause)  # the fallback file and the message now count these rows too
                raise self._copy_failure()
            batch = self._pending + rows
            if not batch and self.failure is None:
                return []  # (after a failure, even an empty batch tries the log: can it take writes again?)
            try:
                with self._tx() as conn:
                    ids = [self._insert(conn, table, row) for table, row in batch]
            except (sqlite3.Error, OSError, RunLogError) as exc:
                self._pending = batch
                self._cause = exc
                self._fail(exc)
                raise self._copy_failure() from None
            had_pending = bool(self._pending)
            self._pending = []
            if self.failure is not None or had_pending:
                self.failure = None
                self._drop_spill()
            return ids[len(ids) - len(rows):]

    _cause: BaseException | str = ""

    @staticmethod
    def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> int | None:
        if table == "calls":
            cols = ", ".join(row)
            conn.execute(f"INSERT OR IGNORE INTO calls ({cols}) VALUES ({', '.join('?' * len(row))})",
                         tuple(row.values()))
            if row.get("experiment_id") and row.get("cell_key"):
                conn.execute("DELETE FROM claims WHERE experiment_id = ? AND cell_key = ? AND owner = ?",
                             (row["experiment_id"], row["cell_key"], current_owner()))
            return int(conn.execute("SELECT id FROM calls WHERE uid = ?", (row["uid"],)).fetchone()[0])
        if table == "experiments":
            conn.execute("INSERT INTO experiments (id, name, created_at, config_json) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(id) DO NOTHING",
                         (row["id"], row["name"], row["created_at"], row["config_json"]))
            return None
        raise ValueError(f"unknown table {table!r}")

    def _import_unsaved(self) -> None:
        """Write rows a session could not write (its fallback files), e.g. after it was killed."""
        if not self._on_disk:
            return
        folder, stem = Path(self.path).parent, Path(self.path).name + ".unsaved-"
        for target in sorted(folder.glob(stem + "*.jsonl")):
            try:
                rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines() if line.strip()]
                with self._tx() as conn:  # rows already in the log are skipped (same uid)
                    for item in rows:
                        self._insert(conn, item["table"], item["row"])
            except (OSError, ValueError, KeyError, sqlite3.Error) as exc:
                warnings.warn(f"Could not import the unsaved answers in {target} into {self.path} ({exc}). "
                              "Fix: keep the file; it is imported the next time the log is opened.",
                              RuntimeWarning, stacklevel=3)
                continue
            pid = target.name[len(stem):-len(".jsonl")]
            if not (pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid))):
                target.unlink(missing_ok=True)  # a live session still owns its file (and its kept rows)

    # --- a log file deleted or replaced while open -----------------------
    def _remember_identity(self) -> None:
        if not self._on_disk:
            return
        try:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = os.open(self.path, os.O_RDONLY)
            st = os.fstat(self._fd)
            self._identity = (st.st_dev, st.st_ino)
        except OSError:
            self._fd, self._identity = None, None
        self._side_files = {}
        for suffix in ("-wal", "-shm"):
            try:
                st = os.stat(f"{self.path}{suffix}")
                self._side_files[suffix] = (st.st_dev, st.st_ino)
            except OSError:
                pass

    def _drop_stale_side_files(self) -> None:
        """Delete the old file's ``-wal`` and ``-shm`` if they are still at the path. SQLite leaves them
        when its database file was moved, and would replay that WAL into whatever file is there now
        (another program's database included): the corruption SQLite's docs warn about."""
        for suffix, identity in self._side_files.items():
            side = Path(f"{self.path}{suffix}")
            try:
                st = side.stat()
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == identity:
                side.unlink(missing_ok=True)
        self._side_files = {}

    def _file_changed(self) -> str | None:
        """'deleted' or 'replaced' if the file this log has open is no longer the one at its path."""
        if not self._on_disk or self._identity is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "deleted"
        except OSError:
            return None
        if (st.st_dev, st.st_ino) != self._identity:
            return "replaced"
        if self._fd is not None and os.fstat(self._fd).st_nlink == 0:
            return "deleted"
        return None

    def _check_file(self) -> None:
        """Before each write: if the file was deleted or replaced, warn and rebuild the log at the path.

        The old file's content is first copied (it stays readable while open, even deleted) to
        ``<log>.recovered-<pid>``, which serves reads until a log at the path takes it in. If the
        file now at the path cannot be a log (another program's database), the write fails as
        usual (rows kept) and the copy stays, named in the error.
        """
        what = self._file_changed()
        if what is None:
            return
        with self._lock:
            keep = self._recovered
            if keep is None:
                keep = Path(self.path).with_name(f"{Path(self.path).name}.recovered-{os.getpid()}")
                keep.unlink(missing_ok=True)
                copy = sqlite3.connect(str(keep))
                try:
                    self._conn.backup(copy)
                finally:
                    copy.close()
                self._recovered = keep
                with self._read_lock:
                    for conn in {id(self._conn): self._conn, id(self._reader): self._reader}.values():
                        conn.close()
                    self._drop_stale_side_files()  # so the old WAL is never replayed into the new file
                    self._reader = sqlite3.connect(str(keep), check_same_thread=False, isolation_level=None)
                    self._reader.row_factory = sqlite3.Row
            try:
                conn = self._open()
            except RunLogError as exc:
                detail = str(exc).split(" Fix:")[0].rstrip(".")
                raise RunLogError(f"it was {what} while in use and the file now there cannot be a log ({detail}); "
                                  f"everything the old log held is kept in {keep}") from None
            with self._read_lock:
                stale_reader, self._conn = self._reader, conn
                self._reader, read_lock = self._open_reader()
                stale_reader.close()
            self._read_lock = read_lock
            self._remember_identity()
            copied = self._merge_from(keep)
            for suffix in ("", "-wal", "-shm"):
                Path(str(keep) + suffix).unlink(missing_ok=True)
            self._recovered = None
        warnings.warn(
            f"The run log {self.path} was {what} while this session was using it. A new log was started at "
            f"that path with the {copied} calls the old file held and the rows not yet written, so nothing "
            "logged is called again. Fix: to start an empty log, use wb.configure(log='other.sqlite') "
            "instead of deleting or replacing the file of a running session.", RuntimeWarning, stacklevel=2)

    def _merge_from(self, other: Path) -> int:
        """Copy calls (by uid), experiments, versions and ratings from the log file ``other``."""
        conn = self._conn
        conn.execute("ATTACH DATABASE ? AS old", (str(other),))
        try:
            main_cols = [r[1] for r in conn.execute("PRAGMA main.table_info(calls)")]
            old_cols = {r[1] for r in conn.execute("PRAGMA old.table_info(calls)")}
            empty = conn.execute("SELECT COUNT(*) FROM main.calls").fetchone()[0] == 0
            cols = ", ".join(c for c in main_cols if c in old_cols and (empty or c != "id"))
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = conn.execute("SELECT COUNT(*) FROM main.calls").fetchone()[0]
                conn.execute(f"INSERT OR IGNORE INTO main.calls ({cols}) SELECT {cols} FROM old.calls ORDER BY id")
                copied = conn.execute("SELECT COUNT(*) FROM main.calls").fetchone()[0] - before
                conn.execute("INSERT OR IGNORE INTO main.experiments (id, name, created_at, config_json) "
                             "SELECT id, name, created_at, config_json FROM old.experiments")
                conn.execute(
                    "INSERT INTO main.versions (name, created_at, prompt_hash, prompt_json, params_json, model, note) "
                    "SELECT name, created_at, prompt_hash, prompt_json, params_json, model, note FROM old.versions o "
                    "WHERE NOT EXISTS (SELECT 1 FROM main.versions v WHERE v.name = o.name AND "
                    "v.created_at = o.created_at AND v.prompt_hash = o.prompt_hash) ORDER BY id")
                conn.execute(
                    "INSERT OR REPLACE INTO main.ratings (call_id, created_at, rating, note) "
                    "SELECT m.id, r.created_at, r.rating, r.note FROM old.ratings r "
                    "JOIN old.calls oc ON oc.id = r.call_id JOIN main.calls m ON m.uid = oc.uid")
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        finally:
            conn.execute("DETACH DATABASE old")
        return int(copied)

    # --- calls -----------------------------------------------------------
    def _call_row(self, request: Request, response: Response, experiment_id: str | None,
                  cell_key: str | None) -> dict[str, Any]:
        return {
            "uid": uuid.uuid4().hex,
            "created_at": response.created_at or _now(),
            "model": request.model,
            "provider": request.provider,
            "cache_key": request.cache_key,
            "prompt_hash": request.prompt_hash,
            "request_json": _dumps(response.request or {"model": request.model, "messages": list(request.messages),
                                                        **request.params.set()}),
            "status": "ok" if response.ok else "error",
            "text": redact(response.text) if response.text else response.text,
            "choices_json": _dumps(response.choices),
            "finish_reason": response.finish_reason,
            "prompt_tokens": response.usage.prompt_tokens,
            "completion_tokens": response.usage.completion_tokens,
            "reasoning_tokens": response.usage.reasoning_tokens,
            "cached_tokens": response.usage.cached_tokens,
            "latency_s": response.latency_s,
            "ttft_s": response.ttft_s,
            "cost_usd": response.cost_usd,
            "cached": int(response.cached),
            "attempts": response.attempts,
            "retried_json": _dumps(response.retried) if response.retried else None,
            "error_type": response.error_type,
            "error": redact(response.error) if response.error else None,
            "tags_json": _dumps(request.tags or {}),
            "experiment_id": experiment_id,
            "cell_key": cell_key,
            **_tool_columns(response),
            "tokens_json": encode_tokens(response.choice_tokens),
        }

    def record(self, request: Request, response: Response, *, experiment_id: str | None = None,
               cell_key: str | None = None) -> int:
        """Store one finished call (answer or error) and return its id.

        If the log cannot take it, the row is kept (in memory and in the fallback file) and
        :class:`RunLogError` says why; see :meth:`flush`.
        """
        job = _Rows([("calls", self._call_row(request, response, experiment_id, cell_key))])
        done, results = self._try_now([job])
        ids = results[0] if done else self._submit(job).result()
        return int(ids[0])

    def record_many(self, calls: Sequence[tuple[Request, Response, str | None, str | None]]) -> list[int]:
        """Store many finished calls, ``(request, response, experiment_id, cell_key)``, in one transaction.

        For answers that arrive together (a collected batch): one commit instead of one per row,
        with :meth:`record`'s guarantees (a failed write keeps every row and says where).
        """
        if not calls:
            return []
        job = _Rows([("calls", self._call_row(req, resp, exp_id, key)) for req, resp, exp_id, key in calls])
        done, results = self._try_now([job])
        ids = results[0] if done else self._submit(job).result()
        return [int(i) for i in ids]

    async def arecord(self, request: Request, response: Response, *, experiment_id: str | None = None,
                      cell_key: str | None = None) -> int:
        """:meth:`record` for the event loop: the write runs in the writer thread, the loop stays free."""
        row = self._call_row(request, response, experiment_id, cell_key)
        ids = await self._await(_Rows([("calls", row)]))
        return int(ids[0])

    def record_nowait(self, request: Request, response: Response, *, experiment_id: str | None = None,
                      cell_key: str | None = None) -> None:
        """Queue a row without waiting (for a call being cancelled); a failure keeps it, as ever."""
        row = self._call_row(request, response, experiment_id, cell_key)
        self._submit(_Rows([("calls", row)]))

    def _pending_calls(self) -> list[dict[str, Any]]:
        return [dict(r, id=None) for t, r in self._pending if t == "calls"]  # no lock: see __init__

    def lookup(self, cache_key: str) -> Response | None:
        """The latest successful answer to an identical request, marked as cached."""
        kept = [r for r in self._pending_calls() if r["cache_key"] == cache_key and r["status"] == "ok"]
        row = kept[-1] if kept else self._read(lambda c: c.execute(
            "SELECT * FROM calls WHERE cache_key = ? AND status = 'ok' ORDER BY id DESC LIMIT 1", (cache_key,)
        ).fetchone(), settled=False)
        if row is None:
            return None
        response = row_to_response(row)
        response.cached = True
        response.retried = []
        response.latency_s = 0.0
        response.ttft_s = None
        response.cost_usd = 0.0 if response.cost_usd is not None else None
        return response

    def experiment_results(self, experiment_id: str) -> dict[str, Response]:
        """Successful results already logged (or kept, not yet written) for an experiment, by cell key."""
        rows = self._read(lambda c: c.execute(
            "SELECT * FROM calls WHERE experiment_id = ? AND status = 'ok' ORDER BY id", (experiment_id,)
        ).fetchall(), settled=False)
        rows = [*rows, *(r for r in self._pending_calls()
                         if r["experiment_id"] == experiment_id and r["status"] == "ok")]
        return {r["cell_key"]: row_to_response(r) for r in rows}

    # --- claims: one process calls a cell, the others wait for its row ---
    def claim(self, experiment_id: str, cell_key: str, *, lease_s: float) -> Response | bool:
        """Claim a cell before calling it: ``True`` if this process may call it; the logged answer if
        one exists (another process paid for it); ``False`` while a live owner's claim holds it.

        A claim whose owner process is gone (same host) or whose lease ran out is taken over.
        """
        job = _Claim(experiment_id, cell_key, lease_s)
        done, results = self._try_now([job])
        return results[0] if done else self._submit(job).result()

    async def aclaim(self, experiment_id: str, cell_key: str, *, lease_s: float) -> Response | bool:
        return await self._await(_Claim(experiment_id, cell_key, lease_s))

    def _claim(self, experiment_id: str, cell_key: str, lease_s: float) -> Response | bool:
        with self._lock:
            if self.failure is not None:
                raise self._copy_failure()
            for row in reversed(self._pending_calls()):
                if row["experiment_id"] == experiment_id and row["cell_key"] == cell_key and row["status"] == "ok":
                    return row_to_response(row)
            try:
                with self._tx() as conn:
                    return self._claim_in(conn, _Claim(experiment_id, cell_key, lease_s))
            except (sqlite3.Error, OSError) as exc:
                self._cause = exc
                self._fail(exc)
                raise self._copy_failure() from None

    @staticmethod
    def _claim_in(conn: sqlite3.Connection, claim: _Claim) -> Response | bool:
        done = conn.execute("SELECT * FROM calls WHERE experiment_id = ? AND cell_key = ? AND status = 'ok' "
                            "ORDER BY id DESC LIMIT 1", (claim.experiment_id, claim.cell_key)).fetchone()
        if done is not None:
            return row_to_response(done)
        held = conn.execute("SELECT owner, expires_at FROM claims WHERE experiment_id = ? AND cell_key = ?",
                            (claim.experiment_id, claim.cell_key)).fetchone()
        me = current_owner()
        if held is not None and held["owner"] != me and not _stale(held["owner"], held["expires_at"]):
            return False
        conn.execute("INSERT OR REPLACE INTO claims (experiment_id, cell_key, owner, claimed_at, expires_at) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (claim.experiment_id, claim.cell_key, me, _now(), time.time() + claim.lease_s))
        return True

    def claims(self) -> pd.DataFrame:
        """Cells being called right now (by any process sharing this log)."""
        import pandas as pd

        return self._read(lambda c: pd.read_sql_query("SELECT * FROM claims ORDER BY claimed_at", c))

    def call(self, call_id: int) -> Response:
        row = self._read(lambda c: c.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone())
        if row is None:
            raise RunLogError(f"No call with id {call_id} in {self.path}. Fix: use an id from log.calls().")
        return row_to_response(row)

    def calls(self, *, experiment_id: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Logged calls (newest first) as a DataFrame, with any rating joined in."""
        import pandas as pd

        sql = ("SELECT calls.*, ratings.rating AS rating, ratings.note AS rating_note FROM calls "
               "LEFT JOIN ratings ON ratings.call_id = calls.id")
        args: list[Any] = []
        if experiment_id is not None:
            sql += " WHERE experiment_id = ?"
            args.append(experiment_id)
        sql += " ORDER BY calls.id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._read(lambda c: pd.read_sql_query(sql, c, params=args))

    def recent_calls(self, *, prompt_hash: str | None = None, model: str | None = None,
                     limit: int = 50) -> list[dict[str, Any]]:
        """The latest calls made outside experiments (newest first), with any rating, as plain dicts.

        ``prompt_hash`` and ``model`` narrow them to one prompt or one model (the Playground's history).
        """
        sql = ("SELECT calls.*, ratings.rating AS rating, ratings.note AS rating_note FROM calls "
               "LEFT JOIN ratings ON ratings.call_id = calls.id WHERE calls.experiment_id IS NULL")
        args: list[Any] = []
        if prompt_hash is not None:
            sql += " AND calls.prompt_hash = ?"
            args.append(prompt_hash)
        if model is not None:
            sql += " AND calls.model = ?"
            args.append(model)
        sql += " ORDER BY calls.id DESC LIMIT ?"
        args.append(int(limit))
        return self._read(lambda c: [dict(r) for r in c.execute(sql, args).fetchall()])

    def count(self) -> int:
        return self._read(lambda c: c.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    # --- versions --------------------------------------------------------
    def save_version(self, name: str, prompt: Any, params: dict[str, Any], model: str | None = None,
                     note: str | None = None) -> Version:
        if not name or not name.strip():
            raise RunLogError("A version needs a name. Fix: give one, e.g. 'v2-shorter-system'.")
        p: Prompt = prompt

        def write() -> int:
            with self._tx() as conn:
                cur = conn.execute(
                    "INSERT INTO versions (name, created_at, prompt_hash, prompt_json, params_json, model, note) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (redact(name.strip()), _now(), p.hash, _dumps(p.to_dict()), _dumps(params),
                     redact(model) if model else model, redact(note) if note else note),
                )
                return int(cur.lastrowid or 0)

        return self.version(self._submit(write).result())

    def versions(self, name: str | None = None) -> list[Version]:
        sql = "SELECT * FROM versions"
        args: tuple[str, ...] = ()
        if name:
            sql, args = sql + " WHERE name = ?", (redact(name),)
        rows = self._read(lambda c: c.execute(sql + " ORDER BY id DESC", args).fetchall())
        return [_row_to_version(r) for r in rows]

    def version(self, version_id: int) -> Version:
        row = self._read(lambda c: c.execute("SELECT * FROM versions WHERE id = ?", (version_id,)).fetchone())
        if row is None:
            raise RunLogError(f"No saved version with id {version_id}. Fix: pick one from log.versions().")
        return _row_to_version(row)

    # --- ratings ---------------------------------------------------------
    def rate(self, call_id: int, rating: int | None, note: str | None = None) -> None:
        """Rate a call +1 (good), -1 (bad) or 0 (neutral); the latest rating wins."""
        if rating not in (-1, 0, 1, None):
            raise RunLogError(f"rating={rating!r} is not allowed. Fix: use 1 (thumbs up), -1 (thumbs down) or 0.")

        def write() -> None:
            with self._tx() as conn:
                if conn.execute("SELECT 1 FROM calls WHERE id = ?", (call_id,)).fetchone() is None:
                    raise RunLogError(f"No call with id {call_id} to rate. Fix: rate the call_id of a logged response.")
                conn.execute(
                    "INSERT INTO ratings (call_id, created_at, rating, note) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(call_id) DO UPDATE SET created_at=excluded.created_at, rating=excluded.rating, "
                    "note=excluded.note",
                    (call_id, _now(), rating, redact(note) if note else note),
                )

        self._submit(write).result()

    def ratings(self) -> pd.DataFrame:
        import pandas as pd

        return self._read(lambda c: pd.read_sql_query("SELECT * FROM ratings ORDER BY call_id", c))

    # --- experiments -----------------------------------------------------
    def save_experiment(self, experiment_id: str, name: str | None, config: dict[str, Any]) -> None:
        """Record an experiment's definition. Queued, not waited for: it is written before any later row,
        and kept like them if the log cannot take it."""
        row = {"id": experiment_id, "name": name, "created_at": _now(), "config_json": _dumps(config)}
        self._submit(_Rows([("experiments", row)]))

    def __repr__(self) -> str:
        return f"RunLog({str(self.path)!r})"


class _RedactingConnection(sqlite3.Connection):
    """The writer's connection: every text value bound into a statement passes :func:`redact`.

    This is the one place text enters the database, so every column (calls, versions, ratings,
    experiments, and any column a later migration adds) is covered, not only the fields someone
    remembered to redact.
    """

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if parameters:
            parameters = ({k: _redact_value(v) for k, v in parameters.items()} if isinstance(parameters, dict)
                          else tuple(_redact_value(v) for v in parameters))
        return super().execute(sql, parameters)


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class _Rows:
    """A writer job: rows to write, ``(table, row)``; its result is their ids."""

    rows: list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class _Claim:
    """A writer job: claim a cell (see :meth:`RunLog.claim`)."""

    experiment_id: str
    cell_key: str
    lease_s: float


def _hand_over(loop: Any, target: Any, source: Future[Any]) -> None:
    loop.call_soon_threadsafe(_transfer, source, target)


def _transfer(source: Future[Any], target: Any) -> None:
    """Hand a writer-thread result to an event loop's future (on that loop's thread)."""
    if target.done():
        return
    if source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back only a transaction that is still open: SQLite ends some itself (a full disk, for one),
    and "cannot rollback - no transaction is active" would then hide the real error."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


_owner_cache: tuple[int, str] | None = None


def current_owner() -> str:
    """This process as a claim owner: host, pid and a random token (recomputed after a fork)."""
    global _owner_cache
    if _owner_cache is None or _owner_cache[0] != os.getpid():
        _owner_cache = (os.getpid(), f"{socket.gethostname()}|{os.getpid()}|{uuid.uuid4().hex[:8]}")
    return _owner_cache[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _stale(owner: str, expires_at: float) -> bool:
    """A claim nobody will finish: its lease ran out, or its process (on this host) is gone."""
    if not math.isfinite(expires_at) or expires_at < time.time():
        return True
    host, _, rest = owner.partition("|")
    pid = rest.partition("|")[0]
    return host == socket.gethostname() and pid.isdigit() and not _alive(int(pid))


@atexit.register
def _flush_open_logs() -> None:
    """At exit, write what is still kept in memory (it is in the fallback file anyway)."""
    for log in list(_open_logs):
        try:
            with log._lock:  # directly: no new thread may start at interpreter shutdown
                if log._pending:
                    log._write_rows([])
        except Exception:  # noqa: BLE001 - nothing more can be done at exit; the fallback file stays
            pass


def row_to_response(row: sqlite3.Row | Mapping[str, Any]) -> Response:
    keys = row.keys()
    return Response(
        text=row["text"] or "",
        model=row["model"],
        provider=row["provider"],
        finish_reason=row["finish_reason"],
        choices=json.loads(row["choices_json"] or "[]"),
        usage=Usage(row["prompt_tokens"] or 0, row["completion_tokens"] or 0,
                    **{k: row[k] or 0 for k in ("reasoning_tokens", "cached_tokens") if k in keys}),
        latency_s=row["latency_s"] or 0.0,
        ttft_s=row["ttft_s"],
        cost_usd=row["cost_usd"],
        request=json.loads(row["request_json"] or "{}"),
        cached=bool(row["cached"]),
        call_id=row["id"],
        prompt_hash=row["prompt_hash"],
        error=row["error"],
        error_type=row["error_type"],
        attempts=row["attempts"],
        retried=json.loads(row["retried_json"] or "[]") if "retried_json" in keys else [],
        created_at=row["created_at"],
        tags=json.loads(row["tags_json"] or "{}") if "tags_json" in keys else {},
        **_tool_fields(row, keys),
        choice_tokens=decode_tokens(row["tokens_json"]) if "tokens_json" in keys else None,
    )


def _tool_columns(response: Response) -> dict[str, Any]:
    """The 009_conversations_tools columns of a call row (all ``None`` for a plain call)."""
    parsed = response.parsed.model_dump() if hasattr(response.parsed, "model_dump") else response.parsed
    return {
        "tool_calls_json": _dumps([c.to_dict() for c in response.tool_calls]) if response.tool_calls else None,
        "parsed_json": _dumps(parsed) if parsed is not None else None,
        "parse_error": response.parse_error,
        "parent_call_id": response.parent_call_id,
        "step": response.step,
    }


def _tool_fields(row: sqlite3.Row | Mapping[str, Any], keys: Any) -> dict[str, Any]:
    """The :class:`Response` fields read back from the 009_conversations_tools columns."""
    if "tool_calls_json" not in keys:
        return {}
    from ._tools import ToolCall

    calls = [ToolCall(c["id"], c["name"], c.get("arguments"), c.get("raw", ""), c.get("error"))
             for c in json.loads(row["tool_calls_json"] or "[]")]
    return {"tool_calls": calls, "parsed": json.loads(row["parsed_json"]) if row["parsed_json"] else None,
            "parse_error": row["parse_error"], "parent_call_id": row["parent_call_id"], "step": row["step"]}


def _row_to_version(row: sqlite3.Row) -> Version:
    return Version(
        id=row["id"],
        name=row["name"],
        created_at=row["created_at"],
        prompt_hash=row["prompt_hash"],
        prompt=json.loads(row["prompt_json"]),
        params=json.loads(row["params_json"]),
        model=row["model"],
        note=row["note"],
    )
