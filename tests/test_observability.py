"""Request ids and structured logs: every answer carries its request's id (the caller's when
it is a plain token); with DASAN_LOG_FORMAT=json a real server writes one JSON object a
line, its access lines with the id, the path without its query, the status and the time."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dispatch_server.observability import REQUEST_ID, JsonFormatter, request_id_of
from tests.conftest import app_on
from tests.test_server import free_port, running_server

NEW_ID = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (b"abc-123", True),
        (b"edge.proxy:7f3a_01", True),
        (b"x" * 64, True),
        (b"x" * 65, False),
        (b"has space", False),
        (b"semi;colon", False),
        ("요청".encode(), False),
        (b"\xff\xfe", False),
        (b"", False),
        (None, False),
    ],
)
def test_a_callers_id_is_kept_only_when_it_is_a_plain_token(given: bytes | None, kept: bool):
    made = request_id_of(given)
    if kept:
        assert given is not None and made == given.decode()
    else:
        assert NEW_ID.fullmatch(made)
    assert request_id_of(None) != request_id_of(None)


@pytest.mark.anyio
async def test_every_answer_carries_its_request_id(client: httpx.AsyncClient) -> None:
    first, second = await client.get("/livez"), await client.get("/livez")
    assert NEW_ID.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    echoed = await client.get("/livez", headers={"X-Request-Id": "from-the-proxy-1"})
    assert echoed.headers["x-request-id"] == "from-the-proxy-1"
    refused = await client.get("/no/such/page", headers={"X-Request-Id": "a b"})
    assert refused.status_code == 404  # an error answer has one too
    assert NEW_ID.fullmatch(refused.headers["x-request-id"])
    assert refused.headers.get_list("x-request-id") == [refused.headers["x-request-id"]]


def test_a_json_line_has_the_request_id_and_the_traceback() -> None:
    formatter = JsonFormatter()
    token = REQUEST_ID.set("req-42")
    try:
        try:
            raise ValueError("bad thing")
        except ValueError:
            record = logging.getLogger("dispatch_server.x").makeRecord(
                "dispatch_server.x", logging.ERROR, __file__, 1, "failed for %s", ("무엇",),
                sys.exc_info(),
            )  # fmt: skip
        line = formatter.format(record)
    finally:
        REQUEST_ID.reset(token)
    entry = json.loads(line)
    assert entry["request_id"] == "req-42" and entry["level"] == "error"
    assert entry["logger"] == "dispatch_server.x" and entry["message"] == "failed for 무엇"
    assert "ValueError: bad thing" in entry["exception"] and entry["ts"].endswith("+00:00")
    assert "\n" not in line
    outside = json.loads(formatter.format(logging.makeLogRecord({"msg": "no request"})))
    assert "request_id" not in outside


@pytest.mark.server
def test_a_real_server_logs_json_lines_with_request_ids(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    env = {**os.environ, "DASAN_DATABASE_URL": make_database("server"),
           "DASAN_PORT": str(free_port()), "DASAN_WORKERS": "1", "DASAN_LOG_FORMAT": "json",
           "DASAN_ACCESS_LOG": "true"}  # fmt: skip
    log = tmp_path / "serve.log"
    with running_server(env, log) as base:
        ok = httpx.get(f"{base}/livez", headers={"X-Request-Id": "probe-1"})
        missing = httpx.get(f"{base}/api/v1/complaints/nope?phone=01012345678")
        assert ok.headers["x-request-id"] == "probe-1"
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(e["logger"].startswith("uvicorn") for e in entries)
    access = {e.get("request_id"): e for e in entries if e["logger"] == "dasan.access"}
    assert access["probe-1"]["path"] == "/livez" and access["probe-1"]["status"] == 200
    assert access["probe-1"]["method"] == "GET" and access["probe-1"]["duration_ms"] >= 0
    other = access[missing.headers["x-request-id"]]
    assert other["status"] == missing.status_code and other["path"] == "/api/v1/complaints/nope"
    assert "01012345678" not in log.read_text()  # the query string is never logged


# -- /metrics ---------------------------------------------------------------------------


def samples(body: str, name: str) -> dict[str, float]:
    """`labels -> value` of one metric's samples in a Prometheus text exposition."""
    found = {}
    for line in body.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            found[key[len(name) :]] = float(value)
    return found


@pytest.mark.anyio
async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    for _ in range(3):
        await client.get("/livez")
    await client.get("/api/v1/complaints/261123-999999")
    await client.get("/no/such/page")
    answer = await client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    name = "dasan_http_request_duration_seconds_count"
    counts, earlier = samples(answer.text, name), samples(before, name)

    def grew(labels: str) -> float:
        return counts.get(labels, 0) - earlier.get(labels, 0)

    assert grew('{method="GET",route="/livez",status="200"}') == 3
    assert grew('{method="GET",route="/api/v1/complaints/{ticket}",status="404"}') == 1
    assert grew('{method="GET",route="unmatched",status="404"}') == 1
    assert not any("261123-999999" in labels for labels in counts)  # templates, never values
    families = (
        "dasan_outbox_pending_messages", "dasan_outbox_oldest_pending_age_seconds",
        "dasan_outbox_dead_messages", "dasan_sla_overdue_clocks", "dasan_sla_breaches_total",
        "dasan_sla_sweep_duration_seconds_count", "dasan_open311_queued_posts",
        "dasan_open311_oldest_queued_age_seconds", "dasan_open311_failed_posts",
    )  # fmt: skip
    for family in families:
        assert samples(answer.text, family), family


@pytest.mark.server
def test_a_real_servers_metrics_add_up_its_workers_and_the_database(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    url = make_database("server")
    env = {**os.environ, "DASAN_DATABASE_URL": url, "DASAN_PORT": str(free_port()),
           "DASAN_WORKERS": "2"}  # fmt: skip
    with running_server(env, tmp_path / "serve.log") as base:
        for _ in range(40):  # a new connection each: they land on either worker
            assert httpx.get(f"{base}/livez").status_code == 200
        scrapes = [httpx.get(f"{base}/metrics").text for _ in range(6)]
    livez = '{method="GET",route="/livez",status="200"}'
    for body in scrapes:  # whichever worker answers, it adds up both
        assert samples(body, "dasan_http_request_duration_seconds_count")[livez] == 40
    body = scrapes[0]
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        pending = connection.execute(
            text("SELECT count(*) FROM outbox_message WHERE status = 'pending'")
        ).scalar_one()
    engine.dispose()
    assert samples(body, "dasan_outbox_pending_messages") == {"": pending}


@pytest.mark.anyio
async def test_metrics_are_for_the_allowed_addresses_only(db, settings, clock) -> None:  # noqa: ANN001
    app = app_on(db, settings, clock)
    for address, status in (("127.0.0.1", 200), ("203.0.113.9", 404)):
        transport = httpx.ASGITransport(app=app, client=(address, 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            answer = await http.get("/metrics")
        assert answer.status_code == status, address
        assert ("dasan_outbox_pending_messages" in answer.text) is (status == 200)
