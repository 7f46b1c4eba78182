"""SLA compliance per stage over the cases received in a period (supervisors' figures)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from pydantic import BaseModel, Field
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.access import Scope, scope_sql
from sla.schemas import Kind


class StageReport(BaseModel):
    """One stage's figures."""

    kind: Kind
    clocks: int = Field(description="clocks of the period's cases (cancelled ones left out)")
    met: int = Field(description="stopped by their due time")
    missed: int = Field(description="stopped after their due time, or still open past it")
    pending: int = Field(description="still counting (or paused), not yet due")
    compliance: float | None = Field(description="met / (met + missed); None with neither")
    median_minutes: float | None = Field(description="start to stop, pauses left out")
    p90_minutes: float | None
    warned: int = Field(description="clocks that reached the warning")
    breached: int = Field(description="clocks that reached the breach (dispatchers told)")
    escalated: int = Field(description="clocks that reached the supervisor")


class SlaReport(BaseModel):
    """Compliance per stage of the cases received in [from, to)."""

    from_: datetime = Field(alias="from")
    to: datetime
    district: str | None
    category: str | None
    stages: list[StageReport]


_REPORT = """
WITH t AS (
    SELECT t.kind, t.state, t.level, t.due_at, t.stopped_at,
           extract(epoch FROM t.stopped_at - t.started_at
               - (SELECT coalesce(sum(upper(r) - lower(r)), interval '0')
                  FROM unnest(t.pauses) AS r)) / 60 AS minutes
    FROM sla_timer t
    JOIN complaint c ON c.id = t.complaint_id
    WHERE c.created_at >= :from AND c.created_at < :to
      AND {scope}
      AND (CAST(:district AS text) IS NULL OR c.district_code = :district)
      AND (CAST(:category AS text) IS NULL OR c.category_code = :category)
      AND t.state <> 'cancelled'
)
SELECT kind,
       count(*) AS clocks,
       count(*) FILTER (WHERE state = 'stopped' AND stopped_at <= due_at) AS met,
       count(*) FILTER (WHERE (state = 'stopped' AND stopped_at > due_at)
                           OR (state <> 'stopped' AND due_at <= :now)) AS missed,
       count(*) FILTER (WHERE state <> 'stopped' AND due_at > :now) AS pending,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes)
           FILTER (WHERE state = 'stopped') AS median_minutes,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY minutes)
           FILTER (WHERE state = 'stopped') AS p90_minutes,
       count(*) FILTER (WHERE level >= 1) AS warned,
       count(*) FILTER (WHERE level >= 2) AS breached,
       count(*) FILTER (WHERE level >= 3) AS escalated
FROM t
GROUP BY kind
"""
_ORDER = (Kind.ASSIGN, Kind.ARRIVE, Kind.RESOLVE)


@lru_cache(maxsize=4)
def _report(scope_kind: str) -> TextClause:
    return text(_REPORT.replace("{scope}", scope_sql(scope_kind, "c")))


async def sla_report(
    connection: AsyncConnection,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    scope: Scope,
    district: str | None = None,
    category: str | None = None,
) -> SlaReport:
    """Figures per stage for the cases received in [start, end) of the scope's, or of one
    district of it (none of another); `now` decides what is late."""
    params = {"from": start, "to": end, "now": now, "district": district, "category": category}
    rows = {
        row.kind: row
        for row in await connection.execute(_report(scope.kind), {**params, **scope.params()})
    }
    stages = []
    for kind in _ORDER:
        row = rows.get(str(kind))
        if row is None:
            stages.append(
                StageReport(
                    kind=kind, clocks=0, met=0, missed=0, pending=0, compliance=None,
                    median_minutes=None, p90_minutes=None, warned=0, breached=0, escalated=0,
                )
            )  # fmt: skip
            continue
        judged = row.met + row.missed
        stages.append(
            StageReport(
                kind=kind,
                clocks=row.clocks,
                met=row.met,
                missed=row.missed,
                pending=row.pending,
                compliance=round(row.met / judged, 4) if judged else None,
                median_minutes=_round(row.median_minutes),
                p90_minutes=_round(row.p90_minutes),
                warned=row.warned,
                breached=row.breached,
                escalated=row.escalated,
            )
        )
    return SlaReport.model_validate(
        {"from": start, "to": end, "district": district, "category": category, "stages": stages}
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)
