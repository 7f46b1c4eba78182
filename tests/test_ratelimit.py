"""Rate limits shared in the database: the sliding-window estimate, public reads per
address, and Open311 API keys with their own limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx2 as httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server import ratelimit
from dispatch_server.clock import FrozenClock
from dispatch_server.config import Settings
from dispatch_server.open311 import keys
from dispatch_server.ratelimit import RateLimited
from tests.conftest import FROZEN_AT, app_on
from tests.factories import complaint_body

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("current", "previous", "elapsed", "limit", "allowed", "retry_after"),
    [
        (1, 0, 0.0, 60, True, 0),
        (60, 0, 59.0, 60, True, 0),
        (61, 0, 30.0, 60, False, 31),  # the rest of this minute, then 1 s of the next
        (30, 60, 30.0, 60, True, 0),  # 60 * 0.5 + 30 = 60: just at the limit
        (31, 60, 30.0, 60, False, 1),  # 61: wait until the old minute's share shrinks by 1
        (10, 120, 6.0, 60, False, 29),  # 118: the share must fall from 108 to 50
        (60, 120, 0.0, 60, False, 60),  # all of the old minute must pass
    ],
)
def test_the_sliding_window_estimate(
    current: int, previous: int, elapsed: float, limit: int, allowed: bool, retry_after: int
) -> None:
    verdict = ratelimit.judge(current, previous, elapsed, limit)
    assert verdict.allowed is allowed
    assert verdict.retry_after == retry_after
    if not allowed:
        # Waiting that long, with no more requests, brings the estimate back to the limit.
        wait = ratelimit.wait_for(current, previous, elapsed, limit)
        later = elapsed + wait
        if later < 60:
            assert ratelimit.estimate(current, previous, later) == pytest.approx(limit)
        else:
            assert ratelimit.estimate(0, current, later - 60) == pytest.approx(limit)


async def test_counts_are_shared_and_turn_over_by_the_minute(db: AsyncConnection) -> None:
    at = FROZEN_AT + timedelta(seconds=30)
    for _ in range(5):
        assert (await ratelimit.hit(db, key="k", limit=5, now=at)).allowed
    refused = await ratelimit.hit(db, key="k", limit=5, now=at)
    assert not refused.allowed and refused.retry_after > 0
    assert (await ratelimit.hit(db, key="another", limit=5, now=at)).allowed  # its own count
    # A minute on, the old count still weighs: 6 * (1 - 50/60) = 1 + this one = 2.
    later = await ratelimit.hit(db, key="k", limit=5, now=at + timedelta(seconds=80))
    assert later.allowed and later.estimate == pytest.approx(2.0)
    # Housekeeping drops the minutes no estimate reads any more.
    dropped = await ratelimit.purge(db, now=at + timedelta(minutes=3))
    assert dropped == 3
    left = await db.execute(text("SELECT count(*) FROM rate_limit_window"))
    assert left.scalar_one() == 0


@pytest.fixture()
async def strict_client(
    db: AsyncConnection, settings: Settings, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with 3 public reads a minute per address."""
    app = app_on(db, settings.model_copy(update={"public_reads_per_minute": 3}), clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 40000)),
        base_url="http://testserver",
    ) as test_client:
        yield test_client


async def test_public_reads_are_limited_per_address(
    client: httpx.AsyncClient, strict_client: httpx.AsyncClient
) -> None:
    ticket = (await client.post("/api/v1/complaints", json=complaint_body())).json()["ticket"]
    paths = [f"/t/{ticket}", f"/api/v1/public/complaints/{ticket}", "/t/261123-999999"]
    assert [(await strict_client.get(p)).status_code for p in paths] == [200, 200, 404]
    refused = await strict_client.get(f"/t/{ticket}")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    # Another address has its own count (the in-process client is 127.0.0.1).
    assert (await client.get(f"/t/{ticket}")).status_code == 200


async def test_api_keys_are_checked_counted_and_revoked(db: AsyncConnection) -> None:
    made = await keys.create(db, name="Partner app", requests_per_minute=2, now=FROZEN_AT)
    assert made.key.startswith(keys.PREFIX)
    client = await keys.authenticate(db, key=made.key, now=FROZEN_AT)
    assert client.name == "Partner app" and client.id == made.client.id
    await keys.authenticate(db, key=made.key, now=FROZEN_AT)
    with pytest.raises(RateLimited):
        await keys.authenticate(db, key=made.key, now=FROZEN_AT)  # its own limit: 2 a minute
    for wrong in (None, "", "o311_not-a-key", made.key + "x", "x" * 500):
        with pytest.raises(keys.InvalidApiKey):
            await keys.authenticate(db, key=wrong, now=FROZEN_AT)
    await keys.revoke(db, name="partner APP", now=FROZEN_AT)
    with pytest.raises(keys.InvalidApiKey):
        await keys.authenticate(db, key=made.key, now=FROZEN_AT + timedelta(minutes=5))
    stored = await db.execute(text("SELECT key_hash FROM api_client"))
    assert made.key.encode() not in b"".join(bytes(row[0]) for row in stored)
    with pytest.raises(keys.InvalidClient):
        await keys.create(db, name=" ", requests_per_minute=10, now=FROZEN_AT)
    with pytest.raises(keys.InvalidClient):
        await keys.create(db, name="Greedy", requests_per_minute=0, now=FROZEN_AT)
