"""The phone's own database (SQLite): the session, the cache, the outbox, notices, fixes.

Everything the app must not lose lives here, in one file under the app's data folder: a
restart (or the phone killing the app in a tunnel) loses no action and no position fix.
One connection, shared by the UI and the sync thread behind a lock; WAL, so a crash
mid-write leaves the last committed state.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY, value TEXT NOT NULL, saved_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS action (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,              -- the Idempotency-Key (a UUID made here)
    kind TEXT NOT NULL CHECK (kind IN ('move', 'photos', 'duty')),
    case_id INTEGER,
    payload TEXT NOT NULL,
    device_time TEXT NOT NULL,             -- when the inspector did it (ISO 8601, UTC)
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dropped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_version INTEGER,                  -- the case version a move was last sent with
    last_error TEXT,
    done_at TEXT
);
CREATE INDEX IF NOT EXISTS ix_action_pending ON action (seq) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS notice (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    case_id INTEGER,
    ticket TEXT,
    code TEXT NOT NULL,                    -- why (viewmodels.i18n words it: notice_<code>)
    params TEXT NOT NULL DEFAULT '{}',     -- what the wording needs (JSON)
    seen INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS fix (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    lat REAL NOT NULL, lon REAL NOT NULL, accuracy_m REAL NOT NULL, at TEXT NOT NULL
);
"""


class Store:
    """The app's SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT), under the store's lock."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- meta: small named values --------------------------------------------------------

    def get(self, key: str, default: str | None = None) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else default

    def set(self, **values: str | None) -> None:
        """Set (or, with None, delete) named values, together."""
        with self.transaction() as db:
            for key, value in values.items():
                if value is None:
                    db.execute("DELETE FROM meta WHERE key = ?", (key,))
                else:
                    db.execute(
                        "INSERT INTO meta (key, value) VALUES (?, ?)"
                        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (key, value),
                    )

    # --- cache: the server's answers, kept for working offline ----------------------------

    def cached(self, key: str) -> Any | None:
        rows = self.query("SELECT value FROM cache WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else None

    def cache(self, key: str, value: Any, *, now: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO cache (key, value, saved_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " saved_at = excluded.saved_at",
                (key, json.dumps(value, ensure_ascii=False), now),
            )

    def forget(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM cache WHERE key = ?", (key,))
