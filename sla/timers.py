"""A case's clocks as people read them, and pausing and resuming them.

The clocks themselves move by the timeline (the trigger of migration 0009): pausing is an
`sla_paused` entry on the case's timeline, resuming an `sla_resumed` one, so the console,
the app's stream and the history see it like any other step of the case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.access import Scope
from dispatch_server.complaints import service as complaints
from dispatch_server.complaints.exceptions import ComplaintNotFound
from dispatch_server.complaints.models import Complaint
from sla.exceptions import NoClockToMove
from sla.models import SlaTimer
from sla.schemas import ComplaintSla, Kind, PauseRequest, TimerRead, TimerState

_timer = SlaTimer.__table__
_complaint = Complaint.__table__

_PAUSED_MINUTES = literal_column(
    "(SELECT coalesce(extract(epoch FROM sum(upper(r) - lower(r))) / 60, 0)"
    " FROM unnest(sla_timer.pauses) AS r)"
)
_TIMERS = (
    select(
        _complaint.c.id.label("complaint_id"),
        _timer.c.kind,
        _timer.c.state,
        _timer.c.level,
        _timer.c.calendar_code,
        (func.extract("epoch", _timer.c.target) / 60).label("target_minutes"),
        _timer.c.started_at,
        _timer.c.warn_at,
        _timer.c.due_at,
        _timer.c.escalate_at,
        _timer.c.paused_at,
        _PAUSED_MINUTES.label("paused_minutes"),
        _timer.c.stopped_at,
    )
    .select_from(_complaint.outerjoin(_timer, _timer.c.complaint_id == _complaint.c.id))
    .where(_complaint.c.ticket == bindparam("ticket"))
)
_ORDER = {Kind.ASSIGN: 0, Kind.ARRIVE: 1, Kind.RESOLVE: 2}


def _timer_read(row: Any) -> TimerRead:
    met = None
    if row.state == TimerState.STOPPED:
        met = row.stopped_at <= row.due_at
    return TimerRead(
        kind=row.kind,
        state=row.state,
        level=row.level,
        calendar=row.calendar_code,
        target_minutes=round(float(row.target_minutes), 3),
        started_at=row.started_at,
        warn_at=row.warn_at,
        due_at=row.due_at,
        escalate_at=row.escalate_at,
        paused_at=row.paused_at,
        paused_minutes=round(float(row.paused_minutes), 3),
        stopped_at=row.stopped_at,
        met=met,
    )


async def complaint_sla(connection: AsyncConnection, *, ticket: str, scope: Scope) -> ComplaintSla:
    """The case's clocks (assign, arrive, resolve) and its expected resolution time (404
    outside the scope)."""
    statement = _TIMERS.where(scope.cases(_complaint))
    rows = (await connection.execute(statement, {"ticket": ticket, **scope.params()})).all()
    if not rows:
        raise ComplaintNotFound(f"no complaint has ticket {ticket!r}", details={"ticket": ticket})
    timers = sorted(
        (_timer_read(row) for row in rows if row.kind is not None), key=lambda t: _ORDER[t.kind]
    )
    resolve = next((t for t in timers if t.kind is Kind.RESOLVE), None)
    expected = None
    if resolve is not None and resolve.state is not TimerState.CANCELLED:
        expected = resolve.due_at
    return ComplaintSla(ticket=ticket, expected_datetime=expected, timers=timers)


_STATES = (
    select(_timer.c.state, func.count())
    .where(_timer.c.complaint_id == bindparam("complaint_id"))
    .group_by(_timer.c.state)
)
_CASE_EXISTS = select(_complaint.c.id).where(_complaint.c.id == bindparam("complaint_id"))
_ENTRY = complaints.timeline_entry(
    bindparam("complaint_id"), "event_type", bindparam("payload", type_=JSONB)
)


async def _move_clocks(
    connection: AsyncConnection,
    *,
    complaint_id: int,
    needs: TimerState,
    event_type: str,
    payload: dict[str, Any],
    actor: str,
    now: datetime,
    scope: Scope,
) -> int:
    exists = _CASE_EXISTS.where(scope.cases(_complaint))
    params = {"complaint_id": complaint_id, **scope.params()}
    if (await connection.execute(exists, params)).first() is None:
        raise ComplaintNotFound(
            f"no complaint has id {complaint_id}", details={"complaint_id": complaint_id}
        )
    states = dict((await connection.execute(_STATES, {"complaint_id": complaint_id})).all())
    count = int(states.get(str(needs), 0))
    if count == 0:
        raise NoClockToMove(
            f"the case has no {needs} SLA clock",
            details={"clocks": states},
        )
    await connection.execute(
        _ENTRY,
        {"complaint_id": complaint_id, "event_type": event_type, "payload": payload,
         "actor": actor, "now": now},
    )  # fmt: skip
    return count


async def pause(
    connection: AsyncConnection,
    *,
    complaint_id: int,
    request: PauseRequest,
    actor: str,
    now: datetime,
    scope: Scope,
) -> int:
    """Pause the case's running clocks (409 when none runs, 404 outside the scope); how many
    were paused."""
    payload = {"reason": str(request.reason)}
    if request.note:
        payload["note"] = request.note
    return await _move_clocks(
        connection, complaint_id=complaint_id, needs=TimerState.RUNNING,
        event_type="sla_paused", payload=payload, actor=actor, now=now, scope=scope,
    )  # fmt: skip


async def resume(
    connection: AsyncConnection,
    *,
    complaint_id: int,
    note: str | None,
    actor: str,
    now: datetime,
    scope: Scope,
) -> int:
    """Resume the case's paused clocks (409 when none is paused); how many were resumed."""
    return await _move_clocks(
        connection, complaint_id=complaint_id, needs=TimerState.PAUSED,
        event_type="sla_resumed", payload={"note": note} if note else {}, actor=actor, now=now,
        scope=scope,
    )  # fmt: skip
