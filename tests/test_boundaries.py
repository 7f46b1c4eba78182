"""Reading any city's boundary GeoJSON (pure, no database)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import MultiPolygon

from geo.boundaries import read_districts
from geo.exceptions import BoundaryFileError


def square(x: float, y: float, size: float = 0.01) -> list[list[list[float]]]:
    return [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]]


def bowtie(x: float, y: float) -> list[list[list[float]]]:
    """A self-intersecting ring: invalid, repairable."""
    return [[[x, y], [x + 0.01, y + 0.01], [x + 0.01, y], [x, y + 0.01], [x, y]]]


def write(tmp_path: Path, features: list[dict[str, Any]], **extra: Any) -> Path:
    path = tmp_path / "city.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features, **extra}))
    return path


def feature(props: dict[str, Any], kind: str, coordinates: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": kind, "coordinates": coordinates},
    }


def test_reads_polygons_and_multipolygons_with_named_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            feature({"gu": "A1", "nm": "가구", "en": "Ga-gu"}, "Polygon", square(127.0, 37.5)),
            feature(
                {"gu": "B2", "nm": "나구", "en": None},
                "MultiPolygon",
                [square(127.1, 37.5), square(127.2, 37.5)],
            ),
        ],
    )
    districts = read_districts(path, code_field="gu", name_field="nm")
    assert [d.code for d in districts] == ["A1", "B2"]
    assert all(isinstance(d.geometry, MultiPolygon) for d in districts)
    assert len(districts[1].geometry.geoms) == 2
    assert districts[0].name_en is None  # no English field asked for
    assert not any(d.repaired for d in districts)


def test_repairs_an_invalid_ring(tmp_path: Path) -> None:
    path = write(tmp_path, [feature({"c": "X", "n": "엑스"}, "Polygon", bowtie(127.0, 37.5))])
    (district,) = read_districts(path, code_field="c", name_field="n")
    assert district.repaired
    assert district.geometry.is_valid
    assert district.geometry.area > 0


def test_seoul_file_has_one_polygon_to_repair(seoul_shapes) -> None:  # type: ignore[no-untyped-def]
    assert len(seoul_shapes) == 25
    assert [d.code for d in seoul_shapes if d.repaired] == ["11500"]  # Gangseo-gu
    assert all(d.geometry.is_valid for d in seoul_shapes)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"type": "Feature"}, "not a GeoJSON FeatureCollection"),
        ({"type": "FeatureCollection", "features": []}, "no features"),
        (
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::5179"}},
                "features": [feature({"c": "1", "n": "a"}, "Polygon", square(127, 37))],
            },
            "reproject",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [feature({"c": "1", "n": "a"}, "Polygon", square(950000, 1950000))],
            },
            "not longitude/latitude",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [feature({"c": "1", "n": "a"}, "Point", [127, 37])],
            },
            "not a Polygon or MultiPolygon",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [feature({"code": "1", "n": "a"}, "Polygon", square(127, 37))],
            },
            "has no property 'c'",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    feature({"c": "1", "n": "a"}, "Polygon", square(127, 37)),
                    feature({"c": "1", "n": "b"}, "Polygon", square(127.1, 37)),
                ],
            },
            "appears twice",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [feature({"c": "1", "n": "a"}, "Polygon", [[[127, 37]]])],
            },
            "unreadable geometry",
        ),
    ],
)
def test_refuses_unusable_files(tmp_path: Path, document: dict[str, Any], message: str) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(document))
    with pytest.raises(BoundaryFileError, match=message):
        read_districts(path, code_field="c", name_field="n")


def test_refuses_non_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.geojson"
    path.write_bytes(b"\xff\xfe not json")
    with pytest.raises(BoundaryFileError, match="not UTF-8 JSON"):
        read_districts(path, code_field="c", name_field="n")
