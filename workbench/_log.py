"""The run log: every call, saved prompt version and rating, in one SQLite file.

Rows are written as each call completes, so nothing computed is lost when a
kernel dies; the same rows serve as the cache and let an interrupted
experiment resume. WAL mode and a busy timeout let two notebooks write to one
log at once. The schema evolves through small named migrations. Text that
could carry a secret passes through :func:`redact` before it is stored.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import RunLogError
from ._keys import redact
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
]


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
    """A SQLite run log. ``RunLog(":memory:")`` for tests, a path, or the default."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, busy_timeout_s: float = 30.0) -> None:
        self.path = ":memory:" if str(path) == ":memory:" else Path(path) if path else default_log_path()
        self._lock = threading.RLock()
        self._busy_timeout_s = busy_timeout_s
        self._conn = self._open()

    # --- opening and migrations ------------------------------------------
    def _open(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                str(self.path), timeout=self._busy_timeout_s, check_same_thread=False, isolation_level=None
            )
            conn.row_factory = sqlite3.Row
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
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
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")
        conn.execute("PRAGMA foreign_keys=ON")
        self._migrate(conn)
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                for statement in filter(str.strip, sql.split(";")):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, _now()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, retried if another process holds the lock too long."""
        with self._lock:
            for attempt in range(20):
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise RunLogError(f"{self.path} stayed locked by another process. Fix: close the other notebook's run.")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return fn(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def integrity_check(self) -> str:
        return self._read(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0])

    # --- calls -----------------------------------------------------------
    def record(self, request: Request, response: Response, *, experiment_id: str | None = None,
               cell_key: str | None = None) -> int:
        """Store one finished call (answer or error) and return its id."""
        row = {
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
        }
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._tx() as conn:
            cur = conn.execute(f"INSERT INTO calls ({cols}) VALUES ({marks})", tuple(row.values()))
            return int(cur.lastrowid)

    def lookup(self, cache_key: str) -> Response | None:
        """The latest successful answer to an identical request, marked as cached."""
        row = self._read(lambda c: c.execute(
            "SELECT * FROM calls WHERE cache_key = ? AND status = 'ok' ORDER BY id DESC LIMIT 1", (cache_key,)
        ).fetchone())
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
        """Successful results already logged for an experiment, by cell key (for resuming)."""
        rows = self._read(lambda c: c.execute(
            "SELECT * FROM calls WHERE experiment_id = ? AND status = 'ok' ORDER BY id", (experiment_id,)
        ).fetchall())
        return {r["cell_key"]: row_to_response(r) for r in rows}

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

    def count(self) -> int:
        return self._read(lambda c: c.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    # --- versions --------------------------------------------------------
    def save_version(self, name: str, prompt: Any, params: dict[str, Any], model: str | None = None,
                     note: str | None = None) -> Version:
        from ._prompt import Prompt

        if not name or not name.strip():
            raise RunLogError("A version needs a name. Fix: give one, e.g. 'v2-shorter-system'.")
        p: Prompt = prompt
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO versions (name, created_at, prompt_hash, prompt_json, params_json, model, note) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name.strip(), _now(), p.hash, _dumps(p.to_dict()), _dumps(params), model, note),
            )
            vid = int(cur.lastrowid)
        return self.version(vid)

    def versions(self, name: str | None = None) -> list[Version]:
        sql, args = "SELECT * FROM versions", ()
        if name:
            sql, args = sql + " WHERE name = ?", (name,)
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
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM calls WHERE id = ?", (call_id,)).fetchone() is None:
                raise RunLogError(f"No call with id {call_id} to rate. Fix: rate the call_id of a logged response.")
            conn.execute(
                "INSERT INTO ratings (call_id, created_at, rating, note) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(call_id) DO UPDATE SET created_at=excluded.created_at, rating=excluded.rating, "
                "note=excluded.note",
                (call_id, _now(), rating, redact(note) if note else note),
            )

    def ratings(self) -> pd.DataFrame:
        import pandas as pd

        return self._read(lambda c: pd.read_sql_query("SELECT * FROM ratings ORDER BY call_id", c))

    # --- experiments -----------------------------------------------------
    def save_experiment(self, experiment_id: str, name: str | None, config: dict[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO experiments (id, name, created_at, config_json) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO NOTHING",
                (experiment_id, name, _now(), _dumps(config)),
            )

    def __repr__(self) -> str:
        return f"RunLog({str(self.path)!r})"


def row_to_response(row: sqlite3.Row) -> Response:
    keys = row.keys()
    return Response(
        text=row["text"] or "",
        model=row["model"],
        provider=row["provider"],
        finish_reason=row["finish_reason"],
        choices=json.loads(row["choices_json"] or "[]"),
        usage=Usage(row["prompt_tokens"] or 0, row["completion_tokens"] or 0),
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
    )


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
