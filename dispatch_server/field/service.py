"""The inspector's side: duty, positions, the queue, their own case."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.access import Scope, scope_condition
from dispatch_server.attachments import service as attachments
from dispatch_server.complaints import service as complaints
from dispatch_server.complaints.constants import Status
from dispatch_server.complaints.models import Category, Complaint
from dispatch_server.complaints.service import READ_COLUMNS, READ_FROM, row_as_dict
from dispatch_server.dispatch.models import Inspector, ResultCode
from dispatch_server.errors import Invalid, Unauthenticated
from dispatch_server.field.schemas import (
    DutyRead,
    FieldCase,
    PingBatch,
    PositionRead,
    Queue,
    QueueItem,
    Reference,
)
from sla import timers
from sla.models import SlaTimer

# A phone's clock may run a little ahead; a fix older than a day is of no use to dispatch.
MAX_CLOCK_AHEAD = timedelta(minutes=2)
MAX_FIX_AGE = timedelta(hours=24)
# The cases an inspector is working, and the order of urgency.
WORKING = [Status.ASSIGNED, Status.ACCEPTED, Status.EN_ROUTE, Status.ON_SITE]
URGENCY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}

_inspector = Inspector.__table__
_complaint = Complaint.__table__
_timer = SlaTimer.__table__
_category = Category.__table__
_result_code = ResultCode.__table__


class InvalidPings(Invalid):
    """Fixes timed in the future or too long ago."""

    code = "invalid_pings"


def _unknown(inspector_id: int) -> Unauthenticated:
    return Unauthenticated(
        f"no inspector has id {inspector_id}", details={"inspector_id": inspector_id}
    )


_SET_DUTY = (
    update(_inspector)
    .where(_inspector.c.id == bindparam("inspector_id"))
    .values(on_duty=bindparam("on_duty"))
    .returning(_inspector.c.on_duty)
)


async def set_duty(connection: AsyncConnection, *, inspector_id: int, on_duty: bool) -> DutyRead:
    """Put the inspector on or off duty (off duty: no new assignments, not a candidate)."""
    row = (
        await connection.execute(_SET_DUTY, {"inspector_id": inspector_id, "on_duty": on_duty})
    ).first()
    if row is None:
        raise _unknown(inspector_id)
    return DutyRead(inspector_id=inspector_id, on_duty=row.on_duty)


_point = func.ST_SetSRID(func.ST_MakePoint(bindparam("lon"), bindparam("lat")), 4326)
# Only a newer fix moves the inspector: late batches from a tunnel arrive after fresh ones.
_MOVE_TO = (
    update(_inspector)
    .where(
        _inspector.c.id == bindparam("inspector_id"),
        _inspector.c.position_at.is_(None) | (_inspector.c.position_at < bindparam("at")),
    )
    .values(position=_point, position_at=bindparam("at"), position_accuracy_m=bindparam("acc"))
)
_WHERE_NOW = select(
    func.ST_Y(_inspector.c.position).label("lat"),
    func.ST_X(_inspector.c.position).label("lon"),
    _inspector.c.position_accuracy_m,
    _inspector.c.position_at,
).where(_inspector.c.id == bindparam("inspector_id"))


async def record_positions(
    connection: AsyncConnection, *, inspector_id: int, batch: PingBatch, now: datetime
) -> PositionRead:
    """Take a batch of fixes; the newest becomes the position if newer than the one held."""
    bad = [
        index
        for index, ping in enumerate(batch.pings)
        if ping.at > now + MAX_CLOCK_AHEAD or ping.at < now - MAX_FIX_AGE
    ]
    if bad:
        raise InvalidPings(
            f"{len(bad)} fix(es) are timed in the future or more than a day ago; "
            "nothing of the batch was taken",
            details={"pings": bad, "server_time": now.isoformat()},
        )
    newest = max(batch.pings, key=lambda ping: ping.at)
    params = {"inspector_id": inspector_id}
    await connection.execute(
        _MOVE_TO,
        params | {"lat": newest.lat, "lon": newest.lon, "at": newest.at, "acc": newest.accuracy_m},
    )
    row = (await connection.execute(_WHERE_NOW, params)).first()
    if row is None:
        raise _unknown(inspector_id)
    return PositionRead(
        inspector_id=inspector_id,
        accepted=len(batch.pings),
        lat=row.lat,
        lon=row.lon,
        accuracy_m=row.position_accuracy_m,
        at=row.position_at,
    )


_me = select(_inspector.c.position).where(_inspector.c.id == bindparam("inspector_id"))
_distance = func.ST_Distance(
    func.geography(_complaint.c.location), func.geography(_me.scalar_subquery())
)
_urgency = case(URGENCY_RANK, value=_complaint.c.priority, else_=len(URGENCY_RANK))
# The clock that runs out first: what the app counts down on the case's card.
_next_clock = (
    select(_timer.c.kind, _timer.c.state, _timer.c.warn_at, _timer.c.due_at)
    .where(_timer.c.complaint_id == _complaint.c.id, _timer.c.state.in_(["running", "paused"]))
    .order_by(_timer.c.due_at)
    .limit(1)
    .lateral("next_clock")
)
_QUEUE = (
    select(
        *READ_COLUMNS,
        _distance.label("distance_m"),
        _next_clock.c.kind.label("clock_kind"),
        _next_clock.c.state.label("clock_state"),
        _next_clock.c.warn_at.label("clock_warn_at"),
        _next_clock.c.due_at.label("clock_due_at"),
    )
    .select_from(READ_FROM.outerjoin(_next_clock, true()))
    .where(
        scope_condition("inspector", _complaint),
        _complaint.c.status.in_([str(s) for s in WORKING]),
    )
    .order_by(_urgency, _distance.asc().nulls_last(), _complaint.c.created_at)
)
_EXISTS = select(_inspector.c.id).where(_inspector.c.id == bindparam("inspector_id"))


async def ensure_inspector(connection: AsyncConnection, *, inspector_id: int) -> None:
    """Unauthenticated unless an inspector has this id."""
    if (await connection.execute(_EXISTS, {"inspector_id": inspector_id})).first() is None:
        raise _unknown(inspector_id)


async def queue(connection: AsyncConnection, *, inspector_id: int) -> Queue:
    """My open cases: most urgent first, then the nearest to my last position."""
    await ensure_inspector(connection, inspector_id=inspector_id)
    mine = Scope(inspector_id=inspector_id)
    rows = await connection.execute(_QUEUE, {"inspector_id": inspector_id, **mine.params()})
    items: list[dict[str, Any]] = []
    for row in rows:
        item = row_as_dict(row[: len(READ_COLUMNS)])
        del item["reporter"]  # the detail view has it, masked
        item["distance_m"] = None if row.distance_m is None else round(row.distance_m, 1)
        item["clock"] = None if row.clock_kind is None else {
            "kind": row.clock_kind, "state": row.clock_state, "warn_at": row.clock_warn_at,
            "due_at": row.clock_due_at,
        }  # fmt: skip
        items.append(item)
    return Queue(inspector_id=inspector_id, items=[QueueItem.model_validate(i) for i in items])


FIELD_PHOTOS = "/api/v1/field/photos"


async def case_bundle(connection: AsyncConnection, *, complaint_id: int, scope: Scope) -> FieldCase:
    """One of my cases, its timeline, photos and clocks (404 for any other case)."""
    case = await complaints.get_by_id(connection, complaint_id=complaint_id, scope=scope)
    timeline = await complaints.timeline(connection, ticket=case.ticket, scope=scope)
    photos = await attachments.list_photos(
        connection, complaint_id=complaint_id, scope=scope, url_base=FIELD_PHOTOS
    )
    clocks = await timers.complaint_sla(connection, ticket=case.ticket, scope=scope)
    return FieldCase(
        **case.model_dump(), timeline=timeline.events, photos=photos.photos, sla=clocks
    )


_CATEGORIES = (
    select(_category.c.code, _category.c.name_ko, _category.c.name_en)
    .where(_category.c.active)
    .order_by(_category.c.code)
)
_RESULT_CODES = select(
    _result_code.c.code, _result_code.c.outcome, _result_code.c.category_code.label("category"),
    _result_code.c.name_ko, _result_code.c.name_en,
).order_by(_result_code.c.outcome, _result_code.c.code)  # fmt: skip


async def reference(connection: AsyncConnection) -> Reference:
    """The active categories and every result code."""
    categories = (await connection.execute(_CATEGORIES)).mappings().all()
    codes = (await connection.execute(_RESULT_CODES)).mappings().all()
    return Reference.model_validate({"categories": categories, "result_codes": codes})
