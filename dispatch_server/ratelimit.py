"""Rate limits shared by every server process: request counts per key and minute, in the
database (an UNLOGGED table, migration 0015), judged by a sliding-window estimate.

The estimate weighs the previous minute's count by how much of it the sliding minute still
covers (`estimate`): smooth at the minute's turn, where a fixed window would let a client
send twice its limit. A refused request counts too, so a client that does not slow down
stays refused. One statement per request: count this hit, read the previous minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.deps import ContextDep
from dispatch_server.errors import TooManyRequests

WINDOW = timedelta(minutes=1)
_WINDOW_S = WINDOW.total_seconds()

_HIT = text(
    """
    WITH hit AS (
        INSERT INTO rate_limit_window (key, window_start, hits) VALUES (:key, :window, 1)
        ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_window.hits + 1
        RETURNING hits
    )
    SELECT (SELECT hits FROM hit),
           coalesce((SELECT hits FROM rate_limit_window
                     WHERE key = :key AND window_start = :previous), 0)
    """
)
_PURGE = text("DELETE FROM rate_limit_window WHERE window_start < :before")


class RateLimited(TooManyRequests):
    """Too many requests in the last minute for this key."""

    code = "rate_limited"


@dataclass(frozen=True)
class Verdict:
    """What the limiter decided for one request."""

    allowed: bool
    estimate: float
    limit: int
    retry_after: int


def window_start(now: datetime) -> datetime:
    """The start of the minute `now` is in (UTC)."""
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def estimate(current: int, previous: int, elapsed: float) -> float:
    """Requests in the sliding minute: all of this minute's, and the share of the previous
    minute's that the sliding minute still covers (`elapsed` seconds into this one)."""
    return previous * (1 - elapsed / _WINDOW_S) + current


def wait_for(current: int, previous: int, elapsed: float, limit: int) -> float:
    """Seconds until the estimate is back at the limit, with no further requests."""
    if estimate(current, previous, elapsed) <= limit:
        return 0.0
    if current <= limit and previous > 0:
        # Within this minute: the previous one's share shrinks until it fits.
        return _WINDOW_S * (1 - (limit - current) / previous) - elapsed
    # Only in the next minute, where this minute's count is the share that shrinks.
    return (_WINDOW_S - elapsed) + _WINDOW_S * (1 - limit / current)


def judge(current: int, previous: int, elapsed: float, limit: int) -> Verdict:
    """The verdict on a request that made this minute's count `current`."""
    value = estimate(current, previous, elapsed)
    wait = wait_for(current, previous, elapsed, limit)
    return Verdict(value <= limit, value, limit, max(1, math.ceil(wait)) if wait else 0)


async def hit(connection: AsyncConnection, *, key: str, limit: int, now: datetime) -> Verdict:
    """Count one request of `key` at `now` and judge it against `limit` per minute."""
    start = window_start(now)
    current, previous = (
        await connection.execute(_HIT, {"key": key, "window": start, "previous": start - WINDOW})
    ).one()
    return judge(current, previous, (now - start).total_seconds(), limit)


def enforce(verdict: Verdict) -> None:
    """RateLimited (429 with Retry-After) when the verdict refuses the request."""
    if not verdict.allowed:
        raise RateLimited(
            f"more than {verdict.limit} requests a minute: try again in {verdict.retry_after} s",
            retry_after=verdict.retry_after,
        )


async def check(connection: AsyncConnection, *, key: str, limit: int, now: datetime) -> None:
    """`hit`, raising RateLimited (429 with Retry-After) when over the limit."""
    enforce(await hit(connection, key=key, limit=limit, now=now))


async def purge(connection: AsyncConnection, *, now: datetime) -> int:
    """Delete the counts no estimate reads any more (older than the previous minute)."""
    result = await connection.execute(_PURGE, {"before": window_start(now) - WINDOW})
    return result.rowcount


def client_address(request: Request) -> str:
    """The caller's address (uvicorn takes it from X-Forwarded-For behind a trusted proxy)."""
    return request.client.host if request.client else "unknown"


async def limit_public_reads(request: Request, ctx: ContextDep) -> None:
    """A dependency of the routes anyone may read: `public_reads_per_minute` per address."""
    async with ctx.autocommit() as connection:
        await check(
            connection,
            key=f"public:{client_address(request)}",
            limit=ctx.settings.public_reads_per_minute,
            now=ctx.clock.now(),
        )


PublicReads = Annotated[None, Depends(limit_public_reads)]
