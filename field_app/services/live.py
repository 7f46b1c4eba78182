"""Live: the server's event stream of my cases, read on a thread while the app is open.

A `complaint` event names a case of mine that changed (or was taken from me): the worker
is asked to fetch it again. A `reset` (the events after our position are gone) asks for
everything again. The last event's id is kept in the store, so a restart resumes the stream
where it was; a lost connection reconnects with a growing pause.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from field_app.services.api import FieldApi, Offline, SignInNeeded
from field_app.services.store import Store

logger = logging.getLogger(__name__)


class LiveFeed:
    """The stream on a thread; `on_case(case_id)` and `on_reset()` are called from it."""

    def __init__(
        self,
        api: FieldApi,
        store: Store,
        *,
        on_case: Callable[[int], None],
        on_reset: Callable[[], None],
        on_state: Callable[[bool], None] | None = None,
    ) -> None:
        self.api = api
        self.store = store
        self.on_case = on_case
        self.on_reset = on_reset
        self.on_state = on_state
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        pause = 1.0
        while not self._stop.is_set():
            try:
                if self.on_state is not None:
                    self.on_state(True)
                for event_id, kind, data in self.api.stream(self.store.get("last_event_id")):
                    if self._stop.is_set():
                        return
                    self._handle(kind, data)
                    if event_id:
                        self.store.set(last_event_id=event_id)
                    pause = 1.0
            except (Offline, SignInNeeded) as error:
                logger.info("live stream: %s", error)
            except Exception:  # keep listening whatever one event did
                logger.exception("live stream failed")
            if self.on_state is not None:
                self.on_state(False)
            self._stop.wait(pause)
            pause = min(pause * 2, 30.0)

    def _handle(self, kind: str, data: str) -> None:
        if kind == "reset":
            self.on_reset()
            return
        if kind != "complaint":
            return
        event = json.loads(data)
        case = event.get("complaint") or {}
        if "id" in case:
            self.on_case(int(case["id"]))
