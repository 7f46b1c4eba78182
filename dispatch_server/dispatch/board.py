"""The dispatch console's board: every open case of the caller's scope with the clock that
runs out first, the district's inspectors with their positions, and district outlines.

The board is rendered as JSON by PostgreSQL, rows as arrays (a column list says what each
place holds): a district's or the city's open cases are thousands, and the console's map
draws them all at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.access import Scope, scope_sql
from dispatch_server.complaints.constants import FINAL_STATUSES, sql_in

BOARD_COLUMNS = (
    "id", "ticket", "status", "category", "priority", "lat", "lon", "address", "assignee_id",
    "team_id", "district", "created_at", "clock_kind", "clock_state", "warn_at", "due_at",
)  # fmt: skip

_BOARD = f"""
SELECT json_build_object(
    'now', api_time(now()),
    'columns', CAST(:columns AS text[]),
    'rows', coalesce(json_agg(json_build_array(
        c.id, c.ticket, c.status, c.category_code, c.priority,
        round(CAST(ST_Y(c.location) AS numeric), 6), round(CAST(ST_X(c.location) AS numeric), 6),
        c.address, c.assignee_id, c.team_id, c.district_code, api_time(c.created_at),
        k.kind, k.state, api_time(k.warn_at), api_time(k.due_at)
    ) ORDER BY c.created_at, c.id), '[]'))::text
FROM complaint c
LEFT JOIN LATERAL (
    SELECT t.kind, t.state, t.warn_at, t.due_at FROM sla_timer t
    WHERE t.complaint_id = c.id AND t.state IN ('running', 'paused')
    ORDER BY t.due_at LIMIT 1
) k ON true
WHERE c.status NOT IN ({sql_in(FINAL_STATUSES)})
  AND {{scope}}
  AND (CAST(:district AS text) IS NULL OR c.district_code = :district)
  AND (CAST(:ids AS bigint[]) IS NULL OR c.id = ANY(:ids))
"""


def _board(scope_kind: str) -> Any:
    return text(_BOARD.replace("{scope}", scope_sql(scope_kind, "c")))


_BOARDS = {kind: _board(kind) for kind in ("all", "districts", "inspector")}


async def board(
    connection: AsyncConnection, *, scope: Scope, district: str | None, ids: list[int] | None
) -> bytes:
    """The open cases (of one district of the scope, or only `ids`), as JSON bytes."""
    result = await connection.execute(
        _BOARDS[scope.kind],
        {"columns": list(BOARD_COLUMNS), "district": district, "ids": ids, **scope.params()},
    )
    return str(result.scalar_one()).encode()


_INSPECTORS = text(
    """
    SELECT coalesce(json_agg(json_build_object(
        'id', i.id, 'name', i.name, 'team_id', i.team_id, 'team', t.name,
        'district', t.district_code, 'on_duty', i.on_duty,
        'location', CASE WHEN i.position IS NULL THEN NULL ELSE json_build_object(
            'lat', ST_Y(i.position), 'lon', ST_X(i.position)) END,
        'position_at', api_time(i.position_at),
        'open_cases', (SELECT count(*) FROM complaint c WHERE c.assignee_id = i.id
                       AND c.status IN ('assigned', 'accepted', 'en_route', 'on_site'))
    ) ORDER BY t.district_code, t.name, i.name, i.id), '[]')::text
    FROM inspector i JOIN team t ON t.id = i.team_id
    WHERE (CAST(:scope_districts AS text[]) IS NULL OR t.district_code = ANY(:scope_districts))
      AND (CAST(:district AS text) IS NULL OR t.district_code = :district)
    """
)


async def inspectors(connection: AsyncConnection, *, scope: Scope, district: str | None) -> bytes:
    """The inspectors of the scope's districts (or one of them): duty, position, load."""
    result = await connection.execute(_INSPECTORS, {"district": district, **scope.params()})
    return str(result.scalar_one()).encode()


_OUTLINES = text(
    """
    SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
        json_build_object(
            'type', 'Feature',
            'properties', json_build_object('code', code, 'name_ko', name_ko, 'name_en', name_en),
            'geometry', CAST(ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, :tolerance), 6)
                             AS json))
        ORDER BY code), '[]'))::text
    FROM district WHERE retired_at IS NULL
    """
)


async def outlines(connection: AsyncConnection, *, tolerance: float = 0.0001) -> bytes:
    """Every active district as a GeoJSON feature, simplified for drawing (about 10 m)."""
    result = await connection.execute(_OUTLINES, {"tolerance": tolerance})
    return str(result.scalar_one()).encode()
