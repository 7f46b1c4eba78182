"""The field app's logic (no window): against a real `dasan serve`, through a loopback proxy
that can cut the network or lose answers, as a phone's connection does.

The UI tests (a real Kivy window under Xvfb) are in tests/test_field_app_ui.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatch_server.accounts.credentials import Role
from field_app.services.api import Offline, SignInNeeded
from field_app.services.field import FieldService, NotAllowed, PendingActions
from field_app.services.positions import FixedPosition
from field_app.services.sync import Cases, Syncer
from tests.auth import committed_headers
from tests.fieldapp import PASSWORD, Inspector, Server, assigned_case, new_inspector
from tests.netcut import NetCut
from tests.test_photos import jpeg

pytestmark = pytest.mark.server


@pytest.fixture()
def app(tmp_path: Path, field_net: NetCut, field_inspector: Inspector) -> Iterator[FieldService]:
    """The app's logic, signed in through the proxy; its workers are not started (the
    tests drive the sync passes themselves)."""
    service = FieldService(tmp_path / "phone", live=False)
    service.start = lambda: None  # type: ignore[method-assign]
    service.sign_in(field_net.url, field_inspector.username, PASSWORD)
    yield service
    service.close()


def syncer(app: FieldService) -> Syncer:
    assert app.api is not None
    return Syncer(app.api, app.outbox, Cases(app.store))


def test_only_an_inspector_signs_in_and_the_session_survives_a_restart(
    field_server: Server, field_net: NetCut, field_inspector: Inspector, tmp_path: Path
) -> None:
    phone = tmp_path / "phone"
    service = FieldService(phone, live=False)
    with pytest.raises(SignInNeeded):
        service.sign_in(field_net.url, field_inspector.username, "not the password")
    committed_headers(field_server.url, Role.AGENT)  # (an agent exists, but has no password)
    me = service.sign_in(field_net.url, field_inspector.username, PASSWORD)
    assert me["role"] == "inspector" and me["inspector_id"] == field_inspector.id
    service.close()
    # The phone is switched off and on: the session is still there, no password asked.
    again = FieldService(phone, live=False)
    assert again.signed_in and again.restore()
    syncer(again).pull()
    assert again.cases.queue() == {"inspector_id": field_inspector.id, "items": []}
    again.close()


def test_the_queue_and_cases_are_cached_for_working_in_a_tunnel(
    field_server: Server, field_net: NetCut, field_inspector: Inspector, app: FieldService
) -> None:
    parking = assigned_case(field_server, field_inspector, priority="normal")
    urgent = assigned_case(field_server, field_inspector, category="street_lamp", priority="urgent")
    syncer(app).pull()
    field_net.cut()
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
    field_net.restore()


def test_actions_made_offline_reach_the_server_once_in_order(
    field_server: Server,
    field_net: NetCut,
    field_inspector: Inspector,
    app: FieldService,
    tmp_path: Path,
) -> None:
    case = assigned_case(field_server, field_inspector)
    syncer(app).pull()
    field_net.cut()
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
    field_net.restore()
    assert syncer(app).push() == []
    assert app.outbox.pending_count() == 0
    moves = [e["type"] for e in field_server.timeline(case)]
    assert moves == ["received", "assigned", "accepted", "en_route", "on_site", "resolved"]
    resolved = field_server.timeline(case)[-1]
    assert (
        resolved["payload"]["note"] == "과태료 부과"
        and resolved["actor"] == f"inspector:{field_inspector.id}"
    )
    assert len(field_server.photos(case)) == 1
    # Each counts from when the inspector did it, not from when it arrived.
    for event in field_server.timeline(case)[2:]:
        assert event["payload"]["device_time"] <= event["payload"]["received_at"]


def test_an_answer_lost_on_the_way_does_not_make_a_move_twice(
    field_server: Server, field_net: NetCut, field_inspector: Inspector, app: FieldService
) -> None:
    case = assigned_case(field_server, field_inspector)
    syncer(app).pull()
    app.move(case["id"], "accepted")
    app.move(case["id"], "en_route")
    field_net.lose_answers(1)  # the server takes the first move; its answer never comes back
    with pytest.raises(Offline):
        syncer(app).push()
    assert field_server.get(case)["status"] == "accepted"  # done on the server already
    for _ in range(3):  # the phone tries again, and again: the same key, the same body
        syncer(app).push()
    assert [e["type"] for e in field_server.timeline(case)].count("accepted") == 1
    assert field_server.get(case)["status"] == "en_route"
    assert app.outbox.pending_count() == 0


def test_a_case_taken_away_meanwhile_drops_the_action_and_says_why(
    field_server: Server, field_net: NetCut, field_inspector: Inspector, app: FieldService
) -> None:
    other = new_inspector(field_server)
    taken = assigned_case(field_server, field_inspector)
    cancelled = assigned_case(field_server, field_inspector)
    syncer(app).pull()
    field_net.cut()
    app.move(taken["id"], "accepted")
    app.move(cancelled["id"], "accepted")
    # Meanwhile, in the office: one case goes to another field_inspector, one is cancelled.
    field_server.move(taken, to="assigned", inspector_id=other.id, reason="closer")
    field_server.move(cancelled, to="cancelled", reason="the car left")
    field_net.restore()
    notices = syncer(app).push()
    assert app.outbox.pending_count() == 0
    by_ticket = {n.ticket: n.code for n in notices}
    # Either way the case left the inspector's scope: the server says no more than that.
    assert by_ticket == {taken["ticket"]: "not_yours", cancelled["ticket"]: "not_yours"}
    for case in (taken, cancelled):  # nothing of it reached the server
        assert "accepted" not in [e["type"] for e in field_server.timeline(case)]
    assert [n.ticket for n in app.outbox.notices(unseen_only=True)] == [
        cancelled["ticket"], taken["ticket"]
    ]  # fmt: skip


def test_a_move_that_does_not_fit_is_refused_on_the_phone(
    field_server: Server, field_inspector: Inspector, app: FieldService
) -> None:
    case = assigned_case(field_server, field_inspector)
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
    field_server: Server, field_net: NetCut, field_inspector: Inspector, tmp_path: Path
) -> None:
    service = FieldService(tmp_path / "live", position=FixedPosition(37.5721, 126.9901),
                           sync_seconds=60, fix_seconds=0.2)  # fmt: skip
    service.sign_in(field_net.url, field_inspector.username, PASSWORD)
    try:
        time.sleep(1.0)  # the first pass and the stream's start
        case = assigned_case(field_server, field_inspector)
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
            rows = field_server.sql(
                "SELECT ST_Y(position), ST_X(position) FROM inspector WHERE id = :i",
                i=field_inspector.id,
            )
            if rows and rows[0][0] == pytest.approx(37.5721):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the position did not reach the server")
    finally:
        service.close()


def test_a_device_time_far_in_the_past_is_kept_in_the_timeline(
    field_server: Server, field_inspector: Inspector, app: FieldService
) -> None:
    case = assigned_case(field_server, field_inspector)
    syncer(app).pull()
    app.move(case["id"], "accepted")
    (action,) = app.outbox.pending()
    said = datetime.now(UTC) - timedelta(hours=30)  # a phone whose clock is a day behind
    with app.store.transaction() as db:
        db.execute("UPDATE action SET payload = json_set(payload, '$.occurred_at', ?)"
                   " WHERE seq = ?", (said.isoformat(), action.seq))  # fmt: skip
    syncer(app).push()
    accepted = field_server.timeline(case)[-1]
    assert accepted["payload"]["device_time"] == said.isoformat()
    # Counted from the case's last change, not from a day before it.
    assigned = field_server.timeline(case)[-2]
    assert accepted["at"] >= assigned["at"]
