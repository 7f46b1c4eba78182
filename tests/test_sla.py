"""SLA clocks through a case's life, the sweep and its escalation ladder, the report, the API.

Time moves by the tests' frozen clock (and `time-machine` for the real clock): nothing sleeps.
Demo policies (the seed): illegal parking assign 10 min, arrive 30 min (re-route on breach),
resolve 120 min, all 24x7, warnings at 75 %, supervisor 15 min (resolve: 60) after a breach.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
import time_machine
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.clock import FrozenClock, SystemClock
from dispatch_server.config import Settings
from sla.scheduler import sweep_now
from sla.sweep import sweep
from tests.conftest import FROZEN_AT
from tests.factories import JONGNO
from tests.test_dispatch import make_inspector, make_team, move, new_case

pytestmark = pytest.mark.anyio

MIN = timedelta(minutes=1)
Transaction = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


@pytest.fixture()
def transaction(db: AsyncConnection) -> Transaction:
    """The sweep's transactions: SAVEPOINTs on the test's connection."""

    @asynccontextmanager
    async def savepoint() -> AsyncIterator[AsyncConnection]:
        async with db.begin_nested():
            yield db

    return savepoint


@pytest.fixture()
async def inspectors(db: AsyncConnection) -> list[int]:
    """Two on-duty parking inspectors in Jongno-gu, the first nearer the grid."""
    team = await make_team(db, "11110", ["illegal_parking", "vehicle_idling"])
    return [
        await make_inspector(db, team, lat=JONGNO["lat"], lon=JONGNO["lon"]),
        await make_inspector(db, team, lat=JONGNO["lat"] + 0.01, lon=JONGNO["lon"]),
    ]


async def clocks(client: httpx.AsyncClient, ticket: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/complaints/{ticket}/sla")
    assert response.status_code == 200, response.text
    return dict(response.json())


def by_kind(sla: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["kind"]: t for t in sla["timers"]}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def events(db: AsyncConnection, case_id: int, prefix: str = "sla_") -> list[tuple[str, Any]]:
    rows = await db.execute(
        text(
            "SELECT type, payload FROM complaint_event WHERE complaint_id = :id"
            " AND type LIKE :p ORDER BY id"
        ),
        {"id": case_id, "p": prefix + "%"},
    )
    return [(row.type, row.payload) for row in rows]


async def messages(db: AsyncConnection, case_id: int) -> list[tuple[str, str, str]]:
    """The case's escalation messages (its citizen texts and assignment pushes left out)."""
    rows = await db.execute(
        text(
            "SELECT template, recipient, status FROM outbox_message WHERE complaint_id = :id"
            " AND template LIKE 'sla\\_%' ORDER BY id"
        ),
        {"id": case_id},
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_intake_starts_the_policys_clocks(client: httpx.AsyncClient) -> None:
    case = await new_case(client)
    sla = await clocks(client, case["ticket"])
    timers = by_kind(sla)
    assert list(timers) == ["assign", "arrive", "resolve"]
    for kind, minutes in (("assign", 10), ("arrive", 30), ("resolve", 120)):
        timer = timers[kind]
        assert timer["state"] == "running" and timer["level"] == 0
        assert timer["calendar"] == "24x7" and timer["target_minutes"] == minutes
        assert timer["due_at"] == iso(FROZEN_AT + minutes * MIN)
        assert timer["warn_at"] == iso(FROZEN_AT + minutes * 0.75 * MIN)
    assert timers["assign"]["escalate_at"] == iso(FROZEN_AT + 25 * MIN)
    assert sla["expected_datetime"] == iso(FROZEN_AT + 120 * MIN)


async def test_office_hours_policy_counts_business_days(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    # A street lamp reported on Friday 17:00 KST: 3 office days (27 h) -> Wednesday 17:00.
    clock.set(datetime.fromisoformat("2026-11-27T17:00+09:00"))
    case = await new_case(client, category="street_lamp")
    sla = await clocks(client, case["ticket"])
    assert [t["kind"] for t in sla["timers"]] == ["resolve"]
    assert sla["expected_datetime"] == iso(datetime.fromisoformat("2026-12-02T17:00+09:00"))


async def test_a_priority_policy_wins_over_the_general_one(client: httpx.AsyncClient) -> None:
    general = by_kind(
        await clocks(client, (await new_case(client, category="road_damage"))["ticket"])
    )
    urgent = by_kind(
        await clocks(
            client, (await new_case(client, category="road_damage", priority="urgent"))["ticket"]
        )
    )
    assert general["arrive"]["target_minutes"] == 240
    assert urgent["arrive"]["target_minutes"] == 60


async def test_each_stage_stops_its_clock(
    client: httpx.AsyncClient, clock: FrozenClock, inspectors: list[int]
) -> None:
    case = await new_case(client)
    clock.advance(5 * MIN)
    case = (
        await move(
            client, case["id"], to="assigned", version=case["version"], inspector_id=inspectors[0]
        )
    ).json()
    timers = by_kind(await clocks(client, case["ticket"]))
    assert timers["assign"]["state"] == "stopped" and timers["assign"]["met"] is True
    assert timers["arrive"]["state"] == "running"
    for status in ("accepted", "on_site"):
        clock.advance(20 * MIN)
        case = (await move(client, case["id"], to=status, version=case["version"])).json()
    timers = by_kind(await clocks(client, case["ticket"]))
    # On site 45 minutes after intake: the arrive clock stopped late.
    assert timers["arrive"]["state"] == "stopped" and timers["arrive"]["met"] is False
    assert timers["arrive"]["stopped_at"] == iso(FROZEN_AT + 45 * MIN)
    clock.advance(10 * MIN)
    await move(client, case["id"], to="resolved", version=case["version"])
    timers = by_kind(await clocks(client, case["ticket"]))
    assert timers["resolve"]["state"] == "stopped" and timers["resolve"]["met"] is True


@pytest.mark.parametrize("how", ["cancelled", "duplicate"])
async def test_a_case_that_needs_no_visit_cancels_its_clocks(
    client: httpx.AsyncClient, how: str
) -> None:
    case = await new_case(client)
    if how == "cancelled":
        await move(client, case["id"], to="cancelled", version=case["version"], reason="test")
    else:
        # Reported again on the same spot: linked at intake as a duplicate.
        case = await new_case(client, location=case["location"])
        assert case["status"] == "duplicate"
    sla = await clocks(client, case["ticket"])
    assert {t["state"] for t in sla["timers"]} == {"cancelled"}
    assert sla["expected_datetime"] is None


async def test_reassignment_does_not_reset_the_clocks(
    client: httpx.AsyncClient, clock: FrozenClock, inspectors: list[int]
) -> None:
    case = await new_case(client)
    case = (
        await move(
            client, case["id"], to="assigned", version=case["version"], inspector_id=inspectors[0]
        )
    ).json()
    before = by_kind(await clocks(client, case["ticket"]))
    clock.advance(25 * MIN)
    response = await move(
        client, case["id"], to="assigned", version=case["version"], inspector_id=inspectors[1],
        reason="nearer",
    )  # fmt: skip
    assert response.status_code == 200, response.text
    after = by_kind(await clocks(client, case["ticket"]))
    for kind in ("arrive", "resolve"):
        assert after[kind]["due_at"] == before[kind]["due_at"]
        assert after[kind]["started_at"] == before[kind]["started_at"]
    assert after["assign"] == before["assign"]


async def test_taken_back_the_assign_clock_counts_on(
    client: httpx.AsyncClient, inspectors: list[int]
) -> None:
    case = await new_case(client)
    case = (
        await move(
            client, case["id"], to="assigned", version=case["version"], inspector_id=inspectors[0]
        )
    ).json()
    await move(client, case["id"], to="received", version=case["version"], reason="wrong team")
    assign = by_kind(await clocks(client, case["ticket"]))["assign"]
    assert assign["state"] == "running" and assign["due_at"] == iso(FROZEN_AT + 10 * MIN)


async def test_pause_and_resume_move_the_due_times(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    case = await new_case(client)
    clock.advance(4 * MIN)
    response = await client.post(
        f"/api/v1/dispatch/complaints/{case['id']}/sla/pause", json={"reason": "waiting_citizen"}
    )
    assert response.status_code == 200, response.text
    assert {t["state"] for t in response.json()["timers"]} == {"paused"}
    again = await client.post(
        f"/api/v1/dispatch/complaints/{case['id']}/sla/pause", json={"reason": "waiting_citizen"}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "no_clock_to_move"
    clock.advance(60 * MIN)
    response = await client.post(f"/api/v1/dispatch/complaints/{case['id']}/sla/resume", json={})
    assert response.status_code == 200, response.text
    timers = by_kind(response.json())
    for kind, minutes in (("assign", 10), ("arrive", 30), ("resolve", 120)):
        assert timers[kind]["state"] == "running"
        assert timers[kind]["due_at"] == iso(FROZEN_AT + (minutes + 60) * MIN)
        assert timers[kind]["paused_minutes"] == 60
    assert response.json()["expected_datetime"] == iso(FROZEN_AT + 180 * MIN)
    timeline = [
        e["type"]
        for e in (await client.get(f"/api/v1/complaints/{case['ticket']}/events")).json()["events"]
    ]
    assert timeline[-2:] == ["sla_paused", "sla_resumed"]
    resumed_twice = await client.post(
        f"/api/v1/dispatch/complaints/{case['id']}/sla/resume", json={}
    )
    assert resumed_twice.status_code == 409


async def test_a_pause_over_a_weekend_costs_no_office_time(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    clock.set(datetime.fromisoformat("2026-11-27T17:00+09:00"))  # Friday
    case = await new_case(client, category="street_lamp")
    clock.set(datetime.fromisoformat("2026-11-27T17:30+09:00"))
    await client.post(
        f"/api/v1/dispatch/complaints/{case['id']}/sla/pause", json={"reason": "waiting_agency"}
    )
    clock.set(datetime.fromisoformat("2026-11-30T10:00+09:00"))  # Monday 10:00
    response = await client.post(f"/api/v1/dispatch/complaints/{case['id']}/sla/resume", json={})
    # Due Wednesday 17:00 before; paused for 1.5 office hours (Friday 17:30-18:00, Monday
    # 09:00-10:00), not for the 64.5 hours of the weekend -> Thursday 09:30.
    assert response.json()["expected_datetime"] == iso(
        datetime.fromisoformat("2026-12-03T09:30+09:00")
    )


async def test_pause_of_an_unknown_case_is_404_and_bad_reason_422(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/dispatch/complaints/999999999/sla/pause", json={"reason": "waiting_citizen"}
    )
    assert response.status_code == 404
    case = await new_case(client)
    bad = await client.post(
        f"/api/v1/dispatch/complaints/{case['id']}/sla/pause", json={"reason": "lunch"}
    )
    assert bad.status_code == 422
    assert (await client.get("/api/v1/complaints/260101-999999/sla")).status_code == 404


async def test_the_sweep_warns_then_breaches_then_tells_the_supervisor(
    client: httpx.AsyncClient, db: AsyncConnection, clock: FrozenClock, transaction: Transaction
) -> None:
    case = await new_case(client)
    report = await sweep(transaction, now=FROZEN_AT + 7 * MIN)
    assert report.steps == 0
    report = await sweep(transaction, now=FROZEN_AT + 8 * MIN)  # assign warning at 7.5 min
    assert (report.claimed, report.steps, report.messages) == (1, 1, 1)
    assert [(t, p["kind"], p["level"]) for t, p in await events(db, case["id"])] == [
        ("sla_warning", "assign", 1)
    ]
    # Nobody has the case: the warning goes to the district's dispatchers.
    assert await messages(db, case["id"]) == [("sla_warning", "dispatchers:11110", "pending")]
    assert (await sweep(transaction, now=FROZEN_AT + 9 * MIN)).steps == 0  # never twice
    await sweep(transaction, now=FROZEN_AT + 10 * MIN)  # assign breach
    await sweep(transaction, now=FROZEN_AT + 25 * MIN)  # assign supervisor, arrive warning
    steps = [(t, p["kind"]) for t, p in await events(db, case["id"])]
    assert steps == [
        ("sla_warning", "assign"), ("sla_breached", "assign"), ("sla_warning", "arrive"),
        ("sla_escalated", "assign"),
    ]  # fmt: skip
    assert [m[1] for m in await messages(db, case["id"])] == [
        "dispatchers:11110", "dispatchers:11110", "dispatchers:11110", "supervisors:11110",
    ]  # fmt: skip
    assert by_kind(await clocks(client, case["ticket"]))["assign"]["level"] == 3


async def test_a_warning_goes_to_the_assignee(
    client: httpx.AsyncClient, db: AsyncConnection, transaction: Transaction, inspectors: list[int]
) -> None:
    case = await new_case(client)
    await move(
        client, case["id"], to="assigned", version=case["version"], inspector_id=inspectors[0]
    )
    await sweep(transaction, now=FROZEN_AT + 23 * MIN)  # arrive warning at 22.5 min
    assert await messages(db, case["id"]) == [
        ("sla_warning", f"inspector:{inspectors[0]}", "pending")
    ]


async def test_catch_up_after_three_hours_down_takes_each_missed_step_once(
    client: httpx.AsyncClient, db: AsyncConnection, transaction: Transaction, inspectors: list[int]
) -> None:
    case = await new_case(client)
    case = (
        await move(
            client, case["id"], to="assigned", version=case["version"], inspector_id=inspectors[0]
        )
    ).json()
    # Nothing ran for three hours: arrive and resolve passed warning, breach and supervisor.
    report = await sweep(transaction, now=FROZEN_AT + 180 * MIN)
    steps = [(t, p["kind"], p["level"]) for t, p in await events(db, case["id"])]
    assert steps == [
        ("sla_warning", "arrive", 1), ("sla_breached", "arrive", 2), ("sla_escalated", "arrive", 3),
        ("sla_warning", "resolve", 1), ("sla_breached", "resolve", 2),
        ("sla_escalated", "resolve", 3),
    ]  # fmt: skip
    assert report.steps == 6 and report.messages == 6
    # The arrive breach re-routed the case to the other inspector (the policy says so).
    assert report.rerouted == [case["id"]]
    moved = (await client.get(f"/api/v1/complaints/{case['ticket']}")).json()
    assert moved["assignee_id"] == inspectors[1]
    assert (await sweep(transaction, now=FROZEN_AT + 181 * MIN)).steps == 0
    assert (await sweep(transaction, now=FROZEN_AT + 24 * 60 * MIN)).steps == 0


async def test_a_re_route_cut_short_after_its_breach_is_made_by_the_next_sweep(
    client: httpx.AsyncClient, db: AsyncConnection, transaction: Transaction, inspectors: list[int]
) -> None:
    """The breach's batch queues the re-route and commits; the re-route is its own
    transaction. A process that dies between the two (here: the re-route fails) leaves the
    case queued, and the next sweep re-routes it before anything else."""
    case = await new_case(client)
    await move(client, case["id"], to="assigned", version=case["version"],
               inspector_id=inspectors[0])  # fmt: skip

    async def dies(connection: AsyncConnection, complaint_id: int, now: datetime) -> bool:
        raise RuntimeError("the process went away")

    report = await sweep(transaction, now=FROZEN_AT + 31 * MIN, reroute=dies)
    assert ("sla_breached", "arrive", 2) in [
        (t, p["kind"], p["level"]) for t, p in await events(db, case["id"])
    ]  # the breach is taken (and stays taken) ...
    assert report.rerouted == []  # ... its re-route was not made,
    queued = await db.execute(text("SELECT count(*) FROM sla_reroute WHERE complaint_id = :c"),
                              {"c": case["id"]})  # fmt: skip
    assert queued.scalar_one() == 0  # and a failure of the case itself drops it from the queue

    # A crash: the queue entry was committed with the breach, the re-route never ran.
    await db.execute(
        text("INSERT INTO sla_reroute (complaint_id, breached_at) VALUES (:c, :at)"),
        {"c": case["id"], "at": FROZEN_AT + 31 * MIN},
    )
    later = await sweep(transaction, now=FROZEN_AT + 32 * MIN)
    assert later.rerouted == [case["id"]] and later.steps == 0
    moved = (await client.get(f"/api/v1/complaints/{case['ticket']}")).json()
    assert moved["assignee_id"] == inspectors[1]
    left = await db.execute(text("SELECT count(*) FROM sla_reroute"))
    assert left.scalar_one() == 0


async def test_a_sweeps_steps_reach_the_streams_grouped_by_district_and_inspector(
    client: httpx.AsyncClient, db: AsyncConnection, transaction: Transaction, inspectors: list[int]
) -> None:
    mine = await new_case(client)
    await move(
        client, mine["id"], to="assigned", version=mine["version"], inspector_id=inspectors[0]
    )
    nobodys = await new_case(client)
    before = (await db.execute(text("SELECT coalesce(max(id), 0) FROM live_event"))).scalar_one()
    report = await sweep(transaction, now=FROZEN_AT + 26 * MIN)
    rows = (
        await db.execute(
            text(
                "SELECT kind, district_code, inspector_id, data FROM live_event"
                " WHERE id > :before ORDER BY id"
            ),
            {"before": before},
        )
    ).all()
    # One `sla` event per (district, inspector), none per step with the whole case.
    assert [(r.kind, r.district_code, r.inspector_id) for r in rows] == [
        ("sla", "11110", inspectors[0]), ("sla", "11110", None),
    ]  # fmt: skip
    steps = [s for r in rows for s in r.data["steps"]]
    assert len(steps) == report.steps
    assert {(s["complaint_id"], s["type"], s["kind"], s["level"]) for s in steps} == {
        (mine["id"], "sla_warning", "arrive", 1),
        (nobodys["id"], "sla_warning", "assign", 1),
        (nobodys["id"], "sla_breached", "assign", 2),
        (nobodys["id"], "sla_escalated", "assign", 3),
        (nobodys["id"], "sla_warning", "arrive", 1),
    }
    ids = [s["event_id"] for s in rows[1].data["steps"]]
    assert ids == sorted(ids) and rows[1].data["steps"][0]["ticket"] == nobodys["ticket"]


async def test_the_real_clock_under_time_machine(
    client: httpx.AsyncClient, db: AsyncConnection, transaction: Transaction, settings: Settings
) -> None:
    """The scheduler's job reads the injected clock; the real one travels with time-machine."""
    case = await new_case(client)
    with time_machine.travel(FROZEN_AT + 11 * MIN, tick=False):
        report = await sweep_now(transaction, clock=SystemClock(), settings=settings)
    assert report is not None and report.steps == 2  # assign warning and breach
    assert [t for t, _ in await events(db, case["id"])] == ["sla_warning", "sla_breached"]


async def test_report_on_a_known_data_set(
    client: httpx.AsyncClient, clock: FrozenClock, transaction: Transaction, inspectors: list[int]
) -> None:
    # Four parking cases received at FROZEN_AT: A assigned after 5 min and on site after 20;
    # B assigned after 15 min and on site after 40; C never assigned; D cancelled.
    a, b, c, d = [await new_case(client) for _ in range(4)]
    await move(client, d["id"], to="cancelled", version=d["version"], reason="test")
    versions = {}
    for case, assigned in ((a, 5), (b, 15)):
        clock.set(FROZEN_AT + assigned * MIN)
        moved = (
            await move(
                client,
                case["id"],
                to="assigned",
                version=case["version"],
                inspector_id=inspectors[0],
            )
        ).json()
        versions[case["id"]] = moved["version"]
    for case, on_site in ((a, 20), (b, 40)):
        clock.set(FROZEN_AT + on_site * MIN)
        moved = (await move(client, case["id"], to="accepted", version=versions[case["id"]])).json()
        await move(client, case["id"], to="on_site", version=moved["version"])
    clock.set(FROZEN_AT + 50 * MIN)
    report = await sweep(transaction, now=clock.now())
    assert report.rerouted == [c["id"]]  # C's arrive clock breached at 30 min
    response = await client.get(
        "/api/v1/stats/sla",
        params={"from": iso(FROZEN_AT - MIN), "to": iso(FROZEN_AT + MIN), "district": "11110",
                "category": "illegal_parking"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    stages = {s["kind"]: s for s in response.json()["stages"]}
    assign = stages["assign"]
    # A met (5 min), B missed (15), C missed (unassigned past 10 min, then re-routed at 50:
    # stopped late); D cancelled, left out.
    assert (assign["clocks"], assign["met"], assign["missed"], assign["pending"]) == (3, 1, 2, 0)
    assert assign["compliance"] == pytest.approx(1 / 3, abs=1e-4)
    assert assign["median_minutes"] == 15.0  # 5, 15, 50
    assert assign["p90_minutes"] == pytest.approx(43.0)
    # The one sweep ran at 50 min: B's and A's clocks had stopped by then, C's took all three
    # steps at once.
    assert (assign["warned"], assign["breached"], assign["escalated"]) == (1, 1, 1)
    arrive = stages["arrive"]
    # A on site at 20 (met), B at 40 (missed), C still open past its due time (missed).
    assert (arrive["clocks"], arrive["met"], arrive["missed"], arrive["pending"]) == (3, 1, 2, 0)
    assert (arrive["median_minutes"], arrive["p90_minutes"]) == (30.0, 38.0)
    assert (arrive["warned"], arrive["breached"], arrive["escalated"]) == (1, 1, 1)
    resolve = stages["resolve"]
    assert (resolve["clocks"], resolve["met"], resolve["missed"], resolve["pending"]) == (
        3,
        0,
        0,
        3,
    )
    assert resolve["compliance"] is None and resolve["median_minutes"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-11-23T00:00:00"},  # no offset
        {"from": "2026-11-24T00:00:00Z", "to": "2026-11-23T00:00:00Z"},
        {"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "yesterday"},
        {"district": "11110; DROP TABLE complaint"},
    ],
)
async def test_report_bad_periods_are_422(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("/api/v1/stats/sla", params=params)
    assert response.status_code == 422, response.text


async def test_policies_through_the_admin_api(client: httpx.AsyncClient) -> None:
    url = "/api/v1/admin/sla/policies/garbage_uncollected/arrive"
    response = await client.put(
        url, json={"target_minutes": 90, "calendar": "24x7", "reroute_on_breach": True}
    )
    assert response.status_code == 200, response.text
    assert response.json()["target_minutes"] == 90
    case = await new_case(client, category="garbage_uncollected")
    assert by_kind(await clocks(client, case["ticket"]))["arrive"]["target_minutes"] == 90
    listed = (
        await client.get("/api/v1/admin/sla/policies", params={"category": "garbage_uncollected"})
    ).json()
    assert {(p["kind"], p["target_minutes"]) for p in listed["policies"]} == {
        ("arrive", 90),
        ("resolve", 1440),
    }
    assert (await client.delete(url)).status_code == 204
    assert (await client.delete(url)).status_code == 404
    # The clock already running keeps its policy.
    assert by_kind(await clocks(client, case["ticket"]))["arrive"]["target_minutes"] == 90


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        (
            "garbage_uncollected/arrive",
            {"target_minutes": 10, "calendar": "nope"},
            "unknown_calendar",
        ),
        ("no_such_category/arrive", {"target_minutes": 10, "calendar": "24x7"}, "unknown_category"),
        (
            "garbage_uncollected/resolve",
            {"target_minutes": 10, "calendar": "24x7", "reroute_on_breach": True},
            "invalid_policy",
        ),
        (
            "garbage_uncollected/arrive",
            {"target_minutes": 0, "calendar": "24x7"},
            "validation_error",
        ),
        ("garbage_uncollected/arrive", {"target_minutes": float("nan"), "calendar": "24x7"}, None),
        (
            "garbage_uncollected/arrive",
            {"target_minutes": 10, "calendar": "24x7", "warn_share": 1},
            "validation_error",
        ),
        (
            "garbage_uncollected/lunch",
            {"target_minutes": 10, "calendar": "24x7"},
            "validation_error",
        ),
    ],
)
async def test_bad_policies_are_422(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], code: str | None
) -> None:
    if code is None:  # NaN is not JSON: sent as text
        response = await client.put(
            f"/api/v1/admin/sla/policies/{path}",
            content=b'{"target_minutes": NaN, "calendar": "24x7"}',
            headers={"content-type": "application/json"},
        )
    else:
        response = await client.put(f"/api/v1/admin/sla/policies/{path}", json=body)
    assert response.status_code == 422, response.text
    if code is not None:
        assert response.json()["error"]["code"] == code


async def test_calendars_and_holidays_through_the_admin_api(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    body = {
        "name": "Saturday mornings", "timezone": "Asia/Seoul",
        "hours": [{"isodow": 6, "opens": "09:00", "closes": "13:00"}],
    }  # fmt: skip
    response = await client.put("/api/v1/admin/sla/calendars/saturday", json=body)
    assert response.status_code == 200, response.text
    added = await client.post(
        "/api/v1/admin/sla/calendars/saturday/holidays",
        json={"calendar": "saturday", "holidays": [{"day": "2026-11-28", "name": "closed"}]},
    )
    assert added.status_code == 200 and len(added.json()["holidays"]) == 1
    await client.put(
        "/api/v1/admin/sla/policies/illegal_dumping/arrive",
        json={"target_minutes": 120, "calendar": "saturday"},
    )
    case = await new_case(client, category="illegal_dumping")  # Monday: next Saturday is off
    arrive = by_kind(await clocks(client, case["ticket"]))["arrive"]
    assert arrive["due_at"] == iso(datetime.fromisoformat("2026-12-05T11:00+09:00"))
    assert (
        await client.delete("/api/v1/admin/sla/calendars/saturday/holidays/2026-11-28")
    ).status_code == 204
    assert (
        await client.delete("/api/v1/admin/sla/calendars/saturday/holidays/2026-11-28")
    ).status_code == 404
    calendars = {
        c["code"]: c for c in (await client.get("/api/v1/admin/sla/calendars")).json()["calendars"]
    }
    assert calendars["office"]["holidays"] > 10 and calendars["saturday"]["holidays"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {
            "name": "x",
            "timezone": "Mars/Olympus",
            "hours": [{"isodow": 1, "opens": "09:00", "closes": "18:00"}],
        },
        {"name": "x", "timezone": "Asia/Seoul", "hours": []},
        {
            "name": "x",
            "timezone": "Asia/Seoul",
            "hours": [{"isodow": 1, "opens": "18:00", "closes": "09:00"}],
        },
        {
            "name": "x",
            "timezone": "Asia/Seoul",
            "hours": [{"isodow": 8, "opens": "09:00", "closes": "18:00"}],
        },
        {
            "name": "x",
            "timezone": "Asia/Seoul",
            "hours": [
                {"isodow": 1, "opens": "09:00", "closes": "13:00"},
                {"isodow": 1, "opens": "12:00", "closes": "18:00"},
            ],
        },
    ],
)
async def test_bad_calendars_are_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.put("/api/v1/admin/sla/calendars/bad", json=body)
    assert response.status_code == 422, response.text
