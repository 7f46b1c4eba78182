"""The field app's logic (no window): against a real `dasan serve`, through a loopback proxy
that can cut the network or lose answers, as a phone's connection does.

The UI tests (a real Kivy window under Xvfb) are in tests/test_field_app_ui.py.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dispatch_server.accounts.credentials import Passwords, Role
from field_app.services.api import Offline, SignInNeeded
from field_app.services.field import FieldService, NotAllowed, PendingActions
from field_app.services.positions import FixedPosition
from field_app.services.sync import Cases, Syncer
from tests.auth import city_agent, committed_headers, jongno_dispatcher
from tests.factories import complaint_body
from tests.netcut import NetCut, netcut
from tests.test_photos import jpeg
from tests.test_server import free_port, jongno_inspectors, running_server

pytestmark = pytest.mark.server

PASSWORD = "field app password"
CHEAP = Passwords(time_cost=1, memory_kib=64, parallelism=1)


@dataclass
class Server:
    base: str
    url: str  # its database

    def agent(self) -> dict[str, str]:
        return city_agent(self.url)

    def dispatcher(self) -> dict[str, str]:
        return jongno_dispatcher(self.url)

    def case(self, **body: Any) -> dict[str, Any]:
        answer = httpx.post(f"{self.base}/api/v1/complaints", json=complaint_body(**body),
                            headers=self.agent(), timeout=10)  # fmt: skip
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def move(self, case: dict[str, Any], **body: Any) -> dict[str, Any]:
        current = self.get(case)
        answer = httpx.post(
            f"{self.base}/api/v1/dispatch/complaints/{case['id']}/transitions",
            json={"version": current["version"], **body}, headers=self.dispatcher(), timeout=10,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def get(self, case: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.get(f"{self.base}/api/v1/complaints/{case['ticket']}",
                           headers=self.agent(), timeout=10)  # fmt: skip
        return dict(answer.json())

    def timeline(self, case: dict[str, Any]) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.base}/api/v1/complaints/{case['ticket']}/events",
                           headers=self.agent(), timeout=10)  # fmt: skip
        return list(answer.json()["events"])

    def photos(self, case: dict[str, Any]) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.base}/api/v1/dispatch/complaints/{case['id']}/photos",
                           headers=self.dispatcher(), timeout=10)  # fmt: skip
        return list(answer.json()["photos"])

    def sql(self, statement: str, **params: Any) -> Any:
        engine = create_engine(self.url, poolclass=NullPool)
        with engine.begin() as connection:
            result = connection.execute(text(statement), params)
            value = result.all() if result.returns_rows else None
        engine.dispose()
        return value


@pytest.fixture(scope="module")
def server(
    make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    url = make_database("fieldapp")
    env = {**os.environ, "DASAN_DATABASE_URL": url, "DASAN_PORT": str(free_port()),
           "DASAN_WORKERS": "1", "DASAN_STREAM_POLL_SECONDS": "0.1",
           "DASAN_STREAM_HEARTBEAT_SECONDS": "1"}  # fmt: skip
    with running_server(env, tmp_path_factory.mktemp("fieldapp") / "serve.log") as base:
        yield Server(base, url)


@dataclass
class Inspector:
    id: int
    username: str


def new_inspector(server: Server) -> Inspector:
    """An on-duty inspector of Jongno-gu with an account and PASSWORD."""
    (inspector_id,) = jongno_inspectors(server.url, f"field team {uuid.uuid4().hex[:6]}", 1)
    username = f"field-{inspector_id}"
    server.sql(
        "INSERT INTO user_account (username, display_name, role, districts, inspector_id,"
        " password_hash, active, created_at, password_changed_at) VALUES (:u, :u, 'inspector',"
        " '{}', :i, :h, true, now(), now())",
        u=username, i=inspector_id, h=CHEAP.hash(PASSWORD),
    )  # fmt: skip
    return Inspector(inspector_id, username)


@pytest.fixture()
def net(server: Server) -> Iterator[NetCut]:
    with netcut(int(server.base.rsplit(":", 1)[1])) as proxy:
        yield proxy


@pytest.fixture()
def inspector(server: Server) -> Inspector:
    return new_inspector(server)


@pytest.fixture()
def app(tmp_path: Path, net: NetCut, inspector: Inspector) -> Iterator[FieldService]:
    """The app's logic, signed in through the proxy; its workers are not started (the
    tests drive the sync passes themselves)."""
    service = FieldService(tmp_path / "phone", live=False)
    service.start = lambda: None  # type: ignore[method-assign]
    service.sign_in(net.url, inspector.username, PASSWORD)
    yield service
    service.close()


def syncer(app: FieldService) -> Syncer:
    assert app.api is not None
    return Syncer(app.api, app.outbox, Cases(app.store))


def assigned_case(server: Server, inspector: Inspector, **body: Any) -> dict[str, Any]:
    case = server.case(**body)
    return server.move(case, to="assigned", inspector_id=inspector.id)


def test_only_an_inspector_signs_in_and_the_session_survives_a_restart(
    server: Server, net: NetCut, inspector: Inspector, tmp_path: Path
) -> None:
    phone = tmp_path / "phone"
    service = FieldService(phone, live=False)
    with pytest.raises(SignInNeeded):
        service.sign_in(net.url, inspector.username, "not the password")
    committed_headers(server.url, Role.AGENT)  # (an agent exists, but has no password)
    me = service.sign_in(net.url, inspector.username, PASSWORD)
    assert me["role"] == "inspector" and me["inspector_id"] == inspector.id
    service.close()
    # The phone is switched off and on: the session is still there, no password asked.
    again = FieldService(phone, live=False)
    assert again.signed_in and again.restore()
    syncer(again).pull()
    assert again.cases.queue() == {"inspector_id": inspector.id, "items": []}
    again.close()


def test_the_queue_and_cases_are_cached_for_working_in_a_tunnel(
    server: Server, net: NetCut, inspector: Inspector, app: FieldService
) -> None:
    parking = assigned_case(server, inspector, priority="normal")
    urgent = assigned_case(server, inspector, category="street_lamp", priority="urgent")
    syncer(app).pull()
    net.cut()
    # Offline, the app still has everything to work with.
    with pytest.raises(Offline):
        syncer(app).pull()
    cards = app.cards()
    assert [c.ticket for c in cards] == [urgent["ticket"], parking["ticket"]]
    assert cards[0].category == "가로등 고장" and cards[0].clock_state in ("ok", "warning")
    assert "남음" in cards[1].countdown  # "arrive · 29:59 left", counting down
    state = app.case(parking["id"])
    assert state is not None and state.phone == "+82******5678"
    assert [line[1] for line in state.timeline] == ["민원 접수", "배정"]
    assert state.actions == ["accepted"]
    net.restore()


def test_actions_made_offline_reach_the_server_once_in_order(
    server: Server, net: NetCut, inspector: Inspector, app: FieldService, tmp_path: Path
) -> None:
    case = assigned_case(server, inspector)
    syncer(app).pull()
    net.cut()
    photo = tmp_path / "IMG_1.jpg"
    photo.write_bytes(jpeg(colour="orange"))
    app.move(case["id"], "accepted")
    app.move(case["id"], "en_route")
    app.move(case["id"], "on_site")
    app.record_result(case["id"], "resolved", result_code="ticket_issued",
                      note="과태료 부과", photos=[photo])  # fmt: skip
    assert app.outbox.pending_count() == 5
    assert app.case(case["id"]).status == "resolved"  # shown at once, marked waiting
    with pytest.raises(Offline):
        syncer(app).push()
    with pytest.raises(Offline):  # the network still down: a retry changes nothing
        syncer(app).push()
    assert app.outbox.pending_count() == 5
    net.restore()
    assert syncer(app).push() == []
    assert app.outbox.pending_count() == 0
    moves = [e["type"] for e in server.timeline(case)]
    assert moves == ["received", "assigned", "accepted", "en_route", "on_site", "resolved"]
    resolved = server.timeline(case)[-1]
    assert (
        resolved["payload"]["note"] == "과태료 부과"
        and resolved["actor"] == f"inspector:{inspector.id}"
    )
    assert len(server.photos(case)) == 1
    # Each counts from when the inspector did it, not from when it arrived.
    for event in server.timeline(case)[2:]:
        assert event["payload"]["device_time"] <= event["payload"]["received_at"]


def test_an_answer_lost_on_the_way_does_not_make_a_move_twice(
    server: Server, net: NetCut, inspector: Inspector, app: FieldService
) -> None:
    case = assigned_case(server, inspector)
    syncer(app).pull()
    app.move(case["id"], "accepted")
    app.move(case["id"], "en_route")
    net.lose_answers(1)  # the server takes the first move; its answer never comes back
    with pytest.raises(Offline):
        syncer(app).push()
    assert server.get(case)["status"] == "accepted"  # done on the server already
    for _ in range(3):  # the phone tries again, and again: the same key, the same body
        syncer(app).push()
    assert [e["type"] for e in server.timeline(case)].count("accepted") == 1
    assert server.get(case)["status"] == "en_route"
    assert app.outbox.pending_count() == 0


def test_a_case_taken_away_meanwhile_drops_the_action_and_says_why(
    server: Server, net: NetCut, inspector: Inspector, app: FieldService
) -> None:
    other = new_inspector(server)
    taken = assigned_case(server, inspector)
    cancelled = assigned_case(server, inspector)
    syncer(app).pull()
    net.cut()
    app.move(taken["id"], "accepted")
    app.move(cancelled["id"], "accepted")
    # Meanwhile, in the office: one case goes to another inspector, one is cancelled.
    server.move(taken, to="assigned", inspector_id=other.id, reason="closer")
    server.move(cancelled, to="cancelled", reason="the car left")
    net.restore()
    notices = syncer(app).push()
    assert app.outbox.pending_count() == 0
    by_ticket = {n.ticket: n.message for n in notices}
    # Either way the case left the inspector's scope: the server says no more than that.
    assert "no longer yours" in by_ticket[taken["ticket"]]
    assert "no longer yours" in by_ticket[cancelled["ticket"]]
    for case in (taken, cancelled):  # nothing of it reached the server
        assert "accepted" not in [e["type"] for e in server.timeline(case)]
    assert [n.ticket for n in app.outbox.notices(unseen_only=True)] == [
        cancelled["ticket"], taken["ticket"]
    ]  # fmt: skip


def test_a_move_that_does_not_fit_is_refused_on_the_phone(
    server: Server, inspector: Inspector, app: FieldService
) -> None:
    case = assigned_case(server, inspector)
    syncer(app).pull()
    with pytest.raises(NotAllowed):
        app.move(case["id"], "resolved")  # not before arriving
    with pytest.raises(NotAllowed):
        app.record_result(case["id"], "unresolved")  # a reason is needed
    assert app.outbox.pending_count() == 0
    app.move(case["id"], "accepted")
    with pytest.raises(PendingActions):
        app.sign_out()  # an action not yet sent would be lost
    syncer(app).push()
    reasons = [code for code, _ in app.results(case["id"], "unresolved")]
    assert "vehicle_gone" in reasons and "not_found" in reasons


def test_new_assignments_arrive_live_and_positions_are_reported(
    server: Server, net: NetCut, inspector: Inspector, tmp_path: Path
) -> None:
    service = FieldService(tmp_path / "live", position=FixedPosition(37.5721, 126.9901),
                           sync_seconds=60, fix_seconds=0.2)  # fmt: skip
    service.sign_in(net.url, inspector.username, PASSWORD)
    try:
        time.sleep(1.0)  # the first pass and the stream's start
        case = assigned_case(server, inspector)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any(c.ticket == case["ticket"] for c in service.cards()):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the new case did not arrive by the live stream")
        service.sync_now()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rows = server.sql("SELECT ST_Y(position), ST_X(position) FROM inspector WHERE id = :i",
                              i=inspector.id)  # fmt: skip
            if rows and rows[0][0] == pytest.approx(37.5721):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the position did not reach the server")
    finally:
        service.close()


def test_a_device_time_far_in_the_past_is_kept_in_the_timeline(
    server: Server, inspector: Inspector, app: FieldService
) -> None:
    case = assigned_case(server, inspector)
    syncer(app).pull()
    app.move(case["id"], "accepted")
    (action,) = app.outbox.pending()
    said = datetime.now(UTC) - timedelta(hours=30)  # a phone whose clock is a day behind
    with app.store.transaction() as db:
        db.execute("UPDATE action SET payload = json_set(payload, '$.occurred_at', ?)"
                   " WHERE seq = ?", (said.isoformat(), action.seq))  # fmt: skip
    syncer(app).push()
    accepted = server.timeline(case)[-1]
    assert accepted["payload"]["device_time"] == said.isoformat()
    # Counted from the case's last change, not from a day before it.
    assigned = server.timeline(case)[-2]
    assert accepted["at"] >= assigned["at"]
