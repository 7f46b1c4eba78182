"""The APIs behind the web consoles: the board, the inspectors, district outlines, priority
changes, referrals without a visit, explicit links at intake, the citizen's texts, and the
statistics overview (checked against the cases made here)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.accounts.credentials import Role
from dispatch_server.clock import FrozenClock
from tests.auth import as_inspector, bearer, token_for
from tests.factories import GANGNAM, JONGNO, complaint_body, spread
from tests.test_dispatch import make_inspector, make_team, move, new_case

pytestmark = pytest.mark.anyio


def rows_of(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(board["columns"], row, strict=True)) for row in board["rows"]]


async def test_the_board_has_every_open_case_with_its_next_clock(
    client: httpx.AsyncClient, db: AsyncConnection, clock: FrozenClock
) -> None:
    inspector = await make_inspector(db, await make_team(db, "11110"), **JONGNO)
    waiting = await new_case(client)
    assigned = await new_case(client)
    await move(client, assigned["id"], to="assigned", version=1, inspector_id=inspector)
    gone = await new_case(client)
    await move(client, gone["id"], to="cancelled", version=1, reason="a test")
    elsewhere = await new_case(client, location=GANGNAM)
    jongno = await token_for(db, Role.DISPATCHER, districts=["11110"])
    answer = await client.get("/api/v1/dispatch/board", headers=bearer(jongno))
    assert answer.status_code == 200
    rows = {row["ticket"]: row for row in rows_of(answer.json())}
    assert waiting["ticket"] in rows and assigned["ticket"] in rows
    assert gone["ticket"] not in rows  # cancelled: not open
    assert elsewhere["ticket"] not in rows  # another district's
    first = rows[waiting["ticket"]]
    assert first["clock_kind"] == "assign" and first["clock_state"] == "running"
    assert first["due_at"] == "2026-11-23T01:10:00Z"  # parking: assigned within 10 minutes
    assert rows[assigned["ticket"]]["assignee_id"] == inspector
    assert rows[assigned["ticket"]]["clock_kind"] == "arrive"  # the assign clock stopped
    assert first["lat"] == pytest.approx(waiting["location"]["lat"])
    # Only some cases (the console refreshes those a live event named).
    some = (await client.get("/api/v1/dispatch/board", params={"ids": str(assigned["id"])},
                             headers=bearer(jongno))).json()  # fmt: skip
    assert [r["id"] for r in rows_of(some)] == [assigned["id"]]
    other = await client.get("/api/v1/dispatch/board", params={"district": "11680"},
                             headers=bearer(jongno))  # fmt: skip
    assert other.status_code == 404


async def test_inspectors_and_district_outlines(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    team = await make_team(db, "11110")
    inspector = await make_inspector(db, team, **JONGNO)
    await make_inspector(db, await make_team(db, "11680"), **GANGNAM)
    case = await new_case(client)
    await move(client, case["id"], to="assigned", version=1, inspector_id=inspector)
    jongno = await token_for(db, Role.SUPERVISOR, districts=["11110"])
    listed = (await client.get("/api/v1/dispatch/inspectors", headers=bearer(jongno))).json()
    assert {i["district"] for i in listed} == {"11110"}
    mine = next(i for i in listed if i["id"] == inspector)
    assert mine["on_duty"] and mine["open_cases"] == 1
    assert mine["location"]["lat"] == pytest.approx(JONGNO["lat"])
    outlines = await client.get("/api/v1/districts")
    assert outlines.headers["content-type"].startswith("application/geo+json")
    features = outlines.json()["features"]
    assert len(features) == 25 and {f["geometry"]["type"] for f in features} <= {
        "Polygon", "MultiPolygon"
    }  # fmt: skip
    jongno_feature = next(f for f in features if f["properties"]["code"] == "11110")
    assert jongno_feature["properties"]["name_ko"] == "종로구"
    assert len(outlines.content) < 600_000  # simplified for drawing


async def test_a_dispatcher_changes_a_cases_priority(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    inspector = await make_inspector(db, await make_team(db, "11110"), **JONGNO)
    case = await new_case(client)
    await move(client, case["id"], to="assigned", version=1, inspector_id=inspector)
    path = f"/api/v1/dispatch/complaints/{case['id']}/priority"
    changed = await client.post(path, json={"priority": "urgent", "version": 2,
                                            "reason": "소방차 진입로"})  # fmt: skip
    assert changed.status_code == 200 and changed.json()["priority"] == "urgent"
    stale = await client.post(path, json={"priority": "low", "version": 2})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_version"
    events = (await client.get(f"/api/v1/complaints/{case['ticket']}/events")).json()["events"]
    assert events[-1]["type"] == "priority_changed"
    assert events[-1]["payload"] == {"from": "normal", "to": "urgent", "reason": "소방차 진입로"}
    # The inspector's queue puts it first.
    queue = (await client.get("/api/v1/field/queue", headers=as_inspector(inspector))).json()
    assert queue["items"][0]["priority"] == "urgent"
    closed = await new_case(client)
    await move(client, closed["id"], to="cancelled", version=1, reason="test")
    late = await client.post(f"/api/v1/dispatch/complaints/{closed['id']}/priority",
                             json={"priority": "high", "version": 2})  # fmt: skip
    assert late.status_code == 409 and late.json()["error"]["code"] == "invalid_transition"


async def test_a_dispatcher_refers_a_case_that_is_not_the_districts(
    client: httpx.AsyncClient,
) -> None:
    case = await new_case(client, category="road_damage")
    referred = await move(client, case["id"], to="referred", version=1,
                          referred_to="한국전력공사 (전신주)")  # fmt: skip
    assert referred.status_code == 200 and referred.json()["status"] == "referred"
    missing = await new_case(client, category="road_damage")
    assert (await move(client, missing["id"], to="referred", version=1)).status_code == 422


async def test_an_agent_links_a_complaint_to_the_case_they_chose(client: httpx.AsyncClient) -> None:
    original = await new_case(client)
    # 300 m away: too far for the automatic link (30 m), but the agent knows it is the same.
    far = spread(original["location"], 3)
    linked = await client.post("/api/v1/complaints", json=complaint_body(
        location=far, link_to=original["ticket"]))  # fmt: skip
    assert linked.status_code == 201, linked.text
    body = linked.json()
    assert body["status"] == "duplicate" and body["duplicate_of"] == original["ticket"]
    texts = (await client.get(f"/api/v1/complaints/{body['ticket']}/texts")).json()["texts"]
    assert [t["template"] for t in texts] == ["duplicate"]  # not "received" as well
    # A case that is no longer waiting for its visit: stored as a new case, with a warning.
    current = (await client.get(f"/api/v1/complaints/{original['ticket']}")).json()
    await move(client, original["id"], to="cancelled", version=current["version"], reason="t")
    late = (await client.post("/api/v1/complaints", json=complaint_body(
        location=spread(original["location"], 6), link_to=original["ticket"]))).json()  # fmt: skip
    assert late["status"] == "received" and late["duplicate_of"] is None
    assert [w["code"] for w in late["warnings"]] == ["not_linked"]


async def test_the_citizens_texts_as_they_read_them(client: httpx.AsyncClient) -> None:
    case = await new_case(client, reporter={"phone": "010-2345-6789", "language": "en"})
    answer = await client.get(f"/api/v1/complaints/{case['ticket']}/texts")
    assert answer.status_code == 200
    (received,) = answer.json()["texts"]
    assert received["template"] == "received" and received["status"] == "pending"
    assert case["ticket"] in received["text"] and f"/t/{case['ticket']}" in received["text"]
    assert received["kind"] in ("sms", "lms") and received["language"] == "en"
    assert "2345" not in answer.text  # no number


async def test_the_overview_counts_what_happened(
    client: httpx.AsyncClient, db: AsyncConnection, clock: FrozenClock
) -> None:
    inspector = await make_inspector(db, await make_team(db, "11110"), **JONGNO)
    base = clock.now()
    cases = [await new_case(client) for _ in range(3)]
    await new_case(client, category="street_lamp")
    await client.post("/api/v1/complaints", json=complaint_body(
        location=cases[0]["location"]))  # a duplicate of the first  # fmt: skip
    await new_case(client, location=GANGNAM)  # another district: not in a Jongno scope
    for case, minutes, result in ((cases[0], 20, "resolved"), (cases[1], 40, "unresolved")):
        version = 1
        for step in ({"to": "assigned", "inspector_id": inspector}, {"to": "accepted"},
                     {"to": "on_site"}):  # fmt: skip
            if step["to"] == "on_site":
                clock.advance(timedelta(minutes=minutes))
            moved = await move(client, case["id"], version=version, **step)
            version = moved.json()["version"]
        fields = {"result_code": "ticket_issued" if result == "resolved" else "vehicle_gone"}
        await move(client, case["id"], version=version, to=result, **fields)
        clock.advance(timedelta(minutes=-minutes))
    supervisor = await token_for(db, Role.SUPERVISOR, districts=["11110"])
    period = {"from": (base - timedelta(hours=1)).isoformat(),
              "to": (base + timedelta(hours=2)).isoformat()}  # fmt: skip
    answer = await client.get("/api/v1/stats/overview", headers=bearer(supervisor), params=period)
    assert answer.status_code == 200, answer.text
    figures = answer.json()
    assert figures["total"] == 5 and figures["duplicates"] == 1
    assert {c["category"]: c["count"] for c in figures["per_category"]} == {
        "illegal_parking": 4, "street_lamp": 1
    }  # fmt: skip
    assert [d["district"] for d in figures["per_district"]] == ["11110"]
    assert figures["per_day"] == [{"day": "2026-11-23", "count": 5}]  # the city's day
    assert sum(h["count"] for h in figures["per_hour"]) == 5
    assert next(h for h in figures["per_hour"] if h["hour"] == 10)["count"] == 5  # 10:00 Seoul
    assert figures["time_to_site"] == {"visits": 2, "median_minutes": 30.0, "p90_minutes": 38.0}
    assert figures["first_visit"] == {"results": 2, "resolved_first_time": 1}
    assert sum(cell["count"] for cell in figures["hotspots"]) == 5
    bad = await client.get("/api/v1/stats/overview", params={"from": "2026-11-23T00:00:00"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_period"
