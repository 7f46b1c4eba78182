"""Routing a point to its district on the real PostGIS database."""

from __future__ import annotations

import math
from itertools import combinations

import pytest
from shapely.geometry import Point
from shapely.ops import unary_union
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.districts import locate
from geo.exceptions import OutsideServiceArea

pytestmark = pytest.mark.anyio

SEOUL_CODES = {
    "11110", "11140", "11170", "11200", "11215", "11230", "11260", "11290", "11305", "11320",
    "11350", "11380", "11410", "11440", "11470", "11500", "11530", "11545", "11560", "11590",
    "11620", "11650", "11680", "11710", "11740",
}  # fmt: skip


async def test_all_25_seoul_districts_are_loaded(db: AsyncConnection) -> None:
    codes = set((await db.execute(text("SELECT code FROM district"))).scalars())
    assert codes == SEOUL_CODES


async def test_each_district_gets_a_point_inside_it(db: AsyncConnection, seoul_shapes) -> None:  # type: ignore[no-untyped-def]
    # point_on_surface, not the centroid: a centroid can fall outside a concave district.
    for shape in seoul_shapes:
        inside = shape.geometry.representative_point()
        found = await locate(db, lat=inside.y, lon=inside.x)
        assert found.code == shape.code, shape.name_en
        assert found.name_ko == shape.name_ko
        assert found.name_en == shape.name_en


def _shared_boundary_point(seoul_shapes) -> tuple[Point, list[str]]:  # type: ignore[no-untyped-def]
    for a, b in combinations(seoul_shapes, 2):
        shared = a.geometry.boundary.intersection(b.geometry.boundary)
        if shared.is_empty:
            continue
        coordinates = [c for part in getattr(shared, "geoms", [shared]) for c in part.coords]
        if coordinates:
            x, y = coordinates[len(coordinates) // 2]
            return Point(x, y), sorted([a.code, b.code])
    raise AssertionError("no two Seoul districts share a boundary vertex")


async def test_a_point_on_a_shared_boundary_routes_the_same_way_every_time(
    db: AsyncConnection, seoul_shapes
) -> None:  # type: ignore[no-untyped-def]
    point, codes = _shared_boundary_point(seoul_shapes)
    covering = (
        await db.execute(
            text(
                "SELECT code FROM district "
                "WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) ORDER BY code"
            ),
            {"lat": point.y, "lon": point.x},
        )
    ).scalars()
    assert list(covering) == codes, "the point must lie on both districts' boundary"
    answers = {(await locate(db, lat=point.y, lon=point.x)).code for _ in range(20)}
    # The rule: the lowest code of the districts that cover the point.
    assert answers == {codes[0]}


@pytest.mark.parametrize(
    ("lat", "lon", "where"),
    [
        (35.1796, 129.0756, "Busan"),
        (37.4563, 126.7052, "Incheon"),
        (37.2636, 127.0286, "Suwon"),
        (0.0, 0.0, "Null Island"),
        (-37.57, 126.99, "Seoul's latitude mirrored south"),
        (90.0, 180.0, "the pole and the antimeridian"),
    ],
)
async def test_points_outside_every_district_are_refused(
    db: AsyncConnection, lat: float, lon: float, where: str
) -> None:
    with pytest.raises(OutsideServiceArea, match="outside the service area"):
        await locate(db, lat=lat, lon=lon, tolerance_m=25)


def _just_outside(seoul_shapes, metres: float) -> tuple[Point, str]:  # type: ignore[no-untyped-def]
    """A point `metres` outside Seoul's outer boundary, and the district nearest to it."""
    city = unary_union([s.geometry for s in seoul_shapes])
    centre = city.centroid
    ring = max(getattr(city, "geoms", [city]), key=lambda g: g.area).exterior
    for fraction in [i / 40 for i in range(40)]:
        edge = ring.interpolate(fraction, normalized=True)
        dx, dy = edge.x - centre.x, edge.y - centre.y
        norm = math.hypot(dx * math.cos(math.radians(edge.y)), dy)
        step = metres / 111_320 / norm
        candidate = Point(edge.x + dx * step, edge.y + dy * step)
        nearest = min(seoul_shapes, key=lambda s: s.geometry.distance(candidate))
        if not city.covers(candidate) and city.distance(candidate) > 0:
            return candidate, nearest.code
    raise AssertionError("no outward point found")


async def test_a_point_a_few_metres_outside_goes_to_the_nearest_district(
    db: AsyncConnection, seoul_shapes
) -> None:  # type: ignore[no-untyped-def]
    point, nearest = _just_outside(seoul_shapes, metres=8)
    with pytest.raises(OutsideServiceArea):
        await locate(db, lat=point.y, lon=point.x, tolerance_m=0)
    assert (await locate(db, lat=point.y, lon=point.x, tolerance_m=25)).code == nearest


async def test_a_point_well_outside_is_refused_despite_the_tolerance(
    db: AsyncConnection, seoul_shapes
) -> None:  # type: ignore[no-untyped-def]
    point, _ = _just_outside(seoul_shapes, metres=200)
    with pytest.raises(OutsideServiceArea):
        await locate(db, lat=point.y, lon=point.x, tolerance_m=25)


async def test_retired_districts_are_not_routed_to(db: AsyncConnection, seoul_shapes) -> None:  # type: ignore[no-untyped-def]
    jongno = next(s for s in seoul_shapes if s.code == "11110")
    inside = jongno.geometry.representative_point()
    await db.execute(text("UPDATE district SET retired_at = now() WHERE code = '11110'"))
    with pytest.raises(OutsideServiceArea):
        await locate(db, lat=inside.y, lon=inside.x)
