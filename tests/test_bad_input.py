"""Bad input gets a clear 4xx in the one error shape, never a 500, and stores nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.auth import bearer
from tests.conftest import count_complaints
from tests.factories import JONGNO, complaint_body

pytestmark = pytest.mark.anyio

URL = "/api/v1/complaints"


def assert_error_shape(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def raw_json(**location: str) -> bytes:
    """A complaint body whose location numbers are written verbatim (NaN, Infinity...)."""
    body = json.dumps(complaint_body(location={"lat": "@LAT@", "lon": "@LON@"}))
    lat, lon = location.get("lat", str(JONGNO["lat"])), location.get("lon", str(JONGNO["lon"]))
    return body.replace('"@LAT@"', lat).replace('"@LON@"', lon).encode()


JSON_HEADERS = {"content-type": "application/json"}

BAD_BODIES: list[tuple[str, bytes, dict[str, str], int, str]] = [
    # (case, body bytes, headers, status, error code)
    ("lat NaN", raw_json(lat="NaN"), JSON_HEADERS, 422, "validation_error"),
    ("lon -Infinity", raw_json(lon="-Infinity"), JSON_HEADERS, 422, "validation_error"),
    ("lat overflows to infinity", raw_json(lat="1e999"), JSON_HEADERS, 422, "validation_error"),
    ("lat 90.5", raw_json(lat="90.5"), JSON_HEADERS, 422, "validation_error"),
    ("lon -180.01", raw_json(lon="-180.01"), JSON_HEADERS, 422, "validation_error"),
    ("lat a string", raw_json(lat='"north"'), JSON_HEADERS, 422, "validation_error"),
    ("lat null", raw_json(lat="null"), JSON_HEADERS, 422, "validation_error"),
    ("lat a list", raw_json(lat="[37.5]"), JSON_HEADERS, 422, "validation_error"),
    ("outside every district (Busan)", raw_json(lat="35.1796", lon="129.0756"), JSON_HEADERS,
     422, "outside_service_area"),
    ("Null Island", raw_json(lat="0", lon="0"), JSON_HEADERS, 422, "outside_service_area"),
    ("malformed JSON", b'{"category": "illegal_parking",', JSON_HEADERS, 400, "malformed_json"),
    ("not UTF-8", b'{"description": "\xff\xfe"}', JSON_HEADERS, 400, "malformed_json"),
    ("empty body", b"", JSON_HEADERS, 422, "validation_error"),
    ("JSON null", b"null", JSON_HEADERS, 422, "validation_error"),
    ("JSON array", b"[]", JSON_HEADERS, 422, "validation_error"),
    ("form-encoded", b"category=illegal_parking", {"content-type":
     "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ("text/plain", json.dumps(complaint_body()).encode(), {"content-type": "text/plain"}, 415,
     "unsupported_media_type"),
    ("no content type", json.dumps(complaint_body()).encode(), {}, 415,
     "unsupported_media_type"),
    ("over 64 KiB", json.dumps(complaint_body(description="x" * 70_000)).encode(), JSON_HEADERS,
     413, "body_too_large"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
async def test_bad_bodies(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    before = await count_complaints(db)
    response = await client.post(URL, content=body, headers=headers)
    assert_error_shape(response, status, code)
    assert await count_complaints(db) == before


def _without(field: str) -> dict[str, Any]:
    body = complaint_body()
    del body[field]
    return body


BAD_FIELDS: list[tuple[str, dict[str, Any], str, str]] = [
    # (case, body, error code, a word the message or details must contain)
    ("no location", _without("location"), "validation_error", "location"),
    ("no lat", complaint_body(location={"lon": 126.99}), "validation_error", "lat"),
    ("no category", _without("category"), "validation_error", "category"),
    ("unknown category", complaint_body(category="alien_landing"), "unknown_category",
     "alien_landing"),
    ("malformed category", complaint_body(category="Parking; DROP TABLE"), "validation_error",
     "category"),
    ("inactive-looking category", complaint_body(category=""), "validation_error", "category"),
    ("no description", _without("description"), "validation_error", "description"),
    ("empty description", complaint_body(description=""), "validation_error", "description"),
    ("blank description", complaint_body(description=" \n\t "), "validation_error",
     "description"),
    ("only control characters", complaint_body(description="\x00\x01\x02"), "validation_error",
     "description"),
    ("4,001 characters", complaint_body(description="가" * 4001), "validation_error",
     "description"),
    ("description not text", complaint_body(description=123), "validation_error", "description"),
    ("address over 500", complaint_body(address="a" * 501), "validation_error", "address"),
    ("invalid phone", complaint_body(reporter={"phone": "12345"}), "invalid_phone", "12345"),
    ("letters for a phone", complaint_body(reporter={"phone": "call me"}), "invalid_phone",
     "call me"),
    ("unknown language", complaint_body(reporter={"phone": "010-1234-5678", "language": "fr"}),
     "validation_error", "language"),
    ("unknown channel", complaint_body(channel="fax"), "validation_error", "channel"),
    ("unknown priority", complaint_body(priority="whenever"), "validation_error", "priority"),
    ("unknown field", complaint_body(colour="red"), "validation_error", "colour"),
    ("extra location field", complaint_body(location={**JONGNO, "alt": 30}), "validation_error",
     "alt"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "code", "word"),
    [case[1:] for case in BAD_FIELDS],
    ids=[case[0] for case in BAD_FIELDS],
)
async def test_bad_fields(
    client: httpx.AsyncClient, db: AsyncConnection, body: dict[str, Any], code: str, word: str
) -> None:
    before = await count_complaints(db)
    error = assert_error_shape(await client.post(URL, json=body), 422, code)
    assert word in error["message"] + json.dumps(error["details"], ensure_ascii=False)
    assert await count_complaints(db) == before


async def test_lone_surrogate_is_refused(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    # json.dumps writes the lone surrogate as the escape \ud800, which JSON allows.
    body = json.dumps(complaint_body(description="broken \ud800")).encode()
    before = await count_complaints(db)
    assert_error_shape(await client.post(URL, content=body, headers=JSON_HEADERS), 422,
                       "validation_error")  # fmt: skip
    assert await count_complaints(db) == before


async def test_chunked_body_over_the_limit_is_refused(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"description": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = await client.post(URL, content=chunks(), headers=JSON_HEADERS)
    assert_error_shape(response, 413, "body_too_large")


@pytest.mark.parametrize(
    ("path", "ticket"),
    [("261123-999999999",) * 2, ("abc",) * 2, ("' OR '1'='1",) * 2, ("%00", "\x00")],
)
async def test_unknown_ticket_is_404(client: httpx.AsyncClient, path: str, ticket: str) -> None:
    error = assert_error_shape(await client.get(f"{URL}/{path}"), 404, "complaint_not_found")
    assert error["details"] == {"ticket": ticket}


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "1,2,3"},
        {"bbox": "127.1,37.5,127.0,37.6"},
        {"bbox": "NaN,37.5,127.0,37.6"},
        {"bbox": "a,b,c,d"},
        {"status": "lost"},
        {"limit": "0"},
        {"limit": "1000"},
        {"limit": "ten"},
        {"created_from": "yesterday"},
        {"created_from": "2026-11-23T00:00:00"},
        {"created_from": "2026-11-24T00:00:00Z", "created_to": "2026-11-23T00:00:00Z"},
        {"flavour": "mint"},
    ],
)
async def test_bad_list_filters_are_422(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    assert_error_shape(await client.get(URL, params=params), 422, "validation_error")


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjogMX0", "WyJub3QgYSBkYXRlIiwgMV0"])
async def test_forged_cursor_is_422(client: httpx.AsyncClient, cursor: str) -> None:
    assert_error_shape(await client.get(URL, params={"cursor": cursor}), 422, "invalid_cursor")


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    assert_error_shape(await client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error_shape(await client.delete(URL), 405, "method_not_allowed")


async def test_database_down_is_503_not_500() -> None:
    """An app whose database is unreachable answers 503 in the one shape, with Retry-After."""
    import socket

    from dispatch_server.config import Settings
    from dispatch_server.main import create_app

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        database_url=f"postgresql+psycopg://dasan@127.0.0.1:{port}/dasan", db_pool_timeout=2
    )
    app = create_app(settings=settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        # Any token: checking it is the first thing that needs the database.
        response = await client.post(URL, json=complaint_body(), headers=bearer("dfa_x"))
        assert_error_shape(response, 503, "database_unavailable")
        assert response.headers["retry-after"] == "5"
        health = await client.get("/healthz")
        assert health.status_code == 503
