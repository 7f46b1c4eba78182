"""Duplicates: linked at intake by category radius and window, found nearby, merged, unmerged."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.clock import FrozenClock
from tests.factories import GRID, complaint_body
from tests.test_dispatch import make_inspector, make_team, move, new_case

pytestmark = pytest.mark.anyio

# Away from the factories' grid, in Jongno-gu (Gwanghwamun): these tests place their cases.
SPOT = {"lat": 37.5759, "lon": 126.9769}


def north(point: dict[str, float], metres: float) -> dict[str, float]:
    return {"lat": point["lat"] + metres / 111_320, "lon": point["lon"]}


def east(point: dict[str, float], metres: float) -> dict[str, float]:
    scale = 111_320 * math.cos(math.radians(point["lat"]))
    return {"lat": point["lat"], "lon": point["lon"] + metres / scale}


async def report(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    return await new_case(client, **fields)


async def events(db: AsyncConnection, case_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    rows = await db.execute(
        text(
            "SELECT type, actor, payload FROM complaint_event WHERE complaint_id = :id ORDER BY id"
        ),
        {"id": case_id},
    )
    return [(row.type, row.actor, row.payload) for row in rows]


async def test_the_factories_grid_is_in_jongno_and_60_m_apart(db: AsyncConnection) -> None:
    codes = await db.execute(
        text(
            "SELECT DISTINCT d.code FROM unnest(CAST(:lats AS float8[]), CAST(:lons AS float8[]))"
            " AS p(lat, lon) JOIN district d"
            " ON ST_Covers(d.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))"
        ),
        {"lats": [p["lat"] for p in GRID], "lons": [p["lon"] for p in GRID]},
    )
    assert codes.scalars().all() == ["11110"]
    assert len(GRID) == 100
    nearest = min(
        math.hypot((a["lat"] - b["lat"]) * 111_320, (a["lon"] - b["lon"]) * 88_200)
        for i, a in enumerate(GRID) for b in GRID[i + 1:]
    )  # fmt: skip
    assert nearest > 50  # wider than every category's radius


async def test_a_report_near_an_open_case_is_linked_as_its_duplicate(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    first = await report(client, location=SPOT)
    near = north(SPOT, 20)  # illegal parking: 30 m
    answer = await client.post(
        "/api/v1/complaints",
        json=complaint_body(location=near, reporter={"phone": "010-9876-5432", "language": "en"}),
    )
    assert answer.status_code == 201, answer.text
    second = answer.json()
    assert second["status"] == "duplicate"
    assert second["duplicate_of"] == first["ticket"]
    assert second["assignee_id"] is None
    linked = [w for w in second["warnings"] if w["code"] == "linked_as_duplicate"]
    assert linked and linked[0]["details"]["duplicate_of"] == first["ticket"]
    assert linked[0]["details"]["distance_m"] == pytest.approx(20, abs=0.5)

    # Its reporter is kept on it, to get the original's result in their language.
    reporter = await db.execute(
        text("SELECT reporter_phone, reporter_language FROM complaint WHERE id = :id"),
        {"id": second["id"]},
    )
    assert tuple(reporter.one()) == ("+821098765432", "en")
    # An event on both: the dedup's move on the new one, the link on the original.
    mine = await events(db, second["id"])
    assert [(kind, actor.split(":")[0]) for kind, actor, _ in mine] == [
        ("received", "user"), ("duplicate", "system")
    ]  # fmt: skip
    assert mine[1][2]["duplicate_of"] == first["id"]
    assert mine[1][2]["original_ticket"] == first["ticket"]
    theirs = await events(db, first["id"])
    assert theirs[-1][:2] == ("duplicate_linked", "system:dedup")
    assert theirs[-1][2]["duplicate_ticket"] == second["ticket"]
    # The original itself is untouched: same status and version (its inspector's edits hold).
    again = (await client.get(f"/api/v1/complaints/{first['ticket']}")).json()
    assert (again["status"], again["version"]) == ("received", 1)
    # The list shows the link.
    listed = (await client.get("/api/v1/complaints", params={"status": "duplicate"})).json()
    assert [c["duplicate_of"] for c in listed["items"] if c["id"] == second["id"]] == [
        first["ticket"]
    ]


@pytest.mark.parametrize(
    ("category", "inside_m", "outside_m", "window"),
    [
        ("illegal_parking", 25, 35, timedelta(hours=2)),
        ("street_lamp", 15, 25, timedelta(days=7)),
        ("garbage_uncollected", 45, 55, timedelta(hours=24)),
    ],
)
async def test_radius_and_window_of_each_category(
    client: httpx.AsyncClient,
    clock: FrozenClock,
    category: str,
    inside_m: float,
    outside_m: float,
    window: timedelta,
) -> None:
    first = await report(client, category=category, location=SPOT)
    outside = await report(client, category=category, location=east(SPOT, outside_m))
    assert outside["status"] == "received"  # beyond the radius: a case of its own
    clock.advance(window - timedelta(seconds=1))
    inside = await report(client, category=category, location=north(SPOT, inside_m))
    assert (inside["status"], inside["duplicate_of"]) == ("duplicate", first["ticket"])
    clock.advance(timedelta(seconds=2))  # past the window of both earlier cases
    late = await report(client, category=category, location=north(SPOT, inside_m))
    assert late["status"] == "received"


async def test_another_category_at_the_same_spot_is_a_case_of_its_own(
    client: httpx.AsyncClient,
) -> None:
    await report(client, location=SPOT)
    lamp = await report(client, category="street_lamp", location=SPOT)
    assert lamp["status"] == "received"


async def test_the_nearest_waiting_case_is_the_original(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    west_case = await report(client, location=SPOT)
    east_case = await report(client, location=east(SPOT, 40))
    between = await report(client, location=east(SPOT, 28))  # 28 m from one, 12 m from the other
    assert between["duplicate_of"] == east_case["ticket"]
    # A cancelled case is no original; a case out on its visit still is.
    await move(client, east_case["id"], to="cancelled", version=1, reason="test")
    team = await make_team(db, "11110")
    inspector = await make_inspector(db, team, **SPOT)
    await move(client, west_case["id"], to="assigned", version=1, inspector_id=inspector)
    again = await report(client, location=east(SPOT, 28))
    assert again["duplicate_of"] == west_case["ticket"]


async def test_a_case_whose_visit_has_a_result_is_no_original(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    case = await report(client, location=SPOT)
    inspector = await make_inspector(db, await make_team(db, "11110"), **SPOT)
    version = 1
    for step in ({"to": "assigned", "inspector_id": inspector}, {"to": "accepted"},
                 {"to": "on_site"}, {"to": "resolved"}):  # fmt: skip
        answer = await move(client, case["id"], version=version, **step)
        assert answer.status_code == 200, answer.text
        version = answer.json()["version"]
    # The car came back after it was moved on: a new case.
    assert (await report(client, location=SPOT))["status"] == "received"


async def test_the_agent_can_log_a_separate_case(client: httpx.AsyncClient) -> None:
    await report(client, location=SPOT)
    separate = await report(client, location=SPOT, link_duplicates=False)
    assert (separate["status"], separate["duplicate_of"]) == ("received", None)


async def test_a_category_with_radius_zero_is_never_deduplicated(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.put(
        "/api/v1/admin/categories/illegal_parking/dedup",
        json={"radius_m": 0, "window_minutes": 120},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["dedup"] == {"radius_m": 0.0, "window_minutes": 120}
    await report(client, location=SPOT)
    assert (await report(client, location=SPOT))["status"] == "received"


async def test_duplicates_are_not_auto_assigned(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await db.execute(text("UPDATE category SET auto_assign = true WHERE code = 'street_lamp'"))
    await make_inspector(db, await make_team(db, "11110"), **SPOT)
    first = await report(client, category="street_lamp", location=SPOT)
    assert first["status"] == "assigned"
    second = await report(client, category="street_lamp", location=north(SPOT, 5))
    assert (second["status"], second["assignee_id"]) == ("duplicate", None)


async def test_nearby_lists_open_cases_nearest_first(client: httpx.AsyncClient) -> None:
    far = await report(client, location=north(SPOT, 80))
    near = await report(client, location=north(SPOT, 20))
    lamp = await report(client, category="street_lamp", location=east(SPOT, 10))
    query = {"lat": SPOT["lat"], "long": SPOT["lon"]}

    everything = (await client.get("/api/v1/complaints/nearby", params=query)).json()
    assert everything["radius_m"] == 100
    assert [c["id"] for c in everything["cases"]] == [lamp["id"], near["id"], far["id"]]
    assert not any(c["would_link"] for c in everything["cases"])
    assert everything["cases"][0]["distance_m"] == pytest.approx(10, abs=0.5)
    assert "reporter" not in everything["cases"][0]

    parking = (
        await client.get(
            "/api/v1/complaints/nearby", params=query | {"category": "illegal_parking"}
        )
    ).json()
    assert parking["radius_m"] == 30  # the category's radius
    assert [(c["id"], c["would_link"]) for c in parking["cases"]] == [(near["id"], True)]

    wider = await client.get(
        "/api/v1/complaints/nearby",
        params={"lat": SPOT["lat"], "lon": SPOT["lon"], "category": "illegal_parking",
                "radius_m": 150},
    )  # fmt: skip
    assert [(c["id"], c["would_link"]) for c in wider.json()["cases"]] == [
        (near["id"], True), (far["id"], False)
    ]  # fmt: skip


@pytest.mark.parametrize(
    "params",
    [
        {"lat": "37.57"},
        {"lat": "nan", "long": "126.97"},
        {"lat": "37.57", "long": "inf"},
        {"lat": "91", "long": "126.97"},
        {"lat": "37.57", "long": "126.97", "radius_m": "5000"},
        {"lat": "37.57", "long": "126.97", "radius_m": "0"},
        {"lat": "37.57", "long": "126.97", "category": "Robert'); DROP"},
        {"lat": "37.57", "long": "126.97", "category": "no_such_thing"},
    ],
)
async def test_nearby_bad_input_is_422(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    answer = await client.get("/api/v1/complaints/nearby", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] in ("validation_error", "unknown_category")


async def merge(client: httpx.AsyncClient, case: dict[str, Any], into: str, version: int = 1):  # type: ignore[no-untyped-def]
    return await client.post(
        f"/api/v1/dispatch/complaints/{case['id']}/merge",
        json={"into": into, "version": version, "reason": "same car"},
    )


async def test_merge_and_unmerge_write_an_event_on_both_cases(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    original = await report(client, location=SPOT)
    other = await report(client, location=north(SPOT, 60))  # beyond the radius
    answer = await merge(client, other, original["ticket"])
    assert answer.status_code == 200, answer.text
    merged = answer.json()
    assert (merged["status"], merged["duplicate_of"], merged["version"]) == (
        "duplicate", original["ticket"], 2
    )  # fmt: skip
    assert (await events(db, other["id"]))[-1][0] == "duplicate"
    note = (await events(db, original["id"]))[-1]
    assert (note[0], note[2]["duplicate_ticket"]) == ("duplicate_linked", other["ticket"])

    answer = await client.post(
        f"/api/v1/dispatch/complaints/{other['id']}/unmerge",
        json={"version": 2, "reason": "another car"},
    )
    assert answer.status_code == 200, answer.text
    alone = answer.json()
    assert (alone["status"], alone["duplicate_of"]) == ("received", None)
    assert (await events(db, other["id"]))[-1][2]["unlinked_from"] == original["id"]
    note = (await events(db, original["id"]))[-1]
    assert note[0] == "duplicate_unlinked"
    assert note[2] == {
        "duplicate_id": other["id"], "duplicate_ticket": other["ticket"], "reason": "another car"
    }  # fmt: skip


async def test_merging_a_case_takes_its_own_duplicates_along(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    target = await report(client, location=north(SPOT, 100))
    merged = await report(client, location=SPOT)
    follower = await report(client, location=north(SPOT, 10))
    assert follower["duplicate_of"] == merged["ticket"]
    assert (await merge(client, merged, target["ticket"])).status_code == 200
    moved = (await client.get(f"/api/v1/complaints/{follower['ticket']}")).json()
    assert moved["duplicate_of"] == target["ticket"]
    assert (await events(db, follower["id"]))[-1][0] == "duplicate_relinked"
    linked = [p["duplicate_id"] for kind, _, p in await events(db, target["id"])
              if kind == "duplicate_linked"]  # fmt: skip
    assert linked == [merged["id"], follower["id"]]


async def test_bad_merges_and_unmerges(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    original = await report(client, location=SPOT)
    duplicate = await report(client, location=north(SPOT, 10))
    third = await report(client, location=north(SPOT, 200))
    # Into a duplicate: no chains; the answer names the original to use.
    answer = await merge(client, third, duplicate["ticket"])
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_duplicate"
    assert answer.json()["error"]["details"]["original"] == original["ticket"]
    # Into itself, or an unknown ticket.
    for into in (third["ticket"], "000000-000000", "nonsense"):
        assert (await merge(client, third, into)).status_code == 422
    # A case out on its visit is not merged.
    inspector = await make_inspector(db, await make_team(db, "11110"), **SPOT)
    await move(client, third["id"], to="assigned", version=1, inspector_id=inspector)
    answer = await merge(client, third, original["ticket"], version=2)
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "invalid_transition")
    # Unmerging what is no duplicate is refused; nothing moves (no "take back" in disguise).
    answer = await client.post(
        f"/api/v1/dispatch/complaints/{third['id']}/unmerge", json={"version": 2}
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "invalid_transition")
    still = (await client.get(f"/api/v1/complaints/{third['ticket']}")).json()
    assert (still["status"], still["assignee_id"]) == ("assigned", inspector)
    # A stale version.
    answer = await client.post(
        f"/api/v1/dispatch/complaints/{duplicate['id']}/unmerge", json={"version": 9}
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "stale_version")
