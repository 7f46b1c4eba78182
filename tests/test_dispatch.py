"""The case state machine, assignment and the candidate ranking, on the real database."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.complaints.constants import Status
from dispatch_server.dispatch.states import REQUIRES, TRANSITIONS, sources_of
from tests.conftest import FROZEN_AT
from tests.factories import JONGNO, complaint_body

pytestmark = pytest.mark.anyio


TEAM_NUMBERS = itertools.count(1)


async def make_team(db: AsyncConnection, district: str, categories: list[str] | None = None) -> int:
    row = await db.execute(
        text("INSERT INTO team (district_code, name, categories) VALUES (:d, :n, :c) RETURNING id"),
        {"d": district, "n": f"test team {next(TEAM_NUMBERS)}", "c": categories},
    )
    return int(row.scalar_one())


async def make_inspector(
    db: AsyncConnection, team: int, *, lat: float, lon: float, on_duty: bool = True
) -> int:
    # Placed an hour before the tests' frozen clock.
    row = await db.execute(
        text(
            "INSERT INTO inspector (name, team_id, on_duty, position, position_at) VALUES"
            " ('insp', :team, :duty, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :at)"
            " RETURNING id"
        ),
        {
            "team": team,
            "duty": on_duty,
            "lat": lat,
            "lon": lon,
            "at": FROZEN_AT - timedelta(hours=1),
        },
    )
    return int(row.scalar_one())


async def new_case(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/complaints", json=complaint_body(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def move(client: httpx.AsyncClient, case_id: int, **body: Any) -> httpx.Response:
    return await client.post(f"/api/v1/dispatch/complaints/{case_id}/transitions", json=body)


@pytest.fixture()
async def jongno_inspector(db: AsyncConnection) -> int:
    return await make_inspector(db, await make_team(db, "11110"), **JONGNO)


def fields_for(target: Status, inspector: int, other_ticket: str) -> dict[str, Any]:
    """What a move to `target` must carry in these tests."""
    values = {
        "inspector_id": inspector,
        "result_code": {"unresolved": "not_found", "referred": "referred_to_police"}.get(target),
        "referred_to": "종로경찰서",
        "duplicate_of": other_ticket,
        "reason": "test",
    }
    return {name: values[name] for name in REQUIRES.get(target, ()) if values[name] is not None}


PAIRS = [(source, target) for source in Status for target in Status]


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{s}->{t}" for s, t in PAIRS])
async def test_every_move_of_the_table(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    jongno_inspector: int,
    source: Status,
    target: Status,
) -> None:
    other = await new_case(client)
    case = await new_case(client)
    await db.execute(
        text("UPDATE complaint SET status = :s, version = 3 WHERE id = :id"),
        {"s": str(source), "id": case["id"]},
    )
    body = {"to": str(target), "version": 3, "reason": "test"}
    body |= fields_for(target, jongno_inspector, other["ticket"])
    response = await move(client, case["id"], **body)
    if target in TRANSITIONS[source]:
        assert response.status_code == 200, response.text
        moved = response.json()
        assert moved["status"] == target
        assert moved["version"] == 4
        events = await db.execute(
            text(
                "SELECT type, payload FROM complaint_event WHERE complaint_id = :id"
                " ORDER BY id DESC LIMIT 1"
            ),
            {"id": case["id"]},
        )
        event = events.one()
        assert event.type == target
        assert event.payload["from"] == source
    else:
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_transition"
        assert error["details"]["allowed"] == sorted(TRANSITIONS[source])
        stored = await db.execute(
            text("SELECT status, version FROM complaint WHERE id = :id"), {"id": case["id"]}
        )
        assert tuple(stored.one()) == (source, 3)  # nothing written


def test_the_table_is_closed_and_reachable() -> None:
    """Every status is reachable from received, and cancelled is the only dead end."""
    seen, frontier = {Status.RECEIVED}, [Status.RECEIVED]
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(Status)
    assert [s for s in Status if not TRANSITIONS[s]] == [Status.CANCELLED]
    assert Status.ASSIGNED in sources_of(Status.ASSIGNED)  # reassignment


async def test_a_case_through_its_life(client: httpx.AsyncClient, jongno_inspector: int) -> None:
    case = await new_case(client)
    steps = [
        {"to": "assigned", "inspector_id": jongno_inspector},
        {"to": "accepted"},
        {"to": "en_route"},
        {"to": "on_site"},
        {"to": "resolved", "result_code": "ticket_issued", "note": "과태료 부과"},
        {"to": "closed"},
    ]
    version = case["version"]
    for step in steps:
        response = await move(client, case["id"], version=version, **step)
        assert response.status_code == 200, response.text
        version = response.json()["version"]
    final = response.json()
    assert final["status"] == "closed"
    assert final["assignee_id"] == jongno_inspector
    assert final["result_code"] == "ticket_issued"
    assert version == case["version"] + len(steps)


async def test_stale_version_is_409_and_changes_nothing(
    client: httpx.AsyncClient, jongno_inspector: int
) -> None:
    case = await new_case(client)
    first = await move(client, case["id"], to="assigned", version=1, inspector_id=jongno_inspector)
    assert first.status_code == 200
    second = await move(client, case["id"], to="cancelled", version=1, reason="dup call")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "stale_version"
    assert second.json()["error"]["details"]["current_version"] == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"to": "assigned"}, "missing_fields"),
        ({"to": "cancelled"}, "missing_fields"),
        ({"to": "assigned", "inspector_id": 999_999}, "inspector_unavailable"),
        ({"to": "duplicate", "duplicate_of": "000000-000000"}, "invalid_duplicate"),
        ({"to": "sleeping"}, "validation_error"),
        ({"to": "assigned", "inspector_id": 0}, "validation_error"),
        ({"to": "cancelled", "reason": "x", "colour": "red"}, "validation_error"),
    ],
)
async def test_bad_moves_are_422(
    client: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    case = await new_case(client)
    response = await move(client, case["id"], version=1, **body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


async def test_inspector_must_be_on_duty_in_the_district_and_work_the_category(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    case = await new_case(client)
    jongno = await make_team(db, "11110")
    off_duty = await make_inspector(db, jongno, **JONGNO, on_duty=False)
    elsewhere = await make_inspector(db, await make_team(db, "11680"), lat=37.51, lon=127.06)
    lamps_only = await make_inspector(db, await make_team(db, "11110", ["street_lamp"]), **JONGNO)
    for inspector in (off_duty, elsewhere, lamps_only):
        response = await move(client, case["id"], to="assigned", version=1, inspector_id=inspector)
        assert response.json()["error"]["code"] == "inspector_unavailable", inspector


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("unresolved", "ticket_issued"),  # a resolved code
        ("resolved", "engine_off_on_arrival"),  # another category's, and unresolved
        ("unresolved", "no_such_code"),
    ],
)
async def test_result_codes_must_fit_outcome_and_category(
    client: httpx.AsyncClient, db: AsyncConnection, to: str, code: str
) -> None:
    case = await new_case(client)
    await db.execute(text("UPDATE complaint SET status = 'on_site' WHERE id = :id"), case)
    response = await move(client, case["id"], to=to, version=1, result_code=code)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_result_code"


async def test_reassignment_needs_a_reason_and_keeps_history(
    client: httpx.AsyncClient, db: AsyncConnection, jongno_inspector: int
) -> None:
    other = await make_inspector(db, await make_team(db, "11110"), lat=37.571, lon=126.99)
    case = await new_case(client)
    await move(client, case["id"], to="assigned", version=1, inspector_id=jongno_inspector)
    no_reason = await move(client, case["id"], to="assigned", version=2, inspector_id=other)
    assert no_reason.json()["error"]["details"] == {"missing": ["reason"]}
    moved = await move(
        client, case["id"], to="assigned", version=2, inspector_id=other, reason="closer"
    )
    assert moved.json()["assignee_id"] == other
    payload = (
        await db.execute(
            text(
                "SELECT payload FROM complaint_event WHERE complaint_id = :id"
                " ORDER BY id DESC LIMIT 1"
            ),
            case,
        )
    ).scalar_one()
    assert payload["previous_inspector_id"] == jongno_inspector
    assert payload["inspector_id"] == other
    assert payload["reason"] == "closer"


def metres_between(a: dict[str, float], b: dict[str, float]) -> float:
    """Great-circle distance (haversine), an oracle independent of PostGIS."""
    lat1, lat2 = math.radians(a["lat"]), math.radians(b["lat"])
    dlat, dlon = lat2 - lat1, math.radians(b["lon"] - a["lon"])
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


async def test_candidates_ranked_by_distance_and_load(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    team = await make_team(db, "11110")
    near = {"lat": JONGNO["lat"] + 0.002, "lon": JONGNO["lon"]}  # ~220 m: 0.9 min
    mid = {"lat": JONGNO["lat"], "lon": JONGNO["lon"] + 0.02}  # ~1.8 km: 7.0 min
    far = {"lat": JONGNO["lat"] + 0.03, "lon": JONGNO["lon"]}  # ~3.3 km: 13.3 min
    busy_near = await make_inspector(db, team, **near)
    free_mid = await make_inspector(db, team, **mid)
    free_far = await make_inspector(db, team, **far)
    await make_inspector(db, team, **JONGNO, on_duty=False)  # off duty: never a candidate
    await make_inspector(db, await make_team(db, "11680"), lat=37.51, lon=127.06)  # elsewhere
    # One open case already on the nearest inspector's plate.
    busy = await new_case(client)
    await move(client, busy["id"], to="assigned", version=1, inspector_id=busy_near)

    case = await new_case(client, location=JONGNO)
    ranking = (await client.get(f"/api/v1/dispatch/complaints/{case['id']}/candidates")).json()
    ranked = [c["inspector_id"] for c in ranking["candidates"]]
    # Normal priority: one open case (20 min) outweighs a 6-minute head start.
    assert ranked == [free_mid, free_far, busy_near]
    by_id = {c["inspector_id"]: c for c in ranking["candidates"]}
    for inspector, where in ((busy_near, near), (free_mid, mid), (free_far, far)):
        expected = metres_between(JONGNO, where)
        assert by_id[inspector]["distance_m"] == pytest.approx(expected, rel=0.005)
        assert by_id[inspector]["eta_min"] == pytest.approx(expected / 250, abs=0.1)
    assert by_id[busy_near]["open_cases"] == 1
    assert by_id[busy_near]["score"] == pytest.approx(by_id[busy_near]["eta_min"] + 20, abs=0.1)

    urgent = await new_case(client, priority="urgent")
    ranking = (await client.get(f"/api/v1/dispatch/complaints/{urgent['id']}/candidates")).json()
    assert ranking["load_weight"] == 0.25
    # Urgent: the queue weighs a quarter (5 min), so the nearest goes first.
    assert [c["inspector_id"] for c in ranking["candidates"]] == [busy_near, free_mid, free_far]


async def test_candidates_of_an_unknown_case_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/dispatch/complaints/999999999/candidates")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "complaint_not_found"


async def count_events(db: AsyncConnection, case_id: int, kind: str) -> int:
    result = await db.execute(
        text("SELECT count(*) FROM complaint_event WHERE complaint_id = :id AND type = :t"),
        {"id": case_id, "t": kind},
    )
    return int(result.scalar_one())


async def test_a_replayed_move_acts_once_and_answers_the_same(
    client: httpx.AsyncClient, db: AsyncConnection, jongno_inspector: int
) -> None:
    case = await new_case(client)
    body = {"to": "assigned", "version": 1, "inspector_id": jongno_inspector}
    headers = {"Idempotency-Key": "device-7f3a-0001"}
    url = f"/api/v1/dispatch/complaints/{case['id']}/transitions"
    first = await client.post(url, json=body, headers=headers)
    again = await client.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert first.json()["version"] == 2
    assert await count_events(db, case["id"], "assigned") == 1


async def test_a_key_used_for_another_request_is_422(
    client: httpx.AsyncClient, db: AsyncConnection, jongno_inspector: int
) -> None:
    case = await new_case(client)
    url = f"/api/v1/dispatch/complaints/{case['id']}/transitions"
    headers = {"Idempotency-Key": "device-7f3a-0002"}
    assigned = {"to": "assigned", "version": 1, "inspector_id": jongno_inspector}
    assert (await client.post(url, json=assigned, headers=headers)).status_code == 200
    cancel = {"to": "cancelled", "version": 2, "reason": "other"}
    reused = await client.post(url, json=cancel, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert await count_events(db, case["id"], "cancelled") == 0


async def test_a_failed_attempt_does_not_use_up_its_key(
    client: httpx.AsyncClient, jongno_inspector: int
) -> None:
    case = await new_case(client)
    url = f"/api/v1/dispatch/complaints/{case['id']}/transitions"
    headers = {"Idempotency-Key": "device-7f3a-0003"}
    too_early = await client.post(url, json={"to": "accepted", "version": 1}, headers=headers)
    assert too_early.json()["error"]["code"] == "invalid_transition"
    await move(client, case["id"], to="assigned", version=1, inspector_id=jongno_inspector)
    # Not a replay of the stored 409 (errors are not stored): evaluated afresh.
    stale = await client.post(url, json={"to": "accepted", "version": 1}, headers=headers)
    assert stale.json()["error"]["code"] == "stale_version"
    accepted = await client.post(url, json={"to": "accepted", "version": 2}, headers=headers)
    assert accepted.status_code == 200


@pytest.mark.parametrize("key", [b"", b"has space", b"x" * 129, "키".encode()])
async def test_malformed_idempotency_keys_are_422(client: httpx.AsyncClient, key: bytes) -> None:
    case = await new_case(client)
    response = await client.post(
        f"/api/v1/dispatch/complaints/{case['id']}/transitions",
        json={"to": "cancelled", "version": 1, "reason": "x"},
        headers={"Idempotency-Key": key},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_the_timeline_tells_the_case_in_order(
    client: httpx.AsyncClient, clock: Any, jongno_inspector: int
) -> None:
    case = await new_case(client)
    clock.advance(timedelta(minutes=3))
    await move(client, case["id"], to="assigned", version=1, inspector_id=jongno_inspector)
    clock.advance(timedelta(minutes=4))
    await move(client, case["id"], to="cancelled", version=2, reason="caller withdrew")
    timeline = (await client.get(f"/api/v1/complaints/{case['ticket']}/events")).json()
    assert timeline["ticket"] == case["ticket"]
    events = timeline["events"]
    assert [e["type"] for e in events] == ["received", "assigned", "cancelled"]
    assert [e["at"] for e in events] == [
        "2026-11-23T01:00:00Z", "2026-11-23T01:03:00Z", "2026-11-23T01:07:00Z"
    ]  # fmt: skip
    assert events[1]["payload"]["inspector_id"] == jongno_inspector
    assert events[2]["payload"] == {
        "from": "assigned",
        "reason": "caller withdrew",
        "previous_inspector_id": jongno_inspector,  # the case left their queue
    }
    assert events[0]["actor"].startswith("user:test-agent-")


async def test_timeline_of_an_unknown_ticket_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/complaints/261123-999999999/events")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "complaint_not_found"


async def test_auto_assign_sends_a_new_case_to_the_best_candidate(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await db.execute(text("UPDATE category SET auto_assign = true WHERE code = 'vehicle_idling'"))
    team = await make_team(db, "11110")
    far = await make_inspector(db, team, lat=JONGNO["lat"] + 0.02, lon=JONGNO["lon"])
    near = await make_inspector(db, team, lat=JONGNO["lat"] + 0.001, lon=JONGNO["lon"])
    created = await client.post(
        "/api/v1/complaints", json=complaint_body(category="vehicle_idling")
    )
    assert created.status_code == 201
    case = created.json()
    assert (case["status"], case["assignee_id"], case["version"]) == ("assigned", near, 2)
    assert far != near
    timeline = (await client.get(f"/api/v1/complaints/{case['ticket']}/events")).json()
    assigned = timeline["events"][-1]
    assert (assigned["type"], assigned["actor"]) == ("assigned", "auto-assign")
    # Other categories still wait for a dispatcher.
    parking = (await client.post("/api/v1/complaints", json=complaint_body())).json()
    assert (parking["status"], parking["assignee_id"]) == ("received", None)


async def test_an_auto_assigned_complaint_sent_again_is_answered_as_assigned_once(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    """With an Idempotency-Key, intake and its auto-assignment are one transaction: the
    resend gets the assigned answer, and the case is assigned once."""
    await db.execute(text("UPDATE category SET auto_assign = true WHERE code = 'vehicle_idling'"))
    team = await make_team(db, "11110")
    near = await make_inspector(db, team, lat=JONGNO["lat"] + 0.001, lon=JONGNO["lon"])
    body, key = complaint_body(category="vehicle_idling"), {"Idempotency-Key": "auto-1"}
    first = await client.post("/api/v1/complaints", json=body, headers=key)
    again = await client.post("/api/v1/complaints", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert (again.json()["status"], again.json()["assignee_id"]) == ("assigned", near)
    moves = (await client.get(f"/api/v1/complaints/{first.json()['ticket']}/events")).json()
    assert [e["type"] for e in moves["events"]] == ["received", "assigned"]


async def test_auto_assign_without_anyone_on_duty_leaves_the_case_received(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await db.execute(text("UPDATE category SET auto_assign = true WHERE code = 'vehicle_idling'"))
    await make_inspector(db, await make_team(db, "11110"), **JONGNO, on_duty=False)
    created = await client.post(
        "/api/v1/complaints", json=complaint_body(category="vehicle_idling")
    )
    assert created.status_code == 201
    assert (created.json()["status"], created.json()["assignee_id"]) == ("received", None)
