"""Districts in the database: loading a city's set, and finding the district of a point."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from geoalchemy2.shape import from_shape
from sqlalchemy import bindparam, delete, exists, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session

from dispatch_server.complaints.models import Complaint
from geo.boundaries import DistrictShape
from geo.exceptions import OutsideServiceArea
from geo.models import District

METRES_PER_DEGREE_LAT = 111_320.0


def degrees_per_metre(lat: float) -> float:
    """Degrees per metre at this latitude: the longitude's (the larger), capped near the poles.

    For index-friendly prefilters in degrees (`ST_DWithin` on geometry), generous at any
    latitude; the exact test is then done in metres.
    """
    return 1.0 / (METRES_PER_DEGREE_LAT * max(math.cos(math.radians(lat)), 0.01))


@dataclass(frozen=True)
class DistrictRef:
    """The identity of a district as the API shows it."""

    code: str
    name_ko: str
    name_en: str | None


@dataclass
class LoadReport:
    """What `load_districts` did."""

    loaded: int = 0
    repaired: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


def load_districts(
    session: Session,
    districts: Iterable[DistrictShape],
    *,
    now: datetime,
    replace: bool = False,
    on_each: Callable[[DistrictShape], None] | None = None,
) -> LoadReport:
    """Insert or update the given districts; with `replace`, drop those not given.

    A dropped district that complaints still point at is retired (kept for their history,
    no longer routed to) instead of deleted. The caller commits.
    """
    report = LoadReport()
    codes: list[str] = []
    for district in districts:
        values = {
            "code": district.code,
            "name_ko": district.name_ko,
            "name_en": district.name_en,
            "geom": from_shape(district.geometry, srid=4326),
            "retired_at": None,
            "updated_at": now,
        }
        statement = insert(District).values(values)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[District.code],
                set_={k: statement.excluded[k] for k in values if k != "code"},
            )
        )
        codes.append(district.code)
        report.loaded += 1
        if district.repaired:
            report.repaired.append(f"{district.code} {district.name_ko}")
        if on_each is not None:
            on_each(district)
    if replace:
        referenced = exists().where(Complaint.district_code == District.code)
        dropped = District.code.not_in(codes) & District.retired_at.is_(None)
        report.retired = list(
            session.scalars(
                update(District)
                .where(dropped, referenced)
                .values(retired_at=now)
                .returning(District.code)
            )
        )
        report.removed = list(
            session.scalars(
                delete(District)
                .where(District.code.not_in(codes), ~referenced)
                .returning(District.code)
            )
        )
    return report


_district = District.__table__
# SRID and LIMIT written as constants: these compose into the intake statement, whose text
# must stay short (dispatch_server.complaints.service.INTAKE_SQL_LIMIT).
_POINT = func.ST_SetSRID(
    func.ST_MakePoint(bindparam("lon"), bindparam("lat")), literal_column("4326")
)
_ACTIVE = _district.c.retired_at.is_(None)
_COLUMNS = (_district.c.code, _district.c.name_ko, _district.c.name_en)
# Built once: these run for every complaint, and a prebuilt statement skips SQLAlchemy's
# per-call construction and cache-key work.

# The district of the point (:lat, :lon): code, name_ko, name_en. Other packages compose it
# into their own statements (intake routes and stores a complaint in one round trip).
COVERING_DISTRICT = (
    select(*_COLUMNS)
    .where(_ACTIVE, func.ST_Covers(_district.c.geom, _POINT))
    .order_by(_district.c.code)
    .limit(literal_column("1"))
)
# The active district with code :district_code, in the same shape.
DISTRICT_BY_CODE = select(*_COLUMNS).where(_ACTIVE, _district.c.code == bindparam("district_code"))
_DISTANCE = func.ST_Distance(func.geography(_district.c.geom), func.geography(_POINT))
_NEAREST_WITHIN = (
    select(*_COLUMNS)
    # Index-friendly prefilter in degrees (generous at any latitude), exact test in metres.
    .where(_ACTIVE, func.ST_DWithin(_district.c.geom, _POINT, bindparam("degrees")))
    .where(_DISTANCE <= bindparam("metres"))
    .order_by(_DISTANCE, _district.c.code)
    .limit(1)
)


async def locate(
    connection: AsyncConnection, *, lat: float, lon: float, tolerance_m: float = 0.0
) -> DistrictRef:
    """The district a point lies in.

    A point on a boundary shared by several districts goes to the one with the lowest code, so
    the same point always routes the same way. A point in no district but within
    `tolerance_m` of one (a sliver between two digitised boundaries) goes to the nearest.
    """
    row = (await connection.execute(COVERING_DISTRICT, {"lat": lat, "lon": lon})).first()
    if row is None and tolerance_m > 0:
        degrees = tolerance_m * degrees_per_metre(lat)
        nearest = await connection.execute(
            _NEAREST_WITHIN, {"lat": lat, "lon": lon, "degrees": degrees, "metres": tolerance_m}
        )
        row = nearest.first()
    if row is None:
        raise outside_service_area(lat, lon)
    return DistrictRef(*row)


def outside_service_area(lat: float, lon: float) -> OutsideServiceArea:
    """The refusal of a point that lies in no district (nor within the tolerance of one)."""
    return OutsideServiceArea(
        f"the point (lat {lat}, lon {lon}) is outside the service area: it lies in no district",
        details={"lat": lat, "lon": lon},
    )


def list_districts(session: Session) -> list[DistrictRef]:
    """The districts complaints can be routed to, by code."""
    rows = session.execute(
        select(District.code, District.name_ko, District.name_en)
        .where(District.retired_at.is_(None))
        .order_by(District.code)
    )
    return [DistrictRef(*row) for row in rows]


_DISTRICTS_OF_POINTS = text(
    "SELECT p.i, d.code FROM unnest(CAST(:lats AS float8[]), CAST(:lons AS float8[]))"
    " WITH ORDINALITY AS p(lat, lon, i)"
    " LEFT JOIN LATERAL (SELECT code FROM district WHERE retired_at IS NULL"
    "   AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))"
    "   ORDER BY code LIMIT 1) d ON true"
)


async def districts_of_points(
    connection: AsyncConnection, lats: list[float], lons: list[float]
) -> list[str | None]:
    """The district code of each point (None: in no district), in one statement."""
    rows = await connection.execute(_DISTRICTS_OF_POINTS, {"lats": lats, "lons": lons})
    codes: list[str | None] = [None] * len(lats)
    for index, code in rows:
        codes[int(index) - 1] = code
    return codes


class DistrictIndex:
    """The active districts in memory, for placing many points at once (batch jobs).

    Same rule as intake: a point on a shared boundary goes to the lowest code. Built from
    the database once; rebuild it after districts are loaded again.
    """

    def __init__(self, districts: list[tuple[str, bytes]]) -> None:
        import shapely

        self._codes = [code for code, _ in sorted(districts)]
        self._shapes = [shapely.from_wkb(wkb) for _, wkb in sorted(districts)]
        for geometry in self._shapes:
            shapely.prepare(geometry)
        self._by_code = dict(zip(self._codes, self._shapes, strict=True))

    @classmethod
    async def load(cls, connection: AsyncConnection) -> DistrictIndex:
        """The index of the active districts."""
        rows = await connection.execute(
            select(_district.c.code, func.ST_AsBinary(_district.c.geom)).where(_ACTIVE)
        )
        return cls([(code, bytes(wkb)) for code, wkb in rows])

    def covers(self, code: str, lat: float, lon: float) -> bool:
        """Whether the district with this code covers the point (False: unknown code)."""
        import shapely

        if code not in self._by_code:
            return False
        return bool(shapely.intersects_xy(self._by_code[code], lon, lat))

    def codes_of(self, lats: Sequence[float], lons: Sequence[float]) -> list[str | None]:
        """The district code of each point (None: in no district)."""
        import numpy
        import shapely

        x, y = numpy.asarray(lons, dtype=float), numpy.asarray(lats, dtype=float)
        found = numpy.full(len(x), -1)
        for index, geometry in enumerate(self._shapes):
            open_points = found < 0
            hit = numpy.zeros(len(x), dtype=bool)
            hit[open_points] = shapely.intersects_xy(geometry, x[open_points], y[open_points])
            found[hit] = index
        return [self._codes[i] if i >= 0 else None for i in found.tolist()]
