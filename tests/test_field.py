"""The field API (the inspectors' app) on the real database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.clock import FrozenClock
from tests.auth import AS_INSPECTOR
from tests.factories import JONGNO
from tests.test_dispatch import make_inspector, make_team, move, new_case

pytestmark = pytest.mark.anyio


def me(inspector: int) -> dict[str, str]:
    return {AS_INSPECTOR: str(inspector)}


def ping(clock: FrozenClock, minutes_ago: float, lat: float, lon: float) -> dict[str, Any]:
    at = clock.now() - timedelta(minutes=minutes_ago)
    return {"lat": lat, "lon": lon, "accuracy_m": 8.5, "at": at.isoformat()}


@pytest.fixture()
async def inspector(db: AsyncConnection) -> int:
    return await make_inspector(db, await make_team(db, "11110"), **JONGNO)


async def test_who_is_calling_must_be_said_and_known(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/field/queue")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthenticated"
    unknown = await client.get("/api/v1/field/queue", headers=me(987654321))
    assert unknown.status_code == 401


async def test_off_duty_is_no_candidate(client: httpx.AsyncClient, inspector: int) -> None:
    case = await new_case(client)
    url = f"/api/v1/dispatch/complaints/{case['id']}/candidates"
    off = await client.post("/api/v1/field/duty", json={"on_duty": False}, headers=me(inspector))
    assert off.json() == {"inspector_id": inspector, "on_duty": False}
    assert inspector not in [
        c["inspector_id"] for c in (await client.get(url)).json()["candidates"]
    ]
    await client.post("/api/v1/field/duty", json={"on_duty": True}, headers=me(inspector))
    assert inspector in [c["inspector_id"] for c in (await client.get(url)).json()["candidates"]]


async def test_the_newest_fix_wins_and_late_batches_do_not_move_back(
    client: httpx.AsyncClient, clock: FrozenClock, inspector: int
) -> None:
    batch = [ping(clock, 3, 37.571, 126.991), ping(clock, 1, 37.572, 126.992),
             ping(clock, 2, 37.573, 126.993)]  # fmt: skip
    answer = await client.post(
        "/api/v1/field/positions", json={"pings": batch}, headers=me(inspector)
    )
    assert answer.status_code == 200, answer.text
    placed = answer.json()
    assert (placed["lat"], placed["lon"], placed["accepted"]) == (37.572, 126.992, 3)
    assert placed["at"] == (clock.now() - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    # A batch from the tunnel, older than what we have: taken, but the position stays.
    late = await client.post(
        "/api/v1/field/positions",
        json={"pings": [ping(clock, 10, 37.5, 127.0)]},
        headers=me(inspector),
    )
    assert (late.json()["lat"], late.json()["lon"]) == (37.572, 126.992)


@pytest.mark.parametrize(
    ("minutes_ago", "why"), [(-5, "in the future"), (60 * 25, "more than a day old")]
)
async def test_badly_timed_fixes_refuse_the_whole_batch(
    client: httpx.AsyncClient, db: AsyncConnection, clock: FrozenClock, inspector: int,
    minutes_ago: float, why: str,
) -> None:  # fmt: skip
    batch = [ping(clock, 1, 37.58, 126.98), ping(clock, minutes_ago, 37.59, 126.97)]
    response = await client.post(
        "/api/v1/field/positions", json={"pings": batch}, headers=me(inspector)
    )
    assert response.status_code == 422, why
    assert response.json()["error"]["details"]["pings"] == [1]
    stored = await db.execute(
        text("SELECT ST_Y(position), ST_X(position) FROM inspector WHERE id = :id"),
        {"id": inspector},
    )
    assert tuple(stored.one()) == (JONGNO["lat"], JONGNO["lon"])  # nothing half-taken


@pytest.mark.parametrize(
    "body",
    [
        {"pings": []},
        {"pings": [{"lat": "NaN", "lon": 127, "accuracy_m": 5, "at": "2026-11-23T01:00:00Z"}]},
        {"pings": [{"lat": 37.5, "lon": 127, "accuracy_m": -1, "at": "2026-11-23T01:00:00Z"}]},
        {"pings": [{"lat": 37.5, "lon": 127, "accuracy_m": 5, "at": "2026-11-23T01:00:00"}]},
        {"pings": [{"lat": 37.5, "lon": 127, "accuracy_m": 5}]},
        {"pings": [{"lat": 37.5, "lon": 127, "accuracy_m": 5, "at": "2026-11-23T01:00:00Z"}] * 501},
        {"fixes": []},
    ],
    ids=["empty", "nan", "negative accuracy", "no zone", "no time", "501 fixes", "wrong key"],
)
async def test_malformed_batches_are_422(
    client: httpx.AsyncClient, inspector: int, body: dict[str, Any]
) -> None:
    response = await client.post("/api/v1/field/positions", json=body, headers=me(inspector))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_my_queue_is_most_urgent_then_nearest(
    client: httpx.AsyncClient, db: AsyncConnection, inspector: int
) -> None:
    other = await make_inspector(db, await make_team(db, "11110"), **JONGNO)
    far = await new_case(client, location={"lat": JONGNO["lat"] + 0.01, "lon": JONGNO["lon"]})
    near = await new_case(client, location={"lat": JONGNO["lat"] + 0.001, "lon": JONGNO["lon"]})
    urgent_far = await new_case(
        client, location={"lat": JONGNO["lat"] + 0.02, "lon": JONGNO["lon"]}, priority="urgent"
    )
    finished = await new_case(client)
    not_mine = await new_case(client)
    for case in (far, near, urgent_far, finished):
        await move(client, case["id"], to="assigned", version=1, inspector_id=inspector)
    await move(client, not_mine["id"], to="assigned", version=1, inspector_id=other)
    await db.execute(text("UPDATE complaint SET status = 'resolved' WHERE id = :id"), finished)

    queue = (await client.get("/api/v1/field/queue", headers=me(inspector))).json()
    assert [item["id"] for item in queue["items"]] == [urgent_far["id"], near["id"], far["id"]]
    assert queue["items"][1]["distance_m"] == pytest.approx(111.2, abs=1)
    assert "reporter" not in queue["items"][0]
    # Each card counts down the clock that runs out first: arriving on site (parking: 30 min
    # after the case was received, the seed's policy; the assign clock stopped).
    clock = queue["items"][1]["clock"]
    assert clock["kind"] == "arrive" and clock["state"] == "running"
    assert clock["due_at"] == "2026-11-23T01:30:00Z" and clock["warn_at"] < clock["due_at"]


async def test_my_case_and_nobody_elses(
    client: httpx.AsyncClient, db: AsyncConnection, inspector: int
) -> None:
    mine = await new_case(client)
    await move(client, mine["id"], to="assigned", version=1, inspector_id=inspector)
    other = await new_case(client)
    detail = await client.get(f"/api/v1/field/complaints/{mine['id']}", headers=me(inspector))
    assert detail.status_code == 200
    case = detail.json()
    assert case["reporter"]["phone_masked"] == "+82******5678"
    # All the app keeps for working offline comes in one answer.
    assert [e["type"] for e in case["timeline"]] == ["received", "assigned"]
    assert case["photos"] == []
    assert {t["kind"] for t in case["sla"]["timers"]} == {"assign", "arrive", "resolve"}
    hidden = await client.get(f"/api/v1/field/complaints/{other['id']}", headers=me(inspector))
    assert hidden.status_code == 404


async def test_my_moves_from_accept_to_result(
    client: httpx.AsyncClient, db: AsyncConnection, inspector: int
) -> None:
    case = await new_case(client)
    await move(client, case["id"], to="assigned", version=1, inspector_id=inspector)
    url = f"/api/v1/field/complaints/{case['id']}/transitions"

    no_key = await client.post(url, json={"to": "accepted", "version": 2}, headers=me(inspector))
    assert no_key.status_code == 422  # the app must send a key with every move

    result = {"to": "unresolved", "result_code": "vehicle_gone", "note": "차량 이동함"}
    steps = [{"to": "accepted"}, {"to": "en_route"}, {"to": "on_site"}, result]
    version = 2
    for number, step in enumerate(steps):
        headers = me(inspector) | {"Idempotency-Key": f"dev-1-{number}"}
        body = {**step, "version": version}
        first = await client.post(url, json=body, headers=headers)
        resend = await client.post(url, json=body, headers=headers)  # a flaky connection
        assert first.status_code == resend.status_code == 200, first.text
        assert resend.content == first.content
        version = first.json()["version"]
    assert first.json()["status"] == "unresolved"
    assert first.json()["result_code"] == "vehicle_gone"
    actors = await db.execute(
        text("SELECT DISTINCT actor FROM complaint_event WHERE complaint_id = :id AND type <> "
             "'received' AND type <> 'assigned'"),
        case,
    )  # fmt: skip
    assert list(actors.scalars()) == [f"inspector:{inspector}"]
    assert version == 2 + len(steps)  # each step once, despite the resends


async def test_inspectors_make_only_their_moves_on_their_cases(
    client: httpx.AsyncClient, db: AsyncConnection, inspector: int
) -> None:
    other = await make_inspector(db, await make_team(db, "11110"), **JONGNO)
    case = await new_case(client)
    await move(client, case["id"], to="assigned", version=1, inspector_id=inspector)
    url = f"/api/v1/field/complaints/{case['id']}/transitions"
    cancel = await client.post(
        url,
        json={"to": "cancelled", "version": 2, "reason": "bored"},
        headers=me(inspector) | {"Idempotency-Key": "k-1"},
    )
    assert cancel.status_code == 409
    assert cancel.json()["error"]["details"]["allowed"] == ["accepted"]
    stranger = await client.post(
        url, json={"to": "accepted", "version": 2}, headers=me(other) | {"Idempotency-Key": "k-2"}
    )
    assert stranger.status_code == 404


async def test_the_reference_lists_categories_and_result_codes(
    client: httpx.AsyncClient, inspector: int
) -> None:
    reference = (await client.get("/api/v1/field/reference", headers=me(inspector))).json()
    categories = {c["code"]: c for c in reference["categories"]}
    assert categories["illegal_parking"]["name_ko"] == "불법 주정차"
    outcomes = {r["code"]: r["outcome"] for r in reference["result_codes"]}
    assert outcomes["not_found"] == "unresolved" and outcomes["ticket_issued"] == "resolved"
    assert outcomes["referred_to_police"] == "referred"


async def test_a_move_made_offline_counts_from_when_it_was_made(
    client: httpx.AsyncClient, inspector: int, clock: FrozenClock
) -> None:
    case = await new_case(client)  # received at 10:00, Seoul
    await move(client, case["id"], to="assigned", version=1, inspector_id=inspector)
    url = f"/api/v1/field/complaints/{case['id']}/transitions"
    clock.advance(timedelta(minutes=10))  # accepted in a tunnel at 10:10...
    accepted_at = clock.now()
    clock.advance(timedelta(minutes=15))
    on_site_at = clock.now()  # ...and on site at 10:25...
    clock.advance(timedelta(minutes=20))  # ...sent at 10:45, the tunnel left behind
    for number, (to, at, version) in enumerate(
        (("accepted", accepted_at, 2), ("on_site", on_site_at, 3))
    ):
        body = {"to": to, "version": version, "occurred_at": at.isoformat()}
        headers = me(inspector) | {"Idempotency-Key": f"tunnel-{number}"}
        assert (await client.post(url, json=body, headers=headers)).status_code == 200
    timeline = (await client.get(f"/api/v1/complaints/{case['ticket']}/events")).json()
    on_site = timeline["events"][-1]
    assert on_site["at"] == "2026-11-23T01:25:00Z"  # the device's time, not the send's
    assert on_site["payload"]["device_time"] == on_site_at.isoformat()
    assert on_site["payload"]["received_at"] == clock.now().isoformat()
    # The arrive clock (30 min) stopped when the inspector arrived: met, not late.
    clocks = (await client.get(f"/api/v1/complaints/{case['ticket']}/sla")).json()
    arrive = next(t for t in clocks["timers"] if t["kind"] == "arrive")
    assert arrive["stopped_at"] == "2026-11-23T01:25:00Z" and arrive["met"] is True


@pytest.mark.parametrize(
    ("said", "counted"),
    [
        (timedelta(minutes=5), "2026-11-23T01:20:00Z"),  # a clock ahead: not after now
        (-timedelta(minutes=30), "2026-11-23T01:10:00Z"),  # before the last change: then
    ],
)
async def test_a_device_time_is_brought_within_bounds(
    client: httpx.AsyncClient, inspector: int, clock: FrozenClock, said: timedelta, counted: str
) -> None:
    case = await new_case(client)
    clock.advance(timedelta(minutes=10))
    await move(client, case["id"], to="assigned", version=1, inspector_id=inspector)  # 10:10
    clock.advance(timedelta(minutes=10))  # now 10:20
    body = {"to": "accepted", "version": 2, "occurred_at": (clock.now() + said).isoformat()}
    response = await client.post(
        f"/api/v1/field/complaints/{case['id']}/transitions", json=body,
        headers=me(inspector) | {"Idempotency-Key": "skewed"},
    )  # fmt: skip
    assert response.status_code == 200
    timeline = (await client.get(f"/api/v1/complaints/{case['ticket']}/events")).json()
    assert timeline["events"][-1]["at"] == counted
