"""The outbox: every action first lands here, with its Idempotency-Key and the device time,
and waits (in order) until the server has it.

A resend of an action carries the same key and the same body (a move keeps the version it
was first sent with), so the server acts on it once however often the connection fails
half way. An action the server refuses for good is dropped with a notice that says why,
in the inspector's words; it is never applied on the phone alone.
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from field_app.models.action import Action, Kind, Notice
from field_app.services.store import Store


def utc_now() -> str:
    """The device's time now, as the outbox records it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Outbox:
    """Actions in order, over the store."""

    def __init__(self, store: Store, photo_dir: Path) -> None:
        self.store = store
        self.photo_dir = photo_dir

    def record(
        self, kind: Kind, payload: dict[str, Any], *, case_id: int | None = None,
        device_time: str | None = None,
    ) -> Action:  # fmt: skip
        """Keep a new action (it is sent by the sync worker)."""
        key = str(uuid.uuid4())
        with self.store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO action (key, kind, case_id, payload, device_time)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, str(kind), case_id, json.dumps(payload, ensure_ascii=False),
                 device_time or utc_now()),
            )  # fmt: skip
            seq = cursor.lastrowid
        return self.get(int(seq or 0))

    def add_photos(self, case_id: int, files: list[Path]) -> Action:
        """Photos for a case: copied into the app's own folder first, so the action does not
        depend on a file the camera app or the user may move or delete."""
        self.photo_dir.mkdir(parents=True, exist_ok=True)
        kept = []
        for file in files:
            target = self.photo_dir / f"{uuid.uuid4().hex}{file.suffix.lower()}"
            shutil.copyfile(file, target)
            kept.append(str(target))
        return self.record(Kind.PHOTOS, {"files": kept}, case_id=case_id)

    def get(self, seq: int) -> Action:
        (row,) = self.store.query("SELECT * FROM action WHERE seq = ?", (seq,))
        return Action.of(row)

    def pending(self) -> list[Action]:
        """Waiting actions, oldest first."""
        rows = self.store.query("SELECT * FROM action WHERE state = 'pending' ORDER BY seq")
        return [Action.of(row) for row in rows]

    def pending_count(self) -> int:
        rows = self.store.query("SELECT count(*) AS n FROM action WHERE state = 'pending'")
        return int(rows[0]["n"])

    def pending_moves(self, case_id: int) -> list[Action]:
        """A case's waiting moves, oldest first (the screens show the case as they make it)."""
        return [a for a in self.pending() if a.kind is Kind.MOVE and a.case_id == case_id]

    def attempt(self, action: Action, *, sent_version: int | None = None) -> None:
        """Note an attempt (before sending: a crash mid-send resends the same body)."""
        with self.store.transaction() as db:
            db.execute(
                "UPDATE action SET attempts = attempts + 1,"
                " sent_version = coalesce(?, sent_version) WHERE seq = ?",
                (sent_version, action.seq),
            )

    def forget_version(self, action: Action) -> None:
        """The case moved on the server: the next attempt sends its new version."""
        with self.store.transaction() as db:
            db.execute("UPDATE action SET sent_version = NULL WHERE seq = ?", (action.seq,))

    def failed(self, action: Action, error: str) -> None:
        """An attempt that did not reach a verdict (offline, server busy): retried later."""
        with self.store.transaction() as db:
            db.execute("UPDATE action SET last_error = ? WHERE seq = ?", (error, action.seq))

    def sent(self, action: Action) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE action SET state = 'sent', last_error = NULL, done_at = ? WHERE seq = ?",
                (utc_now(), action.seq),
            )
        self._clean_files(action)

    def drop(
        self, action: Action, *, code: str, params: dict[str, Any], ticket: str | None
    ) -> Notice:
        """Refused for good: dropped, with a notice saying why."""
        now = utc_now()
        text = json.dumps(params, ensure_ascii=False)
        with self.store.transaction() as db:
            db.execute(
                "UPDATE action SET state = 'dropped', last_error = ?, done_at = ? WHERE seq = ?",
                (f"{code} {text}", now, action.seq),
            )
            cursor = db.execute(
                "INSERT INTO notice (at, case_id, ticket, code, params) VALUES (?, ?, ?, ?, ?)",
                (now, action.case_id, ticket, code, text),
            )
        self._clean_files(action)
        return Notice(int(cursor.lastrowid or 0), now, action.case_id, ticket, code, params)

    def history(self, limit: int = 200) -> list[Action]:
        """Every action, newest first (the settings screen's sync log)."""
        rows = self.store.query("SELECT * FROM action ORDER BY seq DESC LIMIT ?", (limit,))
        return [Action.of(row) for row in rows]

    def notices(self, *, unseen_only: bool = False) -> list[Notice]:
        where = "WHERE seen = 0" if unseen_only else ""
        rows = self.store.query(f"SELECT * FROM notice {where} ORDER BY id DESC")
        return [Notice.of(row) for row in rows]

    def seen(self, notice_ids: list[int]) -> None:
        with self.store.transaction() as db:
            db.executemany("UPDATE notice SET seen = 1 WHERE id = ?", [(i,) for i in notice_ids])

    def _clean_files(self, action: Action) -> None:
        if action.kind is Kind.PHOTOS:
            for name in action.payload.get("files", []):
                Path(name).unlink(missing_ok=True)
