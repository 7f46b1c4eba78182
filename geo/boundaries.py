"""Reading district boundaries from any city's GeoJSON: pure, no database."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely import make_valid
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from geo.exceptions import BoundaryFileError

# CRS names that mean plain WGS84 longitude/latitude.
WGS84_NAMES = {
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "urn:ogc:def:crs:OGC::CRS84",
    "urn:ogc:def:crs:EPSG::4326",
    "EPSG:4326",
}


@dataclass(frozen=True)
class DistrictShape:
    """One district read from a boundary file."""

    code: str
    name_ko: str
    name_en: str | None
    geometry: MultiPolygon
    repaired: bool


def read_feature_collection(path: Path) -> dict[str, Any]:
    """Parse a GeoJSON FeatureCollection and check it is in WGS84 lon/lat."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BoundaryFileError(f"no such file: {path}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoundaryFileError(f"{path} is not UTF-8 JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise BoundaryFileError(f"{path} is not a GeoJSON FeatureCollection")
    crs_name = (document.get("crs") or {}).get("properties", {}).get("name")
    if crs_name is not None and crs_name not in WGS84_NAMES:
        raise BoundaryFileError(
            f"{path} is in {crs_name}; reproject it to WGS84 longitude/latitude (EPSG:4326) first"
        )
    return document


def as_multipolygon(geometry: BaseGeometry) -> MultiPolygon:
    """The polygonal part of a geometry as a MultiPolygon (lines and points dropped)."""
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry])
    if isinstance(geometry, MultiPolygon):
        return geometry
    polygons: list[Polygon] = []
    for part in getattr(geometry, "geoms", []):
        if isinstance(part, Polygon | MultiPolygon):
            polygons.extend(as_multipolygon(part).geoms)
    return MultiPolygon(polygons)


def _check_lon_lat(geometry: BaseGeometry, where: str) -> None:
    min_x, min_y, max_x, max_y = geometry.bounds
    if not all(math.isfinite(v) for v in (min_x, min_y, max_x, max_y)):
        raise BoundaryFileError(f"{where}: coordinates are not finite numbers")
    if min_x < -180 or max_x > 180 or min_y < -90 or max_y > 90:
        raise BoundaryFileError(
            f"{where}: coordinates ({min_x:.1f}, {min_y:.1f}, {max_x:.1f}, {max_y:.1f}) are not "
            "longitude/latitude; reproject the file to EPSG:4326 first"
        )


def _text_property(properties: dict[str, Any], field: str | None, where: str) -> str | None:
    if field is None:
        return None
    if field not in properties:
        known = ", ".join(sorted(properties)) or "none"
        raise BoundaryFileError(f"{where} has no property {field!r} (it has: {known})")
    value = properties[field]
    if value is None or str(value).strip() == "":
        raise BoundaryFileError(f"{where}: property {field!r} is empty")
    return str(value).strip()


def iter_districts(
    document: dict[str, Any],
    *,
    code_field: str,
    name_field: str,
    name_en_field: str | None = None,
) -> Iterator[DistrictShape]:
    """Each feature of a FeatureCollection as a district, invalid rings repaired."""
    features = document.get("features")
    if not isinstance(features, list) or not features:
        raise BoundaryFileError("the file has no features")
    for index, feature in enumerate(features):
        where = f"feature #{index}"
        if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
            raise BoundaryFileError(f"{where} has no properties")
        properties = feature["properties"]
        code = _text_property(properties, code_field, where)
        name_ko = _text_property(properties, name_field, where)
        name_en = _text_property(properties, name_en_field, where)
        assert code is not None and name_ko is not None
        where = f"{where} ({code} {name_ko})"
        raw = feature.get("geometry")
        if not isinstance(raw, dict) or raw.get("type") not in ("Polygon", "MultiPolygon"):
            kind = raw.get("type") if isinstance(raw, dict) else None
            raise BoundaryFileError(f"{where}: geometry is {kind}, not a Polygon or MultiPolygon")
        try:
            geometry = shape(raw)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError, GEOSException) as exc:
            raise BoundaryFileError(f"{where}: unreadable geometry ({exc})") from exc
        _check_lon_lat(geometry, where)
        repaired = not geometry.is_valid
        if repaired:
            geometry = make_valid(geometry)
        multipolygon = as_multipolygon(geometry)
        if multipolygon.is_empty:
            raise BoundaryFileError(f"{where}: geometry has no area")
        yield DistrictShape(code, name_ko, name_en, multipolygon, repaired)


def read_districts(
    path: Path, *, code_field: str, name_field: str, name_en_field: str | None = None
) -> list[DistrictShape]:
    """All districts of a boundary file; codes must be unique."""
    document = read_feature_collection(path)
    districts = list(
        iter_districts(
            document, code_field=code_field, name_field=name_field, name_en_field=name_en_field
        )
    )
    seen: set[str] = set()
    for district in districts:
        if district.code in seen:
            raise BoundaryFileError(f"district code {district.code} appears twice in {path}")
        seen.add(district.code)
    return districts
