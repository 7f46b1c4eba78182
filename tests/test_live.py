"""Live events: what the streams carry, in commit order, and where a reconnect resumes.

These tests commit (the stream reads only what has committed), on their own copy of the
seeded database; the HTTP stream itself is tested against a real server in test_server.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from dispatch_server import housekeeping
from dispatch_server.access import Scope
from dispatch_server.clock import FrozenClock
from dispatch_server.config import Settings
from dispatch_server.db import autocommit_connections, transactions
from dispatch_server.dispatch.schemas import TransitionRequest
from dispatch_server.dispatch.service import transition
from dispatch_server.live import service as live
from dispatch_server.live.service import StreamPosition
from dispatch_server.main import create_app
from tests.auth import AS_INSPECTOR, StaffAuth
from tests.factories import GANGNAM, JONGNO, complaint_body
from tests.test_dispatch import make_inspector, make_team

pytestmark = pytest.mark.anyio


@pytest.fixture()
async def stream_engine(make_database: Callable[[str], str]) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(make_database("stream"), poolclass=NullPool)
    yield engine
    await engine.dispose()


@pytest.fixture()
async def app_client(
    stream_engine: AsyncEngine, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The application on the stream database, committing for real."""
    settings = Settings(database_url=str(stream_engine.url), media_dir=tmp_path / "media")
    app = create_app(
        settings=settings,
        clock=clock,
        connections=(transactions(stream_engine), autocommit_connections(stream_engine)),
    )
    transport = httpx.ASGITransport(app=app)
    auth = StaffAuth(stream_engine.begin)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", auth=auth
    ) as client:
        yield client


async def committed(engine: AsyncEngine, statement: str, **params: Any) -> Any:
    """Run one statement in its own committed transaction; its first value."""
    async with engine.begin() as connection:
        result = await connection.execute(text(statement), params)
        return result.scalar() if result.returns_rows else None


async def inspectors(engine: AsyncEngine, district: str, count: int) -> list[int]:
    async with engine.begin() as connection:
        team = await make_team(connection, district)
        return [await make_inspector(connection, team, **JONGNO) for _ in range(count)]


async def here(engine: AsyncEngine, scope: Scope | None = None) -> StreamPosition:
    """Where a stream opened now would start."""
    async with autocommit_connections(engine)() as connection:
        return (await live.start(connection, scope=scope or Scope(), after=None)).position


async def read_all(
    engine: AsyncEngine, scope: Scope, after: StreamPosition
) -> list[live.LiveEvent]:
    async with autocommit_connections(engine)() as connection:
        return await live.read(connection, scope=scope, after=after)


def decoded(events: list[live.LiveEvent]) -> list[dict[str, Any]]:
    import json

    return [json.loads(event.data) for event in events]


async def new_case(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/complaints", json=complaint_body(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def moved(client: httpx.AsyncClient, case: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = await client.post(f"/api/v1/dispatch/complaints/{case['id']}/transitions", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_case_streams_each_step_with_the_case_as_it_then_stood(
    app_client: httpx.AsyncClient, stream_engine: AsyncEngine
) -> None:
    (inspector,) = await inspectors(stream_engine, "11110", 1)
    start = await here(stream_engine)
    case = await new_case(app_client)
    case = await moved(app_client, case, to="assigned", inspector_id=inspector, version=1)
    case = await moved(app_client, case, to="accepted", version=2)

    events = decoded(await read_all(stream_engine, Scope(districts=frozenset({"11110"})), start))
    mine = [e for e in events if e["complaint"]["id"] == case["id"]]
    assert [(e["event"]["type"], e["complaint"]["status"], e["complaint"]["version"])
            for e in mine] == [("received", "received", 1), ("assigned", "assigned", 2),
                               ("accepted", "accepted", 3)]  # fmt: skip
    assert mine[1]["event"]["payload"]["inspector_id"] == inspector
    # The case as the stream shows it is the detail view without the reporter (no personal
    # data in streams): the same rendering, field by field.
    detail = (await app_client.get(f"/api/v1/complaints/{case['ticket']}")).json()
    del detail["reporter"]
    assert mine[-1]["complaint"] == detail
    timeline = (await app_client.get(f"/api/v1/complaints/{case['ticket']}/events")).json()
    assert [e["event"]["id"] for e in mine] == [e["id"] for e in timeline["events"]]
    assert mine[-1]["event"]["at"] == timeline["events"][-1]["at"]


async def test_an_event_that_commits_late_is_not_stepped_over(
    app_client: httpx.AsyncClient, stream_engine: AsyncEngine, clock: FrozenClock
) -> None:
    """A writes first and commits last: a reader by id would have passed A's event."""
    (inspector,) = await inspectors(stream_engine, "11110", 1)
    first, second = await new_case(app_client), await new_case(app_client)
    start = await here(stream_engine)
    scope = Scope(districts=frozenset({"11110"}))
    assign = TransitionRequest.model_validate(
        {"to": "assigned", "inspector_id": inspector, "version": 1}
    )
    async with stream_engine.begin() as slow:
        await transition(
            slow, complaint_id=first["id"], move=assign, actor="t", now=clock.now(), scope=scope
        )
        async with stream_engine.begin() as quick:
            await transition(
                quick, complaint_id=second["id"], move=assign, actor="t", now=clock.now(),
                scope=scope,
            )  # fmt: skip
        # `quick` committed, with the larger event id; `slow` is still open.
        ids = await read_all(stream_engine, Scope(), StreamPosition(0, 0))
        assert not [e for e in ids if e.position > start]
        by_id = await committed(
            stream_engine,
            "SELECT max(id) FROM live_event WHERE data->'complaint'->>'id' = :c",
            c=str(second["id"]),
        )
        assert by_id is not None  # a reader going by id alone would deliver it now
    after = decoded(await read_all(stream_engine, scope, start))
    assert [(e["complaint"]["id"], e["event"]["type"]) for e in after] == [
        (first["id"], "assigned"),
        (second["id"], "assigned"),
    ]


async def test_each_inspector_hears_of_their_cases_only(
    app_client: httpx.AsyncClient, stream_engine: AsyncEngine
) -> None:
    one, two = await inspectors(stream_engine, "11110", 2)
    (elsewhere,) = await inspectors(stream_engine, "11680", 1)
    start = await here(stream_engine)
    case = await new_case(app_client)
    case = await moved(app_client, case, to="assigned", inspector_id=one, version=1)
    case = await moved(
        app_client, case, to="assigned", inspector_id=two, version=2, reason="nearer"
    )
    case = await moved(app_client, case, to="cancelled", version=3, reason="withdrawn")
    gangnam = await new_case(app_client, location=dict(GANGNAM))
    await moved(app_client, gangnam, to="assigned", inspector_id=elsewhere, version=1)

    def seen(events: list[live.LiveEvent]) -> list[tuple[int, str]]:
        return [(e["complaint"]["id"], e["event"]["type"]) for e in decoded(events)]

    assert seen(await read_all(stream_engine, Scope(inspector_id=one), start)) == [
        (case["id"], "assigned"),
        (case["id"], "assigned"),  # the reassignment: it left my queue
    ]
    assert seen(await read_all(stream_engine, Scope(inspector_id=two), start)) == [
        (case["id"], "assigned"),
        (case["id"], "cancelled"),
    ]
    assert seen(await read_all(stream_engine, Scope(inspector_id=elsewhere), start)) == [
        (gangnam["id"], "assigned")
    ]
    jongno = seen(await read_all(stream_engine, Scope(districts=frozenset({"11110"})), start))
    assert (gangnam["id"], "received") not in jongno and len(jongno) == 4
    everywhere = seen(await read_all(stream_engine, Scope(), start))
    assert len(everywhere) == 6


async def test_inspector_duty_and_positions_stream_to_their_district(
    app_client: httpx.AsyncClient, stream_engine: AsyncEngine, clock: FrozenClock
) -> None:
    (inspector,) = await inspectors(stream_engine, "11110", 1)
    start = await here(stream_engine)
    headers = {AS_INSPECTOR: str(inspector)}
    at = clock.now().isoformat()
    fix = {"lat": 37.5712, "lon": 126.9877, "accuracy_m": 6.0, "at": at}
    assert (
        await app_client.post("/api/v1/field/positions", json={"pings": [fix]}, headers=headers)
    ).status_code == 200
    # A late batch (an older fix) moves nobody, so it tells nobody.
    old = fix | {"at": (clock.now() - timedelta(minutes=5)).isoformat(), "lat": 37.5}
    await app_client.post("/api/v1/field/positions", json={"pings": [old]}, headers=headers)
    await app_client.post("/api/v1/field/duty", json={"on_duty": False}, headers=headers)

    events = decoded(await read_all(stream_engine, Scope(districts=frozenset({"11110"})), start))
    assert [e["inspector"]["on_duty"] for e in events] == [True, False]
    assert events[0]["inspector"]["location"] == {"lat": 37.5712, "lon": 126.9877}
    assert events[0]["inspector"]["accuracy_m"] == 6.0
    assert events[0]["inspector"]["position_at"] == at.replace("+00:00", "Z")
    assert await read_all(stream_engine, Scope(districts=frozenset({"11680"})), start) == []


async def test_events_come_in_the_order_of_their_transaction_numbers_not_their_text(
    stream_engine: AsyncEngine,
) -> None:
    """Transaction 10 after transaction 9 (as text, "10" sorts first: a stream read in that
    order, when the numbers cross a power of ten, sends events again or steps over some)."""
    async with transactions(stream_engine)() as connection:
        for tx_id in (10, 9):
            await connection.execute(
                text(
                    "INSERT INTO live_event (tx_id, kind, district_code, data, recorded_at)"
                    " VALUES (CAST(:tx AS xid8), 'complaint', 'zz-order', '{}', now())"
                ),
                {"tx": str(tx_id)},
            )
    try:
        events = await read_all(stream_engine, Scope(districts=frozenset({"zz-order"})),
                            StreamPosition(0, 0))  # fmt: skip
        assert [event.position.tx_id for event in events] == [9, 10]
        after_nine = await read_all(stream_engine, Scope(districts=frozenset({"zz-order"})),
                                events[0].position)  # fmt: skip
        assert [event.position.tx_id for event in after_nine] == [10]
    finally:
        async with transactions(stream_engine)() as connection:
            await connection.execute(
                text("DELETE FROM live_event WHERE district_code = 'zz-order'")
            )


async def test_where_a_stream_starts(
    app_client: httpx.AsyncClient, stream_engine: AsyncEngine
) -> None:
    await new_case(app_client)
    events = await read_all(stream_engine, Scope(), StreamPosition(0, 0))
    newest = events[-1].position
    async with autocommit_connections(stream_engine)() as connection:
        resumed = await live.start(connection, scope=Scope(), after=newest)
        assert resumed == live.Start(newest, reset=False)
        fresh = await live.start(connection, scope=Scope(), after=None)
        assert fresh.position > newest and not fresh.reset
        # An id from another database (a transaction that has not happened yet): reload.
        future = StreamPosition(newest.tx_id + 10**9, 1)
        assert await live.start(connection, scope=Scope(), after=future) == live.Start(
            fresh.position, reset=True
        )
        with pytest.raises(live.UnknownDistrict):
            await live.start(connection, scope=Scope(districts=frozenset({"99999"})), after=None)


@pytest.mark.parametrize(
    "value", ["", "12", "12-", "-3", "a-b", "1-2-3", "1.5-2", "99999999999999999999-1", "1- 2"]
)
def test_event_ids_this_server_never_gave_are_refused(value: str) -> None:
    with pytest.raises(live.InvalidStreamPosition):
        StreamPosition.parse(value)


def test_event_ids_read_back() -> None:
    position = StreamPosition(1234, 56)
    assert StreamPosition.parse(str(position)) == position
    assert StreamPosition(2, 1) > StreamPosition(1, 99)


async def test_housekeeping_purges_old_events_and_keys_and_resumes_before_them_reset(
    app_client: httpx.AsyncClient, stream_engine: AsyncEngine, clock: FrozenClock
) -> None:
    settings = Settings(database_url=str(stream_engine.url))
    begin = await here(stream_engine)
    await new_case(app_client)
    await new_case(app_client)
    kept_back, newest = [e.position for e in await read_all(stream_engine, Scope(), begin)]
    # Everything so far is two days old; the newest event of the two is not.
    await committed(
        stream_engine,
        "UPDATE live_event SET recorded_at = now() - interval '2 days' WHERE id < :id",
        id=newest.event_id,
    )
    await committed(
        stream_engine,
        "INSERT INTO idempotency_key (scope, key, fingerprint, created_at)"
        " VALUES ('test', 'old', 'x', :at), ('test', 'new', 'y', :now)",
        at=clock.now() - timedelta(days=4),
        now=clock.now(),
    )
    transaction = transactions(stream_engine)
    # Another process running housekeeping holds its lock: this one skips the round.
    async with stream_engine.begin() as other:
        await other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": housekeeping.LOCK_KEY})
        assert await housekeeping.run_once(transaction, settings=settings, clock=clock) is None
    purged = await housekeeping.run_once(transaction, settings=settings, clock=clock)
    assert purged is not None and purged.live_events >= 1 and purged.idempotency_keys >= 1
    keys = await committed(
        stream_engine, "SELECT string_agg(key, ',') FROM idempotency_key WHERE scope = 'test'"
    )
    assert keys == "new"

    async with autocommit_connections(stream_engine)() as connection:
        # A reader that had not got the purged event must reload; one past it goes on.
        before = await live.start(connection, scope=Scope(), after=begin)
        assert before.reset
        at_purged = await live.start(connection, scope=Scope(), after=kept_back)
        assert at_purged == live.Start(kept_back, reset=False)
        assert await live.read(connection, scope=Scope(), after=kept_back) != []


async def test_stream_requests_are_checked_before_streaming(
    client: httpx.AsyncClient,
) -> None:
    bad_id = await client.get("/api/v1/dispatch/stream", headers={"Last-Event-ID": "nope"})
    assert bad_id.status_code == 422
    assert bad_id.json()["error"]["code"] == "invalid_last_event_id"
    bad_query = await client.get("/api/v1/dispatch/stream", params={"last_event_id": "1-x"})
    assert bad_query.status_code == 422
    too_long = await client.get("/api/v1/dispatch/stream", headers={"Last-Event-ID": "1" * 65})
    assert too_long.status_code == 422
    unknown = await client.get("/api/v1/dispatch/stream", params={"district": "99999"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_district"
    nobody = await client.get("/api/v1/field/stream")
    assert nobody.status_code == 401
    stranger = await client.get("/api/v1/field/stream", headers={AS_INSPECTOR: "987654321"})
    assert stranger.status_code == 401
