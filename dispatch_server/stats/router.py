"""HTTP adapter of the statistics: /api/v1/stats (supervisors)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from dispatch_server.access import Watchers
from dispatch_server.deps import ContextDep
from dispatch_server.errors import Invalid
from dispatch_server.http_errors import ERROR_RESPONSES
from dispatch_server.live.service import UnknownDistrict
from sla.report import SlaReport, sla_report

router = APIRouter(prefix="/api/v1/stats", tags=["stats"], responses=ERROR_RESPONSES)

DEFAULT_PERIOD = timedelta(days=7)
LONGEST_PERIOD = timedelta(days=366)


class InvalidPeriod(Invalid):
    """The period asked for is not one the report can give."""

    code = "invalid_period"


@router.get("/sla", summary="SLA compliance per stage, times, breaches by level")
async def sla(
    caller: Watchers,
    ctx: ContextDep,
    start: Annotated[
        datetime | None,
        Query(alias="from", description="cases received from (ISO 8601 with offset)"),
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="... until, excluded (default: now)")
    ] = None,
    district: Annotated[str | None, Query(max_length=20, pattern=r"^[0-9A-Za-z_-]+$")] = None,
    category: Annotated[str | None, Query(max_length=50, pattern=r"^[a-z0-9_]+$")] = None,
) -> SlaReport:
    """Default period: the 7 days before `to`; at most 366 days. 422 invalid_period. Without
    `district`: every district of the caller's; another's district is a 404."""
    if district is not None and not caller.scope.allows_district(district):
        raise UnknownDistrict(
            f"no district of yours has code {district!r}", details={"district": district}
        )
    now = ctx.clock.now()
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidPeriod(
                f"`{name}` needs a UTC offset (e.g. 2026-11-01T00:00:00+09:00)",
                details={name: value.isoformat()},
            )
    end = end or now
    start = start or end - DEFAULT_PERIOD
    if start >= end or end - start > LONGEST_PERIOD:
        raise InvalidPeriod(
            "`from` must come before `to`, at most 366 days apart",
            details={"from": start.isoformat(), "to": end.isoformat()},
        )
    async with ctx.autocommit() as connection:
        return await sla_report(
            connection, start=start, end=end, now=now, scope=caller.scope, district=district,
            category=category,
        )  # fmt: skip
