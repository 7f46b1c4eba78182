"""HTTP adapter of the statistics: /api/v1/stats (supervisors)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from dispatch_server.access import Watchers
from dispatch_server.deps import ContextDep
from dispatch_server.errors import Invalid
from dispatch_server.http_errors import ERROR_RESPONSES
from dispatch_server.stats import service
from sla.report import SlaReport, sla_report

router = APIRouter(prefix="/api/v1/stats", tags=["stats"], responses=ERROR_RESPONSES)

DEFAULT_PERIOD = timedelta(days=7)
LONGEST_PERIOD = timedelta(days=366)


class InvalidPeriod(Invalid):
    """The period asked for is not one the report can give."""

    code = "invalid_period"


@dataclass(frozen=True)
class ReportFilters:
    """The period and the filters of a report, checked."""

    start: datetime
    end: datetime
    district: str | None
    category: str | None


async def report_filters(
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
) -> ReportFilters:
    """Default period: the 7 days before `to` (default: now); at most 366 days; times with
    their offset (else 422 invalid_period)."""
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidPeriod(
                f"`{name}` needs a UTC offset (e.g. 2026-11-01T00:00:00+09:00)",
                details={name: value.isoformat()},
            )
    end = end or ctx.clock.now()
    start = start or end - DEFAULT_PERIOD
    if start >= end or end - start > LONGEST_PERIOD:
        raise InvalidPeriod(
            "`from` must come before `to`, at most 366 days apart",
            details={"from": start.isoformat(), "to": end.isoformat()},
        )
    return ReportFilters(start, end, district, category)


Filters = Annotated[ReportFilters, Depends(report_filters)]


@router.get("/sla", summary="SLA compliance per stage, times, breaches by level")
async def sla(caller: Watchers, ctx: ContextDep, filters: Filters) -> SlaReport:
    """Default period: the 7 days before `to`; at most 366 days. 422 invalid_period. Without
    `district`: every district of the caller's; another's district is a 404."""
    caller.scope.narrowed(filters.district)  # 404 for a district not the caller's
    async with ctx.autocommit() as connection:
        return await sla_report(
            connection, start=filters.start, end=filters.end, now=ctx.clock.now(),
            scope=caller.scope, district=filters.district, category=filters.category,
        )  # fmt: skip


@router.get(
    "/overview",
    summary="Volumes, time to site, first-visit resolution, duplicates, hot spots",
)
async def overview(caller: Watchers, ctx: ContextDep, filters: Filters) -> Response:
    """Over the cases received in the period, of the caller's districts (or one): `total`,
    `duplicates`, `per_day` and `per_hour` (the city's days and hours), `per_district`,
    `per_category` (each with its duplicates), `time_to_site` (received to first on site:
    `visits`, `median_minutes`, `p90_minutes`), `first_visit` (`results`: visited cases
    with a result; `resolved_first_time`: resolved at the first result, never reopened),
    `hotspots` (cells of about 250 m: their middle and count, busiest first, at most 300)."""
    caller.scope.narrowed(filters.district)
    async with ctx.autocommit() as connection:
        body = await service.overview(
            connection, start=filters.start, end=filters.end, scope=caller.scope,
            district=filters.district, category=filters.category,
            timezone=ctx.settings.timezone,
        )  # fmt: skip
    return Response(body, media_type="application/json")
