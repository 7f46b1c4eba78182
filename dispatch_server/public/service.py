"""The public view of a case: one read by ticket number, shaped for a citizen."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.complaints.constants import Status
from dispatch_server.complaints.exceptions import ComplaintNotFound
from dispatch_server.complaints.models import Category, Complaint, ComplaintEvent
from dispatch_server.complaints.tickets import looks_like_ticket
from dispatch_server.dispatch.models import ResultCode
from dispatch_server.public.schemas import PublicCase, Stage, Step
from geo.models import District
from sla.models import SlaTimer
from sla.schemas import Kind, TimerState

_complaint = Complaint.__table__
_original = _complaint.alias("original_case")
_category = Category.__table__
_district = District.__table__
_event = ComplaintEvent.__table__
_result = ResultCode.__table__
_timer = SlaTimer.__table__

S = Status
# The citizen's words for each status: the steps inside the office (triage, acceptance)
# read as the step before them.
STAGE_OF: dict[Status, Stage] = {
    S.RECEIVED: Stage.RECEIVED,
    S.NEEDS_TRIAGE: Stage.RECEIVED,
    S.ASSIGNED: Stage.ASSIGNED,
    S.ACCEPTED: Stage.ASSIGNED,
    S.EN_ROUTE: Stage.EN_ROUTE,
    S.ON_SITE: Stage.ON_SITE,
    S.RESOLVED: Stage.RESOLVED,
    S.UNRESOLVED: Stage.UNRESOLVED,
    S.REFERRED: Stage.REFERRED,
    S.CLOSED: Stage.CLOSED,
    S.REOPENED: Stage.REOPENED,
    S.DUPLICATE: Stage.MERGED,
    S.CANCELLED: Stage.CANCELLED,
}
# Timeline entries a citizen sees: the moves of the case, never who made them or why
# (notes can name people); SLA, message and duplicate-link entries stay inside.
_PUBLIC_TYPES = [str(status) for status in Status]

_steps = (
    select(
        func.coalesce(
            func.jsonb_agg(
                aggregate_order_by(func.jsonb_build_array(_event.c.type, _event.c.at), _event.c.id)
            ),
            func.jsonb_build_array(),
        )
    )
    .where(_event.c.complaint_id == _complaint.c.id, _event.c.type.in_(_PUBLIC_TYPES))
    .scalar_subquery()
)
_expected = (
    select(_timer.c.due_at)
    .where(
        _timer.c.complaint_id == _complaint.c.id,
        _timer.c.kind == str(Kind.RESOLVE),
        _timer.c.state.in_([str(TimerState.RUNNING), str(TimerState.PAUSED)]),
    )
    .scalar_subquery()
)
_referred_to = (
    select(_event.c.payload["referred_to"].astext)
    .where(_event.c.complaint_id == _complaint.c.id, _event.c.type == str(Status.REFERRED))
    .order_by(_event.c.id.desc())
    .limit(1)
    .scalar_subquery()
)
_PUBLIC_CASE = (
    select(
        _complaint.c.ticket,
        _complaint.c.status,
        _complaint.c.created_at,
        _complaint.c.updated_at,
        _category.c.code.label("category_code"),
        _category.c.name_ko.label("category_ko"),
        _category.c.name_en.label("category_en"),
        _district.c.code.label("district_code"),
        _district.c.name_ko.label("district_ko"),
        func.coalesce(_district.c.name_en, _district.c.name_ko).label("district_en"),
        _result.c.code.label("result_code"),
        _result.c.name_ko.label("result_ko"),
        _result.c.name_en.label("result_en"),
        _original.c.ticket.label("original_ticket"),
        _expected.label("expected"),
        _referred_to.label("referred_to"),
        _steps.label("steps"),
    )
    .select_from(
        _complaint.join(_category, _category.c.code == _complaint.c.category_code)
        .join(_district, _district.c.code == _complaint.c.district_code)
        .outerjoin(_result, _result.c.code == _complaint.c.result_code)
        .outerjoin(_original, _original.c.id == _complaint.c.duplicate_of)
    )
    .where(_complaint.c.ticket == bindparam("ticket"))
)


def public_steps(entries: list[list[Any]]) -> list[Step]:
    """Timeline entries as the citizen's steps; a repeat of the same step (a reassignment,
    an acceptance after the assignment) stays the first one."""
    steps: list[Step] = []
    for kind, at in entries:
        stage = STAGE_OF[Status(kind)]
        if not steps or steps[-1].stage is not stage:
            steps.append(Step(stage=stage, at=at))
    return steps


async def public_case(connection: AsyncConnection, *, ticket: str) -> PublicCase:
    """The case with this ticket as anyone may see it (404 for an unknown ticket)."""
    row = None
    if looks_like_ticket(ticket):
        row = (await connection.execute(_PUBLIC_CASE, {"ticket": ticket})).first()
    if row is None:
        raise ComplaintNotFound(f"no complaint has ticket {ticket!r}", details={"ticket": ticket})
    stage = STAGE_OF[Status(row.status)]
    steps = public_steps(row.steps)
    if stage is Stage.MERGED and (not steps or steps[-1].stage is not stage):
        # Linked at intake: the case was born a duplicate, its only entry is "received".
        steps.append(Step(stage=stage, at=row.created_at))
    result = None
    if row.result_code is not None:
        result = {"code": row.result_code, "name_ko": row.result_ko, "name_en": row.result_en}
    return PublicCase(
        ticket=row.ticket,
        stage=stage,
        category={"code": row.category_code, "name_ko": row.category_ko,
                  "name_en": row.category_en},
        district={"code": row.district_code, "name_ko": row.district_ko,
                  "name_en": row.district_en},
        received_at=row.created_at,
        updated_at=row.updated_at,
        result=result,
        original_ticket=row.original_ticket,
        referred_to=row.referred_to if stage is Stage.REFERRED else None,
        expected_datetime=row.expected,
        steps=steps,
    )  # fmt: skip
