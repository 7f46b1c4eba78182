"""The app's logic in one object the screens talk to: the session, the actions, the views.

No Kivy here: the screens call these methods and lay out what they return; changes reach
them through `listeners`, called from the worker threads (the app hops to the UI thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from field_app.models.action import Kind
from field_app.services.api import FieldApi, Tokens
from field_app.services.live import LiveFeed
from field_app.services.outbox import Outbox, utc_now
from field_app.services.positions import PositionSource, last_fix, record_fix
from field_app.services.store import Store
from field_app.services.sync import Cases, Syncer, SyncStatus, SyncWorker
from field_app.viewmodels.cases import (
    NEXT_MOVES,
    Card,
    CaseState,
    case_state,
    effective_status,
    queue_cards,
    result_choices,
)

RESULTS = ("resolved", "unresolved", "referred")


class PendingActions(Exception):
    """Signing out now would lose actions not yet sent."""


class NotAllowed(Exception):
    """The move does not fit where the case stands (on the phone's knowledge)."""


class FieldService:
    """One inspector's app state, on one data folder."""

    def __init__(
        self,
        data_dir: Path,
        *,
        position: PositionSource | None = None,
        sync_seconds: float = 15.0,
        fix_seconds: float = 30.0,
        live: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.store = Store(data_dir / "field.db")
        self.outbox = Outbox(self.store, data_dir / "photos")
        self.cases = Cases(self.store)
        self.position = position
        self.sync_seconds = sync_seconds
        self.fix_seconds = fix_seconds
        self.use_live = live
        self.listeners: list[Callable[[], None]] = []
        self.api: FieldApi | None = None
        self.worker: SyncWorker | None = None
        self.feed: LiveFeed | None = None
        self._fixes_stop = threading.Event()

    # --- the session -------------------------------------------------------------------

    @property
    def signed_in(self) -> bool:
        return self.store.get("access_token") is not None

    @property
    def server_url(self) -> str:
        return self.store.get("server_url") or "http://127.0.0.1:8000"

    @property
    def username(self) -> str:
        return self.store.get("username") or ""

    @property
    def language(self) -> str:
        return self.store.get("language") or "ko"

    def set_language(self, language: str) -> None:
        self.store.set(language=language)
        self._changed()

    def _api(self, server_url: str) -> FieldApi:
        access, refresh = self.store.get("access_token"), self.store.get("refresh_token")
        tokens = Tokens(access, refresh) if access and refresh else None
        return FieldApi(server_url, tokens, on_tokens=self._keep_tokens)

    def _keep_tokens(self, tokens: Tokens) -> None:
        self.store.set(access_token=tokens.access, refresh_token=tokens.refresh)

    def sign_in(self, server_url: str, username: str, password: str) -> dict[str, Any]:
        """Sign in (an inspector's account only) and start working; the account."""
        api = FieldApi(server_url, on_tokens=self._keep_tokens)
        try:
            me = api.sign_in(username.strip(), password)
        except BaseException:
            api.close()
            raise
        previous = self.store.get("inspector_id")
        if previous is not None and previous != str(me["inspector_id"]):
            self._forget_cases()  # another inspector's cases are not this one's
        self.store.set(server_url=server_url, username=username.strip(),
                       inspector_id=str(me["inspector_id"]))  # fmt: skip
        self.api = api
        self.start()
        return me

    def restore(self) -> bool:
        """Go on with the session kept from the last run (True), if there is one."""
        if not self.signed_in:
            return False
        self.api = self._api(self.server_url)
        self.start()
        return True

    def sign_out(self, *, force: bool = False) -> None:
        """End the session. With actions still to send, only when `force` (they are lost)."""
        if self.outbox.pending_count() and not force:
            raise PendingActions(f"{self.outbox.pending_count()} actions are not sent yet")
        if self.api is not None:
            try:
                self.api.sign_out()
            except Exception:  # offline: the tokens expire by themselves
                pass
        self.stop()
        self.store.set(access_token=None, refresh_token=None, last_event_id=None)
        self._forget_cases()
        self._changed()

    def _forget_cases(self) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM cache")
            db.execute("DELETE FROM action WHERE state = 'pending'")

    # --- the workers ---------------------------------------------------------------------

    def start(self) -> None:
        assert self.api is not None
        syncer = Syncer(self.api, self.outbox, self.cases)
        self.worker = SyncWorker(syncer, interval=self.sync_seconds,
                                 on_status=lambda status: self._changed())  # fmt: skip
        self.worker.start()
        if self.use_live:
            # The stream has its own connection (it stays open for hours).
            self.feed = LiveFeed(
                self._api(self.server_url), self.store,
                on_case=self._case_changed, on_reset=self.sync_now,
            )  # fmt: skip
            self.feed.start()
        if self.position is not None:
            self._fixes_stop.clear()
            threading.Thread(target=self._take_fixes, name="fixes", daemon=True).start()

    def stop(self) -> None:
        self._fixes_stop.set()
        if self.feed is not None:
            self.feed.stop()
            self.feed = None
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def close(self) -> None:
        self.stop()
        if self.api is not None:
            self.api.close()
        self.store.close()

    def sync_now(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    def _case_changed(self, case_id: int) -> None:
        self.sync_now()  # the pass fetches the queue, and the case again if it changed

    def _take_fixes(self) -> None:
        while not self._fixes_stop.is_set():
            fix = self.position.fix() if self.position is not None else None
            if fix is not None:
                record_fix(self.store, fix)
            self._fixes_stop.wait(self.fix_seconds)

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener()

    @property
    def status(self) -> SyncStatus:
        if self.worker is None:
            return SyncStatus(pending=self.outbox.pending_count())
        return self.worker.status

    # --- actions -------------------------------------------------------------------------

    @property
    def on_duty(self) -> bool:
        return self.store.get("on_duty") == "1"

    def set_duty(self, on_duty: bool) -> None:
        self.store.set(on_duty="1" if on_duty else "0")
        self.outbox.record(Kind.DUTY, {"on_duty": on_duty})
        self._after_action()

    def move(self, case_id: int, to: str, **fields: Any) -> None:
        """A move on a case (accepted, en_route, on_site, or a result), kept to be sent."""
        case = self.cases.case(case_id)
        if case is None:
            raise NotAllowed("the case is not on this phone")
        status = self.status_of(case)
        allowed = NEXT_MOVES.get(status, [])
        if to not in allowed and not (to in RESULTS and "result" in allowed):
            raise NotAllowed(f"a case that is {status} cannot become {to}")
        now = utc_now()
        payload = {"to": to, "occurred_at": now, **{k: v for k, v in fields.items() if v}}
        self.outbox.record(Kind.MOVE, payload, case_id=case_id, device_time=now)
        self._after_action()

    def record_result(
        self,
        case_id: int,
        outcome: str,
        *,
        result_code: str | None = None,
        referred_to: str | None = None,
        note: str | None = None,
        photos: list[Path] | None = None,
    ) -> None:
        """The visit's result, with its photos (sent first) and a note."""
        if outcome not in RESULTS:
            raise NotAllowed(f"not a result: {outcome}")
        if outcome == "unresolved" and not result_code:
            raise NotAllowed("an unresolved case needs a reason")
        if outcome == "referred" and not referred_to:
            raise NotAllowed("a referred case needs the agency it goes to")
        if photos:
            self.outbox.add_photos(case_id, photos)
        self.move(case_id, outcome, result_code=result_code, referred_to=referred_to, note=note)

    def add_photos(self, case_id: int, photos: list[Path]) -> None:
        self.outbox.add_photos(case_id, photos)
        self._after_action()

    def _after_action(self) -> None:
        if self.worker is not None:
            self.worker.status.pending = self.outbox.pending_count()
        self._changed()
        self.sync_now()

    # --- what the screens show -----------------------------------------------------------

    def status_of(self, case: dict[str, Any]) -> str:
        moves = [a.payload for a in self.outbox.pending_moves(int(case["id"]))]
        return effective_status(case["status"], moves)

    def cards(self, now: datetime | None = None) -> list[Card]:
        waiting: dict[int, list[dict[str, Any]]] = {}
        for action in self.outbox.pending():
            if action.kind is Kind.MOVE and action.case_id is not None:
                waiting.setdefault(action.case_id, []).append(action.payload)
        return queue_cards(
            self.cases.queue(), waiting, self.cases.reference(), last_fix(self.store),
            now or datetime.now(UTC), self.language,
        )  # fmt: skip

    def case(
        self, case_id: int, now: datetime | None = None, zone: tzinfo | None = None
    ) -> CaseState | None:
        case = self.cases.case(case_id)
        if case is None:
            return None
        pending = [a for a in self.outbox.pending() if a.case_id == case_id]
        moves = [a.payload for a in pending if a.kind is Kind.MOVE]
        return case_state(
            case, moves, len(pending), self.cases.reference(), last_fix(self.store),
            now or datetime.now(UTC), zone or datetime.now().astimezone().tzinfo or UTC,
            self.language,
        )  # fmt: skip

    def results(self, case_id: int, outcome: str) -> list[tuple[str, str]]:
        case = self.cases.case(case_id) or {}
        return result_choices(self.cases.reference(), case.get("category", ""), outcome,
                              self.language)  # fmt: skip

    def photo_bytes(self, url: str) -> bytes | None:
        """A photo of one of my cases (None offline)."""
        if self.api is None:
            return None
        try:
            return self.api.photo(url)
        except Exception:
            return None
