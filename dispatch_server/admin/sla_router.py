"""HTTP adapter of the SLA administration: /api/v1/admin/sla (policies, calendars, holidays).

Open to any caller until accounts and roles arrive (issue 6), like the rest of the admin API.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from dispatch_server.access import ADMIN_WRITE as WRITE
from dispatch_server.access import STAFF_READ as READ
from dispatch_server.complaints.constants import Priority
from dispatch_server.deps import ContextDep, require_json
from dispatch_server.http_errors import ERROR_RESPONSES
from sla import policies
from sla.schemas import (
    CalendarList,
    CalendarRead,
    CalendarSet,
    HolidayList,
    Kind,
    PolicyList,
    PolicyRead,
    PolicySet,
)

router = APIRouter(prefix="/api/v1/admin/sla", tags=["admin: SLA"], responses=ERROR_RESPONSES)

CategoryPath = Annotated[str, Path(max_length=50, pattern=r"^[a-z0-9_]+$")]
PriorityQuery = Annotated[
    Priority | None,
    Query(description="the policy of one priority (none: the category's general one)"),
]
CalendarPath = Annotated[str, Path(max_length=30, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


@router.get(
    "/policies", dependencies=[READ], summary="SLA policies: per category (and priority) and stage"
)
async def list_policies(
    ctx: ContextDep,
    category: Annotated[str | None, Query(max_length=50)] = None,
) -> PolicyList:
    """Every policy, or one category's."""
    async with ctx.autocommit() as connection:
        return PolicyList(policies=await policies.list_policies(connection, category=category))


@router.put(
    "/policies/{category}/{kind}",
    dependencies=[WRITE, Depends(require_json)],
    summary="Set a stage's target for a category (new clocks use it; running ones keep theirs)",
)
async def set_policy(
    category: CategoryPath,
    kind: Kind,
    policy: PolicySet,
    ctx: ContextDep,
    priority: PriorityQuery = None,
) -> PolicyRead:
    """422 unknown_category / unknown_calendar / invalid_policy."""
    async with ctx.transaction() as connection:
        return await policies.set_policy(
            connection, category=category, priority=priority, kind=kind, policy=policy,
            now=ctx.clock.now(),
        )  # fmt: skip


@router.delete(
    "/policies/{category}/{kind}",
    dependencies=[WRITE],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a policy (new cases then have no clock for that stage)",
)
async def remove_policy(
    category: CategoryPath, kind: Kind, ctx: ContextDep, priority: PriorityQuery = None
) -> Response:
    """404 policy_not_found."""
    async with ctx.transaction() as connection:
        await policies.remove_policy(connection, category=category, priority=priority, kind=kind)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/calendars",
    dependencies=[READ],
    summary="Business calendars: zone, working hours, holiday count",
)
async def list_calendars(ctx: ContextDep) -> CalendarList:
    """Every calendar."""
    async with ctx.autocommit() as connection:
        return CalendarList(calendars=await policies.list_calendars(connection))


@router.put(
    "/calendars/{code}",
    dependencies=[WRITE, Depends(require_json)],
    summary="Create or change a calendar (its holidays are kept)",
)
async def set_calendar(code: CalendarPath, calendar: CalendarSet, ctx: ContextDep) -> CalendarRead:
    """422 invalid_calendar for an unknown zone, overlapping or empty windows."""
    async with ctx.transaction() as connection:
        return await policies.set_calendar(
            connection, code=code, calendar=calendar, now=ctx.clock.now()
        )


@router.get("/calendars/{code}/holidays", dependencies=[READ], summary="A calendar's holidays")
async def list_holidays(code: CalendarPath, ctx: ContextDep) -> HolidayList:
    """404 calendar_not_found."""
    async with ctx.autocommit() as connection:
        found = await policies.list_holidays(connection, code=code)
    return HolidayList(calendar=code, holidays=found)


@router.post(
    "/calendars/{code}/holidays",
    dependencies=[WRITE, Depends(require_json)],
    summary="Add holidays (or rename those already there)",
)
async def add_holidays(code: CalendarPath, holidays: HolidayList, ctx: ContextDep) -> HolidayList:
    """The body's `calendar` must be the path's; 404 calendar_not_found."""
    async with ctx.transaction() as connection:
        await policies.add_holidays(connection, code=code, holidays=holidays.holidays)
        found = await policies.list_holidays(connection, code=code)
    return HolidayList(calendar=code, holidays=found)


@router.delete(
    "/calendars/{code}/holidays/{day}",
    dependencies=[WRITE],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove one holiday",
)
async def remove_holiday(code: CalendarPath, day: date, ctx: ContextDep) -> Response:
    """404 when the calendar has no such holiday."""
    async with ctx.transaction() as connection:
        await policies.remove_holiday(connection, code=code, day=day)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
