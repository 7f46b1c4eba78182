"""Address parsing, romanization, interpolation, and the geocoder on the loaded gazetteer."""

from __future__ import annotations

import math

import httpx2 as httpx
import pytest

from geo.addresses import AddressRejected, Form, parse
from geo.interpolation import KnownNumber, place
from geo.romanize import road_key, romanize, romanize_road


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    scale = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lat2 - lat1) * 111_320, (lon2 - lon1) * 111_320 * scale)


# text -> (form, district, road, dong, main, sub, mountain)
PARSES = [
    ("서울특별시 중구 소월로 3", (Form.ROAD, "중구", "소월로", None, 3, None, False)),
    ("소월로3", (Form.ROAD, None, "소월로", None, 3, None, False)),
    ("중구 소월로 3-1", (Form.ROAD, "중구", "소월로", None, 3, 1, False)),
    ("서울 중구  소월로   3-1", (Form.ROAD, "중구", "소월로", None, 3, 1, False)),
    ("서울시 관악구 신림로64길29 (신림동)",
     (Form.ROAD, "관악구", "신림로64길", "신림동", 29, None, False)),
    ("성동구 금호로13나길 13-7", (Form.ROAD, "성동구", "금호로13나길", None, 13, 7, False)),
    ("동작대로35길 5", (Form.ROAD, None, "동작대로35길", None, 5, None, False)),
    ("중구 소월로", (Form.ROAD, "중구", "소월로", None, None, None, False)),
    ("중구 남창동 51-2", (Form.LOT, "중구", None, "남창동", 51, 2, False)),
    ("종로구 종로1가 24", (Form.LOT, "종로구", None, "종로1가", 24, None, False)),
    ("남창동 산 12", (Form.LOT, None, None, "남창동", 12, None, True)),
    ("남창동 산12-3", (Form.LOT, None, None, "남창동", 12, 3, True)),
    ("남창동 51번지", (Form.LOT, None, None, "남창동", 51, None, False)),
    ("강남구 역삼동", (Form.DONG, "강남구", None, "역삼동", None, None, False)),
    ("을지로3가", (Form.DONG, None, None, "을지로3가", None, None, False)),
    ("강남구", (Form.DISTRICT, "강남구", None, None, None, None, False)),
    ("3 Sowol-ro, Jung-gu, Seoul", (Form.ROAD, "jung-gu", "sowol-ro", None, 3, None, False)),
    ("Sowol-ro 3-1, Jung-gu", (Form.ROAD, "jung-gu", "sowol-ro", None, 3, 1, False)),
    ("12-3 Sillim-ro 64-gil, Gwanak-gu, Seoul",
     (Form.ROAD, "gwanak-gu", "sillim-ro 64-gil", None, 12, 3, False)),
    ("Yeoksam-dong, Gangnam-gu",
     (Form.DONG, "gangnam-gu", None, "yeoksam-dong", None, None, False)),
    ("Gangnam-gu, Seoul", (Form.DISTRICT, "gangnam-gu", None, None, None, None, False)),
    ("중구 소월로 ３－１", (Form.ROAD, "중구", "소월로", None, 3, 1, False)),  # full width
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), PARSES, ids=[p[0] for p in PARSES])
def test_address_forms_are_read(text: str, expected: tuple[object, ...]) -> None:
    parsed = parse(text)
    got = (parsed.form, parsed.district, parsed.road, parsed.dong, parsed.main_no,
           parsed.sub_no, parsed.mountain)  # fmt: skip
    assert got == expected


# The bad-input table: every one a clear AddressRejected (422 over HTTP), nothing crashes.
REJECTED = [
    ("", "empty"),
    ("   ", "empty"),
    ("가" * 201, "longer than 200"),
    ("중구 소월로 3\x00", "control"),
    ("중구 소월로 3\u200b", "control"),
    ("\ud800", "control"),
    ("Москва, Тверская 1", "characters other than"),
    ("東京都 中央区", "characters other than"),
    ("서울 Jung-gu 소월로 3", "either in Korean or in English"),
    ("소월로 ㅋ3", "loose Hangul"),
    ("부산 해운대구", "neither a road"),
    ("hello world", "not a road"),
    ("중구 남창동 51-2-3", "not a lot number"),
    ("<script>alert(1)</script>", "characters other than"),
    ("'; DROP TABLE dong; --", "characters other than"),
]


@pytest.mark.parametrize(("text", "reason"), REJECTED, ids=[r[1] + str(i) for i, r in
                                                            enumerate(REJECTED)])  # fmt: skip
def test_bad_address_text_is_rejected_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(AddressRejected, match=reason):
        parse(text)


@pytest.mark.parametrize(
    ("korean", "sign"),
    [("소월로", "Sowol-ro"), ("신림로64길", "Sillim-ro 64-gil"), ("왕십리로", "Wangsimni-ro"),
     ("동작대로35길", "Dongjak-daero 35-gil"), ("금호로13나길", "Geumho-ro 13na-gil"),
     ("종로", "Jong-ro"), ("압구정로", "Apgujeong-ro")],
)  # fmt: skip
def test_road_names_romanize_as_signs_write_them(korean: str, sign: str) -> None:
    assert romanize_road(korean) == sign
    assert road_key(korean) == road_key(sign)


def test_sound_changes_between_syllables() -> None:
    assert [romanize(w) for w in ("신림", "국민", "종로", "독립", "설날", "종암")] == [
        "sillim", "gungmin", "jongno", "dongnip", "seollal", "jongam",
    ]  # fmt: skip


def line(*numbers: int) -> list[KnownNumber]:
    """Known numbers on a straight road running east, 10 m per number."""
    return [KnownNumber(n, 37.5, 127.0 + n * 10 / (111_320 * math.cos(math.radians(37.5))))
            for n in numbers]  # fmt: skip


def test_a_number_between_two_known_ones_lies_between_them_in_proportion() -> None:
    known = line(11, 31)
    placed = place(known, 17)
    assert placed is not None and placed.method == "between"
    expected = line(17)[0]
    assert metres(placed.lat, placed.lon, expected.lat, expected.lon) < 0.5


def test_numbers_beyond_the_known_ones_are_extrapolated_both_ways() -> None:
    known = line(20, 30, 40)
    for target in (60, 4):
        placed = place(known, target)
        assert placed is not None and placed.method == "beyond"
        expected = line(target)[0]
        assert metres(placed.lat, placed.lon, expected.lat, expected.lon) < 1
    near, far = place(known, 44), place(known, 240)
    assert near is not None and far is not None and near.confidence > far.confidence


def test_the_same_side_of_the_road_is_preferred() -> None:
    # Odd numbers known only far apart, even ones close by: 13 goes between 11 and 15.
    known = line(11, 15, 12, 200)
    placed = place(known, 13)
    assert placed is not None and placed.gap == 2


def test_a_road_with_one_known_number_places_there_with_low_confidence() -> None:
    placed = place(line(50), 52)
    assert placed is not None and placed.method == "nearest" and placed.confidence < 0.5
    assert place([], 5) is None


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query", "level", "district", "normalized"),
    [
        ("서울특별시 성동구 왕십리로 333", "building", "11200", "서울특별시 성동구 왕십리로 333"),
        ("성동구 왕십리로333", "building", "11200", "서울특별시 성동구 왕십리로 333"),
        ("Wangsimni-ro 333, Seongdong-gu, Seoul", "building", "11200",
         "서울특별시 성동구 왕십리로 333"),
        ("3 Sowol-ro, Jung-gu, Seoul", "building", "11140", "서울특별시 중구 소월로 3"),
        ("성동구 왕십리로 300", "road_interpolated", "11200", "서울특별시 성동구 왕십리로 300"),
        ("중구 남창동 51-2", "dong", "11140", "서울특별시 중구 남창동 51-2"),
        ("강남구 역삼동", "dong", "11680", "서울특별시 강남구 역삼동"),
        ("Yeoksam-dong, Gangnam-gu", "dong", "11680", "서울특별시 강남구 역삼동"),
        ("강남구", "district", "11680", "서울특별시 강남구"),
        ("Gangnam-gu", "district", "11680", "서울특별시 강남구"),
        ("성동구 왕십이로 333", "building", "11200", "서울특별시 성동구 왕십리로 333"),
    ],
)  # fmt: skip
async def test_geocode_over_http_places_each_form(
    client: httpx.AsyncClient, query: str, level: str, district: str, normalized: str
) -> None:
    answer = await client.get("/api/v1/geocode", params={"q": query})
    assert answer.status_code == 200, answer.text
    best = answer.json()["candidates"][0]
    assert (best["match_level"], best["district"]["code"], best["normalized"]) == (
        level, district, normalized,
    )  # fmt: skip
    assert 0 < best["confidence"] <= 1
    assert set(best) >= {"location", "district", "dong", "match_level", "confidence"}
    assert best["dong"]  # every Seoul point lies in a 행정동


@pytest.mark.anyio
async def test_an_exact_address_is_where_the_gazetteer_says(client: httpx.AsyncClient) -> None:
    # From the gazetteer file: 서울특별시 성동구 왕십리로 333 at 37.562725711, 127.032569933.
    best = (await client.get("/api/v1/geocode", params={"q": "성동구 왕십리로 333"})).json()
    location = best["candidates"][0]["location"]
    assert metres(location["lat"], location["lon"], 37.562725711, 127.032569933) < 1
    assert best["candidates"][0]["confidence"] == 1.0


@pytest.mark.anyio
async def test_an_interpolated_number_lands_near_its_neighbours(client: httpx.AsyncClient) -> None:
    known = (await client.get("/api/v1/geocode", params={"q": "성동구 왕십리로 333"})).json()
    guess = (await client.get("/api/v1/geocode", params={"q": "성동구 왕십리로 331"})).json()
    a, b = known["candidates"][0], guess["candidates"][0]
    assert b["match_level"] == "road_interpolated"
    # Two numbers apart on the same side: some 20 m, surely under 150 m.
    assert metres(a["location"]["lat"], a["location"]["lon"],
                  b["location"]["lat"], b["location"]["lon"]) < 150  # fmt: skip


@pytest.mark.anyio
async def test_a_road_in_several_districts_gives_candidates_not_a_guess(
    client: httpx.AsyncClient,
) -> None:
    answer = (await client.get("/api/v1/geocode", params={"q": "소월로 3"})).json()
    districts = [c["district"]["code"] for c in answer["candidates"]]
    assert {"11140", "11170"} <= set(districts)  # 중구 and 용산구 both have a 소월로
    assert all(c["confidence"] < 1 for c in answer["candidates"])


@pytest.mark.anyio
async def test_nothing_known_gives_an_empty_list(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/v1/geocode", params={"q": "강남구 없는길로 12"})
    assert answer.status_code == 200 and answer.json() == {"candidates": []}
    unknown_district = await client.get("/api/v1/geocode", params={"q": "가나다구 소월로 3"})
    assert unknown_district.json() == {"candidates": []}


@pytest.mark.anyio
@pytest.mark.parametrize("query", ["", "x" * 1001, "Москва", "서울 Jung-gu", "중구 소월로 ㅋ"])
async def test_bad_geocode_queries_are_422(client: httpx.AsyncClient, query: str) -> None:
    answer = await client.get("/api/v1/geocode", params={"q": query})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] in ("invalid_address", "validation_error")


@pytest.mark.anyio
async def test_reverse_geocode_names_district_dong_and_nearest_address(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get(
        "/api/v1/reverse-geocode", params={"lat": 37.562725711, "lon": 127.032569933}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["district"]["code"] == "11200"
    assert body["dong"] == "왕십리2동"
    assert body["address"] == "서울특별시 성동구 왕십리로 333"
    assert body["distance_m"] < 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("lat", "lon", "status"),
    [("nan", "127", 422), ("37.5", "inf", 422), ("91", "127", 422), ("35.1796", "129.0756", 422),
     ("abc", "127", 422)],
)  # fmt: skip
async def test_bad_or_outside_points_are_422(
    client: httpx.AsyncClient, lat: str, lon: str, status: int
) -> None:
    answer = await client.get("/api/v1/reverse-geocode", params={"lat": lat, "lon": lon})
    assert answer.status_code == status, answer.text
