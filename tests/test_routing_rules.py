"""Routing rules: (district, category) -> team with a per-district fallback; API, CLI, seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from dispatch_server.seed import DEMO_TEAMS, read_categories, seed_demo_teams
from tests.factories import GANGNAM, JONGNO
from tests.test_cli import dasan, rows
from tests.test_dispatch import make_inspector, make_team, new_case

pytestmark = pytest.mark.anyio

RULES = "/api/v1/admin/routing-rules"


async def put_rule(client: httpx.AsyncClient, district: str, category: str, team: int) -> Any:
    return await client.put(f"{RULES}/{district}/{category}", json={"team_id": team})


async def test_a_case_goes_to_its_category_team_else_the_fallback_else_none(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    parking = await make_team(db, "11110", ["illegal_parking"])
    everyone = await make_team(db, "11110")
    assert (await new_case(client))["team_id"] is None  # no rule yet: routed by hand

    assert (await put_rule(client, "11110", "*", everyone)).status_code == 200
    assert (await new_case(client))["team_id"] == everyone
    assert (await new_case(client, category="street_lamp"))["team_id"] == everyone

    assert (await put_rule(client, "11110", "illegal_parking", parking)).status_code == 200
    assert (await new_case(client))["team_id"] == parking
    assert (await new_case(client, category="street_lamp"))["team_id"] == everyone
    # Another district's rules are its own.
    assert (await new_case(client, location=GANGNAM))["team_id"] is None

    stored = await db.execute(
        text("SELECT team_id FROM complaint ORDER BY id DESC LIMIT 1 OFFSET 1")
    )
    assert stored.scalar_one() == everyone  # the team is stored on the case


async def test_rules_are_listed_resolved_replaced_and_removed(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    first = await make_team(db, "11110", ["illegal_parking", "vehicle_idling"])
    second = await make_team(db, "11110", ["illegal_parking"])
    fallback = await make_team(db, "11110")
    await put_rule(client, "11110", "*", fallback)
    answer = await put_rule(client, "11110", "illegal_parking", first)
    assert answer.status_code == 200, answer.text
    assert answer.json()["category"] == "illegal_parking"
    # Set again: the rule is replaced, not doubled.
    answer = await put_rule(client, "11110", "illegal_parking", second)
    assert answer.json()["team_id"] == second

    listed = (await client.get(RULES, params={"district": "11110"})).json()["rules"]
    assert [(r["category"], r["team_id"]) for r in listed] == [
        ("illegal_parking", second), (None, fallback)
    ]  # fmt: skip

    def route(category: str) -> Any:
        return client.get("/api/v1/admin/route", params={"district": "11110", "category": category})

    assert (await route("illegal_parking")).json()["matched_by"] == "category"
    by_fallback = (await route("road_damage")).json()
    assert (by_fallback["team_id"], by_fallback["matched_by"]) == (fallback, "fallback")

    assert (await client.delete(f"{RULES}/11110/illegal_parking")).status_code == 204
    assert (await route("illegal_parking")).json()["team_id"] == fallback
    assert (await client.delete(f"{RULES}/11110/*")).status_code == 204
    nothing = (await route("illegal_parking")).json()
    assert (nothing["team_id"], nothing["matched_by"]) == (None, "none")
    again = await client.delete(f"{RULES}/11110/*")
    assert (again.status_code, again.json()["error"]["code"]) == (404, "routing_rule_not_found")


async def test_rules_that_cannot_work_are_refused(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    lamps = await make_team(db, "11110", ["street_lamp"])
    gangnam = await make_team(db, "11680")
    cases = [
        ("11110", "illegal_parking", lamps, "does not work"),
        ("11110", "*", gangnam, "belongs to district 11680"),
        ("11110", "no_such_category", lamps, "unknown category"),
        ("99999", "*", lamps, "no district"),
        ("11110", "*", 987654, "no team"),
    ]
    for district, category, team, message in cases:
        answer = await put_rule(client, district, category, team)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert (error["code"], message in error["message"]) == ("invalid_routing_rule", True)
    for path, body in (
        (f"{RULES}/11110/Bad!", {"team_id": lamps}),
        (f"{RULES}/11110/*", {"team_id": "x"}),
        (f"{RULES}/11110/*", {"team_id": lamps, "extra": 1}),
        (f"{RULES}/11110/*", {}),
    ):
        assert (await client.put(path, json=body)).status_code == 422
    assert (await client.get(RULES)).json()["rules"] == []  # nothing was stored


async def test_the_database_keeps_a_rule_inside_its_district(db: AsyncConnection) -> None:
    gangnam = await make_team(db, "11680")
    with pytest.raises(IntegrityError):
        async with db.begin_nested():
            await db.execute(
                text(
                    "INSERT INTO routing_rule (district_code, category_code, team_id, updated_at)"
                    " VALUES ('11110', NULL, :team, now())"
                ),
                {"team": gangnam},
            )
    # One fallback per district (NULLS NOT DISTINCT).
    jongno = await make_team(db, "11110")
    insert = text(
        "INSERT INTO routing_rule (district_code, category_code, team_id, updated_at)"
        " VALUES ('11110', NULL, :team, now())"
    )
    await db.execute(insert, {"team": jongno})
    with pytest.raises(IntegrityError):
        async with db.begin_nested():
            await db.execute(insert, {"team": jongno})


async def test_candidates_come_from_the_routed_team_first(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    parking = await make_team(db, "11110", ["illegal_parking"])
    others = await make_team(db, "11110")
    await put_rule(client, "11110", "illegal_parking", parking)
    near_other = await make_inspector(db, others, **JONGNO)
    far_own = await make_inspector(db, parking, lat=JONGNO["lat"] + 0.01, lon=JONGNO["lon"])
    case = await new_case(client, location=JONGNO)
    ranking = (await client.get(f"/api/v1/dispatch/complaints/{case['id']}/candidates")).json()
    assert (ranking["team_id"], ranking["scope"]) == (parking, "team")
    assert [c["inspector_id"] for c in ranking["candidates"]] == [far_own]
    # Nobody of the team on duty: the district's other teams that work the category.
    await db.execute(text("UPDATE inspector SET on_duty = false WHERE id = :i"), {"i": far_own})
    ranking = (await client.get(f"/api/v1/dispatch/complaints/{case['id']}/candidates")).json()
    assert ranking["scope"] == "district"
    assert [c["inspector_id"] for c in ranking["candidates"]] == [near_other]


async def test_teams_are_listed_and_added(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/api/v1/admin/teams",
        json={"district": "11110", "name": " 야간단속팀 ", "categories": ["illegal_parking"]},
    )
    assert answer.status_code == 201, answer.text
    team = answer.json()
    assert (team["name"], team["inspectors"]) == ("야간단속팀", 0)
    again = await client.post(
        "/api/v1/admin/teams", json={"district": "11110", "name": "야간단속팀"}
    )
    assert (again.status_code, again.json()["error"]["code"]) == (409, "team_exists")
    for body in (
        {"district": "99999", "name": "x"},
        {"district": "11110", "name": "x", "categories": ["nope"]},
        {"district": "11110", "name": "   "},
    ):
        assert (await client.post("/api/v1/admin/teams", json=body)).status_code == 422
    listed = (await client.get("/api/v1/admin/teams", params={"district": "11110"})).json()
    assert team["id"] in [t["id"] for t in listed["teams"]]


async def test_the_demo_seed_routes_every_category_of_every_district(
    db: AsyncConnection,
) -> None:
    added = await db.run_sync(lambda sync: seed_demo_teams(Session(bind=sync)))
    assert added == 25 * len(DEMO_TEAMS) * 3
    again = await db.run_sync(lambda sync: seed_demo_teams(Session(bind=sync)))
    assert again == 0  # idempotent
    categories = [c["code"] for c in read_categories()]
    routed = await db.execute(
        text(
            "SELECT d.code, c.code, t.name, r.category_code IS NULL"
            " FROM district d CROSS JOIN unnest(CAST(:categories AS text[])) AS c(code)"
            " LEFT JOIN LATERAL (SELECT * FROM routing_rule r WHERE r.district_code = d.code"
            "   AND (r.category_code = c.code OR r.category_code IS NULL)"
            "   ORDER BY r.category_code NULLS LAST LIMIT 1) r ON true"
            " LEFT JOIN team t ON t.id = r.team_id"
        ),
        {"categories": categories},
    )
    by_category: dict[str, set[str]] = {}
    for _district, category, team, by_fallback in routed:
        assert team is not None and not by_fallback  # each category has its section
        by_category.setdefault(category, set()).add(team)
    assert by_category["illegal_parking"] == {"주차단속팀"}
    assert by_category["street_lamp"] == {"가로등관리팀"}
    fallbacks = await db.execute(
        text(
            "SELECT count(*) FROM routing_rule r JOIN team t ON t.id = r.team_id"
            " WHERE r.category_code IS NULL AND t.name = '현장민원팀'"
        )
    )
    assert fallbacks.scalar_one() == 25


def test_the_routing_cli(make_database: Callable[[str], str]) -> None:
    url = make_database("routing")
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        team = connection.execute(
            text("INSERT INTO team (district_code, name) VALUES ('11110', 'cli team') RETURNING id")
        ).scalar_one()
    engine.dispose()
    done = dasan(url, "routing", "set", "11110", "*", str(team))
    assert done.returncode == 0, done.stdout + done.stderr
    listed = dasan(url, "routing", "list", "--district", "11110")
    assert "11110  *" in listed.stdout and "cli team" in listed.stdout
    route = dasan(url, "routing", "route", "11110", "road_damage")
    assert f"-> {team} cli team (by the fallback rule)" in route.stdout
    teams = dasan(url, "routing", "teams", "--district", "11110")
    assert "cli team" in teams.stdout
    wrong = dasan(url, "routing", "set", "11110", "illegal_parking", "987654")
    assert wrong.returncode == 1 and "no team has id 987654" in wrong.stdout
    removed = dasan(url, "routing", "unset", "11110", "*")
    assert removed.returncode == 0, removed.stdout
    assert rows(url, "SELECT count(*) FROM routing_rule") == [(0,)]
