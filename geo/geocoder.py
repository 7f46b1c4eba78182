"""Geocoding (address text -> places, best first) and reverse geocoding (point -> address).

`Geocoder` is the interface the product uses; `GazetteerGeocoder` answers from the loaded
gazetteer (geo.gazetteer) and is the default. A deployment may plug in an external service
behind the same interface.

Match levels, best first: `building` (the address is known), `road_interpolated` (the road
is known, the number placed between or beyond its known numbers), `dong` (the dong's
point-on-surface: lot numbers have no parcel data here), `district`. Ambiguous text (a road
that several districts have, a typo close to several names) gives several candidates with
their confidence, never one silent guess.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import TextClause, bindparam, func, literal, select, text, true
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.db import AsyncConnectable
from geo.addresses import Form, ParsedAddress, parse
from geo.districts import COVERING_DISTRICT, DistrictIndex, DistrictRef
from geo.exceptions import OutsideServiceArea
from geo.interpolation import KnownNumber, place
from geo.models import District, Dong, GazetteerAddress
from geo.romanize import match_key, road_key

CITY_NAME = "서울특별시"
# Below this similarity a typo'd name is not taken as the name.
MIN_SIMILARITY = 0.45
# How sure a match is, per level, before adjustments.
DONG_CONFIDENCE, DISTRICT_CONFIDENCE = 0.5, 0.3
DISTRICTS_TTL_S = 300.0


class MatchLevel(StrEnum):
    """How precisely a candidate was placed."""

    BUILDING = "building"
    ROAD_INTERPOLATED = "road_interpolated"
    DONG = "dong"
    DISTRICT = "district"


@dataclass(frozen=True)
class Candidate:
    """One place the text may mean."""

    lat: float
    lon: float
    district: DistrictRef
    dong: str | None  # the 행정동 the point lies in
    match_level: MatchLevel
    confidence: float
    normalized: str


@dataclass(frozen=True)
class ReversePlace:
    """What is at a point: its district, 행정동 and the nearest known address."""

    district: DistrictRef
    dong: str | None
    address: str | None
    distance_m: float | None


class Geocoder(Protocol):
    """Turns addresses into places and places into addresses."""

    async def geocode(self, address: str, *, limit: int = 5) -> list[Candidate]:
        """Candidates for the address, best first (empty: nothing matches).

        Raises geo.addresses.AddressRejected for text that cannot be an address.
        """
        ...

    async def reverse(self, *, lat: float, lon: float) -> ReversePlace:
        """The district, dong and nearest known address of a point (OutsideServiceArea)."""
        ...


_district = District.__table__
_DISTRICTS = select(
    _district.c.code,
    _district.c.name_ko,
    _district.c.name_en,
    func.ST_Y(func.ST_PointOnSurface(_district.c.geom)),
    func.ST_X(func.ST_PointOnSurface(_district.c.geom)),
    func.ST_AsBinary(_district.c.geom),
).where(_district.c.retired_at.is_(None))

_ROADS_SIMILAR = text(
    "SELECT district_code, name_ko, similarity(road_key, :key) AS score FROM gazetteer_road"
    " WHERE road_key % :key AND (CAST(:codes AS text[]) IS NULL OR district_code = ANY(:codes))"
    " ORDER BY score DESC, district_code, name_ko LIMIT 5"
)
# The exact road and its known numbers in one round trip (the common case: a road written
# right). A road without known numbers comes as one row of NULLs.
_ROAD_NUMBERS_EXACT = text(
    "SELECT r.district_code, r.name_ko, a.main_no, a.sub_no, ST_Y(a.location), ST_X(a.location)"
    " FROM gazetteer_road r LEFT JOIN gazetteer_address a"
    "  ON a.district_code = r.district_code AND a.road_name = r.name_ko"
    " WHERE r.road_key = :key"
    "  AND (CAST(:codes AS text[]) IS NULL OR r.district_code = ANY(:codes))"
)
_NUMBERS = text(
    "SELECT district_code, road_name, main_no, sub_no, ST_Y(location), ST_X(location)"
    " FROM gazetteer_address WHERE road_name = ANY(:roads) AND district_code = ANY(:codes)"
)
_DONGS = text(
    "SELECT district_code, name_ko, kind, ST_Y(label_point), ST_X(label_point), 1.0 FROM dong"
    " WHERE name_ko = :name AND (CAST(:codes AS text[]) IS NULL OR district_code = ANY(:codes))"
)
_DONGS_SIMILAR = text(
    "SELECT district_code, name_ko, kind, ST_Y(label_point), ST_X(label_point),"
    " similarity(name_key, :key) AS score FROM dong"
    " WHERE name_key % :key AND (CAST(:codes AS text[]) IS NULL OR district_code = ANY(:codes))"
    " ORDER BY score DESC, district_code, name_ko LIMIT 5"
)
_ADMIN_DONG_AT = text(
    "SELECT p.i, d.name_ko FROM unnest(CAST(:lats AS float8[]), CAST(:lons AS float8[]))"
    " WITH ORDINALITY AS p(lat, lon, i)"
    " LEFT JOIN LATERAL (SELECT name_ko FROM dong WHERE kind = 'admin'"
    "   AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))"
    "   ORDER BY code LIMIT 1) d ON true"
)
_dong = Dong.__table__
_address = GazetteerAddress.__table__
_POINT = func.ST_SetSRID(func.ST_MakePoint(bindparam("lon"), bindparam("lat")), 4326)
_covering = COVERING_DISTRICT.subquery("covering")
_nearest = (
    select(
        _address.c.district_code,
        _address.c.road_name,
        _address.c.main_no,
        _address.c.sub_no,
        func.ST_Distance(func.geography(_address.c.location), func.geography(_POINT)).label(
            "distance_m"
        ),
    )
    .order_by(_address.c.location.op("<->")(_POINT))
    .limit(1)
    .subquery("nearest")
)
_admin_dong = (
    select(_dong.c.name_ko)
    .where(_dong.c.kind == "admin", func.ST_Covers(_dong.c.geom, _POINT))
    .order_by(_dong.c.code)
    .limit(1)
    .scalar_subquery()
)
# Everything reverse geocoding reads, in one round trip: it runs for every complaint that
# comes with a point only. The district is NULL outside the service area.
_REVERSE = select(
    _covering.c.code,
    _covering.c.name_ko,
    _covering.c.name_en,
    _admin_dong,
    _nearest.c.district_code,
    _nearest.c.road_name,
    _nearest.c.main_no,
    _nearest.c.sub_no,
    _nearest.c.distance_m,
).select_from(
    select(literal(1).label("one"))
    .subquery("one_row")
    .outerjoin(_covering, true())
    .outerjoin(_nearest, true())
)


@dataclass(frozen=True)
class _District:
    ref: DistrictRef
    lat: float
    lon: float


async def _exact_or_similar(
    connection: AsyncConnection,
    exact: TextClause | None,
    similar: TextClause,
    exact_params: dict[str, Any],
    similar_params: dict[str, Any],
) -> Sequence[Any]:
    """Rows matching the name exactly; else those similar enough (score: the last column)."""
    if exact is not None:
        rows = (await connection.execute(exact, exact_params)).all()
        if rows:
            return rows
    found = await connection.execute(similar, similar_params)
    return [row for row in found if row[-1] >= MIN_SIMILARITY]


def _number_text(main_no: int | None, sub_no: int | None) -> str:
    if main_no is None:
        return ""
    return f" {main_no}-{sub_no}" if sub_no else f" {main_no}"


class GazetteerGeocoder:
    """The gazetteer in the database, as a Geocoder."""

    def __init__(self, connect: Callable[[], AsyncConnectable]) -> None:
        self._connect = connect
        self._districts: dict[str, _District] = {}
        self._index: DistrictIndex | None = None
        self._districts_at = -DISTRICTS_TTL_S

    async def _load_districts(self, connection: AsyncConnection) -> dict[str, _District]:
        if time.monotonic() - self._districts_at > DISTRICTS_TTL_S:
            rows = (await connection.execute(_DISTRICTS)).all()
            self._index = DistrictIndex([(row[0], bytes(row[5])) for row in rows])
            self._districts = {
                code: _District(DistrictRef(code, name_ko, name_en), lat, lon)
                for code, name_ko, name_en, lat, lon, _geom in rows
            }
            self._districts_at = time.monotonic()
        return self._districts

    @staticmethod
    def _districts_named(
        districts: dict[str, _District], name: str, *, english: bool
    ) -> tuple[list[str], float]:
        """Codes of the districts the name means, and how sure (typos: less)."""
        names = {
            (d.ref.name_en or "").lower() if english else d.ref.name_ko: code
            for code, d in districts.items()
        }
        if name in names:
            return [names[name]], 1.0
        close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
        return [names[c] for c in close], 0.8

    async def geocode(self, address: str, *, limit: int = 5) -> list[Candidate]:
        """Candidates for the address, best first (see the module's docstring)."""
        parsed = parse(address)
        async with self._connect() as connection:
            districts = await self._load_districts(connection)
            codes: list[str] | None = None
            trust = 1.0
            if parsed.district:
                codes, trust = self._districts_named(
                    districts, parsed.district, english=parsed.english
                )
                if not codes:
                    return []
            if parsed.form is Form.ROAD:
                found = await self._on_road(connection, parsed, codes, districts)
            elif parsed.form in (Form.DONG, Form.LOT):
                found = await self._in_dong(connection, parsed, codes, districts)
            else:
                assert codes is not None
                found = [
                    Candidate(
                        districts[code].lat, districts[code].lon, districts[code].ref, None,
                        MatchLevel.DISTRICT, DISTRICT_CONFIDENCE,
                        f"{CITY_NAME} {districts[code].ref.name_ko}",
                    )
                    for code in codes
                ]  # fmt: skip
            if len({c.district.code for c in found}) > 1:
                trust *= 0.8  # the same name in several districts: the caller must choose
            found = [replace(c, confidence=round(c.confidence * trust, 3)) for c in found]
            found.sort(key=lambda c: (-c.confidence, c.district.code, c.normalized))
            return await self._with_dongs(connection, found[:limit])

    async def _on_road(
        self,
        connection: AsyncConnection,
        parsed: ParsedAddress,
        codes: list[str] | None,
        districts: dict[str, _District],
    ) -> list[Candidate]:
        assert parsed.road is not None
        key = road_key(parsed.road)
        params = {"key": key, "codes": codes}
        known: dict[tuple[str, str], list[tuple[int, int, float, float]]] = {}
        exact = (await connection.execute(_ROAD_NUMBERS_EXACT, params)).all()
        if exact:
            for code, road, main_no, sub_no, lat, lon in exact:
                numbers = known.setdefault((code, road), [])
                if main_no is not None:
                    numbers.append((main_no, sub_no, lat, lon))
            roads: Sequence[Any] = [(code, road, 1.0) for code, road in known]
        else:  # a typo: similar names first, then their numbers
            roads = await _exact_or_similar(connection, None, _ROADS_SIMILAR, params, params)
            if not roads:
                return []
            numbers_found = await connection.execute(
                _NUMBERS,
                {"roads": sorted({r[1] for r in roads}), "codes": sorted({r[0] for r in roads})},
            )
            for code, road, main_no, sub_no, lat, lon in numbers_found:
                known.setdefault((code, road), []).append((main_no, sub_no, lat, lon))
        found = []
        for code, road, score in roads:
            on_road = known.get((code, road), [])
            candidate = self._place_on_road(parsed, on_road)
            if candidate is None:
                continue
            lat, lon, level, confidence = candidate
            if level is MatchLevel.ROAD_INTERPOLATED and not self._inside(code, lat, lon):
                # Placed across the district's edge (a road that bends, sparse numbers):
                # the nearest known number of the road in this district is the safer place.
                lat, lon = self._nearest_known(on_road, parsed.main_no)
                confidence *= 0.8
            district = districts[code]
            found.append(
                Candidate(
                    lat, lon, district.ref, None, level, round(confidence * float(score), 3),
                    f"{CITY_NAME} {district.ref.name_ko} {road}"
                    + _number_text(parsed.main_no, parsed.sub_no),
                )
            )  # fmt: skip
        return found

    def _inside(self, code: str, lat: float, lon: float) -> bool:
        return self._index is None or self._index.covers(code, lat, lon)

    @staticmethod
    def _nearest_known(
        on_road: Sequence[tuple[int, int, float, float]], main_no: int | None
    ) -> tuple[float, float]:
        target = main_no or 0
        _main, _sub, lat, lon = min(on_road, key=lambda r: (abs(r[0] - target), r[0], r[1]))
        return lat, lon

    @staticmethod
    def _place_on_road(
        parsed: ParsedAddress, on_road: Sequence[tuple[int, int, float, float]]
    ) -> tuple[float, float, MatchLevel, float] | None:
        if not on_road:
            return None
        if parsed.main_no is None:  # the road alone: the middle of its known numbers
            ordered = sorted(on_road)
            main_no, _sub, lat, lon = ordered[len(ordered) // 2]
            return lat, lon, MatchLevel.ROAD_INTERPOLATED, 0.4
        sub_no = parsed.sub_no or 0
        for main_no, known_sub, lat, lon in on_road:
            if main_no == parsed.main_no and known_sub == sub_no:
                return lat, lon, MatchLevel.BUILDING, 1.0
        # Sub-numbers are buildings behind the main one: place by the main number.
        mains: dict[int, KnownNumber] = {}
        for main_no, _sub, lat, lon in sorted(on_road, key=lambda r: (r[0], r[1])):
            mains.setdefault(main_no, KnownNumber(main_no, lat, lon))
        placed = place(list(mains.values()), parsed.main_no)
        if placed is None:
            return None
        return placed.lat, placed.lon, MatchLevel.ROAD_INTERPOLATED, placed.confidence

    async def _in_dong(
        self,
        connection: AsyncConnection,
        parsed: ParsedAddress,
        codes: list[str] | None,
        districts: dict[str, _District],
    ) -> list[Candidate]:
        assert parsed.dong is not None
        rows = await _exact_or_similar(
            connection,
            None if parsed.english else _DONGS,  # English names are matched by key only
            _DONGS_SIMILAR,
            {"name": parsed.dong, "codes": codes},
            {"key": match_key(parsed.dong), "codes": codes},
        )
        # A lot number lies in a 법정동; a dong named alone is more often a 행정동.
        prefer = "legal" if parsed.form is Form.LOT else "admin"
        best: dict[tuple[str, str], Any] = {}
        for row in sorted(rows, key=lambda r: (r[2] != prefer, -float(r[5]))):
            best.setdefault((row[0], row[1]), row)
        found = []
        lot = _number_text(parsed.main_no, parsed.sub_no)
        if lot and parsed.mountain:
            lot = f" 산{lot}"
        for code, name, _kind, lat, lon, score in best.values():
            district = districts.get(code)
            if district is None:
                continue
            found.append(
                Candidate(
                    lat, lon, district.ref, None, MatchLevel.DONG,
                    round(DONG_CONFIDENCE * float(score), 3),
                    f"{CITY_NAME} {district.ref.name_ko} {name}{lot}",
                )
            )  # fmt: skip
        return found

    async def _with_dongs(
        self, connection: AsyncConnection, found: list[Candidate]
    ) -> list[Candidate]:
        if not found:
            return found
        rows = await connection.execute(
            _ADMIN_DONG_AT, {"lats": [c.lat for c in found], "lons": [c.lon for c in found]}
        )
        names = {int(i): name for i, name in rows}
        return [replace(c, dong=names.get(i + 1)) for i, c in enumerate(found)]

    async def reverse(self, *, lat: float, lon: float) -> ReversePlace:
        """The district, 행정동 and nearest known address of a point."""
        async with self._connect() as connection:
            row = (await connection.execute(_REVERSE, {"lat": lat, "lon": lon})).one()
            districts = await self._load_districts(connection)
        code, name_ko, name_en, dong, near_code, road, main_no, sub_no, distance = row
        if code is None:
            raise OutsideServiceArea(
                f"the point (lat {lat}, lon {lon}) is outside the service area",
                details={"lat": lat, "lon": lon},
            )
        address = None
        if road is not None:
            name = districts[near_code].ref.name_ko if near_code in districts else ""
            address = f"{CITY_NAME} {name} {road}{_number_text(main_no, sub_no)}"
            distance = round(float(distance), 1)
        return ReversePlace(
            district=DistrictRef(code, name_ko, name_en),
            dong=dong,
            address=address,
            distance_m=distance,
        )
