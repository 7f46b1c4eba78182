"""Notifications in-process: the messages a case's life writes, templates, the length rule,
the delivery worker's outcomes (sent, retried, dead, skipped, waiting), receipts, opt-out,
devices and the dead-letter API.

The gateway here is a local HTTP server on 127.0.0.1 that answers as an SMS gateway does
(accepted, 503, a permanent 400, or nothing at all); tests/test_kannel.py sends through a
real Kannel.
"""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx2 as httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.clock import FrozenClock
from dispatch_server.complaints.constants import Language
from dispatch_server.config import Settings
from dispatch_server.main import create_app
from notifications import templates as message_templates
from notifications.sms import (
    LMS_MAX_BYTES,
    FileSink,
    HttpGateway,
    HttpGatewayConfig,
    byte_length,
    fit,
)
from notifications.templates import TemplateError
from notifications.worker import DeliveryReport, Policy, QuietHours, deliver, message_values
from tests.auth import AS_INSPECTOR
from tests.factories import JONGNO
from tests.test_dispatch import make_inspector, make_team, move, new_case
from tests.test_sla import Transaction, transaction  # noqa: F401 (a fixture)

pytestmark = pytest.mark.anyio
TEMPLATES = message_templates.load()
PHONE, PHONE_E164 = "010-1234-5678", "+821012345678"
OTHER, OTHER_E164 = "010-2222-3333", "+821022223333"


# --- the local gateway -------------------------------------------------------------------------


class LocalServer:
    """An HTTP server on 127.0.0.1 with `handler`, serving in a thread until closed."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Gateway:
    """An HTTP SMS gateway on 127.0.0.1: `mode` says how it answers the next requests."""

    def __init__(self) -> None:
        self.mode = "accept"
        self.requests: list[dict[str, str]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                if gateway.mode == "hang":
                    threading.Event().wait(2)
                    return
                gateway.requests.append(query)
                status, body = {
                    "accept": (202, "0: Accepted for delivery"),
                    "down": (503, "Service Unavailable"),
                    "refuse": (400, "Invalid receiver number, rejected"),
                }[gateway.mode]
                payload = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return None

        self.local = LocalServer(Handler)
        self.url = f"http://127.0.0.1:{self.local.port}/send"

    def close(self) -> None:
        self.local.close()


@pytest.fixture()
def gateway() -> Iterator[Gateway]:
    running = Gateway()
    yield running
    running.close()


def http_gateway(gateway: Gateway, timeout_s: float = 5) -> HttpGateway:
    return HttpGateway(
        HttpGatewayConfig(
            url=gateway.url, username="u", password="p", accepted=r"^0: ",
            permanent=r"(?i)invalid", timeout_s=timeout_s,
        )
    )  # fmt: skip


POLICY = Policy(max_attempts=3, backoff_s=10, backoff_max_s=60, quiet=None)


async def run(
    transaction: Transaction,  # noqa: F811
    clock: FrozenClock,
    sms: Any,
    *,
    policy: Policy = POLICY,
    push: Any = None,
) -> DeliveryReport:
    return await deliver(
        transaction, now=clock.now, templates=TEMPLATES, sms=sms, push=push, policy=policy,
        rng=random.Random(7),
    )  # fmt: skip


async def outbox(db: AsyncConnection, **where: Any) -> list[dict[str, Any]]:
    clauses = " AND ".join(f"{k} = :{k}" for k in where) or "true"
    rows = await db.execute(
        text(
            "SELECT id, complaint_id, channel, recipient, template, language, status, attempts,"
            f" next_attempt_at, body, kind, last_error, payload FROM outbox_message WHERE {clauses}"
            " ORDER BY id"
        ),
        where,
    )
    return [dict(r._mapping) for r in rows]


@pytest.fixture()
async def lamp_inspector(db: AsyncConnection) -> int:
    team = await make_team(db, "11110", ["street_lamp", "illegal_parking"])
    return await make_inspector(db, team, lat=JONGNO["lat"], lon=JONGNO["lon"])


# --- templates and the length rule ------------------------------------------------------------


def test_every_language_has_a_received_text_with_the_ticket() -> None:
    values = {"ticket": "261123-000042", "category_name": "x", "link": "http://h/t/1"}
    texts = {lang: TEMPLATES.sms_text("received", lang, values) for lang in Language}
    assert all("261123-000042" in t for t in texts.values())
    assert len(set(texts.values())) == len(Language)  # six languages, six texts
    assert "접수" in texts["ko"] and "受理" in texts["zh"] and "Mã số" in texts["vi"]


def test_a_language_without_a_text_falls_back_to_korean(tmp_path: Path) -> None:
    shutil.copy(message_templates.DEFAULT_DIR / "ko.toml", tmp_path / "ko.toml")
    (tmp_path / "en.toml").write_text('[sms]\nreceived = "Got it: {ticket}"\n', encoding="utf-8")
    loaded = message_templates.load(tmp_path)
    assert loaded.sms_text("received", "en", {"ticket": "T1"}) == "Got it: T1"
    resolved = loaded.sms_text("resolved", "en", {"ticket": "T1", "category_name": "가로등"})
    assert resolved.startswith("[서울120] 접수번호 T1")


@pytest.mark.parametrize(
    ("english", "message"),
    [
        ('[sms]\nreceived = "Ticket {tickt}"\n', "unknown placeholder(s) tickt"),
        ('[sms]\nreceived = "No ticket here"\n', "must contain {ticket}"),
        ('[sms]\nreceived = "Ticket {ticket"\n', "expected '}'"),
        ('[sms]\nreceived = "Ticket {ticket!r}"\n', "only plain {name}"),
        ('[sms]\nwelcome = "Hi {ticket}"\n', "welcome: no such template"),
        ('[push.assigned_to_you]\ntitle = "{ticket}"\n', "needs exactly title and body"),
        ("[sms\n", "assigned_to_you"),
    ],
)
def test_a_broken_template_is_an_error_at_load(tmp_path: Path, english: str, message: str) -> None:
    shutil.copy(message_templates.DEFAULT_DIR / "ko.toml", tmp_path / "ko.toml")
    (tmp_path / "en.toml").write_text(english, encoding="utf-8")
    with pytest.raises(TemplateError) as error:
        message_templates.load(tmp_path)
    assert "en.toml" in str(error.value)
    if message != "assigned_to_you":  # a TOML syntax error: the parser's own words
        assert message in str(error.value)


def test_korean_texts_are_required(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="Korean texts are required"):
        message_templates.load(tmp_path)
    (tmp_path / "ko.toml").write_text('[sms]\nreceived = "{ticket}"\n', encoding="utf-8")
    with pytest.raises(TemplateError, match=r"\[sms\] lacks assigned, duplicate"):
        message_templates.load(tmp_path)


def test_the_server_does_not_start_with_a_broken_template(
    settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "ko.toml").write_text('[sms]\nreceived = "{nope}"\n', encoding="utf-8")
    with pytest.raises(TemplateError, match="nope"):
        create_app(settings=settings.model_copy(update={"templates_dir": tmp_path}))


def test_sms_up_to_90_euc_kr_bytes_then_lms_up_to_2000() -> None:
    assert fit("가" * 45) == ("sms", "가" * 45)  # 2 bytes a syllable in EUC-KR
    assert fit("가" * 46)[0] == "lms"
    assert fit("a" * 90)[0] == "sms" and fit("a" * 91)[0] == "lms"
    # Vietnamese tone marks are not in EUC-KR: two bytes each, as the operators count.
    assert byte_length("Mã số") == 7 and fit("ố" * 45)[0] == "sms" and fit("ố" * 46)[0] == "lms"
    kind, cut = fit("나" * 1500)
    assert kind == "lms" and cut.endswith("…") and byte_length(cut) <= LMS_MAX_BYTES
    assert byte_length(cut) > LMS_MAX_BYTES - 3  # cut at the limit, not well before it


def test_an_unresolved_text_names_the_result_when_no_reason_was_given() -> None:
    payload = {"ticket": "T1", "result_name": "Not found on site", "reason": None}
    row = SimpleNamespace(payload=payload, ticket="T1", address=None, priority=None)
    text = TEMPLATES.sms_text("unresolved", "en", message_values(row, "http://h"))
    assert "could not be resolved (Not found on site)." in text


def test_quiet_hours_across_midnight_in_seoul() -> None:
    quiet = QuietHours.parse("21:00-08:00", "Asia/Seoul")
    assert quiet is not None
    evening = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)  # 21:30 in Seoul
    assert quiet.until(evening) == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 08:00 next day
    early = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)  # 07:00 in Seoul
    assert quiet.until(early) == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert quiet.until(datetime(2026, 11, 23, 1, 0, tzinfo=UTC)) is None  # 10:00
    assert QuietHours.parse("", "Asia/Seoul") is None


# --- what a case's life writes ----------------------------------------------------------------


async def test_a_case_life_writes_each_message_once_in_the_reporters_language(
    client: httpx.AsyncClient, db: AsyncConnection, lamp_inspector: int
) -> None:
    case = await new_case(
        client, category="street_lamp", reporter={"phone": PHONE, "language": "en"}
    )
    # Reported again at the same place: a duplicate, whose reporter speaks Vietnamese.
    again = await new_case(
        client, category="street_lamp", location=case["location"],
        reporter={"phone": OTHER, "language": "vi"},
    )  # fmt: skip
    assert again["status"] == "duplicate"
    version = case["version"]  # a linked duplicate leaves the original's version as it is
    for step in (
        {"to": "assigned", "inspector_id": lamp_inspector},
        {"to": "accepted"},
        {"to": "en_route"},
        {"to": "on_site"},
        {"to": "resolved", "result_code": "fixed_on_site"},
    ):
        response = await move(client, case["id"], version=version, **step)
        assert response.status_code == 200, response.text
        version = response.json()["version"]

    rows = await outbox(db)
    sms = [
        (r["complaint_id"], r["recipient"], r["template"], r["language"])
        for r in rows
        if r["channel"] == "sms"
    ]
    assert sms == [
        (case["id"], PHONE_E164, "received", "en"),
        (again["id"], OTHER_E164, "duplicate", "vi"),  # not also "received"
        # street lamps tell the citizen of the assignment, not of "on the way"
        (case["id"], PHONE_E164, "assigned", "en"),
        (case["id"], PHONE_E164, "resolved", "en"),
        (again["id"], OTHER_E164, "resolved", "vi"),  # the original's result fans out
    ]
    fanned = rows[[r["template"] for r in rows].index("resolved") + 1]
    assert fanned["payload"]["ticket"] == again["ticket"]
    assert fanned["payload"]["original_ticket"] == case["ticket"]
    push = [(r["recipient"], r["template"]) for r in rows if r["channel"] == "push"]
    assert push == [(f"inspector:{lamp_inspector}", "assigned_to_you")]
    assert [r.urgent for r in await _urgency(db)] == [True, True, True, False, False, False]
    assert len({r["id"] for r in rows}) == len(rows) == 6


async def _urgency(db: AsyncConnection) -> list[Any]:
    return list(await db.execute(text("SELECT urgent FROM outbox_message ORDER BY id")))


async def test_a_reassignment_tells_both_inspectors(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    team = await make_team(db, "11110", ["illegal_parking"])
    first, second = [
        await make_inspector(db, team, lat=JONGNO["lat"], lon=JONGNO["lon"]) for _ in range(2)
    ]
    case = await new_case(client, reporter={"phone": PHONE, "language": "ko"})
    moved = await move(client, case["id"], version=1, to="assigned", inspector_id=first)
    again = await move(
        client, case["id"], version=moved.json()["version"], to="assigned", inspector_id=second,
        reason="nearer",
    )  # fmt: skip
    assert again.status_code == 200, again.text
    push = [(r["recipient"], r["template"]) for r in await outbox(db, channel="push")]
    assert push[0] == (f"inspector:{first}", "assigned_to_you")
    assert sorted(push[1:]) == [
        (f"inspector:{first}", "taken_from_you"),
        (f"inspector:{second}", "reassigned_to_you"),
    ]
    # The citizen hears of the first assignment only; parking texts "on the way" instead.
    assert [r["template"] for r in await outbox(db, channel="sms")] == ["received"]


async def test_no_phone_no_text_and_a_rolled_back_change_no_message(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    body = {"reporter": None}
    case = await new_case(client, **body)
    assert await outbox(db, complaint_id=case["id"]) == []
    # A move that fails (a stale version) writes no message either.
    failed = await move(client, case["id"], version=99, to="cancelled", reason="x")
    assert failed.status_code == 409
    assert await outbox(db, complaint_id=case["id"]) == []


# --- the delivery worker ------------------------------------------------------------------------


async def test_delivery_renders_sends_once_and_records(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    clock: FrozenClock,
    transaction: Transaction,  # noqa: F811
    tmp_path: Path,
) -> None:
    case = await new_case(client, reporter={"phone": PHONE, "language": "ja"})
    sink = FileSink(tmp_path / "sms.jsonl")
    report = await run(transaction, clock, sink)
    assert (report.sent, report.claimed) == (1, 1)
    lines = (tmp_path / "sms.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and case["ticket"] in lines[0] and "受付番号" in lines[0]
    (row,) = await outbox(db, complaint_id=case["id"])
    assert row["status"] == "sent" and row["attempts"] == 1 and row["kind"] == "lms"
    assert f"/t/{case['ticket']}" in row["body"] and "違法駐車" in row["body"]
    again = await run(transaction, clock, sink)
    assert again.claimed == 0
    assert len((tmp_path / "sms.jsonl").read_text(encoding="utf-8").splitlines()) == 1


async def test_failures_back_off_then_dead_letter_and_redrive(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    clock: FrozenClock,
    transaction: Transaction,  # noqa: F811
    gateway: Gateway,
) -> None:
    case = await new_case(client, reporter={"phone": PHONE, "language": "ko"})
    sms = http_gateway(gateway)
    gateway.mode = "down"
    report = await run(transaction, clock, sms)
    assert report.retried == 1
    (row,) = await outbox(db, complaint_id=case["id"])
    assert row["status"] == "pending" and row["attempts"] == 1
    assert "503" in row["last_error"]
    # 10 s back-off with jitter in [1/2, 1]: not before 5 s, not after 10 s.
    wait = row["next_attempt_at"] - clock.now()
    assert timedelta(seconds=5) <= wait <= timedelta(seconds=10)
    assert (await run(transaction, clock, sms)).claimed == 0  # not due yet
    clock.set(clock.now() + timedelta(seconds=10))
    await run(transaction, clock, sms)
    (row,) = await outbox(db, complaint_id=case["id"])
    wait = row["next_attempt_at"] - clock.now()
    assert row["attempts"] == 2 and timedelta(seconds=10) <= wait <= timedelta(seconds=20)
    clock.set(clock.now() + timedelta(seconds=20))
    await run(transaction, clock, sms)
    (row,) = await outbox(db, complaint_id=case["id"])
    assert row["status"] == "dead" and row["attempts"] == 3
    assert row["last_error"].startswith("gave up after 3 attempts")

    listed = await client.get("/api/v1/admin/outbox", params={"status": "dead"})
    assert [m["id"] for m in listed.json()["messages"]] == [row["id"]]
    redriven = await client.post("/api/v1/admin/outbox/redrive", json={"ids": [row["id"]]})
    assert redriven.json() == {"ids": [row["id"]]}
    gateway.mode = "accept"
    assert (await run(transaction, clock, sms)).sent == 1
    (row,) = await outbox(db, complaint_id=case["id"])
    assert row["status"] == "sent" and row["attempts"] == 1
    assert len(gateway.requests) == 4  # three failures and the one that took
    assert (
        gateway.requests[-1]["to"] == PHONE_E164 and case["ticket"] in gateway.requests[-1]["text"]
    )
    await sms.aclose()


async def test_permanent_failures_are_dead_at_once(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    clock: FrozenClock,
    transaction: Transaction,  # noqa: F811
    gateway: Gateway,
) -> None:
    case = await new_case(client, reporter={"phone": PHONE, "language": "ko"})
    # A template nobody has, and a number that cannot get texts (written past the API).
    await db.execute(
        text(
            "INSERT INTO outbox_message (complaint_id, channel, recipient, template, language,"
            " idempotency_key, next_attempt_at, created_at) VALUES"
            " (:c, 'sms', :p, 'birthday', 'ko', 'test:1', :now, :now),"
            " (:c, 'sms', '+8200', 'received', 'ko', 'test:2', :now, :now)"
        ),
        {"c": case["id"], "p": PHONE_E164, "now": clock.now()},
    )
    sms = http_gateway(gateway)
    gateway.mode = "refuse"
    report = await run(transaction, clock, sms)
    assert report.dead == 3
    errors = {r["template"] + r["recipient"][-2:]: r["last_error"] for r in await outbox(db)}
    assert errors == {
        "received78": "gateway answered 400: Invalid receiver number, rejected",
        "birthday78": "no SMS template 'birthday'",
        "received00": "the number cannot get texts",
    }
    assert len(gateway.requests) == 1  # only the valid one was tried
    await sms.aclose()


async def test_a_gateway_that_does_not_answer_is_retried(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    clock: FrozenClock,
    transaction: Transaction,  # noqa: F811
    gateway: Gateway,
) -> None:
    case = await new_case(client, reporter={"phone": PHONE, "language": "ko"})
    gateway.mode = "hang"
    sms = http_gateway(gateway, timeout_s=0.3)
    assert (await run(transaction, clock, sms)).retried == 1
    (row,) = await outbox(db, complaint_id=case["id"])
    assert row["status"] == "pending" and row["last_error"] == "the gateway did not answer in time"
    await sms.aclose()


async def test_quiet_hours_hold_status_texts_but_not_the_receipt(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    clock: FrozenClock,
    transaction: Transaction,  # noqa: F811
    tmp_path: Path,
) -> None:
    team = await make_team(db, "11110", ["illegal_parking"])
    inspector = await make_inspector(db, team, lat=JONGNO["lat"], lon=JONGNO["lon"])
    clock.set(datetime(2026, 11, 23, 13, 0, tzinfo=UTC))  # 22:00 in Seoul
    case = await new_case(client, reporter={"phone": PHONE, "language": "ko"})
    version = case["version"]
    for step in (
        {"to": "assigned", "inspector_id": inspector},
        {"to": "accepted"},
        {"to": "en_route"},
    ):
        version = (await move(client, case["id"], version=version, **step)).json()["version"]
    policy = Policy(quiet=QuietHours.parse("21:00-08:00", "Asia/Seoul"))
    sink = FileSink(tmp_path / "sms.jsonl")
    report = await run(transaction, clock, sink, policy=policy)
    assert (report.sent, report.deferred) == (1, 1)  # "received" now, "on the way" waits
    waiting = (await outbox(db, template="en_route"))[0]
    assert waiting["status"] == "pending" and waiting["attempts"] == 0
    assert waiting["next_attempt_at"] == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    clock.set(datetime(2026, 11, 23, 23, 0, tzinfo=UTC))
    assert (await run(transaction, clock, sink, policy=policy)).sent == 1


async def test_stop_opts_out_and_start_opts_back_in(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    clock: FrozenClock,
    transaction: Transaction,  # noqa: F811
    tmp_path: Path,
) -> None:
    inbound = "/api/v1/notifications/sms/inbound"
    answer = await client.get(inbound, params={"from": PHONE_E164, "text": " 수신거부 "})
    assert answer.status_code == 200 and "수신거부" in answer.text
    first = await new_case(client, reporter={"phone": PHONE, "language": "ko"})
    sink = FileSink(tmp_path / "sms.jsonl")
    assert (await run(transaction, clock, sink)).skipped == 1
    (row,) = await outbox(db, complaint_id=first["id"])
    assert row["status"] == "skipped" and row["last_error"] == "the citizen opted out of texts"
    assert not (tmp_path / "sms.jsonl").exists()
    await client.get(inbound, params={"from": "010-1234-5678", "text": "start"})
    await new_case(client, reporter={"phone": PHONE, "language": "ko"})
    assert (await run(transaction, clock, sink)).sent == 1
    # Any other text is no keyword: nothing changes and nothing is answered.
    other = await client.get(inbound, params={"from": PHONE_E164, "text": "언제 오나요?"})
    assert other.status_code == 200 and other.text == ""


async def test_receipts_settle_the_message_and_land_on_the_timeline_once(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    clock: FrozenClock,
    transaction: Transaction,  # noqa: F811
    tmp_path: Path,
) -> None:
    case = await new_case(client, reporter={"phone": PHONE, "language": "ko"})
    await run(transaction, clock, FileSink(tmp_path / "sms.jsonl"))
    (row,) = await outbox(db, complaint_id=case["id"])
    url = "/api/v1/notifications/sms/receipts"
    ack = await client.get(url, params={"message": row["id"], "type": 8, "answer": "ACK/"})
    assert ack.status_code == 200 and (await outbox(db, id=row["id"]))[0]["status"] == "sent"
    for _ in range(2):  # a gateway may repeat a report
        done = await client.get(url, params={"message": row["id"], "type": 1, "at": "1795609548"})
        assert done.status_code == 200
    assert (await outbox(db, id=row["id"]))[0]["status"] == "delivered"
    timeline = (await client.get(f"/api/v1/complaints/{case['ticket']}/events")).json()
    entries = [e for e in timeline["events"] if e["type"].startswith("sms_")]
    assert [(e["type"], e["payload"]["message_id"]) for e in entries] == [
        ("sms_delivered", row["id"])
    ]
    unknown = await client.get(url, params={"message": 999999999, "type": 1})
    assert unknown.status_code == 404
    for bad in ({"message": "abc", "type": 1}, {"message": row["id"], "type": 99}, {"type": 1}):
        assert (await client.get(url, params=bad)).status_code in (400, 422)


async def test_devices_register_idempotently(
    client: httpx.AsyncClient, lamp_inspector: int
) -> None:
    headers = {AS_INSPECTOR: str(lamp_inspector)}
    token = "fcm-token-" + "x" * 40
    for _ in range(2):
        response = await client.post(
            "/api/v1/field/devices", json={"token": token}, headers=headers
        )
        assert response.status_code == 201 and response.json()["inspector_id"] == lamp_inspector
    bad = await client.post("/api/v1/field/devices", json={"token": "a b"}, headers=headers)
    assert bad.status_code == 422
    gone = await client.post(
        "/api/v1/field/devices/unregister", json={"token": token}, headers=headers
    )
    assert gone.status_code == 204
