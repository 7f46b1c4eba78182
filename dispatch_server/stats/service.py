"""The supervisors' figures over the cases received in a period, in the caller's scope:
volumes by day, hour, district and category, time to site, first-visit resolution, the
share of duplicates, and hot spots on a grid. One statement, rendered as JSON by
PostgreSQL; days and hours are the city's."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.access import Scope, scope_sql

# A hot-spot cell: about 250 m at Seoul's latitude.
CELL_LAT = 0.00225
CELL_LON = 0.0028

_OVERVIEW = """
WITH c AS (
    SELECT c.id, c.created_at, c.status, c.category_code, c.district_code, c.duplicate_of,
           c.location
    FROM complaint c
    WHERE c.created_at >= :from AND c.created_at < :to AND {scope}
      AND (CAST(:district AS text) IS NULL OR c.district_code = :district)
      AND (CAST(:category AS text) IS NULL OR c.category_code = :category)
), visits AS (
    SELECT c.id, min(e.at) AS on_site_at
    FROM c JOIN complaint_event e ON e.complaint_id = c.id AND e.type = 'on_site'
    GROUP BY c.id
), site AS (
    SELECT extract(epoch FROM v.on_site_at - c.created_at) / 60 AS minutes
    FROM visits v JOIN c ON c.id = v.id
), results AS (
    -- Each visited case's first result, and whether it was ever reopened.
    SELECT c.id,
           (SELECT e.type FROM complaint_event e WHERE e.complaint_id = c.id
              AND e.type IN ('resolved', 'unresolved', 'referred') ORDER BY e.at, e.id LIMIT 1)
             AS first_result,
           EXISTS (SELECT FROM complaint_event e WHERE e.complaint_id = c.id
                   AND e.type = 'reopened') AS reopened
    FROM c JOIN visits v ON v.id = c.id
)
SELECT json_build_object(
    'total', (SELECT count(*) FROM c),
    'duplicates', (SELECT count(*) FROM c WHERE c.duplicate_of IS NOT NULL),
    'per_day', (SELECT coalesce(json_agg(json_build_object('day', day, 'count', n)
                                         ORDER BY day), '[]')
                FROM (SELECT CAST(timezone(:tz, created_at) AS date) AS day, count(*) AS n
                      FROM c GROUP BY 1) d),
    'per_hour', (SELECT json_agg(json_build_object('hour', h, 'count', coalesce(n, 0))
                                 ORDER BY h)
                 FROM generate_series(0, 23) AS h
                 LEFT JOIN (SELECT CAST(extract(hour FROM timezone(:tz, created_at)) AS int)
                                   AS hour, count(*) AS n FROM c GROUP BY 1) x
                   ON x.hour = h),
    'per_district', (SELECT coalesce(json_agg(json_build_object(
                         'district', x.district_code, 'name_ko', d.name_ko, 'name_en', d.name_en,
                         'count', x.n, 'duplicates', x.dups) ORDER BY x.n DESC, x.district_code),
                         '[]')
                     FROM (SELECT district_code, count(*) AS n,
                                  count(*) FILTER (WHERE duplicate_of IS NOT NULL) AS dups
                           FROM c GROUP BY 1) x
                     JOIN district d ON d.code = x.district_code),
    'per_category', (SELECT coalesce(json_agg(json_build_object(
                         'category', x.category_code, 'name_ko', k.name_ko, 'name_en', k.name_en,
                         'count', x.n, 'duplicates', x.dups) ORDER BY x.n DESC, x.category_code),
                         '[]')
                     FROM (SELECT category_code, count(*) AS n,
                                  count(*) FILTER (WHERE duplicate_of IS NOT NULL) AS dups
                           FROM c GROUP BY 1) x
                     JOIN category k ON k.code = x.category_code),
    'time_to_site', (SELECT json_build_object(
                         'visits', count(*),
                         'median_minutes', round(CAST(percentile_cont(0.5) WITHIN GROUP
                                                      (ORDER BY minutes) AS numeric), 1),
                         'p90_minutes', round(CAST(percentile_cont(0.9) WITHIN GROUP
                                                   (ORDER BY minutes) AS numeric), 1))
                     FROM site),
    'first_visit', (SELECT json_build_object(
                        'results', count(first_result),
                        'resolved_first_time',
                            count(*) FILTER (WHERE first_result = 'resolved' AND NOT reopened))
                    FROM results),
    'hotspots', (SELECT coalesce(json_agg(json_build_object(
                     'lat', (cell_lat + 0.5) * :cell_lat, 'lon', (cell_lon + 0.5) * :cell_lon,
                     'count', n) ORDER BY n DESC), '[]')
                 FROM (SELECT floor(ST_Y(location) / :cell_lat) AS cell_lat,
                              floor(ST_X(location) / :cell_lon) AS cell_lon, count(*) AS n
                       FROM c GROUP BY 1, 2 ORDER BY n DESC LIMIT 300) cells)
)::text
"""


@lru_cache(maxsize=4)
def _statement(scope_kind: str) -> TextClause:
    return text(_OVERVIEW.replace("{scope}", scope_sql(scope_kind, "c")))


async def overview(
    connection: AsyncConnection,
    *,
    start: datetime,
    end: datetime,
    scope: Scope,
    district: str | None,
    category: str | None,
    timezone: str,
) -> bytes:
    """The figures as JSON bytes (see the module's text)."""
    params: dict[str, Any] = {
        "from": start, "to": end, "district": district, "category": category, "tz": timezone,
        "cell_lat": CELL_LAT, "cell_lon": CELL_LON, **scope.params(),
    }  # fmt: skip
    result = await connection.execute(_statement(scope.kind), params)
    return str(result.scalar_one()).encode()
