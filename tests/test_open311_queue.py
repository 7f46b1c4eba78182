"""Deferred creation of Open311 posts (dispatch_server/open311/queue.py): a queued post is
answered with a token, stored before it is answered, made a case by the drain with the
moment of the post, once only; only posts that can no longer be refused are queued, and
the ones refused still say so at once; a post refused for good later says why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import nullcontext
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server import housekeeping, metrics
from dispatch_server.clock import FrozenClock
from dispatch_server.config import Settings
from dispatch_server.open311 import intake, keys, queue
from tests.auth import StaffAuth
from tests.conftest import app_on, count_complaints
from tests.test_open311 import (  # noqa: F401 (api_key: a fixture)
    BAD_POSTS,
    BASE,
    PHONE,
    both,
    form,
    multipart,
    no_secrets,
    post,
    refused_in_both_formats,
    stored,
)
from tests.test_photos import jpeg
from tests.test_routing import _just_outside

pytestmark = pytest.mark.anyio
SEOUL = ZoneInfo("Asia/Seoul")


@pytest.fixture()
async def api_key(db: AsyncConnection, clock: FrozenClock) -> str:
    made = await keys.create(db, name="test app", requests_per_minute=100_000, now=clock.now())
    return made.key


@pytest.fixture()
def app(db: AsyncConnection, settings: Settings, clock: FrozenClock) -> FastAPI:
    """The application, queueing every post that may be queued; its drain one post at a
    time (the test's one connection takes one statement at a time; a real server's drain
    takes several at once: tests/test_open311_server.py)."""
    update = {"open311_defer": "always", "open311_queue_concurrency": 1}
    return app_on(db, settings.model_copy(update=update), clock)


@pytest.fixture()
async def client(app: FastAPI, db: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", auth=StaffAuth(lambda: nullcontext(db))
    ) as test_client:
        yield test_client


async def drain(app: FastAPI) -> queue.Drained:
    waiting: queue.Queue = app.state.open311_queue
    return await waiting.drain(app.state.context)


async def queued_rows(db: AsyncConnection) -> list[Any]:
    return list((await db.execute(text("SELECT * FROM open311_queue ORDER BY id"))).all())


async def test_a_queued_post_answers_with_a_token_and_becomes_a_case(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncConnection, api_key: str,
    clock: FrozenClock,
) -> None:  # fmt: skip
    posted_at = clock.now()
    before = await count_complaints(db)
    data = form(api_key, phone=PHONE, media_url="https://example.com/p/1.jpg")
    response = await post(client, data=data, headers={"Accept-Language": "en"})
    assert response.status_code == 200, response.text
    (answer,) = response.json()
    assert set(answer) == {"token", "service_notice", "account_id"}
    token = answer["token"]
    assert answer["service_notice"] == "Received. Its case number follows in a moment."
    assert response.headers["location"] == f"{BASE}/tokens/{token}.json"
    no_secrets(response.content)
    # Stored before it was answered, as a row of the queue, not yet a case.
    (row,) = await queued_rows(db)
    assert row.token == token and row.received_at == posted_at and row.failed_at is None
    assert await count_complaints(db) == before
    waiting = await both(client, f"tokens/{token}", "service_requests")
    assert waiting == [{"token": token}]
    clock.advance(timedelta(seconds=30))
    scraped, _ = await metrics.exposition(db, clock.now())
    assert b"\ndasan_open311_queued_posts 1.0\n" in scraped
    assert b"\ndasan_open311_oldest_queued_age_seconds 30.0\n" in scraped
    as_xml = await client.get(f"{BASE}/tokens/{token}.xml")
    assert as_xml.headers["retry-after"] == "1"
    no_secrets(as_xml.content)

    clock.advance(timedelta(minutes=3))  # the drain comes later
    assert await drain(app) == queue.Drained(created=1)
    assert await queued_rows(db) == []
    assert await count_complaints(db) == before + 1
    (made,) = await both(client, f"tokens/{token}", "service_requests")
    ticket = made["service_request_id"]
    assert made == {"service_request_id": ticket, "token": token}
    case = await stored(db, ticket)
    # Received when the citizen posted: the SLA counts from then.
    assert case.created_at == posted_at and case.channel == "open311"
    assert case.reporter_phone == "+821023456789" and case.reporter_language == "en"
    own = case.received["open311"]
    assert own["token"] == token and own["queued"] is True and own["client"] == "test app"
    assert own["attributes"] == {"vehicle_type": "car"}
    assert own["media_url"] == "https://example.com/p/1.jpg"
    (read,) = await both(client, f"requests/{ticket}", "service_requests")
    assert read["media_url"] == "https://example.com/p/1.jpg"
    assert read["requested_datetime"] == posted_at.astimezone(SEOUL).isoformat()
    texts = (await client.get(f"/api/v1/complaints/{ticket}/texts")).json()["texts"]
    assert texts and texts[0]["template"] == "received"  # the citizen's text follows too
    assert await drain(app) == queue.Drained()  # nothing is made twice


async def test_posts_that_could_still_fail_are_made_at_once(
    client: httpx.AsyncClient, db: AsyncConnection, api_key: str
) -> None:
    # A photo (it may not be kept) and an address to geocode (it may be unknown).
    photo = [("media", ("p.jpg", jpeg(), "image/jpeg"))]
    with_photo = await post(client, data=form(api_key), files=photo)
    assert with_photo.status_code == 200, with_photo.text
    by_address = await post(
        client, data=form(api_key, lat=None, long=None, address_string="종로구 세종대로 209")
    )
    assert by_address.status_code == 200, by_address.text
    for response in (with_photo, by_address):
        (answer,) = response.json()
        assert answer["service_request_id"], answer
    assert await queued_rows(db) == []


@pytest.mark.parametrize(("fields", "says"), [(f, s) for _, f, s in BAD_POSTS],
                         ids=[name for name, _, _ in BAD_POSTS])  # fmt: skip
async def test_bad_posts_are_refused_at_once_and_nothing_is_queued(
    client: httpx.AsyncClient, db: AsyncConnection, api_key: str, fields: dict[str, Any],
    says: str,
) -> None:  # fmt: skip
    before = await count_complaints(db)
    await refused_in_both_formats(client, form(api_key, **fields), says)
    assert await queued_rows(db) == []
    assert await count_complaints(db) == before


async def test_near_the_boundary_a_post_is_queued_as_intake_would_place_it(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncConnection, api_key: str, seoul_shapes
) -> None:  # type: ignore[no-untyped-def]
    # 8 m outside the city's edge, within the boundary tolerance (25 m): intake places it in
    # the nearest district, so the queue takes it; 200 m out, neither does.
    near, nearest = _just_outside(seoul_shapes, metres=8)
    far, _ = _just_outside(seoul_shapes, metres=200)
    answer = await post(client, data=form(api_key, lat=str(near.y), long=str(near.x)))
    assert answer.status_code == 200, answer.text
    refused = await post(client, data=form(api_key, lat=str(far.y), long=str(far.x)))
    assert refused.status_code == 400 and "outside the service area" in refused.text
    assert len(await queued_rows(db)) == 1
    assert await drain(app) == queue.Drained(created=1)
    (made,) = (await client.get(f"{BASE}/tokens/{answer.json()[0]['token']}.json")).json()
    assert (await stored(db, made["service_request_id"])).district_code == nearest


async def test_busy_posts_are_queued_and_quiet_ones_made_at_once(
    db: AsyncConnection, settings: Settings, clock: FrozenClock, api_key: str
) -> None:
    busy = settings.model_copy(update={"open311_defer": "busy", "open311_defer_above": 2})
    app = app_on(db, busy, clock)
    waiting: queue.Queue = app.state.open311_queue
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", auth=StaffAuth(lambda: nullcontext(db))
    ) as client:
        answers = []
        for others in (0, 1, 2, 3):
            waiting.posts = others  # as many other posts being handled right now
            response = await post(client, data=form(api_key))
            assert response.status_code == 200, response.text
            answers.append(response.json()[0])
        assert waiting.posts == 3  # a post's own count is given back
    assert [("service_request_id" in a) for a in answers] == [True, True, False, False]
    assert len(await queued_rows(db)) == 2
    never = app_on(db, busy.model_copy(update={"open311_defer": "never"}), clock)
    never.state.open311_queue.posts = 100
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=never), base_url="http://testserver"
    ) as client:
        response = await post(client, data=form(api_key))
    assert "service_request_id" in response.json()[0]


async def test_a_case_made_by_a_dead_attempt_is_not_made_again(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncConnection, api_key: str,
    clock: FrozenClock,
) -> None:  # fmt: skip
    response = await post(client, data=form(api_key))
    token = response.json()[0]["token"]
    before = await count_complaints(db)
    # An attempt claims the row, makes the case, and its process dies before the delete.
    waiting: queue.Queue = app.state.open311_queue
    ctx = app.state.context
    (item,) = await waiting._claim(ctx, 10)
    await intake.create(
        ctx, item.new_request(), token=item.token, client_id=item.client_id,
        client_name=item.client_name, received=FrozenClock(item.received_at), queued=True,
    )  # fmt: skip
    assert await drain(app) == queue.Drained()  # its lease still holds the row
    clock.advance(timedelta(seconds=61))
    assert await drain(app) == queue.Drained(created=1)
    assert await count_complaints(db) == before + 1
    assert await queued_rows(db) == []
    (made,) = (await client.get(f"{BASE}/tokens/{token}.json")).json()
    assert made["service_request_id"]


async def test_a_post_refused_for_good_says_why_and_can_be_queued_again(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncConnection, api_key: str
) -> None:
    lamp = form(api_key, service_code="street_lamp", **{"attribute[problem]": "off"})
    del lamp["attribute[vehicle_type]"]
    first = (await post(client, data=lamp)).json()[0]["token"]
    second = (await post(client, data=form(api_key))).json()[0]["token"]
    # Street lamps are retired between the post and the drain.
    await db.execute(text("UPDATE category SET active = false WHERE code = 'street_lamp'"))
    assert await drain(app) == queue.Drained(created=1, failed=1)
    for fmt in ("json", "xml"):
        refused = await client.get(f"{BASE}/tokens/{first}.{fmt}")
        assert refused.status_code == 404, refused.text
        assert "could not be made a case" in refused.text and "street_lamp" in refused.text
    made = (await client.get(f"{BASE}/tokens/{second}.json")).json()[0]
    assert made["service_request_id"]
    assert await queue.counts(db) == queue.Counts(waiting=0, failed=1, oldest_waiting=None)
    assert await drain(app) == queue.Drained()  # a failed row is not retried by itself
    await db.execute(text("UPDATE category SET active = true WHERE code = 'street_lamp'"))
    assert await queue.retry_failed(db) == 1
    assert await drain(app) == queue.Drained(created=1)
    assert (await client.get(f"{BASE}/tokens/{first}.json")).json()[0]["service_request_id"]


async def test_a_post_refused_for_good_is_deleted_with_the_contact_data_of_done_cases(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncConnection, api_key: str,
    clock: FrozenClock,
) -> None:  # fmt: skip
    await post(client, data=form(api_key, phone=PHONE))
    await db.execute(text("UPDATE category SET active = false WHERE code = 'illegal_parking'"))
    assert await drain(app) == queue.Drained(failed=1)
    ctx = app.state.context
    days = ctx.settings.contact_retention_days
    clock.advance(timedelta(days=days - 1))
    kept = await housekeeping.run_once(ctx.transaction, settings=ctx.settings, clock=clock)
    assert kept is not None and kept.failed_posts == 0 and len(await queued_rows(db)) == 1
    clock.advance(timedelta(days=2))
    purged = await housekeeping.run_once(ctx.transaction, settings=ctx.settings, clock=clock)
    assert purged is not None and purged.failed_posts == 1 and await queued_rows(db) == []


async def test_a_stored_post_that_no_longer_reads_is_failed_not_retried(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncConnection, api_key: str
) -> None:
    token = (await post(client, data=form(api_key))).json()[0]["token"]
    # As a later version of the server might find a row an earlier one wrote.
    await db.execute(text("UPDATE open311_queue SET request = request #- '{complaint,category}'"))
    assert await drain(app) == queue.Drained(failed=1)
    refused = await client.get(f"{BASE}/tokens/{token}.json")
    assert refused.status_code == 404 and "no longer reads" in refused.text


def test_retries_wait_longer_each_time_up_to_ten_minutes() -> None:
    delays = [queue.retry_delay(n) for n in range(1, 10)]
    assert delays[:4] == [5.0, 10.0, 20.0, 40.0]
    assert delays == sorted(delays) and delays[-1] == queue.MAX_RETRY_SECONDS
