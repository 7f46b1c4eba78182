"""Districts in the database: loading a city's set, and finding the district of a point."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from geoalchemy2.shape import from_shape
from sqlalchemy import bindparam, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session

from dispatch_server.complaints.models import Complaint
from geo.boundaries import DistrictShape
from geo.exceptions import OutsideServiceArea
from geo.models import District

METRES_PER_DEGREE_LAT = 111_320.0


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
_POINT = func.ST_SetSRID(func.ST_MakePoint(bindparam("lon"), bindparam("lat")), 4326)
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
    .limit(1)
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
        degrees = tolerance_m / (METRES_PER_DEGREE_LAT * max(math.cos(math.radians(lat)), 0.01))
        nearest = await connection.execute(
            _NEAREST_WITHIN, {"lat": lat, "lon": lon, "degrees": degrees, "metres": tolerance_m}
        )
        row = nearest.first()
    if row is None:
        raise OutsideServiceArea(
            f"the point (lat {lat}, lon {lon}) is outside the service area: it lies in no district",
            details={"lat": lat, "lon": lon},
        )
    return DistrictRef(*row)


def list_districts(session: Session) -> list[DistrictRef]:
    """The districts complaints can be routed to, by code."""
    rows = session.execute(
        select(District.code, District.name_ko, District.name_en)
        .where(District.retired_at.is_(None))
        .order_by(District.code)
    )
    return [DistrictRef(*row) for row in rows]
