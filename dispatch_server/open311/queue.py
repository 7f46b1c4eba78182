"""Deferred creation: a checked Open311 post stored at once, made a case a moment later.

GeoReport v2 lets a server answer a post with a `token` instead of the service_request_id
when it creates the request later; the client reads the id from GET tokens/{token}. Here
a post is queued when the settings say so (`open311_defer`: "busy" queues a post that
arrives while this process is handling `open311_defer_above` others, so a burst is taken
in at the speed of one insert and worked off behind it, while a post on its own gets its
id at once; "always"; "never"). Only a post that can no
longer be refused is queued: every parameter is checked first, the point is checked to be
in the service area by the insert itself, and a post with a photo or with an address to
geocode is never queued (those can still fail, and the client must hear it).

The queue is a table (`open311_queue`): the insert is committed before the post is
answered, so an acknowledged post survives any crash. Each server process drains it: woken
by its own posts, and every `open311_queue_seconds` for the others'. A drain claims rows
with a lease (one statement, no transaction held while it works), makes each a case (one at
a time while the process has posts to answer, `open311_queue_concurrency` at a time when it
has none) through the same intake as every post (received at the moment of the post, so its
SLA counts from then), and deletes the row. A crash mid-way leaves the row to be claimed
again when its lease ends; the token's unique index then refuses a second case, and the row
is deleted as done. A row the intake refuses for good (its category retired meanwhile) is
kept as failed, with the reason, which GET tokens/{token} tells; anything else is retried
with a growing delay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.clock import FrozenClock
from dispatch_server.complaints.schemas import ComplaintCreate
from dispatch_server.config import Settings
from dispatch_server.db import DriverStatement, driver_rows
from dispatch_server.deps import AppContext
from dispatch_server.errors import Invalid, NotFound
from dispatch_server.open311 import service
from dispatch_server.open311.intake import NewRequest, create
from geo.districts import degrees_per_metre, outside_service_area

logger = logging.getLogger(__name__)

BATCH = 10
# The longest wait before a failed attempt is tried again.
MAX_RETRY_SECONDS = 600.0

# Stored only when an active district holds the point, or lies within the boundary
# tolerance of it (as intake would place it): the one refusal left after the checks.
_ENQUEUE = DriverStatement(
    text(
        """
        INSERT INTO open311_queue (token, received_at, client_id, language, request)
        SELECT :token, :now, :client_id, :language, CAST(:request AS jsonb)
        WHERE EXISTS (
            SELECT 1 FROM district d,
                LATERAL (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS point) p
            WHERE d.retired_at IS NULL
              AND (ST_Covers(d.geom, p.point)
                   OR (ST_DWithin(d.geom, p.point, :degrees)
                       AND ST_Distance(geography(d.geom), geography(p.point)) <= :metres))
        )
        RETURNING id
        """
    )
)
_CLAIM = text(
    """
    UPDATE open311_queue q SET leased_until = :until, attempts = q.attempts + 1
    FROM api_client c
    WHERE c.id = q.client_id AND q.id IN (
        SELECT id FROM open311_queue
        WHERE failed_at IS NULL AND (leased_until IS NULL OR leased_until <= :now)
        ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED
    )
    RETURNING q.id, q.token, q.received_at, q.client_id, c.name, q.language, q.request,
              q.attempts
    """
)
_DONE = text("DELETE FROM open311_queue WHERE id = :id")
_RETRY = text("UPDATE open311_queue SET leased_until = :until, error = :error WHERE id = :id")
_FAILED = text(
    "UPDATE open311_queue SET failed_at = :now, leased_until = NULL, error = :error WHERE id = :id"
)
_STATE = DriverStatement(
    text("SELECT failed_at IS NOT NULL, error FROM open311_queue WHERE token = :token")
)
_COUNTS = text(
    "SELECT count(*) FILTER (WHERE failed_at IS NULL), count(*) FILTER (WHERE failed_at IS NOT "
    "NULL), min(received_at) FILTER (WHERE failed_at IS NULL) FROM open311_queue"
)
_FAILED_ROWS = text(
    "SELECT token, received_at, attempts, error FROM open311_queue WHERE failed_at IS NOT NULL "
    "ORDER BY id"
)
_PURGE_FAILED = text("DELETE FROM open311_queue WHERE failed_at < :before")
_RETRY_FAILED = text(
    "UPDATE open311_queue SET failed_at = NULL, leased_until = NULL WHERE failed_at IS NOT NULL"
)


class Queued(NotFound):
    """The token's post is still waiting to become a case (not an error for GET tokens)."""

    code = "queued"


class QueuedFailed(NotFound):
    """The token's post could not be made a case (GET tokens/{token} says why: a 404)."""

    code = "queued_post_failed"


async def enqueue(
    connection: AsyncConnection,
    new: NewRequest,
    *,
    token: str,
    client_id: int,
    language: str,
    now: datetime,
    tolerance_m: float,
) -> None:
    """Store the checked post (committed by the autocommit `connection` when this returns);
    OutsideServiceArea, and nothing stored, when no district holds its point."""
    location = new.complaint.location
    assert location is not None and not new.photos, "only a placed post without photo"
    request = {
        "complaint": new.complaint.model_dump(mode="json"),
        "answers": new.answers,
        "note": new.note,
        "media_url": new.media_url,
        "address_id": new.address_id,
    }
    rows = await driver_rows(
        connection,
        _ENQUEUE,
        {
            "token": token, "now": now, "client_id": client_id, "language": language,
            "request": orjson.dumps(request).decode(), "lat": location.lat, "lon": location.lon,
            "degrees": tolerance_m * degrees_per_metre(location.lat), "metres": tolerance_m,
        },
    )  # fmt: skip
    if not rows:
        raise outside_service_area(location.lat, location.lon)


async def state_of(connection: AsyncConnection, *, token: str) -> str:
    """The service_request_id of the token; Queued while its post waits, QueuedFailed when
    it could not be made a case, RequestNotFound when no post had the token."""
    try:
        return await service.by_token(connection, token=token)
    except service.RequestNotFound:
        rows = await driver_rows(connection, _STATE, {"token": token})
        if not rows:
            raise
    failed, error = rows[0]
    if failed:
        raise QueuedFailed(f"the request with this token could not be made a case: {error}")
    raise Queued("the request with this token is received and about to be made a case")


@dataclass
class Item:
    """A claimed row."""

    id: int
    token: str
    received_at: datetime
    client_id: int
    client_name: str
    language: str
    request: dict[str, Any]
    attempts: int

    def new_request(self) -> NewRequest:
        request = self.request
        return NewRequest(
            complaint=ComplaintCreate.model_validate(request.get("complaint")),
            answers=request.get("answers") or {},
            note=request.get("note"),
            media_url=request.get("media_url"),
            address_id=request.get("address_id"),
            photos=[],
        )


@dataclass(frozen=True)
class Drained:
    """What one drain did."""

    created: int = 0
    retried: int = 0
    failed: int = 0


def retry_delay(attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: 5, 10, 20, ... up to MAX_RETRY_SECONDS."""
    return float(min(5.0 * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))


class Queue:
    """The queue as one server process sees it: whether to defer a post now, the wake-up of
    its drain, and the drain."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.posts = 0  # posts this process is handling right now
        self.wake = asyncio.Event()

    def should_defer(self) -> bool:
        """Whether a post being handled now (inside `posting`) is to be queued."""
        mode = self.settings.open311_defer
        if mode == "busy":
            return self.posts - 1 >= self.settings.open311_defer_above
        return mode == "always"

    @contextmanager
    def posting(self) -> Iterator[None]:
        """Count a post while it is handled (what "busy" looks at)."""
        self.posts += 1
        try:
            yield
        finally:
            self.posts -= 1

    async def drain(self, ctx: AppContext) -> Drained:
        """Make cases of the due rows until none is left."""
        created = retried = failed = 0
        while items := await self._claim(ctx, BATCH):
            for outcome in await self._make_all(ctx, items):
                created += outcome == "created"
                retried += outcome == "retried"
                failed += outcome == "failed"
        return Drained(created=created, retried=retried, failed=failed)

    async def _make_all(self, ctx: AppContext, items: list[Item]) -> list[str]:
        """One at a time while this process has posts to answer (they come first); else
        `open311_queue_concurrency` at a time."""
        outcomes: list[str] = []
        at_once = self.settings.open311_queue_concurrency
        while len(outcomes) < len(items):
            start = len(outcomes)
            if self.posts or at_once == 1:
                outcomes.append(await self._make(ctx, items[start]))
            else:
                chunk = items[start : start + at_once]
                outcomes += await asyncio.gather(*(self._make(ctx, item) for item in chunk))
        return outcomes

    async def _claim(self, ctx: AppContext, batch: int) -> list[Item]:
        now = ctx.clock.now()
        until = now + timedelta(seconds=self.settings.open311_queue_lease_seconds)
        async with ctx.autocommit() as connection:
            rows = (
                await connection.execute(_CLAIM, {"now": now, "until": until, "batch": batch})
            ).all()
        return sorted((Item(*row) for row in rows), key=lambda item: item.id)

    async def _make(self, ctx: AppContext, item: Item) -> str:
        if item.attempts > 1 and await self._made(ctx, item):
            # An earlier attempt made the case and died before deleting the row.
            return await self._done(ctx, item)
        try:
            new = item.new_request()
        except ValidationError as exc:  # stored by another version of the server
            return await self._fail(ctx, item, f"the stored post no longer reads: {exc}"[:1000])
        try:
            await create(
                ctx, new, token=item.token, client_id=item.client_id,
                client_name=item.client_name, received=FrozenClock(item.received_at),
                queued=True,
            )  # fmt: skip
        except IntegrityError:
            # Another process's attempt made it meanwhile (a lease that ran out under it):
            # done, unless no case has the token (another constraint: retried).
            if not await self._made(ctx, item):
                return await self._retry(ctx, item, "a constraint refused the case")
        except (Invalid, NotFound) as exc:
            return await self._fail(ctx, item, exc.message[:1000])
        except Exception as exc:
            logger.exception("queued Open311 post %s not made a case; retried", item.id)
            return await self._retry(ctx, item, f"{type(exc).__name__}: {exc}"[:1000])
        return await self._done(ctx, item)

    async def _done(self, ctx: AppContext, item: Item) -> str:
        async with ctx.autocommit() as connection:
            await connection.execute(_DONE, {"id": item.id})
        return "created"

    async def _fail(self, ctx: AppContext, item: Item, error: str) -> str:
        logger.warning("queued Open311 post %s refused for good: %s", item.id, error)
        async with ctx.autocommit() as connection:
            values = {"id": item.id, "now": ctx.clock.now(), "error": error}
            await connection.execute(_FAILED, values)
        return "failed"

    async def _made(self, ctx: AppContext, item: Item) -> bool:
        async with ctx.autocommit() as connection:
            try:
                await service.by_token(connection, token=item.token)
            except service.RequestNotFound:
                return False
        return True

    async def _retry(self, ctx: AppContext, item: Item, error: str) -> str:
        until = ctx.clock.now() + timedelta(seconds=retry_delay(item.attempts))
        async with ctx.autocommit() as connection:
            await connection.execute(_RETRY, {"id": item.id, "until": until, "error": error})
        return "retried"

    async def run_forever(self, ctx: AppContext) -> None:
        """Drain when woken, and every `open311_queue_seconds`, until cancelled."""
        while True:
            try:
                drained = await self.drain(ctx)
                if drained.retried or drained.failed:
                    logger.info("open311 queue: %s", drained)
            except Exception:  # the database away: the next round tries again
                logger.exception("open311 queue drain failed")
            try:
                await asyncio.wait_for(self.wake.wait(), self.settings.open311_queue_seconds)
            except TimeoutError:
                pass
            self.wake.clear()


@dataclass(frozen=True)
class Counts:
    """The queue at a glance (dasan open311 queue)."""

    waiting: int
    failed: int
    oldest_waiting: datetime | None


async def counts(connection: AsyncConnection) -> Counts:
    row = (await connection.execute(_COUNTS)).one()
    return Counts(waiting=row[0], failed=row[1], oldest_waiting=row[2])


async def failed_rows(connection: AsyncConnection) -> list[tuple[str, datetime, int, str]]:
    """The rows refused for good: token, received_at, attempts, error."""
    return [tuple(row) for row in (await connection.execute(_FAILED_ROWS)).all()]  # type: ignore[misc]


async def retry_failed(connection: AsyncConnection) -> int:
    """Put the failed rows back in the queue (after the cause was fixed); how many."""
    return (await connection.execute(_RETRY_FAILED)).rowcount


async def purge_failed(connection: AsyncConnection, *, before: datetime) -> int:
    """Delete the posts refused for good before `before` (they hold the reporter's contact
    data; housekeeping keeps them as long as a done case keeps it); how many."""
    return (await connection.execute(_PURGE_FAILED, {"before": before})).rowcount
