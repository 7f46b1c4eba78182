"""Housekeeping: delete what is only kept for a while (live events, idempotency answers,
spent tokens, stale sign-in and rate-limit counts, Open311 posts refused for good).

Safe in any number of server processes: a run takes a transaction-level advisory lock
and a process that does not get it skips that round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text

from dispatch_server import idempotency, ratelimit
from dispatch_server.accounts import service as accounts
from dispatch_server.clock import Clock
from dispatch_server.config import Settings
from dispatch_server.db import AsyncConnectable
from dispatch_server.live import service as live
from dispatch_server.open311 import queue

logger = logging.getLogger(__name__)

# An arbitrary, fixed advisory-lock key for the housekeeping run ("dasan hk").
LOCK_KEY = 0x64617361_6E686B
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")


@dataclass(frozen=True)
class Purged:
    """What one run deleted (None: another process was running it)."""

    live_events: int
    idempotency_keys: int
    tokens: int = 0
    counters: int = 0
    failed_posts: int = 0

    def __bool__(self) -> bool:
        return bool(
            self.live_events or self.idempotency_keys or self.tokens or self.counters
            or self.failed_posts
        )  # fmt: skip


async def run_once(
    transaction: Callable[[], AsyncConnectable], *, settings: Settings, clock: Clock
) -> Purged | None:
    """One housekeeping run, unless another process is doing one right now."""
    async with transaction() as connection:
        if not (await connection.execute(_TRY_LOCK, {"key": LOCK_KEY})).scalar_one():
            return None
        events = await live.purge(
            connection, older_than=timedelta(hours=settings.live_event_retention_hours)
        )
        keys = await idempotency.purge(
            connection,
            before=clock.now() - timedelta(hours=settings.idempotency_retention_hours),
        )
        tokens, throttles = await accounts.purge(connection, settings=settings, now=clock.now())
        windows = await ratelimit.purge(connection, now=clock.now())
        failed = await queue.purge_failed(
            connection, before=clock.now() - timedelta(days=settings.contact_retention_days)
        )
    return Purged(
        live_events=events, idempotency_keys=keys, tokens=tokens, counters=throttles + windows,
        failed_posts=failed,
    )  # fmt: skip


async def run_forever(
    transaction: Callable[[], AsyncConnectable], *, settings: Settings, clock: Clock
) -> None:
    """Housekeeping every `settings.housekeeping_seconds`, until cancelled."""
    while True:
        try:
            purged = await run_once(transaction, settings=settings, clock=clock)
            if purged:
                logger.info("housekeeping: %s", purged)
        except Exception:  # a failed run is retried next round; the server goes on
            logger.exception("housekeeping run failed")
        await asyncio.sleep(settings.housekeeping_seconds)
