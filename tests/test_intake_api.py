"""The intake API on the real database: create, read, list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx2 as httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from dispatch_server.clock import FrozenClock
from dispatch_server.complaints import service
from dispatch_server.complaints.schemas import ComplaintCreate
from tests.conftest import FROZEN_AT, count_complaints
from tests.factories import GANGNAM, JONGNO, complaint_body, spread

pytestmark = pytest.mark.anyio


async def test_post_a_complaint_in_jongno(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    response = await client.post("/api/v1/complaints", json=complaint_body(location=JONGNO))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "received"
    assert body["category"] == "illegal_parking"
    assert body["district"] == {"code": "11110", "name_ko": "종로구", "name_en": "Jongno-gu"}
    assert body["location"] == JONGNO
    assert body["created_at"] == "2026-11-23T01:00:00Z"
    assert body["ticket"] == f"261123-{body['id']:06d}"
    assert body["priority"] == "normal"  # the category's default
    assert body["reporter"] == {"phone_masked": "+82******5678", "language": "ko"}
    assert response.headers["location"] == f"/api/v1/complaints/{body['ticket']}"

    stored = (
        await db.execute(
            text(
                "SELECT ticket, reporter_phone, district_code, status,"
                " ST_Y(location), ST_X(location)"
                " FROM complaint WHERE id = :id"
            ),
            {"id": body["id"]},
        )
    ).one()
    assert tuple(stored) == (
        body["ticket"], "+821012345678", "11110", "received", JONGNO["lat"], JONGNO["lon"]
    )  # fmt: skip
    events = (
        await db.execute(
            text("SELECT type, actor, payload FROM complaint_event WHERE complaint_id = :id"),
            {"id": body["id"]},
        )
    ).all()
    # The agent who logged it (the channel is the complaint's own field).
    assert [e.type for e in events] == ["received"]
    assert events[0].actor.startswith("user:test-agent-")
    # The point alone: the nearest known address fills the text (tests/test_intake_geo.py).
    assert body["address"].startswith("서울특별시 종로구 ")
    assert body["locating"]["located_by"] == "point"
    assert events[0].payload == {
        "channel": "phone", "category": "illegal_parking", "district": "11110",
        "located_by": "point", "address_source": "reverse_geocoded",
        "distance_m": body["locating"]["distance_m"],
    }  # fmt: skip


async def test_get_by_ticket_returns_what_was_stored(client: httpx.AsyncClient) -> None:
    created = (await client.post("/api/v1/complaints", json=complaint_body())).json()
    response = await client.get(f"/api/v1/complaints/{created['ticket']}")
    assert response.status_code == 200
    # The intake answer tells how it was located, and warns; the case itself is the same.
    del created["locating"], created["warnings"]
    assert response.json() == created


async def test_optional_fields_and_explicit_priority(client: httpx.AsyncClient) -> None:
    body = complaint_body(
        category="road_damage", priority="urgent", channel="app", address=None, reporter=None
    )
    response = await client.post("/api/v1/complaints", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["priority"] == "urgent"
    assert created["address"].startswith("서울특별시 종로구 ")  # from the point
    assert created["reporter"] == {"phone_masked": None, "language": "ko"}


async def test_category_default_priority_applies(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/complaints", json=complaint_body(category="road_damage"))
    assert created.json()["priority"] == "high"


async def test_description_is_cleaned_and_4000_characters_fit(client: httpx.AsyncClient) -> None:
    text_4000 = "가" * 3990 + "\x00\x07" + "나" * 10
    response = await client.post("/api/v1/complaints", json=complaint_body(description=text_4000))
    assert response.status_code == 201, response.text
    assert response.json()["description"] == "가" * 3990 + "나" * 10


async def test_foreign_numbers_and_languages(client: httpx.AsyncClient) -> None:
    body = complaint_body(reporter={"phone": "+84 91 234 56 78", "language": "vi"})
    created = (await client.post("/api/v1/complaints", json=body)).json()
    assert created["reporter"] == {"phone_masked": "+84*****5678", "language": "vi"}


async def test_complaint_and_first_event_land_together_or_not_at_all(
    make_database: Callable[[str], str],
) -> None:
    """In autocommit, as in production: a failing first event leaves no complaint behind.

    Were the complaint and its event two statements, the complaint would stay committed.
    """
    engine = create_async_engine(make_database("atomic"), poolclass=NullPool)
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    data = ComplaintCreate.model_validate(complaint_body())
    assert data.location is not None
    place = service.Place(lat=data.location.lat, lon=data.location.lon, address=None)
    try:
        async with autocommit.connect() as connection:
            before = await count_complaints(connection)
            stored = await service.create(
                connection, data=data, place=place, reporter_phone=None, actor="agent",
                now=FROZEN_AT, timezone="Asia/Seoul",
            )  # fmt: skip
            assert stored is not None  # the statement works at all
            with pytest.raises(DBAPIError):
                await service.create(
                    connection, data=data, place=place, reporter_phone=None,
                    actor="x" * 500,  # longer than the event's actor column
                    now=FROZEN_AT, timezone="Asia/Seoul",
                )  # fmt: skip
        async with autocommit.connect() as fresh:
            assert await count_complaints(fresh) == before + 1
    finally:
        await engine.dispose()


async def test_timeline_is_append_only(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    created = (await client.post("/api/v1/complaints", json=complaint_body())).json()
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.begin_nested():
            await db.execute(
                text("UPDATE complaint_event SET actor = 'forged' WHERE complaint_id = :id"),
                {"id": created["id"]},
            )
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.begin_nested():
            await db.execute(
                text("DELETE FROM complaint_event WHERE complaint_id = :id"),
                {"id": created["id"]},
            )


async def _post_many(
    client: httpx.AsyncClient, clock: FrozenClock, bodies: list[dict]
) -> list[dict]:  # type: ignore[type-arg]
    created = []
    for body in bodies:
        clock.advance(timedelta(minutes=1))
        response = await client.post("/api/v1/complaints", json=body)
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


async def test_list_filters_and_keyset_pages(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    # A window of our own, so rows committed by other tests' servers cannot interfere.
    clock.set(clock.now() + timedelta(days=3650))
    start = clock.now().isoformat()
    bodies = (
        [complaint_body(description=f"jongno {i}") for i in range(5)]
        + [
            complaint_body(location=spread(GANGNAM, i), description=f"gangnam {i}")
            for i in range(3)
        ]
        + [complaint_body(category="street_lamp", description="lamp")]
    )
    created = await _post_many(client, clock, bodies)
    window = {"created_from": start}

    jongno = (await client.get("/api/v1/complaints", params={**window, "district": "11110"})).json()
    assert [c["description"] for c in jongno["items"]] == [
        "lamp", "jongno 4", "jongno 3", "jongno 2", "jongno 1", "jongno 0"
    ]  # fmt: skip
    assert jongno["next_cursor"] is None

    lamps = await client.get("/api/v1/complaints", params={**window, "category": "street_lamp"})
    assert [c["id"] for c in lamps.json()["items"]] == [created[-1]["id"]]

    both = await client.get("/api/v1/complaints", params={**window, "district": "11110,11680"})
    assert len(both.json()["items"]) == 9

    open_ = await client.get("/api/v1/complaints", params={**window, "status": "open"})
    assert len(open_.json()["items"]) == 9
    closed = await client.get("/api/v1/complaints", params={**window, "status": "closed,cancelled"})
    assert closed.json()["items"] == []

    # The surroundings of COEX only.
    box = "127.05,37.50,127.07,37.52"
    boxed = (await client.get("/api/v1/complaints", params={**window, "bbox": box})).json()
    assert {c["description"] for c in boxed["items"]} == {"gangnam 0", "gangnam 1", "gangnam 2"}

    # Pages of 4: every complaint exactly once, newest first.
    seen: list[int] = []
    cursor = None
    while True:
        params = {**window, "limit": 4} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/complaints", params=params)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [c["id"] for c in reversed(created)]

    # Created at start+1 ... start+9 minutes; created_to is exclusive.
    until = (clock.now() - timedelta(minutes=5)).isoformat()  # start+4
    early = (await client.get("/api/v1/complaints", params={**window, "created_to": until})).json()
    assert [c["description"] for c in early["items"]] == ["jongno 2", "jongno 1", "jongno 0"]


async def test_healthz_and_livez(client: httpx.AsyncClient) -> None:
    assert (await client.get("/livez")).json() == {"status": "ok"}
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": "ok", "districts": 25}


async def test_openapi_documents_the_intake_contract(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/complaints" in spec["paths"]
    assert "/api/v1/complaints/{ticket}" in spec["paths"]
    create = spec["components"]["schemas"]["ComplaintCreate"]
    assert set(create["required"]) == {"category", "description"}  # and a location or address
    assert (await client.get("/docs")).status_code == 200


async def test_list_items_render_exactly_as_the_detail(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """The database renders list JSON; it must match the API's own rendering to the byte."""
    clock.set(clock.now() + timedelta(days=7300))
    start = clock.now().isoformat()
    bodies = [
        complaint_body(address=None, reporter=None),
        complaint_body(description='따옴표 " 역슬래시 \\ 줄바꿈\n탭\t 이모지 🚗 <b>&</b>'),
        complaint_body(location={"lat": 37.5665, "lon": 126.978}, category="street_lamp"),
        complaint_body(location={"lat": 37.51234567890123, "lon": 127.0598765432101}),
    ]
    steps = [
        timedelta(0),
        timedelta(microseconds=120_000),  # trailing zeros in the fraction
        timedelta(microseconds=1),
        timedelta(seconds=1, microseconds=999_999),
    ]
    tickets = []
    for body, step in zip(bodies, steps, strict=True):
        clock.advance(step)
        created = await client.post("/api/v1/complaints", json=body)
        assert created.status_code == 201, created.text
        tickets.append(created.json()["ticket"])
    listed = await client.get("/api/v1/complaints", params={"created_from": start})
    assert listed.headers["content-type"] == "application/json"
    items = {item["ticket"]: item for item in listed.json()["items"]}
    assert set(items) == set(tickets)
    for ticket in tickets:
        detail = (await client.get(f"/api/v1/complaints/{ticket}")).json()
        del detail["reporter"]  # lists carry no personal data
        assert items[ticket] == detail
        # Same text, not only the same value: times are written one way everywhere.
        assert items[ticket]["created_at"] == detail["created_at"]
    assert "reporter" not in listed.text


async def test_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/complaints", params={"district": "no-such-district"})
    assert response.json() == {"items": [], "next_cursor": None}


async def test_open_means_not_closed_cancelled_or_duplicate(
    client: httpx.AsyncClient, db: AsyncConnection, clock: FrozenClock
) -> None:
    clock.set(clock.now() + timedelta(days=9000))
    window = {"created_from": clock.now().isoformat()}
    created = await _post_many(client, clock, [complaint_body() for _ in range(5)])
    final = {
        created[0]["id"]: "closed",
        created[1]["id"]: "cancelled",
        created[2]["id"]: "duplicate",
    }
    for complaint_id, status in final.items():
        await db.execute(
            text("UPDATE complaint SET status = :status WHERE id = :id"),
            {"status": status, "id": complaint_id},
        )

    async def ids(**params: str) -> set[int]:
        page = (await client.get("/api/v1/complaints", params={**window, **params})).json()
        return {item["id"] for item in page["items"]}

    still_open = {created[3]["id"], created[4]["id"]}
    assert await ids(status="open") == still_open
    assert await ids(status="open", district="11110") == still_open
    assert await ids(status="open", district="11110,11680") == still_open
    assert await ids(status="closed,duplicate") == {created[0]["id"], created[2]["id"]}
    assert await ids(status="received") == still_open
    assert len(await ids()) == 5


def test_the_intake_statements_fit_psycopgs_query_cache() -> None:
    """A longer text is parsed again on every execution (a third of a POST's CPU, measured)."""
    from psycopg import _queries
    from sqlalchemy.dialects import postgresql

    assert service.INTAKE_SQL_LIMIT == _queries.MAX_CACHED_STATEMENT_LENGTH
    dialect = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    for statement in (service._INTAKE_AT_POINT, service._INTAKE_IN_DISTRICT):
        sql = str(statement.compile(dialect=dialect))
        assert len(sql) <= service.INTAKE_SQL_LIMIT, f"{len(sql)} characters"


async def test_a_complaint_sent_again_with_its_idempotency_key_is_stored_once(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    """The answer was lost (a console or the server restarted): the resend, with the same
    key and body, gets the first answer and stores nothing more."""
    body = complaint_body(description="idempotent intake: sent twice")
    headers = {"Idempotency-Key": "console-5b1e-0001"}
    first = await client.post("/api/v1/complaints", json=body, headers=headers)
    again = await client.post("/api/v1/complaints", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    stored = await db.execute(
        text("SELECT count(*) FROM complaint WHERE description = :d"), {"d": body["description"]}
    )
    assert stored.scalar_one() == 1
    # Without a key, the same body is another report (linked as its duplicate, but stored).
    other = await client.post("/api/v1/complaints", json=body)
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


async def test_an_idempotency_key_reused_for_another_complaint_is_refused(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    headers = {"Idempotency-Key": "console-5b1e-0002"}
    before = await count_complaints(db)
    first = await client.post("/api/v1/complaints", json=complaint_body(), headers=headers)
    assert first.status_code == 201
    other = await client.post(
        "/api/v1/complaints", json=complaint_body(description="another one"), headers=headers
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert await count_complaints(db) == before + 1


async def test_a_refused_complaint_does_not_use_up_its_idempotency_key(
    client: httpx.AsyncClient,
) -> None:
    """Only answers given are kept: the corrected report goes in under the same key."""
    headers = {"Idempotency-Key": "console-5b1e-0003"}
    outside = await client.post(
        "/api/v1/complaints", json=complaint_body(location={"lat": 35.1, "lon": 129.0}),
        headers=headers,
    )  # fmt: skip
    assert outside.status_code == 422
    assert outside.json()["error"]["code"] == "outside_service_area"
    corrected = await client.post("/api/v1/complaints", json=complaint_body(), headers=headers)
    assert corrected.status_code == 201, corrected.text


async def test_an_idempotency_key_must_be_plain_ascii(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/api/v1/complaints", json=complaint_body(), headers={"Idempotency-Key": "has space"}
    )
    assert answer.status_code == 422
