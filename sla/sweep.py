"""The sweep: every escalation step that is due, taken exactly once, in any number of processes.

One statement per batch claims due clocks with `FOR UPDATE SKIP LOCKED` (a clock another
process holds is left to it), writes a timeline entry and an outbox message for every step
now due, and raises the clock's level, all in the claiming transaction. A clock whose
warning, breach and supervisor step all passed during a downtime gets each of the three
once, in order; a step already taken is never taken again (the level says so).

A sweep runs `lanes` loops of batches at once, each on its own connection, and a lane takes
only the clocks of its share of the cases (`complaint_id % lanes`): the statement is all
writes, so on a machine with several cores two lanes finish about twice as fast, and two
lanes never hold clocks of the same case (a re-route of a case moves its other clocks,
which then are never locked by the other lane). Another process's batches are kept apart
by SKIP LOCKED alone.

Steps: 1 warning (to the assignee, or the district's dispatchers when nobody has the case),
2 breach (dispatchers), 3 supervisor (the district's supervisors). A breach of an assign or
arrive clock whose policy says so re-routes the case to its next candidate inspector: queued
by the batch, made right after it commits, one short transaction per case.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.db import AsyncConnectable

logger = logging.getLogger(__name__)

ACTOR = "system:sla"
STEP_EVENTS = {1: "sla_warning", 2: "sla_breached", 3: "sla_escalated"}
DEFAULT_BATCH = 5000
DEFAULT_LANES = 2

_STEP = text(
    """
WITH due AS (
    SELECT t.id, t.complaint_id, t.kind, t.level, t.cycle, t.warn_at, t.due_at,
           t.escalate_at, t.reroute_on_breach
    FROM sla_timer t
    WHERE t.next_step_at <= :now AND t.complaint_id % :lanes = :lane
    ORDER BY t.next_step_at
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
), steps AS (
    SELECT due.*, s.step, s.step_at,
           CASE WHEN s.step = 1 AND c.assignee_id IS NOT NULL THEN 'inspector:' || c.assignee_id
                WHEN s.step = 3 THEN 'supervisors:' || c.district_code
                ELSE 'dispatchers:' || c.district_code END AS recipient
    FROM due
    JOIN complaint c ON c.id = due.complaint_id
    CROSS JOIN LATERAL (VALUES (1, due.warn_at), (2, due.due_at), (3, due.escalate_at))
        AS s(step, step_at)
    WHERE s.step > due.level AND s.step_at <= :now
), events AS (
    INSERT INTO complaint_event (complaint_id, type, actor, at, payload)
    SELECT complaint_id,
           CASE step WHEN 1 THEN 'sla_warning' WHEN 2 THEN 'sla_breached'
                     ELSE 'sla_escalated' END,
           :actor, :now,
           jsonb_build_object('kind', kind, 'level', step, 'timer_id', id, 'cycle', cycle,
                              'step_at', api_time(step_at), 'due_at', api_time(due_at),
                              'recipient', recipient)
    FROM steps
    ORDER BY complaint_id, kind, step
    RETURNING id, complaint_id, type, payload
), messages AS (
    INSERT INTO outbox_message (complaint_id, event_id, channel, recipient, template, language,
                                payload, idempotency_key, next_attempt_at, created_at)
    SELECT e.complaint_id, e.id, 'push', e.payload ->> 'recipient', e.type, 'ko', e.payload,
           -- One message per step of a clock's cycle: a second take of a step would collide.
           format('sla:%s:%s:%s:%s:push', e.payload ->> 'timer_id', e.payload ->> 'cycle',
                  e.payload ->> 'level', e.payload ->> 'recipient'),
           :now, :now
    FROM events e
    RETURNING id
), raised AS (
    UPDATE sla_timer t SET
        level = m.top,
        warned_at = CASE WHEN m.top >= 1 AND t.warned_at IS NULL THEN :now ELSE t.warned_at END,
        breached_at = CASE WHEN m.top >= 2 AND t.breached_at IS NULL THEN :now
                           ELSE t.breached_at END,
        escalated_at = CASE WHEN m.top >= 3 THEN :now ELSE t.escalated_at END
    FROM (SELECT id, max(step) AS top FROM steps GROUP BY id) m
    WHERE t.id = m.id
    RETURNING t.id
), queued AS (
    -- Re-routed after this batch commits, each in a transaction of its own (see sweep).
    INSERT INTO sla_reroute (complaint_id, breached_at)
    SELECT DISTINCT complaint_id, :now FROM steps WHERE step = 2 AND reroute_on_breach
    ON CONFLICT (complaint_id) DO NOTHING
    RETURNING complaint_id
)
SELECT
    (SELECT count(*) FROM due) AS claimed,
    (SELECT count(*) FROM events) AS steps,
    (SELECT count(*) FROM messages) AS messages,
    (SELECT count(*) FROM raised) AS raised,
    (SELECT count(*) FROM queued) AS queued
"""
).bindparams(bindparam("actor", value=ACTOR))


@dataclass
class SweepReport:
    """What one sweep did."""

    claimed: int = 0
    steps: int = 0
    messages: int = 0
    rerouted: list[int] = field(default_factory=list)
    batches: int = 0


async def step_batch(
    connection: AsyncConnection,
    *,
    now: datetime,
    batch: int = DEFAULT_BATCH,
    lane: int = 0,
    lanes: int = 1,
) -> tuple[int, int, int, int]:
    """Take the steps of up to `batch` due clocks of lane `lane` in the caller's transaction.

    Returns (clocks claimed, steps taken, messages written, cases queued for a re-route).
    """
    parameters = {"now": now, "batch": batch, "lane": lane, "lanes": lanes}
    row = (await connection.execute(_STEP, parameters)).one()
    return row.claimed, row.steps, row.messages, row.queued


# The oldest queued re-route of the lane no other process holds, taken off the queue by the
# transaction that makes it (a failure leaves it queued for the next sweep).
_NEXT_REROUTE = text(
    """
    DELETE FROM sla_reroute WHERE complaint_id = (
        SELECT complaint_id FROM sla_reroute WHERE complaint_id % :lanes = :lane
        ORDER BY breached_at, complaint_id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING complaint_id
    """
)


async def sweep(
    transaction: Callable[[], AsyncConnectable],
    *,
    now: datetime,
    batch: int = DEFAULT_BATCH,
    lanes: int = 1,
    reroute: Callable[[AsyncConnection, int, datetime], object] | None = None,
) -> SweepReport:
    """Take every step due at `now`: `lanes` loops of batches, a transaction per batch.

    `transaction` must be able to open `lanes` connections at once. A breach whose policy
    re-routes its case queues the case (`sla_reroute`) in the batch's statement; once the
    batch has committed, `reroute(connection, complaint_id, now)` (awaitable; by default
    `sla.reroute.reroute`) re-routes each queued case of the lane in a short transaction
    of its own, which takes it off the queue. So a batch's transaction never waits on
    candidate rankings (the live streams wait on the oldest open transaction), and a crash
    in between leaves the case queued: the next sweep re-routes it first.
    """
    if reroute is None:
        from sla.reroute import reroute as default_reroute

        reroute = default_reroute
    report = SweepReport()

    async def reroute_queued(lane: int) -> None:
        while True:
            async with transaction() as connection:
                queued = (
                    await connection.execute(_NEXT_REROUTE, {"lane": lane, "lanes": lanes})
                ).first()
                if queued is None:
                    return
                try:
                    async with connection.begin_nested():
                        moved = await reroute(connection, queued.complaint_id, now)  # type: ignore[misc]
                except (OperationalError, InterfaceError):
                    raise  # the database, not the case: it stays queued for the next sweep
                except Exception:
                    # A case that cannot be re-routed must not hold up the sweep for good.
                    logger.exception("re-routing case %s failed; left to the dispatchers",
                                     queued.complaint_id)  # fmt: skip
                    moved = False
                if moved:
                    report.rerouted.append(queued.complaint_id)

    async def lane_loop(lane: int) -> None:
        await reroute_queued(lane)  # what an earlier sweep queued and did not get to
        while True:
            async with transaction() as connection:
                claimed, steps, messages, queued = await step_batch(
                    connection, now=now, batch=batch, lane=lane, lanes=lanes
                )
            report.batches += 1
            report.claimed += claimed
            report.steps += steps
            report.messages += messages
            if queued:
                await reroute_queued(lane)
            if claimed < batch:
                return

    # A lane that fails cancels the others (their open batches roll back); the next sweep
    # takes whatever was left.
    async with asyncio.TaskGroup() as group:
        for lane in range(lanes):
            group.create_task(lane_loop(lane))
    report.rerouted.sort()
    return report
