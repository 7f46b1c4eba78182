"""Keeping the phone and the server in step: actions out (in order), cases in, fixes out.

`Syncer` does one pass at a time and can be driven directly (tests, the benchmark);
`SyncWorker` runs passes on a thread: when woken (a new action, a live event, the network
back), and every `interval` seconds, backing off while the server cannot be reached.

The rule for actions: they go in the order they were made, and the pass stops at the
first one that gets no verdict (no network, server busy), so a later action never
overtakes an earlier one. An action refused for good is dropped with a notice; the ones
after it go on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from field_app.models.action import Action, Kind, Notice
from field_app.services.api import FieldApi, Offline, Refused, SignInNeeded
from field_app.services.outbox import Outbox, utc_now
from field_app.services.store import Store

logger = logging.getLogger(__name__)

MAX_FIXES = 500  # the server takes at most this many fixes a request


@dataclass
class SyncStatus:
    """What the screens show of the sync: the badge, the banner, the notices."""

    online: bool = False
    pending: int = 0
    last_sync_at: str | None = None
    problem: str | None = None
    sign_in_needed: bool = False
    notices: list[Notice] = field(default_factory=list)


class Cases:
    """The cached queue and cases, as the server last gave them."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def queue(self) -> dict[str, Any] | None:
        return self.store.cached("queue")

    def case(self, case_id: int) -> dict[str, Any] | None:
        return self.store.cached(f"case:{case_id}")

    def reference(self) -> dict[str, Any] | None:
        return self.store.cached("reference")

    def keep_case(self, case: dict[str, Any]) -> None:
        self.store.cache(f"case:{case['id']}", case, now=utc_now())

    def update_case(self, moved: dict[str, Any]) -> None:
        """A move's answer (the case without its timeline) over the cached bundle."""
        cached = self.case(moved["id"]) or {}
        self.keep_case({**cached, **moved, "stale": True})

    def keep_queue(self, queue: dict[str, Any]) -> None:
        self.store.cache("queue", queue, now=utc_now())

    def keep_reference(self, reference: dict[str, Any]) -> None:
        self.store.cache("reference", reference, now=utc_now())

    def stale_ids(self) -> list[int]:
        """Cases whose cached copy a move's answer overwrote (their timeline and clocks
        are behind): read again at the next pass, in the queue or not (a resolved case)."""
        rows = self.store.query(
            "SELECT key FROM cache WHERE key LIKE 'case:%' AND json_extract(value, '$.stale')"
        )
        return [int(row["key"].split(":", 1)[1]) for row in rows]

    def version_of(self, case_id: int) -> int | None:
        case = self.case(case_id)
        return None if case is None else int(case["version"])


class Syncer:
    """One pass at a time; every method may raise Offline or SignInNeeded."""

    def __init__(self, api: FieldApi, outbox: Outbox, cases: Cases) -> None:
        self.api = api
        self.outbox = outbox
        self.cases = cases

    def push(self) -> list[Notice]:
        """Send the waiting actions in order; the notices of those refused for good."""
        dropped = []
        for action in self.outbox.pending():
            try:
                notice = self._send(action)
            except Offline as error:
                self.outbox.failed(action, str(error))
                raise
            if notice is not None:
                dropped.append(notice)
        return dropped

    def _send(self, action: Action) -> Notice | None:
        try:
            if action.kind is Kind.MOVE:
                self._move(action)
            elif action.kind is Kind.PHOTOS:
                self.outbox.attempt(action)
                files = [Path(name) for name in action.payload["files"]]
                self.api.add_photos(int(action.case_id or 0), files)
            else:
                self.outbox.attempt(action)
                self.api.set_duty(bool(action.payload["on_duty"]))
        except Refused as refused:
            code, params = explain(action, refused)
            return self.outbox.drop(
                action, code=code, params=params, ticket=self._ticket(action.case_id)
            )
        except FileNotFoundError:
            return self.outbox.drop(action, code="photo_missing", params={},
                                    ticket=self._ticket(action.case_id))  # fmt: skip
        self.outbox.sent(action)
        return None

    def _move(self, action: Action) -> None:
        case_id = int(action.case_id or 0)
        version = action.sent_version or self.cases.version_of(case_id)
        if version is None:
            version = self._fetch(case_id)["version"]
        # Kept before sending: if the answer is lost, the resend is the same request (same
        # key, same body), and the server answers it without acting twice.
        self.outbox.attempt(action, sent_version=version)
        try:
            moved = self.api.move(case_id, {**action.payload, "version": version}, key=action.key)
        except Refused as refused:
            if refused.code != "stale_version":
                raise
            # The case changed on the server (a dispatcher, another device): the key is not
            # used up by a refused attempt, so try once more at the version it has now.
            self.outbox.forget_version(action)
            version = self._fetch(case_id)["version"]
            self.outbox.attempt(action, sent_version=version)
            moved = self.api.move(case_id, {**action.payload, "version": version}, key=action.key)
        self.cases.update_case(moved)

    def _fetch(self, case_id: int) -> dict[str, Any]:
        case = self.api.case(case_id)
        self.cases.keep_case(case)
        return case

    def _ticket(self, case_id: int | None) -> str | None:
        case = self.cases.case(case_id) if case_id is not None else None
        return None if case is None else str(case["ticket"])

    def pull(self) -> None:
        """The queue, each of its cases (with timeline and photos) and the reference."""
        queue = self.api.queue()
        self.cases.keep_queue(queue)
        for item in queue["items"]:
            cached = self.cases.case(item["id"])
            if cached is None or cached.get("stale") or cached["version"] != item["version"]:
                self._fetch(item["id"])
        for case_id in self.cases.stale_ids():  # finished, so no longer in the queue
            self.refresh_case(case_id)
        if self.cases.reference() is None:
            self.cases.keep_reference(self.api.reference())

    def refresh_case(self, case_id: int) -> None:
        """One case again (a live event said it changed); gone from me: forgotten."""
        try:
            self._fetch(case_id)
        except Refused as refused:
            if refused.status == 404:
                self.cases.store.forget(f"case:{case_id}")
            else:
                raise

    def push_fixes(self) -> int:
        """Position fixes taken offline, in batches, oldest first; how many were sent."""
        sent = 0
        store = self.outbox.store
        while True:
            rows = store.query("SELECT * FROM fix ORDER BY id LIMIT ?", (MAX_FIXES,))
            if not rows:
                return sent
            pings = [{"lat": r["lat"], "lon": r["lon"], "accuracy_m": r["accuracy_m"],
                      "at": r["at"]} for r in rows]  # fmt: skip
            try:
                self.api.report_positions(pings)
            except Refused as refused:
                # Fixes from too long ago (a day offline) are of no use: let them go.
                logger.warning("position fixes refused (%s): dropped", refused)
            with store.transaction() as db:
                db.execute("DELETE FROM fix WHERE id <= ?", (rows[-1]["id"],))
            sent += len(rows)


def explain(action: Action, refused: Refused) -> tuple[str, dict[str, Any]]:
    """Why the server refused an action: a notice code and its values."""
    details = refused.details if isinstance(refused.details, dict) else {}
    if refused.status == 404:
        return "not_yours", {}
    if refused.code == "invalid_transition":
        return "case_changed", {"status": details.get("status", ""),
                                "move": action.payload.get("to", "")}  # fmt: skip
    if refused.code == "photo_refused":
        return "photos_refused", {"reason": refused.message}
    return "refused", {"reason": refused.message}


class SyncWorker:
    """Sync passes on a thread of their own."""

    def __init__(
        self,
        syncer: Syncer,
        *,
        interval: float = 15.0,
        on_status: Callable[[SyncStatus], None] | None = None,
    ) -> None:
        self.syncer = syncer
        self.interval = interval
        self.on_status = on_status
        self.status = SyncStatus(pending=syncer.outbox.pending_count())
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._failures = 0
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Sync now (a new action, a live event, the network back)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.run_once()
            self._wake.wait(wait)
            self._wake.clear()

    def run_once(self) -> float:
        """One pass; how long to wait before the next if nothing wakes the worker."""
        status = self.status
        wait = self.interval
        try:
            status.notices = self.syncer.push() + status.notices
            self.syncer.push_fixes()
            self.syncer.pull()
            status.online, status.problem, status.sign_in_needed = True, None, False
            status.last_sync_at = utc_now()
            self._failures = 0
        except Offline as error:
            self._failures += 1
            status.online, status.problem = False, str(error)
            # 2 s, 4 s, ... up to a minute; at least what the server asked for.
            wait = max(error.retry_after, min(60.0, 2.0**self._failures))
        except SignInNeeded as error:
            status.online, status.sign_in_needed, status.problem = True, True, str(error)
        except Exception as error:  # a bug must not kill the worker: log, retry later
            logger.exception("sync pass failed")
            status.problem = f"{type(error).__name__}: {error}"
        status.pending = self.syncer.outbox.pending_count()
        if self.on_status is not None:
            self.on_status(status)
        return wait
