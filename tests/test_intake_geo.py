"""Intake locates complaints with the geocoder: address only, point only, both, neither."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import count_complaints
from tests.factories import GANGNAM, JONGNO, complaint_body
from tests.test_geocoding import metres

pytestmark = pytest.mark.anyio

# A building of the gazetteer (tests/test_geocoding.py reverse-geocodes the same one).
WANGSIMNI_333 = "서울특별시 성동구 왕십리로 333"
WANGSIMNI_POINT = {"lat": 37.562725711, "lon": 127.032569933}


def where(**fields: Any) -> dict[str, Any]:
    """A complaint body with only the place fields given (location, address) set."""
    body = complaint_body(**fields)
    if "location" not in fields:
        del body["location"]
    return body


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/v1/complaints", json=body)


async def events_of(db: AsyncConnection, complaint_id: int) -> list[Any]:
    rows = await db.execute(
        text(
            "SELECT type, actor, payload FROM complaint_event WHERE complaint_id = :id ORDER BY id"
        ),
        {"id": complaint_id},
    )
    return rows.all()


async def test_an_address_alone_is_placed_at_its_building(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    answer = await post(client, where(address=WANGSIMNI_333))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["district"]["code"] == "11200"
    spot = (WANGSIMNI_POINT["lat"], WANGSIMNI_POINT["lon"])
    assert metres(body["location"]["lat"], body["location"]["lon"], *spot) < 1
    assert body["address"] == WANGSIMNI_333  # as the agent wrote it
    assert body["locating"] == {
        "located_by": "address", "address_source": "given", "match_level": "building",
        "confidence": 1.0, "normalized_address": WANGSIMNI_333, "distance_m": None,
    }  # fmt: skip
    assert body["warnings"] == []
    received = (await events_of(db, body["id"]))[0]
    assert received.payload["located_by"] == "address"
    assert received.payload["match_level"] == "building"
    assert received.payload["address_district"] == "11200"


async def test_an_unknown_number_is_interpolated_on_its_road(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    # A road with two known numbers far enough apart to have unknown ones between them.
    road, low, high, code = (
        await db.execute(
            text(
                "SELECT a.road_name, a.main_no, b.main_no, a.district_code"
                " FROM gazetteer_address a JOIN gazetteer_address b"
                "  ON b.district_code = a.district_code AND b.road_name = a.road_name"
                "  AND b.main_no BETWEEN a.main_no + 10 AND a.main_no + 40"
                " JOIN district d ON d.code = a.district_code"
                " WHERE NOT EXISTS (SELECT 1 FROM gazetteer_address c"
                "  WHERE c.district_code = a.district_code AND c.road_name = a.road_name"
                "  AND c.main_no > a.main_no AND c.main_no < b.main_no)"
                "  AND a.sub_no = 0 AND b.sub_no = 0"
                " ORDER BY a.district_code, a.road_name, a.main_no LIMIT 1"
            )
        )
    ).one()
    name = await db.execute(text("SELECT name_ko FROM district WHERE code = :c"), {"c": code})
    middle = (low + high) // 2 | 1 if low % 2 else (low + high) // 2 & ~1  # the same side
    answer = await post(client, where(address=f"{name.scalar_one()} {road} {middle}"))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["locating"]["match_level"] == "road_interpolated"
    assert body["district"]["code"] == code


@pytest.mark.parametrize(
    ("address", "code"),
    [
        ("종로구 사직동", "address_imprecise"),  # a dong only
        ("강남구", "address_imprecise"),  # a district only
        ("종로구 퓨퓨퓨로 12", "address_not_found"),  # no such road
        ("\u0000\u0001", "validation_error"),  # nothing left after cleaning
        ("Москва, Тверская 1", "invalid_address"),
        ("서울 Jung-gu 소월로 3", "invalid_address"),
        ("가" * 501, "validation_error"),
    ],
)
async def test_an_address_alone_that_places_nothing_precisely_is_422(
    client: httpx.AsyncClient, db: AsyncConnection, address: str, code: str
) -> None:
    before = await count_complaints(db)
    answer = await post(client, where(address=address))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    if code == "address_imprecise":
        assert error["details"]["candidates"], "the candidates come with it"
        assert error["details"]["candidates"][0]["match_level"] in ("dong", "district")
    assert await count_complaints(db) == before


async def test_a_road_several_districts_have_is_ambiguous_without_its_district(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    # 강남대로 runs between Seocho-gu and Gangnam-gu: the gazetteer knows numbers of it in
    # both. A number neither knows, inside both ranges, is placed in both.
    rows = await db.execute(
        text("SELECT district_code, main_no FROM gazetteer_address WHERE road_name = '강남대로'")
    )
    known: dict[str, set[int]] = {}
    for code, main_no in rows:
        known.setdefault(code, set()).add(main_no)
    assert set(known) == {"11650", "11680"}
    low = max(min(numbers) for numbers in known.values())
    high = min(max(numbers) for numbers in known.values())
    number = next(n for n in range(low + 1, high) if all(n not in k for k in known.values()))
    road = "강남대로"
    answer = await post(client, where(address=f"{road} {number}"))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "address_ambiguous"
    districts = {c["district"]["code"] for c in error["details"]["candidates"]}
    assert len(districts) >= 2


async def test_nothing_to_place_it_by_is_422(client: httpx.AsyncClient) -> None:
    for body in (where(), where(address=""), where(address="   ")):
        answer = await post(client, body)
        assert answer.status_code == 422
        error = answer.json()["error"]
        assert error["code"] == "validation_error"
        assert "location" in error["message"] or "location" in str(error["details"])


async def test_a_point_alone_gets_the_nearest_known_address(client: httpx.AsyncClient) -> None:
    answer = await post(client, complaint_body(location=WANGSIMNI_POINT))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["address"] == WANGSIMNI_333
    assert body["locating"]["address_source"] == "reverse_geocoded"
    assert body["locating"]["distance_m"] < 1

    # Some tens of metres away, the text says it is near that address.
    near = {"lat": WANGSIMNI_POINT["lat"] + 0.0006, "lon": WANGSIMNI_POINT["lon"]}
    reverse = (await client.get("/api/v1/reverse-geocode", params=near)).json()
    assert 30 < reverse["distance_m"] <= 300
    body = (await post(client, complaint_body(location=near))).json()
    assert body["address"] == f"{reverse['address']} 부근"
    assert body["locating"]["distance_m"] == reverse["distance_m"]


async def test_a_point_far_from_any_known_address_keeps_an_empty_text(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    # Inside Gangbuk-gu, near Bukhansan: the gazetteer's nearest address is ~580 m away.
    peak = {"lat": 37.64701, "lon": 127.004807}
    reverse = await client.get("/api/v1/reverse-geocode", params=peak)
    assert reverse.status_code == 200, reverse.text
    assert reverse.json()["distance_m"] > 300
    body = (await post(client, complaint_body(location=peak))).json()
    assert body["address"] is None
    assert body["locating"]["address_source"] is None


async def test_point_and_address_in_different_districts_keep_the_point_and_warn(
    client: httpx.AsyncClient,
) -> None:
    answer = await post(client, complaint_body(location=JONGNO, address=WANGSIMNI_333))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["location"] == JONGNO
    assert body["district"]["code"] == "11110"
    assert body["address"] == WANGSIMNI_333
    codes = [w["code"] for w in body["warnings"]]
    assert codes == ["district_mismatch", "address_far_from_point"]
    mismatch = body["warnings"][0]
    assert mismatch["details"] == {"address_district": "11200", "point_district": "11110"}


async def test_point_and_address_that_agree_have_no_warning(client: httpx.AsyncClient) -> None:
    near = {"lat": WANGSIMNI_POINT["lat"] + 0.0003, "lon": WANGSIMNI_POINT["lon"]}  # ~33 m
    body = (await post(client, complaint_body(location=near, address=WANGSIMNI_333))).json()
    assert body["warnings"] == []
    assert body["locating"]["match_level"] == "building"
    assert 20 < body["locating"]["distance_m"] < 50


async def test_a_far_address_in_the_same_district_is_a_warning(client: httpx.AsyncClient) -> None:
    far = {"lat": WANGSIMNI_POINT["lat"], "lon": WANGSIMNI_POINT["lon"] - 0.006}  # ~530 m west
    body = (await post(client, complaint_body(location=far, address=WANGSIMNI_333))).json()
    assert body["district"]["code"] == "11200"
    assert [w["code"] for w in body["warnings"]] == ["address_far_from_point"]


@pytest.mark.parametrize(
    ("address", "code"),
    [
        ("종로3가역 4번 출구 앞 편의점", "address_not_understood"),
        ("종로구 퓨퓨퓨로 12", "address_not_found"),
    ],
)
async def test_with_a_point_an_address_text_that_is_no_address_is_kept(
    client: httpx.AsyncClient, address: str, code: str
) -> None:
    answer = await post(client, complaint_body(location=GANGNAM, address=address))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["address"] == address
    assert [w["code"] for w in body["warnings"]] == [code]
