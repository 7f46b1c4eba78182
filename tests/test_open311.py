"""Open311 GeoReport v2 (/open311/v2): every endpoint in JSON and XML (the two alike), JSON
answers validated against the spec's JSON Schemas (../shared/data/open311), posting as a
third-party app does (form, JSON, multipart with a photo), reading back with the filters
and extensions, the spec's errors, and no reporter data in any read."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.clock import FrozenClock
from dispatch_server.config import get_settings
from dispatch_server.open311 import keys, service
from dispatch_server.open311.formats import ITEM_OF, iso_time, iso_time_sql
from dispatch_server.open311.params import Params
from tests.conftest import count_complaints
from tests.factories import GANGNAM, spread_point
from tests.test_dispatch import make_team, move
from tests.test_notifications import lamp_inspector  # noqa: F401 (a fixture)
from tests.test_photos import jpeg

pytestmark = pytest.mark.anyio

BASE = "/open311/v2"
SCHEMA_DIR = get_settings().shared_dir / "data" / "open311"
ADDRESS = "서울특별시 종로구 세종대로 209"
PHONE = "010-2345-6789"
NAME = ("민수", "김")  # first, last
EMAIL = "minsu.kim@example.com"
# What no read may contain: the reporter's phone (any form), name and address.
SECRETS = ["+821023456789", "01023456789", PHONE, "2345-6789", "김민수", EMAIL, "minsu.kim"]


def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        if path.name == "swagger.json":
            continue
        contents = json.loads(path.read_text())
        resources.append((path.name, Resource.from_contents(contents, DRAFT4)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def valid(document: Any, schema: str) -> None:
    """The document is valid by the spec's schema of that file name."""
    validator = jsonschema.Draft4Validator(
        REGISTRY.contents(schema), registry=REGISTRY, format_checker=jsonschema.FormatChecker()
    )
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def from_xml(element: ET.Element) -> Any:
    """An XML answer read back as the JSON answer would be written, values as text."""
    if element.tag in ITEM_OF:
        return [from_xml(child) for child in element]
    if len(element):
        return {child.tag: from_xml(child) for child in element}
    return element.text


def as_text(value: Any) -> Any:
    """A JSON answer with its values as XML writes them (None: no text)."""
    if isinstance(value, list):
        return [as_text(v) for v in value]
    if isinstance(value, dict):
        return {k: as_text(v) for k, v in value.items()}
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def both(client: httpx.AsyncClient, path: str, root: str, **kwargs: Any) -> Any:
    """GET the path as .json and .xml: the same document (by the XML's root); the JSON."""
    as_json = await client.get(f"{BASE}/{path}.json", **kwargs)
    as_xml = await client.get(f"{BASE}/{path}.xml", **kwargs)
    assert as_json.status_code == as_xml.status_code == 200, (as_json.text, as_xml.text)
    assert as_json.headers["content-type"] == "application/json"
    assert as_xml.headers["content-type"] == "text/xml; charset=utf-8"
    tree = ET.fromstring(as_xml.content)
    assert tree.tag == root
    document = as_json.json()
    if isinstance(document, list):
        assert from_xml(tree) == as_text(document) or (document == [] and len(tree) == 0)
    else:
        xml_document = {child.tag: from_xml(child) for child in tree}
        assert xml_document == as_text(document)
    return document


@pytest.fixture()
async def api_key(db: AsyncConnection, clock: FrozenClock) -> str:
    made = await keys.create(db, name="test app", requests_per_minute=100_000, now=clock.now())
    return made.key


def form(key: str, **fields: Any) -> dict[str, Any]:
    """A request as an app posts it: a parking complaint at the next free point."""
    point = spread_point()
    values: dict[str, Any] = {
        "api_key": key,
        "service_code": "illegal_parking",
        "lat": str(point["lat"]),
        "long": str(point["lon"]),
        "description": "소화전 앞에 승용차가 서 있습니다",
        "attribute[vehicle_type]": "car",
    }
    values.update(fields)
    return {k: v for k, v in values.items() if v is not None}


async def post(client: httpx.AsyncClient, fmt: str = "json", **kwargs: Any) -> httpx.Response:
    return await client.post(f"{BASE}/requests.{fmt}", **kwargs)


async def posted(client: httpx.AsyncClient, api_key: str, **fields: Any) -> dict[str, Any]:
    response = await post(client, data=form(api_key, **fields))
    assert response.status_code == 200, response.text
    (answer,) = response.json()
    return dict(answer)


async def stored(db: AsyncConnection, ticket: str) -> Any:
    return (
        await db.execute(
            text(
                "SELECT c.*, e.payload AS received FROM complaint c JOIN complaint_event e"
                " ON e.complaint_id = c.id AND e.type = 'received' WHERE c.ticket = :t"
            ),
            {"t": ticket},
        )
    ).one()


def no_secrets(body: bytes) -> None:
    leaked = [s for s in SECRETS if s.encode() in body or s.encode("unicode_escape") in body]
    assert not leaked, leaked


# -- services ---------------------------------------------------------------------------


async def test_discovery_names_the_endpoint_and_its_formats(client: httpx.AsyncClient) -> None:
    document = await both(client, "discovery", "discovery")
    (endpoint,) = document["endpoints"]
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["formats"] == ["application/json", "text/xml"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert datetime.fromisoformat(document["changeset"]).utcoffset() == timedelta(hours=9)


async def test_services_are_the_categories_in_the_readers_language(
    client: httpx.AsyncClient,
) -> None:
    korean = await both(client, "services", "services")
    valid(korean, "services.json")
    codes = [s["service_code"] for s in korean]
    assert "illegal_parking" in codes and "street_lamp" in codes and len(codes) == 7
    lamp = next(s for s in korean if s["service_code"] == "street_lamp")
    assert lamp["service_name"] == "가로등 고장" and lamp["group"] == "도로·시설물"
    assert lamp["metadata"] is True and lamp["type"] == "realtime"
    assert "street light" in lamp["keywords"] and "가로등" in lamp["keywords"]
    english = await both(client, "services", "services", headers={"Accept-Language": "en-GB"})
    lamp = next(s for s in english if s["service_code"] == "street_lamp")
    assert lamp["service_name"] == "Broken street lamp"
    assert lamp["group"] == "Streets and facilities" and lamp["description"].startswith("Street")
    japanese = await client.get(f"{BASE}/services.json", headers={"Accept-Language": "ja"})
    lamp = next(s for s in japanese.json() if s["service_code"] == "street_lamp")
    assert lamp["service_name"] == "街灯の故障"  # names in every language; texts fall back
    assert japanese.headers["vary"] == "Accept-Language"


async def test_service_definitions_cover_every_datatype(client: httpx.AsyncClient) -> None:
    services = (await client.get(f"{BASE}/services.json")).json()
    datatypes = set()
    for entry in services:
        definition = await both(client, f"services/{entry['service_code']}", "service_definition")
        valid(definition, "service-definition.json")
        assert definition["service_code"] == entry["service_code"]
        orders = [a["order"] for a in definition["attributes"]]
        assert orders == sorted(orders) and orders[0] == 1
        datatypes |= {a["datatype"] for a in definition["attributes"]}
        for attribute in definition["attributes"]:
            is_list = attribute["datatype"].endswith("valuelist")
            assert bool(attribute["values"]) == is_list, attribute
    assert datatypes == {
        "string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"
    }  # fmt: skip
    parking = (await client.get(f"{BASE}/services/illegal_parking.json")).json()
    vehicle = parking["attributes"][0]
    assert vehicle["code"] == "vehicle_type" and vehicle["required"] is True
    assert {"key": "car", "name": "승용차"} in vehicle["values"]
    road = (
        await client.get(f"{BASE}/services/road_damage.json", headers={"Accept-Language": "en"})
    ).json()
    notice = road["attributes"][0]
    assert notice["variable"] is False and "112" in notice["description"]


async def test_an_unknown_service_is_a_404_in_both_formats(client: httpx.AsyncClient) -> None:
    as_json = await client.get(f"{BASE}/services/no_such_thing.json")
    assert as_json.status_code == 404
    assert as_json.json() == [
        {"code": 404, "description": "no service has the code 'no_such_thing'"}
    ]
    as_xml = await client.get(f"{BASE}/services/no_such_thing.xml")
    assert as_xml.status_code == 404
    tree = ET.fromstring(as_xml.content)
    assert tree.tag == "errors" and tree.find("error/code").text == "404"  # type: ignore[union-attr]
    for path in ("services.yaml", "services", "nothing_here.json"):
        response = await client.get(f"{BASE}/{path}")
        assert response.status_code == 404 and response.json()[0]["code"] == 404, path


async def test_a_jurisdiction_other_than_this_one_is_a_404(
    client: httpx.AsyncClient, api_key: str
) -> None:
    ok = await client.get(f"{BASE}/services.json", params={"jurisdiction_id": "seoul.go.kr"})
    assert ok.status_code == 200
    for path in ("services.json", "services/street_lamp.xml", "requests.json"):
        response = await client.get(f"{BASE}/{path}", params={"jurisdiction_id": "busan.go.kr"})
        assert response.status_code == 404, path
    before = await count_complaints_of(client)
    refused = await post(client, data=form(api_key, jurisdiction_id="busan.go.kr"))
    assert refused.status_code == 404 and "busan.go.kr" in refused.json()[0]["description"]
    assert await count_complaints_of(client) == before


async def count_complaints_of(client: httpx.AsyncClient) -> int:
    listing = await client.get(f"{BASE}/requests.json", params={"page_size": 1})
    return int(listing.headers["x-total-count"])


# -- posting ----------------------------------------------------------------------------


async def test_a_posted_request_is_a_complaint_like_any_other(
    client: httpx.AsyncClient, db: AsyncConnection, api_key: str
) -> None:
    data = form(
            api_key, phone=PHONE, first_name=NAME[0], last_name=NAME[1], email=EMAIL,
            description=f"{NAME[1]}{NAME[0]}입니다. 12가 3456 차량이 소화전을 막아요 ({PHONE})",
            **{"attribute[blocking][]": ["fire_hydrant", "crosswalk"],
               "attribute[parked_since]": "2026-11-23T09:30:00",
               "attribute[plate_number]": "12가 3456"},
            media_url="https://example.com/photos/1.jpg", device_id="device-1",
        )  # fmt: skip
    response = await post(client, data=data, headers={"Accept-Language": "en-US,en;q=0.9"})
    assert response.status_code == 200, response.text
    (answer,) = response.json()
    ticket, token = answer["service_request_id"], answer["token"]
    assert answer["account_id"] is None
    assert (
        answer["service_notice"].startswith("Received")
        and f"/t/{ticket}" in answer["service_notice"]
    )
    assert response.headers["location"] == f"{BASE}/requests/{ticket}.json"
    no_secrets(response.content)

    row = await stored(db, ticket)
    assert row.channel == "open311" and row.district_code == "11110"
    assert row.reporter_phone == "+821023456789" and row.reporter_language == "en"
    assert row.reporter_name == "김민수" and row.reporter_email == EMAIL
    own = row.received["open311"]
    assert own["token"] == token and own["client"] == "test app"
    assert own["attributes"] == {
        "vehicle_type": "car",
        "blocking": ["fire_hydrant", "crosswalk"],  # the definition's order
        "parked_since": "2026-11-23T09:30:00+09:00",
        "plate_number": "12가 3456",
    }
    assert own["media_url"] == "https://example.com/photos/1.jpg" and "device_id" not in own
    # Staff read the answers in words on the timeline (the console and the field app show
    # a received entry's note).
    events = (await client.get(f"/api/v1/complaints/{ticket}/events")).json()["events"]
    assert events[0]["payload"]["note"] == (
        "어떤 차량인가요? 승용차 / 무엇을 막고 있나요? (여러 개 선택 가능) 소화전, 횡단보도"
        " / 차량 번호 (아는 경우) 12가 3456 / 언제부터 서 있었나요? 2026-11-23T09:30:00+09:00"
    )
    sla = await client.get(f"/api/v1/complaints/{ticket}/sla")
    assert sla.json()["expected_datetime"] is not None  # the SLA engine runs for it
    texts = (await client.get(f"/api/v1/complaints/{ticket}/texts")).json()["texts"]
    assert texts and texts[0]["template"] == "received"  # the citizen gets the text

    document = await both(client, f"requests/{ticket}", "service_requests")
    valid(document, "requests.json")
    (read,) = document
    valid(read, "request.json")
    assert read["service_request_id"] == ticket and read["status"] == "open"
    assert read["service_code"] == "illegal_parking" and read["service_name"] == "불법 주정차"
    assert read["agency_responsible"].startswith("종로구")
    assert read["media_url"] == "https://example.com/photos/1.jpg"
    assert (read["lat"], read["long"]) == (float(data["lat"]), float(data["long"]))
    assert read["address"]
    for field in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert datetime.fromisoformat(read[field]).utcoffset() == timedelta(hours=9), field
    assert (
        read["expected_datetime"]
        == datetime.fromisoformat(sla.json()["expected_datetime"])
        .astimezone(datetime.fromisoformat(read["expected_datetime"]).tzinfo)
        .isoformat()
    )
    # The description is public: the reporter's name, phone and the plate are not.
    assert "[삭제됨]" in read["description"] and "소화전" in read["description"]
    for path in (
        f"requests/{ticket}.json",
        f"requests/{ticket}.xml",
        "requests.json",
        "requests.xml",
        f"requests/{ticket}.json?extensions=true",
        f"tokens/{token}.xml",
    ):
        no_secrets((await client.get(f"{BASE}/{path}")).content)  # fmt: skip

    by_token = await both(client, f"tokens/{token}", "service_requests")
    assert by_token == [{"service_request_id": ticket, "token": token}]
    singular = await client.get(f"{BASE}/request/{ticket}.json")
    assert singular.json() == document


async def test_json_and_multipart_bodies_post_alike(
    client: httpx.AsyncClient, db: AsyncConnection, api_key: str
) -> None:
    point = spread_point()
    as_json = await post(
        client, "xml",
        json={"api_key": api_key, "service_code": "garbage_uncollected", "lat": point["lat"],
              "long": point["lon"], "description": "수거가 안 됐어요",
              "attribute": {"waste_kind": ["food", "general"], "bags": 3}},
    )  # fmt: skip
    assert as_json.status_code == 200, as_json.text
    tree = ET.fromstring(as_json.content)
    assert tree.tag == "service_requests"
    ticket = tree.find("request/service_request_id").text  # type: ignore[union-attr]
    assert tree.find("request/account_id") is not None  # empty: no accounts here
    row = await stored(db, str(ticket))
    assert row.received["open311"]["attributes"] == {"waste_kind": ["general", "food"], "bags": 3}

    photo = jpeg()
    multipart = await post(
        client, data=form(api_key), files=[("media", ("p.jpg", photo, "image/jpeg"))]
    )
    assert multipart.status_code == 200, multipart.text
    ticket = multipart.json()[0]["service_request_id"]
    row = await stored(db, ticket)
    photos = (
        await db.execute(
            text("SELECT uploaded_by, size_bytes FROM attachment WHERE complaint_id = :c"),
            {"c": row.id},
        )
    ).all()
    assert [(p.uploaded_by, p.size_bytes) for p in photos] == [("open311:test app", len(photo))]
    extended = (await client.get(f"{BASE}/requests/{ticket}.json?extensions=true")).json()[0]
    assert extended["extended_attributes"]["photos"] == 1
    assert extended["media_url"] is None  # citizens' photos are not published

    with_query = await client.post(
        f"{BASE}/requests.json", params=form(api_key)
    )  # the spec's swagger file sends them in the query
    assert with_query.status_code == 200, with_query.text


async def test_addresses_place_requests_too(
    client: httpx.AsyncClient, db: AsyncConnection, api_key: str
) -> None:
    by_text = await posted(
        client, api_key, lat=None, long=None, address_string=ADDRESS, service_code="street_lamp",
        **{"attribute[vehicle_type]": None, "attribute[problem]": "off"},
    )  # fmt: skip
    row = await stored(db, by_text["service_request_id"])
    assert row.address == ADDRESS and row.received["located_by"] == "address"
    address_id = (
        await db.execute(
            text(
                "SELECT id FROM gazetteer_address WHERE district_code = '11680' ORDER BY id LIMIT 1"
            )
        )
    ).scalar_one()
    by_id = await posted(
        client, api_key, lat=None, long=None, address_id=str(address_id),
        service_code="street_lamp", **{"attribute[vehicle_type]": None,
                                       "attribute[problem]": "flickering"},
    )  # fmt: skip
    row = await stored(db, by_id["service_request_id"])
    assert row.district_code == "11680" and row.address  # the address filled from the point
    read = (await client.get(f"{BASE}/requests/{by_id['service_request_id']}.json")).json()[0]
    assert read["address_id"] == str(address_id)


async def test_the_api_key_is_required_and_checked(
    client: httpx.AsyncClient, db: AsyncConnection, clock: FrozenClock, api_key: str
) -> None:
    before = await count_complaints(db)
    for key in (None, "", "o311_not-a-key"):
        for fmt in ("json", "xml"):
            data = form(api_key)
            data.pop("api_key")
            if key is not None:
                data["api_key"] = key
            response = await post(client, fmt, data=data)
            assert response.status_code == 403, response.text
    too_long = await post(client, data=form("x" * 300))
    assert too_long.status_code == 400 and "api_key: at most 200" in too_long.text
    revoked = await keys.create(db, name="old app", requests_per_minute=10, now=clock.now())
    await keys.revoke(db, name="old app", now=clock.now())
    response = await post(client, data=form(revoked.key))
    assert response.status_code == 403
    assert response.json() == [
        {"code": 403, "description": "the api_key is not valid (unknown or revoked)"}
    ]
    assert await count_complaints(db) == before
    # Reads need none; a wrong one is refused all the same.
    assert (await client.get(f"{BASE}/requests.json")).status_code == 200
    assert (await client.get(f"{BASE}/requests.json?api_key=wrong")).status_code == 403


BAD_POSTS: list[tuple[str, dict[str, Any], str]] = [
    ("lat NaN", {"lat": "NaN"}, "lat: 'NaN' is not a number"),
    ("lat infinity", {"lat": "Infinity"}, "lat: 'Infinity' is not a number"),
    ("long -inf", {"long": "-inf"}, "long: '-inf' is not a number"),
    ("lat out of range", {"lat": "91"}, "lat: 91 is outside -90 to 90"),
    ("long out of range", {"long": "180.5"}, "long: 180.5 is outside -180 to 180"),
    ("lat overflow", {"lat": "1e999"}, "lat: 1e999 is outside"),
    ("lat alone", {"long": None}, "lat and long go together"),
    ("no location", {"lat": None, "long": None}, "say where"),
    ("outside Seoul", {"lat": "35.1796", "long": "129.0756"}, "outside"),
    ("unknown service", {"service_code": "ufo_sighting"}, "no service has the code"),
    ("no service", {"service_code": None}, "service_code is required"),
    ("value outside its list", {"attribute[vehicle_type]": "tank"}, "'tank' is not one of"),
    ("one bad of many", {"attribute[blocking][]": ["crosswalk", "moat"]}, "'moat' is not one of"),
    ("two for a single list", {"attribute[vehicle_type]": ["car", "van"]}, "give one value"),
    ("required missing", {"attribute[vehicle_type]": None}, "attribute[vehicle_type] is required"),
    ("unknown attribute", {"attribute[colour]": "red"}, "has no such attribute"),
    ("bad datetime", {"attribute[parked_since]": "yesterday"}, "not an ISO 8601"),
    ("long string", {"attribute[plate_number]": "1" * 201}, "at most 200 characters"),
    ("description too long", {"description": "가" * 4001}, "description: at most 4,000"),
    ("bad phone", {"phone": "12"}, "phone:"),
    ("bad e-mail", {"email": "minsu@"}, "e-mail"),
    ("media_url not http", {"media_url": "file:///etc/passwd"}, "media_url"),
    ("unknown parameter", {"order": "desc"}, "'order' is not a parameter"),
    ("address not found", {"lat": None, "long": None, "address_string": "없는구 없는로 999"}, ""),
    ("unknown address_id", {"lat": None, "long": None, "address_id": "999999999"}, "no address"),
    ("address_id not digits", {"address_id": "abc"}, "address_id"),
    ("address_id other digits", {"lat": None, "long": None, "address_id": "²"}, "address_id"),
    ("media as text", {"media": "photo.jpg"}, "send the photo as a file"),
    ("key twice", {"api_key": ["a", "b"]}, "api_key: given 2 times"),
]


@pytest.mark.parametrize(
    ("fields", "says"), [pytest.param(f, s, id=name) for name, f, s in BAD_POSTS]
)
async def test_bad_posts_are_a_400_in_the_spec_format_and_store_nothing(
    client: httpx.AsyncClient, db: AsyncConnection, api_key: str, fields: dict[str, Any],
    says: str,
) -> None:  # fmt: skip
    before = await count_complaints(db)
    await refused_in_both_formats(client, form(api_key, **fields), says)
    assert await count_complaints(db) == before


async def refused_in_both_formats(
    client: httpx.AsyncClient, data: dict[str, Any], says: str
) -> None:
    """The post is a 400 in the spec's format, as JSON and as XML, saying `says`."""
    for fmt in ("json", "xml"):
        response = await post(client, fmt, data=data)
        assert response.status_code == 400, response.text
        if fmt == "json":
            errors = response.json()
            assert all(set(e) == {"code", "description"} and e["code"] == 400 for e in errors)
            assert any(says in e["description"] for e in errors), errors
        else:
            tree = ET.fromstring(response.content)
            assert tree.tag == "errors" and tree.find("error/description") is not None


def multipart(fields: dict[str, str | bytes]) -> bytes:
    """A multipart/form-data body (boundary B0undary) of these fields, bytes sent as they are."""
    body = b""
    for name, value in fields.items():
        data = value if isinstance(value, bytes) else value.encode()
        body += (b"--B0undary\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                 % (name.encode(), data))  # fmt: skip
    return body + b"--B0undary--\r\n"


async def test_a_multipart_post_keeps_its_text_as_sent(
    client: httpx.AsyncClient, db: AsyncConnection, api_key: str
) -> None:
    text_ = "소화전 앞 café ①"
    response = await post(
        client, content=multipart({**form(api_key), "description": text_}),
        headers={"Content-Type": "multipart/form-data; boundary=B0undary"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    row = await stored(db, response.json()[0]["service_request_id"])
    assert row.description == text_


async def test_malformed_bodies_are_refused_in_the_spec_format(
    client: httpx.AsyncClient, db: AsyncConnection, api_key: str
) -> None:
    before = await count_complaints(db)
    cases = [
        ({"content": b"api_key=x&description=%ff%fe", "headers": {
            "Content-Type": "application/x-www-form-urlencoded"}}, 400, "UTF-8"),
        ({"content": b'{"api_key": "k", "lat": NaN}', "headers": {
            "Content-Type": "application/json"}}, 400, "NaN"),
        ({"content": b"[1, 2]", "headers": {"Content-Type": "application/json"}}, 400, "object"),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "JSON"),
        ({"content": b'{"api_key": "k", "attribute": {"\\ud800": "x"}}', "headers": {
            "Content-Type": "application/json"}}, 400, "not valid Unicode"),
        ({"content": b'{"api_key": "k", "\\ud800": "x"}', "headers": {
            "Content-Type": "application/json"}}, 400, "not valid Unicode"),
        ({"content": b"hello", "headers": {"Content-Type": "text/plain"}}, 415, "send"),
        ({"content": b"a=" + b"x" * 70_000 + b"&b=1", "headers": {
            "Content-Type": "application/x-www-form-urlencoded"}}, 413, "larger"),
        ({"data": form(api_key), "files": [("photo", ("p.jpg", jpeg(), "image/jpeg"))]}, 400,
         "`media`"),
        # A field that is not UTF-8 in a multipart body: refused, not stored as Latin-1.
        ({"content": multipart({**form(api_key), "description": "소화전 앞".encode("cp949")}),
          "headers": {"Content-Type": "multipart/form-data; boundary=B0undary"}}, 400,
         "'description' is not valid utf-8"),
        ({"content": b"--B0undary\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B0undary--",
          "headers": {"Content-Type": "multipart/form-data; boundary=B0undary"}}, 400, "name"),
        ({"data": form(api_key), "files": [("media", ("p.gif", b"GIF89a....", "image/gif"))]},
         422, "p.gif"),
    ]  # fmt: skip
    for kwargs, status, says in cases:
        response = await post(client, **kwargs)
        expected = 400 if status == 422 else status
        assert response.status_code == expected, (kwargs.get("headers"), response.text)
        assert says in response.json()[0]["description"], response.text
        assert response.json()[0]["code"] == expected
    assert await count_complaints(db) == before
    twice = await client.post(
        f"{BASE}/requests.json", params={"service_code": "street_lamp"}, data=form(api_key)
    )
    assert twice.status_code == 400 and "given 2 times" in twice.text


# -- reading ----------------------------------------------------------------------------


async def test_status_follows_the_case_and_a_duplicate_its_original(
    client: httpx.AsyncClient, api_key: str, lamp_inspector: int,  # noqa: F811
) -> None:  # fmt: skip
    point = spread_point()
    at = {"lat": str(point["lat"]), "long": str(point["lon"])}
    first = await posted(client, api_key, **at)
    again = await posted(client, api_key, description="같은 차가 아직 있어요", **at)
    assert first["service_notice"].startswith("접수")
    assert first["service_request_id"] in again["service_notice"]  # merged at intake

    async def read(ticket: str, **params: Any) -> dict[str, Any]:
        response = await client.get(f"{BASE}/requests/{ticket}.json", params=params)
        assert response.status_code == 200, response.text
        return dict(response.json()[0])

    original = await read(first["service_request_id"])
    duplicate = await read(again["service_request_id"], extensions="true")
    assert duplicate["status"] == original["status"] == "open"
    assert duplicate["expected_datetime"] == original["expected_datetime"] is not None
    assert duplicate["extended_attributes"]["duplicate_of"] == first["service_request_id"]
    assert first["service_request_id"] in duplicate["service_notice"]

    case = (await client.get(f"/api/v1/complaints/{first['service_request_id']}")).json()
    version = case["version"]
    for step in (
        {"to": "assigned", "inspector_id": lamp_inspector}, {"to": "accepted"},
        {"to": "en_route"}, {"to": "on_site"}, {"to": "resolved", "result_code": "ticket_issued"},
    ):  # fmt: skip
        response = await move(client, case["id"], version=version, **step)
        assert response.status_code == 200, response.text
        version = response.json()["version"]
    original = await read(first["service_request_id"], extensions="true")
    duplicate = await read(again["service_request_id"])
    assert original["status"] == duplicate["status"] == "closed"
    assert original["expected_datetime"] is None
    assert (
        original["status_notes"].startswith("처리되었습니다")
        and "처리 결과" in original["status_notes"]
    )
    history = original["extended_attributes"]["status_history"]
    assert [h["status"] for h in history] == ["open", "open", "open", "open", "closed"]
    english = (
        await client.get(
            f"{BASE}/requests/{first['service_request_id']}.json",
            headers={"Accept-Language": "en"},
        )
    ).json()[0]
    assert english["status_notes"].startswith("Resolved. Result:")
    closed = await client.get(
        f"{BASE}/requests.json",
        params={"status": "closed", "service_request_id": None, "service_code": "illegal_parking"},
    )
    tickets = [r["service_request_id"] for r in closed.json()]
    assert first["service_request_id"] in tickets and again["service_request_id"] in tickets
    opened = await client.get(f"{BASE}/requests.json", params={"status": "open"})
    assert first["service_request_id"] not in [r["service_request_id"] for r in opened.json()]


async def test_a_referred_request_names_where_it_went_and_others_do_not(
    client: httpx.AsyncClient, api_key: str, lamp_inspector: int,  # noqa: F811
) -> None:  # fmt: skip
    at = {"lat": str(spread_point()["lat"]), "long": str(spread_point()["lon"])}
    lamp = {
        "service_code": "street_lamp",
        "attribute[problem]": "off",
        "attribute[vehicle_type]": None,
    }
    first = await posted(client, api_key, **lamp, **at)
    again = await posted(client, api_key, **lamp, description="아직 꺼져 있어요", **at)
    other = await posted(client, api_key, **lamp)
    case = (await client.get(f"/api/v1/complaints/{first['service_request_id']}")).json()
    version = case["version"]
    for step in (
        {"to": "assigned", "inspector_id": lamp_inspector}, {"to": "accepted"},
        {"to": "on_site"},
        {"to": "referred", "result_code": "referred_to_agency", "referred_to": "한국전력공사"},
    ):  # fmt: skip
        response = await move(client, case["id"], version=version, **step)
        assert response.status_code == 200, response.text
        version = response.json()["version"]
    page = await client.get(f"{BASE}/requests.json", params={"service_code": "street_lamp"})
    notes = {r["service_request_id"]: r["status_notes"] for r in page.json()}
    # The duplicate reads as its original does: the agency it was passed to.
    for ticket in (first["service_request_id"], again["service_request_id"]):
        assert "이관 기관: 한국전력공사" in notes[ticket], notes[ticket]
    assert "이관" not in notes[other["service_request_id"]]


async def test_the_list_filters_pages_and_extensions(
    client: httpx.AsyncClient, clock: FrozenClock, api_key: str
) -> None:
    tickets = []
    for i in range(5):
        clock.advance(timedelta(minutes=1))
        code = "street_lamp" if i % 2 else "illegal_parking"
        attribute = {"attribute[problem]": "off"} if i % 2 else {}
        tickets.append(
            (await posted(client, api_key, service_code=code, **attribute,
                          **({"attribute[vehicle_type]": None} if i % 2 else {})))[
                "service_request_id"]
        )  # fmt: skip
    clock.advance(timedelta(minutes=1))
    gangnam = await posted(client, api_key, lat=str(GANGNAM["lat"]), long=str(GANGNAM["lon"]))
    newest_first = [gangnam["service_request_id"], *reversed(tickets)]

    everything = await both(client, "requests", "service_requests")
    valid(everything, "requests.json")
    assert [r["service_request_id"] for r in everything][:6] == newest_first

    page = await client.get(f"{BASE}/requests.json", params={"page_size": 2, "page": 2})
    assert [r["service_request_id"] for r in page.json()] == newest_first[2:4]
    total = int(page.headers["x-total-count"])
    assert total >= 6 and page.headers["x-page"] == "2" and page.headers["x-page-size"] == "2"
    assert 'rel="next"' in page.headers["link"] and 'rel="prev"' in page.headers["link"]
    beyond = await client.get(f"{BASE}/requests.json", params={"page_size": 2, "page": 999})
    assert beyond.json() == [] and beyond.headers["x-total-count"] == str(total)

    lamps = await client.get(f"{BASE}/requests.json", params={"service_code": "street_lamp"})
    assert {r["service_code"] for r in lamps.json()} == {"street_lamp"}
    assert set(newest_first[2:5:2]) <= {r["service_request_id"] for r in lamps.json()}

    chosen = ",".join([tickets[0], gangnam["service_request_id"]])
    overriding = {"service_request_id": chosen, "service_code": "road_damage",
                  "start_date": "2020-01-01", "end_date": "2020-01-02"}  # fmt: skip
    by_id = await client.get(f"{BASE}/requests.json", params=overriding)
    assert {r["service_request_id"] for r in by_id.json()} == set(chosen.split(","))

    near = await client.get(
        f"{BASE}/requests.json",
        params={"lat": GANGNAM["lat"], "long": GANGNAM["lon"], "radius": 200},
    )
    assert [r["service_request_id"] for r in near.json()] == [gangnam["service_request_id"]]
    box = await client.get(
        f"{BASE}/requests.json",
        params={"bbox": f"{GANGNAM['lon'] - 0.01},{GANGNAM['lat'] - 0.01},"
                        f"{GANGNAM['lon'] + 0.01},{GANGNAM['lat'] + 0.01}"},
    )  # fmt: skip
    assert [r["service_request_id"] for r in box.json()] == [gangnam["service_request_id"]]

    started = clock.now() - timedelta(minutes=3, seconds=30)
    window = await client.get(f"{BASE}/requests.json", params={"start_date": started.isoformat()})
    assert [r["service_request_id"] for r in window.json()] == newest_first[:4]
    ended = await client.get(
        f"{BASE}/requests.json", params={"end_date": started.isoformat(), "page_size": 10}
    )
    assert tickets[0] in [r["service_request_id"] for r in ended.json()]
    assert gangnam["service_request_id"] not in [r["service_request_id"] for r in ended.json()]
    changed = await client.get(
        f"{BASE}/requests.json", params={"updated_after": clock.now().isoformat()}
    )
    assert [r["service_request_id"] for r in changed.json()] == [gangnam["service_request_id"]]

    extended = await both(client, "requests", "service_requests", params={"extensions": "true"})
    first = extended[0]["extended_attributes"]
    assert first == {
        "channel": "open311", "district": "11680", "district_name": "강남구", "duplicate_of": None,
        "photos": 0, "status_history": [{
            "status": "open", "status_notes": first["status_history"][0]["status_notes"],
            "datetime": extended[0]["requested_datetime"]}],
    }  # fmt: skip


async def test_the_window_is_ninety_days_at_most(
    client: httpx.AsyncClient, clock: FrozenClock, api_key: str
) -> None:
    old = await posted(client, api_key)
    clock.advance(timedelta(days=91))
    fresh = await posted(client, api_key)
    default = [r["service_request_id"] for r in (await client.get(f"{BASE}/requests.json")).json()]
    assert fresh["service_request_id"] in default and old["service_request_id"] not in default
    day = (clock.now() - timedelta(days=91)).date().isoformat()
    that_day = await client.get(
        f"{BASE}/requests.json", params={"start_date": day, "end_date": day}
    )
    assert [r["service_request_id"] for r in that_day.json()] == [old["service_request_id"]]
    too_long = await client.get(
        f"{BASE}/requests.json", params={"start_date": "2026-01-01", "end_date": "2026-06-01"}
    )
    assert too_long.status_code == 400 and "90 days" in too_long.json()[0]["description"]


BAD_READS: list[tuple[str, dict[str, Any], str]] = [
    ("bad start", {"start_date": "last week"}, "start_date: 'last week' is not an ISO 8601"),
    ("bad end", {"end_date": "2026-13-01"}, "end_date"),
    ("end before start", {"start_date": "2026-11-20", "end_date": "2026-11-10"}, "before"),
    ("year 1", {"start_date": "0001-01-01"}, "between 2000 and 2100"),
    ("status", {"status": "pending"}, "'pending' is not open or closed"),
    ("bbox three", {"bbox": "126.9,37.5,127.0"}, "four numbers"),
    ("bbox upside down", {"bbox": "127.0,37.6,126.9,37.5"}, "min_long must be below"),
    ("bbox nan", {"bbox": "nan,37.5,127,37.6"}, "not a number"),
    ("radius zero", {"lat": 37.5, "long": 127, "radius": 0}, "radius: 0 is outside"),
    ("radius huge", {"lat": 37.5, "long": 127, "radius": 20000}, "radius: 20000 is outside"),
    ("radius alone", {"radius": 100}, "radius needs lat and long"),
    ("lat alone", {"lat": 37.5}, "lat and long go together"),
    ("lat inf", {"lat": "inf", "long": 127}, "lat: 'inf' is not a number"),
    ("page zero", {"page": 0}, "page: 0 is outside"),
    ("page size", {"page_size": 1001}, "page_size: 1001 is outside"),
    ("page half", {"page": 1.5}, "not a whole number"),
    ("extensions", {"extensions": "maybe"}, "not true or false"),
    ("order", {"order": "requested_datetime"}, "'order' is not a parameter"),
    ("sort", {"sort": "desc"}, "'sort' is not a parameter"),
    ("unknown service", {"service_code": "ufo"}, "no service has the code 'ufo'"),
    ("twice", {"page": [1, 2]}, "given 2 times"),
    ("end of time", {"end_date": "9999-12-31"}, "not between 2000 and 2100"),
    ("updated end of time", {"updated_before": "9999-12-31"}, "not between 2000 and 2100"),
    ("91 days", {"start_date": "2026-09-01", "end_date": "2026-11-30"}, "at most 90 days"),
]


@pytest.mark.parametrize(
    ("params", "says"), [pytest.param(p, s, id=name) for name, p, s in BAD_READS]
)
async def test_bad_reads_are_a_400_in_the_spec_format(
    client: httpx.AsyncClient, params: dict[str, Any], says: str
) -> None:
    for fmt in ("json", "xml"):
        response = await client.get(f"{BASE}/requests.{fmt}", params=params)
        assert response.status_code == 400, response.text
        if fmt == "json":
            assert any(says in e["description"] for e in response.json()), response.json()
        else:
            assert ET.fromstring(response.content).tag == "errors"


async def test_unknown_requests_and_tokens_are_404s(client: httpx.AsyncClient) -> None:
    for path in ("requests/261123-999999.json", "requests/not-an-id.xml",
                 "tokens/nosuchtoken.json", "request/261123-999999.json"):  # fmt: skip
        response = await client.get(f"{BASE}/{path}")
        assert response.status_code == 404, path
    bad = await client.get(f"{BASE}/requests/261123-000001.json", params={"lat": 1})
    assert bad.status_code == 400  # a single request takes no filters


async def test_browsers_of_other_sites_may_call_it(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        f"{BASE}/requests.json",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    listing = await client.get(f"{BASE}/requests.json", headers={"Origin": "https://app.example"})
    assert listing.headers["access-control-allow-origin"] == "*"
    assert "X-Total-Count" in listing.headers["access-control-expose-headers"]
    staff = await client.get("/api/v1/complaints", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in staff.headers  # the rest of the API: not


async def test_reads_without_a_key_are_limited_per_address(
    db: AsyncConnection, clock: FrozenClock, settings: Any, api_key: str
) -> None:
    from tests.conftest import app_on

    limited = settings.model_copy(update={"public_reads_per_minute": 3})
    transport = httpx.ASGITransport(app=app_on(db, limited, clock))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        statuses = [(await client.get(f"{BASE}/services.json")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = await client.get(f"{BASE}/requests.xml")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert ET.fromstring(refused.content).find("error/code").text == "429"  # type: ignore[union-attr]
        keyed = await client.get(f"{BASE}/services.json", params={"api_key": api_key})
        assert keyed.status_code == 200  # a key's reads count against the key


async def test_a_keyed_json_page_is_counted_and_refused_as_the_key_says(
    client: httpx.AsyncClient, db: AsyncConnection, clock: FrozenClock
) -> None:
    # The JSON page (written by the database) is answered only when the key's check lets
    # it through, and every read is counted against the key.
    made = await keys.create(db, name="small app", requests_per_minute=2, now=clock.now())
    url = f"{BASE}/requests.json"
    statuses = [(await client.get(url, params={"api_key": made.key})).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    hits = await db.execute(
        text("SELECT sum(hits) FROM rate_limit_window WHERE key = :key"),
        {"key": f"api_client:{made.client.id}"},
    )
    assert hits.scalar() == 3
    other = await keys.create(db, name="other app", requests_per_minute=10, now=clock.now())
    nope = {"api_key": other.key, "service_code": "no_such_service"}
    unknown = await client.get(url, params=nope)
    assert unknown.status_code == 400 and "no_such_service" in unknown.text
    # A refused key is said first, before what else is wrong.
    assert (await client.get(url, params={**nope, "api_key": "o311_wrong"})).status_code == 403
    await keys.revoke(db, name="other app", now=clock.now())
    revoked = await client.get(url, params={"api_key": other.key})
    assert revoked.status_code == 403
    assert revoked.json() == [
        {"code": 403, "description": "the api_key is not valid (unknown or revoked)"}
    ]


def test_the_spec_schemas_are_the_shared_ones() -> None:
    assert Path(SCHEMA_DIR / "request.json").is_file()
    with pytest.raises(AssertionError):
        valid([{"service_request_id": 1, "status": "pending"}], "requests.json")


async def test_posts_check_definitions_cached_for_a_few_seconds(db: AsyncConnection) -> None:
    cache = service.Definitions(ttl=60)
    first = await cache.get(db, "street_lamp")
    assert first is not None and "pole_number" in [q.code for q in first.questions]
    await db.execute(
        text("DELETE FROM service_attribute WHERE category_code = 'street_lamp'"
             " AND code = 'pole_number'")
    )  # fmt: skip
    assert await cache.get(db, "street_lamp") is first  # within its time
    fresh = await service.Definitions(ttl=0).get(db, "street_lamp")
    assert fresh is not None and "pole_number" not in [q.code for q in fresh.questions]
    assert await cache.get(db, "ufo_sighting") is None


async def test_what_the_review_found_stays_fixed(
    client: httpx.AsyncClient, db: AsyncConnection, api_key: str, settings: Any
) -> None:
    # A typed address is public only redacted; the name given with the request too.
    typed = await posted(
        client, api_key, address_string=f"{NAME[1]}{NAME[0]} 집 앞, {PHONE}", phone=PHONE,
        first_name=NAME[0], last_name=NAME[1],
    )  # fmt: skip
    read = await client.get(f"{BASE}/requests/{typed['service_request_id']}.json")
    assert read.json()[0]["address"] == "[삭제됨] 집 앞, [삭제됨]"
    no_secrets(read.content)
    # Ids that cannot be ids are 404s, not database errors.
    for path in ("requests/%00.json", "tokens/%00.json", "services/%00.json",
                 "requests/261123-1%2F.json", "tokens/abc123.xml"):  # fmt: skip
        response = await client.get(f"{BASE}/{path}")
        assert response.status_code == 404, (path, response.text)
    # Browsers' cache-busters pass; `locale` picks the language.
    busted = await client.get(
        f"{BASE}/services.json", params={"_": "1733050000000", "locale": "en-US"}
    )
    assert (
        busted.status_code == 200 and busted.json()[0]["service_name"] == "Damaged sign or facility"
    )
    # The Link header names the public address, never the caller's key.
    for _ in range(3):
        await posted(client, api_key)
    paged = await client.get(
        f"{BASE}/requests.json", params={"page_size": 1, "page": 2, "api_key": api_key}
    )
    link = paged.headers["link"]
    assert api_key not in link and link.startswith(f"<{settings.public_url}{BASE}/requests.json?")
    assert "page=3" in link and "page=1" in link
    # A date in basic format is a whole day too.
    basic = await client.get(
        f"{BASE}/requests.json", params={"start_date": "20261123", "end_date": "20261123"}
    )
    assert basic.status_code == 200 and len(basic.json()) >= 4
    # A request refused after its photo was checked leaves no file behind.
    media = Path(settings.media_dir)
    before = sorted(media.rglob("*")) if media.exists() else []
    refused = await post(
        client,
        data=form(api_key, lat="35.1796", long="129.0756"),
        files=[("media", ("p.jpg", jpeg(), "image/jpeg"))],
    )
    assert refused.status_code == 400
    assert (sorted(media.rglob("*")) if media.exists() else []) == before


@pytest.mark.parametrize(
    "zone", ["Asia/Seoul", "America/New_York", "Asia/Kolkata", "America/St_Johns", "UTC"]
)
async def test_times_written_by_the_database_read_as_python_writes_them(
    db: AsyncConnection, zone: str
) -> None:
    # Pages have PostgreSQL write their times; one request alone would not show a zone
    # west of Greenwich, half-hour offsets, summer time or its change-over going wrong.
    moments = [
        datetime(2026, 11, 23, 1, 2, 3, 999_000, tzinfo=UTC),
        datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC),  # New York: the last second of winter
        datetime(2026, 3, 8, 7, 0, 0, tzinfo=UTC),  # and the first of summer
        datetime(2026, 7, 1, 23, 30, tzinfo=UTC),
        datetime(1999, 12, 31, 15, 0, tzinfo=UTC),
    ]
    written = (
        await db.execute(
            text(f"SELECT {iso_time_sql('m')} FROM unnest(CAST(:moments AS timestamptz[])) m"),
            {"moments": moments, "zone": zone},
        )
    ).scalars()
    assert list(written) == [iso_time(m, ZoneInfo(zone)) for m in moments]
    nothing = await db.execute(text(f"SELECT {iso_time_sql('NULL::timestamptz')}"), {"zone": zone})
    assert nothing.scalar() is None


async def test_pages_written_by_the_database_read_as_python_writes_them(
    client: httpx.AsyncClient, db: AsyncConnection, clock: FrozenClock, api_key: str
) -> None:
    # JSON pages come from service.find_json (PostgreSQL writes each request); XML, one
    # request and extended pages from _document. Every field of every kind of request,
    # in the three kinds of reader, must read the same both ways.
    descriptions = [
        "소화전 앞 승용차",  # nothing to blank
        f"{NAME[1]}{NAME[0]}입니다, 010-9876-5432 로 연락 주세요",  # the name, a phone
        "메일 kim@example.com, 차량 12가3456",  # an e-mail address and a plate
        "전화 ０１０１２３４５６７８",  # full-width digits: Python's patterns only
        'quote " backslash \\ tab \t new\nline',  # JSON's escapes
        "民願 臺灣 3번 출구",  # letters other than Hangul: redacted in Python
    ]
    tickets = []
    for i, description in enumerate(descriptions):
        clock.advance(timedelta(minutes=1))
        extra = {"media_url": "https://example.com/p.jpg"} if i % 2 else {}
        answer = await posted(
            client, api_key, description=description, first_name=NAME[0], last_name=NAME[1],
            **extra,
        )  # fmt: skip
        tickets.append(answer["service_request_id"])
    at = spread_point()
    twin = {"lat": str(at["lat"]), "long": str(at["lon"])}
    tickets.append((await posted(client, api_key, **twin))["service_request_id"])
    tickets.append((await posted(client, api_key, **twin))["service_request_id"])  # merged
    edits = [
        "UPDATE complaint SET status = 'referred', result_code = 'referred_to_agency'"
        " WHERE ticket = :t0",
        "INSERT INTO complaint_event (complaint_id, type, actor, at, payload)"
        " SELECT id, 'referred', 'test', now(), '{\"referred_to\": \"한국전력공사\"}'"
        " FROM complaint WHERE ticket = :t0",
        "UPDATE complaint SET status = 'resolved', result_code = 'ticket_issued'"
        " WHERE ticket = :t1",
        "UPDATE complaint SET team_id = NULL, address = NULL WHERE ticket = :t2",
        "UPDATE complaint SET team_id = :team WHERE ticket IN (:t1, :t5)",
        "UPDATE complaint SET status = 'cancelled' WHERE ticket = :t3",
        "UPDATE complaint SET reporter_name = '김' WHERE ticket = :t4",
        f"UPDATE complaint SET address = '{NAME[1]}{NAME[0]} 씨 집 앞 02-123-4567'"
        " WHERE ticket = :t5",
    ]
    team = await make_team(db, "11110")
    for edit in edits:
        await db.execute(text(edit), {"team": team} | {f"t{i}": t for i, t in enumerate(tickets)})
    zone = ZoneInfo("Asia/Seoul")
    for language in ("ko", "en", "ja"):
        pages = ([("page_size", "100")], [("page_size", "3"), ("page", "2")],
                 [("page_size", "3"), ("page", "9")])  # fmt: skip
        for params in pages:  # all, a page, a page past the end
            query = service.read_query(Params(params), zone=zone, now=clock.now())
            python = await service.find(db, query, language=language, zone=zone)
            body, total = await service.find_json(db, query, language=language, zone=zone)
            written = json.loads(body)
            assert total == python.total
            assert [list(d) for d in written] == [list(d) for d in python.documents]
            assert written == python.documents, language
    # And what the public reads of them, through the API.
    page = (await client.get(f"{BASE}/requests.json")).json()
    by_ticket = {d["service_request_id"]: d for d in page}
    assert "010-9876-5432" not in by_ticket[tickets[1]]["description"]
    assert NAME[1] + NAME[0] not in by_ticket[tickets[1]]["description"]
    assert "０１０" not in by_ticket[tickets[3]]["description"]
    assert by_ticket[tickets[4]]["description"] == descriptions[4]
    assert by_ticket[tickets[0]]["status_notes"].endswith("이관 기관: 한국전력공사")
    assert by_ticket[tickets[2]]["agency_responsible"].endswith("청")
    assert by_ticket[tickets[1]]["agency_responsible"].startswith("종로구 ")
    assert by_ticket[tickets[2]]["address"] is None
    assert (
        by_ticket[tickets[7]]["service_notice"]
        and tickets[6] in by_ticket[tickets[7]]["service_notice"]
    )
