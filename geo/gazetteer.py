"""The gazetteer: known road-name addresses and dong boundaries, read from files and loaded.

Reading is pure (files in, records out); `load_gazetteer` replaces what the database holds
in the caller's transaction, so a failed load leaves the previous gazetteer in place.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from geoalchemy2.shape import from_shape
from shapely import make_valid
from shapely.geometry import shape
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from geo.addresses import AddressRejected, Form, parse
from geo.boundaries import as_multipolygon, read_feature_collection
from geo.models import District, Dong, GazetteerAddress, GazetteerRoad
from geo.romanize import match_key, road_key, romanize_road


@dataclass(frozen=True)
class GazetteerFiles:
    """Where a city's gazetteer comes from (paths under the shared data folder)."""

    addresses: str
    admin_dongs: str
    legal_dongs: str
    admin_dong_names_en: str


SEOUL_GAZETTEER = GazetteerFiles(
    addresses="seoul/seoul_facilities_geocoded_2018_bigdatacampus.csv",
    admin_dongs="seoul/admdongkor-ver20210401_seoul_hangjeongdong.geojson",
    legal_dongs="seoul/southkorea-seoul-maps_juso_2015_seoul_neighborhoods_geo_simple.json",
    admin_dong_names_en="seoul/southkorea-seoul-maps_kostat_2013_seoul_submunicipalities_geo_simple.json",
)


@dataclass(frozen=True)
class KnownAddress:
    """One road-name address with its position, as read from the file."""

    district: str  # the district's Korean name, as written in the address
    road: str
    main_no: int
    sub_no: int
    lat: float
    lon: float
    building_name: str | None


@dataclass(frozen=True)
class DongShape:
    """A dong boundary as read from a file."""

    code: str
    kind: str
    district_code: str
    name_ko: str
    name_en: str | None
    geometry: object


@dataclass
class GazetteerReport:
    """What reading and loading did."""

    rows: int = 0
    addresses: int = 0
    roads: int = 0
    admin_dongs: int = 0
    legal_dongs: int = 0
    skipped: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)


def read_addresses(path: Path, report: GazetteerReport) -> list[KnownAddress]:
    """The file's road-name addresses (rows that are not one are skipped and counted)."""
    found: list[KnownAddress] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            report.rows += 1
            text = row.get("place_address") or ""
            try:
                parsed = parse(text)
                lat, lon = float(row["lat"]), float(row["lon"])
            except AddressRejected as exc:
                report.skipped.append(f"{text!r}: {exc.message}")
                continue
            except (ValueError, KeyError) as exc:
                report.skipped.append(f"{text!r}: {exc}")
                continue
            if parsed.form is not Form.ROAD or parsed.district is None or not parsed.main_no:
                report.skipped.append(f"{text!r}: not a full road-name address")
                continue
            assert parsed.road is not None
            found.append(
                KnownAddress(
                    district=parsed.district, road=parsed.road, main_no=parsed.main_no,
                    sub_no=parsed.sub_no or 0, lat=lat, lon=lon,
                    building_name=(row.get("place_name") or None),
                )
            )  # fmt: skip
    return found


def read_dongs(files: GazetteerFiles, shared_dir: Path, report: GazetteerReport) -> list[DongShape]:
    """행정동 (with English names where the 2013 census file has them) and 법정동."""
    english: dict[str, str] = {}
    for feature in read_feature_collection(shared_dir / files.admin_dong_names_en)["features"]:
        props = feature["properties"]
        if props.get("code") and props.get("name_eng"):
            english[str(props["code"])] = str(props["name_eng"])
    dongs: list[DongShape] = []

    def geometry_of(feature: dict[str, object], label: str) -> object:
        geometry = shape(feature["geometry"])
        if not geometry.is_valid:
            geometry = make_valid(geometry)
            report.repaired.append(label)
        return as_multipolygon(geometry)

    for feature in read_feature_collection(shared_dir / files.admin_dongs)["features"]:
        props = feature["properties"]
        name = str(props["adm_nm"]).split()[-1]
        dongs.append(
            DongShape(
                code=str(props["adm_cd2"]), kind="admin", district_code=str(props["sgg"]),
                name_ko=name, name_en=english.get(str(props["adm_cd"])),
                geometry=geometry_of(feature, f"{props['adm_cd2']} {name}"),
            )
        )  # fmt: skip
        report.admin_dongs += 1
    for feature in read_feature_collection(shared_dir / files.legal_dongs)["features"]:
        props = feature["properties"]
        code = str(props["EMD_CD"])
        dongs.append(
            DongShape(
                code=code, kind="legal", district_code=code[:5], name_ko=str(props["EMD_KOR_NM"]),
                name_en=props.get("EMD_ENG_NM") or None,
                geometry=geometry_of(feature, f"{code} {props['EMD_KOR_NM']}"),
            )
        )  # fmt: skip
        report.legal_dongs += 1
    return dongs


def hold_out(
    addresses: Sequence[KnownAddress], *, share: float, seed: int
) -> tuple[list[KnownAddress], list[KnownAddress]]:
    """(kept, held back): a seeded random `share` of the addresses set aside (benchmarks)."""
    generator = random.Random(seed)
    order = list(range(len(addresses)))
    generator.shuffle(order)
    cut = round(len(addresses) * share)
    held = set(order[:cut])
    kept = [a for i, a in enumerate(addresses) if i not in held]
    return kept, [addresses[i] for i in sorted(held)]


def load_gazetteer(
    session: Session,
    addresses: Iterable[KnownAddress],
    dongs: Iterable[DongShape],
    report: GazetteerReport,
) -> GazetteerReport:
    """Replace the stored gazetteer with these addresses and dongs; the caller commits.

    Several facilities at one address become one address at their mean position. An
    address whose district the city does not have is skipped.
    """
    codes = dict(session.execute(select(District.name_ko, District.code)).all())
    points: dict[tuple[str, str, int, int], list[KnownAddress]] = defaultdict(list)
    for address in addresses:
        code = codes.get(address.district)
        if code is None:
            report.skipped.append(f"{address.district} {address.road}: no such district")
            continue
        points[(code, address.road, address.main_no, address.sub_no)].append(address)
    session.execute(delete(GazetteerAddress))
    session.execute(delete(GazetteerRoad))
    session.execute(delete(Dong))
    rows = []
    roads: dict[tuple[str, str], int] = defaultdict(int)
    for (code, road, main_no, sub_no), same in sorted(points.items()):
        lat = sum(a.lat for a in same) / len(same)
        lon = sum(a.lon for a in same) / len(same)
        rows.append({
            "district_code": code, "road_name": road, "main_no": main_no, "sub_no": sub_no,
            "location": f"SRID=4326;POINT({lon!r} {lat!r})",
            "building_name": (same[0].building_name or "")[:200] or None,
        })  # fmt: skip
        roads[(code, road)] += 1
    if rows:
        session.execute(insert(GazetteerAddress), rows)
    road_rows = [
        {"district_code": code, "name_ko": road, "name_en": romanize_road(road),
         "road_key": road_key(road), "addresses": count}
        for (code, road), count in sorted(roads.items())
    ]  # fmt: skip
    if road_rows:
        session.execute(insert(GazetteerRoad), road_rows)
    dong_rows = [
        {
            "code": dong.code, "kind": dong.kind, "district_code": dong.district_code,
            "name_ko": dong.name_ko, "name_en": dong.name_en,
            "name_key": match_key(dong.name_en or dong.name_ko),
            "geom": from_shape(dong.geometry, srid=4326),
            "label_point": from_shape(dong.geometry.point_on_surface(), srid=4326),  # type: ignore[attr-defined]
        }
        for dong in dongs
    ]  # fmt: skip
    if dong_rows:
        session.execute(insert(Dong), dong_rows)
    report.addresses, report.roads = len(rows), len(road_rows)
    return report
