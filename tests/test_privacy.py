"""Personal data: the contact endpoint and its access log, the retention job, redaction."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.accounts.credentials import Role
from dispatch_server.attachments.storage import DiskStore
from dispatch_server.clock import FrozenClock
from dispatch_server.config import Settings
from dispatch_server.privacy import redact as redaction
from dispatch_server.privacy import retention
from dispatch_server.privacy.redact import MARK, redact, redact_values
from tests.auth import as_inspector, bearer, token_for
from tests.conftest import FROZEN_AT
from tests.factories import GANGNAM, complaint_body
from tests.test_dispatch import make_inspector, make_team, move
from tests.test_photos import jpeg
from tests.test_sla import Transaction, transaction  # noqa: F401 (a fixture)

pytestmark = pytest.mark.anyio

REPORTER = {"phone": "010-2345-6789", "language": "en", "name": "Kim Minsu",
            "email": "Minsu@Example.COM"}  # fmt: skip


async def logged(db: AsyncConnection) -> list[dict[str, Any]]:
    rows = await db.execute(
        text("SELECT username, role, complaint_id, fields, purpose, client_address"
             " FROM personal_data_access ORDER BY id")
    )  # fmt: skip
    return [dict(row._mapping) for row in rows]


async def test_agents_read_the_contact_in_full_and_every_read_is_logged(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    case = (await client.post("/api/v1/complaints", json=complaint_body(reporter=REPORTER))).json()
    # The case itself shows the number masked, and nothing of the name or e-mail.
    assert case["reporter"] == {"phone_masked": "+82******6789", "language": "en"}
    agent = await token_for(db, Role.AGENT, username="agent-kim")
    response = await client.get(
        f"/api/v1/complaints/{case['ticket']}/contact",
        params={"purpose": "call back about the lamp"},
        headers=bearer(agent),
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    contact = response.json()
    assert contact == {
        "ticket": case["ticket"], "phone": "+821023456789", "phone_national": "010-2345-6789",
        "name": "Kim Minsu", "email": "Minsu@example.com", "language": "en", "erased_at": None,
        "access_log_id": contact["access_log_id"],
    }  # fmt: skip
    assert contact["access_log_id"] is not None
    assert await logged(db) == [
        {"username": "agent-kim", "role": "agent", "complaint_id": case["id"],
         "fields": ["phone", "name", "email"], "purpose": "call back about the lamp",
         "client_address": "127.0.0.1"},
    ]  # fmt: skip
    # Admins audit the reads (they do not read the numbers themselves).
    audit = (await client.get("/api/v1/admin/privacy/access-log",
                              params={"ticket": case["ticket"]})).json()  # fmt: skip
    assert [(e["username"], e["ticket"], e["fields"]) for e in audit["entries"]] == [
        ("agent-kim", case["ticket"], ["phone", "name", "email"])
    ]
    assert audit["next_before_id"] is None


async def test_a_dispatcher_reads_only_their_districts_contacts(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    case = (await client.post(
        "/api/v1/complaints", json=complaint_body(location=GANGNAM, reporter=REPORTER)
    )).json()  # fmt: skip
    jongno = await token_for(db, Role.DISPATCHER, districts=["11110"])
    gangnam = await token_for(db, Role.DISPATCHER, districts=["11680"])
    path = f"/api/v1/complaints/{case['ticket']}/contact"
    assert (await client.get(path, headers=bearer(jongno))).status_code == 404
    assert await logged(db) == []  # nothing read, nothing logged
    assert (await client.get(path, headers=bearer(gangnam))).json()["phone"] == "+821023456789"
    assert [entry["role"] for entry in await logged(db)] == ["dispatcher"]


async def test_nothing_to_reveal_is_not_logged(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    case = (await client.post("/api/v1/complaints", json=complaint_body(reporter=None))).json()
    contact = (await client.get(f"/api/v1/complaints/{case['ticket']}/contact")).json()
    assert contact["phone"] is None and contact["access_log_id"] is None
    assert await logged(db) == []


@pytest.mark.parametrize(
    ("email", "problem"),
    [("not-an-address", "e-mail"), ("a@b", "e-mail"), ("two@@example.com", "e-mail"),
     ("x" * 250 + "@example.com", "at most")],
)  # fmt: skip
async def test_bad_reporter_e_mail_is_422(
    client: httpx.AsyncClient, email: str, problem: str
) -> None:
    body = complaint_body(reporter={"phone": "010-2345-6789", "email": email})
    response = await client.post("/api/v1/complaints", json=body)
    assert response.status_code == 422 and problem in response.text


# --- redaction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("연락처 010-1234-5678 로 전화주세요", f"연락처 {MARK} 로 전화주세요"),
        ("call +82 10 1234 5678 now", f"call {MARK} now"),
        ("사무실 02-123-4567", f"사무실 {MARK}"),
        ("01012345678", MARK),
        ("전화 ０１０－１２３４－５６７８ 주세요", f"전화 {MARK} 주세요"),  # full-width
        ("tel. 010–1234–5678", f"tel. {MARK}"),  # en dashes
        ("（０２）１２３ ４５６７", MARK),
        ("12가3456 차량이 소화전 앞에", f"{MARK} 차량이 소화전 앞에"),
        ("서울 34나 5678 불법주차", f"{MARK} 불법주차"),
        ("123허 4567 렌터카", f"{MARK} 렌터카"),
        ("mail me: kim.minsu@example.co.kr", f"mail me: {MARK}"),
        # What must stay: addresses, dates, times, tickets, counts.
        ("서울특별시 종로구 종로 100 앞", "서울특별시 종로구 종로 100 앞"),
        ("종로3가 123-4 앞, 2026-11-23 10:00", "종로3가 123-4 앞, 2026-11-23 10:00"),
        ("접수번호 261123-000123 건", "접수번호 261123-000123 건"),
        ("세종대로 175, 5대 주차", "세종대로 175, 5대 주차"),
    ],
)
def test_redaction_blanks_numbers_addresses_and_plates(before: str, after: str) -> None:
    assert redact(before) == after


def test_redaction_skips_only_text_no_pattern_can_match() -> None:
    # `redact` looks for an @ or six digits before it runs the patterns: text built of the
    # patterns' own parts, with and without enough digits, is blanked as the patterns alone
    # would blank it.
    rng = random.Random(7)
    parts = ["0", "1", "12", "123", "1234", "+82", "(02)", " ", "-", ".", "가", "서울", "나",
             "@", "kim", ".kr", "example.com", "민원", "３"]  # fmt: skip
    checked = skipped = 0
    for _ in range(20_000):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(1, 12)))
        full = text
        for pattern in (redaction._EMAIL, redaction._PLATE, redaction._PHONE):
            full = pattern.sub(MARK, full)
        assert redact(text) == full, text
        checked += 1
        skipped += redaction._CANDIDATE.search(text) is None
    assert 0 < skipped < checked  # both ways were taken


def test_redaction_reaches_into_json_values() -> None:
    payload = {"note": "owner 010-1234-5678", "nested": [{"reason": "12가3456"}], "n": 3}
    assert redact_values(payload) == {"note": f"owner {MARK}", "nested": [{"reason": MARK}],
                                      "n": 3}  # fmt: skip


# --- the retention job ----------------------------------------------------------------------


@pytest.fixture()
def retention_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"contact_retention_days": 90, "photo_retention_days": 365})


async def resolved_case(
    client: httpx.AsyncClient, inspector: int, *, note: str = "", **body: Any
) -> dict[str, Any]:
    """A case taken to `resolved` (at the test's frozen time)."""
    case = (await client.post("/api/v1/complaints", json=complaint_body(**body))).json()
    version = case["version"]
    steps: list[dict[str, Any]] = [
        {"to": "assigned", "inspector_id": inspector}, {"to": "accepted"}, {"to": "on_site"},
        {"to": "resolved", "result_code": "ticket_issued", "note": note or None},
    ]  # fmt: skip
    for step in steps:
        moved = await move(client, case["id"], version=version, **step)
        assert moved.status_code == 200, moved.text
        version = moved.json()["version"]
    return dict(moved.json())


async def reporter_of(db: AsyncConnection, case_id: int) -> dict[str, Any]:
    row = await db.execute(
        text("SELECT reporter_phone, reporter_name, reporter_email, contact_erased_at,"
             " description, address, status, category_code, district_code FROM complaint"
             " WHERE id = :id"),
        {"id": case_id},
    )  # fmt: skip
    return dict(row.one()._mapping)


async def test_contact_data_goes_90_days_after_the_case_is_done(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    transaction: Transaction,  # noqa: F811
    retention_settings: Settings,
    clock: FrozenClock,
) -> None:
    inspector = await make_inspector(db, await make_team(db, "11110"), lat=37.57, lon=126.99)
    done = await resolved_case(
        client, inspector, reporter=REPORTER, note="owner says call 010-9876-5432",
        description="12가3456 차량이 소화전 앞에 있어요. 제 번호는 010-2345-6789. Kim Minsu",
        address="Kim Minsu's gate, 010-2345-6789",
    )  # fmt: skip
    still_open = (
        await client.post("/api/v1/complaints", json=complaint_body(reporter=REPORTER))
    ).json()
    pending = await db.execute(
        text("SELECT count(*) FROM outbox_message WHERE complaint_id = :c AND status = 'pending'"),
        {"c": done["id"]},
    )
    assert pending.scalar_one() >= 1  # the received and resolved texts are still to go
    store = DiskStore(retention_settings.media_dir)

    early = await retention.erase_due(
        transaction, now=FROZEN_AT + timedelta(days=89), settings=retention_settings, photos=store
    )
    assert early.cases == 0
    report = await retention.erase_due(
        transaction, now=FROZEN_AT + timedelta(days=91), settings=retention_settings, photos=store
    )
    assert report.cases == 1 and report.messages >= 2 and report.texts_redacted >= 2
    erased = await reporter_of(db, done["id"])
    assert erased["reporter_phone"] is None and erased["reporter_name"] is None
    assert erased["reporter_email"] is None
    assert erased["contact_erased_at"] == FROZEN_AT + timedelta(days=91)
    assert erased["description"] == f"{MARK} 차량이 소화전 앞에 있어요. 제 번호는 {MARK}. {MARK}"
    assert erased["address"] == f"{MARK}'s gate, {MARK}"  # as typed: the name, the number
    # The anonymous case stays for the statistics.
    assert (erased["status"], erased["category_code"], erased["district_code"]) == (
        "resolved", "illegal_parking", "11110",
    )  # fmt: skip
    # The open case keeps its reporter (it is not done, however old).
    assert (await reporter_of(db, still_open["id"]))["reporter_phone"] == "+821023456789"
    # The timeline says what went; its notes lose their numbers.
    events = (await client.get(f"/api/v1/complaints/{done['ticket']}/events")).json()["events"]
    assert events[-1]["type"] == "contact_erased" and events[-1]["actor"] == "system:retention"
    assert events[-1]["payload"] == {"fields": ["phone", "name", "email"], "after_days": 90}
    resolved = next(e for e in events if e["type"] == "resolved")
    assert resolved["payload"]["note"] == f"owner says call {MARK}"
    # Its texts keep their history, without the number; one not sent yet will not be.
    messages = await db.execute(
        text("SELECT recipient, status, idempotency_key, last_error FROM outbox_message"
             " WHERE complaint_id = :c AND channel = 'sms'"),
        {"c": done["id"]},
    )  # fmt: skip
    for recipient, status, key, error in messages:
        assert recipient is None and "+82" not in key
        assert status == "skipped" and error == "not sent: the contact data was erased"
    # Contact asked for now reveals nothing, and logs nothing.
    contact = (await client.get(f"/api/v1/complaints/{done['ticket']}/contact")).json()
    assert contact["phone"] is None and contact["erased_at"] is not None
    assert contact["access_log_id"] is None
    # A second run finds nothing more to do.
    again = await retention.erase_due(
        transaction, now=FROZEN_AT + timedelta(days=92), settings=retention_settings, photos=store
    )
    assert again.cases == 0


async def test_a_duplicate_keeps_its_reporter_while_its_original_is_open(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    transaction: Transaction,  # noqa: F811
    retention_settings: Settings,
) -> None:
    original = (await client.post("/api/v1/complaints", json=complaint_body())).json()
    second = (
        await client.post("/api/v1/complaints", json=complaint_body(reporter=REPORTER))
    ).json()
    merged = await client.post(
        f"/api/v1/dispatch/complaints/{second['id']}/merge",
        json={"into": original["ticket"], "version": second["version"]},
    )
    assert merged.status_code == 200 and merged.json()["status"] == "duplicate"
    store = DiskStore(retention_settings.media_dir)
    later = FROZEN_AT + timedelta(days=400)
    report = await retention.erase_due(
        transaction, now=later, settings=retention_settings, photos=store
    )
    assert report.cases == 0  # its reporter is owed the original's result
    assert (await reporter_of(db, second["id"]))["reporter_phone"] == "+821023456789"
    dry = await retention.erase_due(
        transaction, now=later, settings=retention_settings, photos=store, dry_run=True
    )
    assert dry.cases == 0


async def test_photos_go_a_year_after_unless_a_kept_case_has_the_same_bytes(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    transaction: Transaction,  # noqa: F811
    retention_settings: Settings,
    clock: FrozenClock,
) -> None:
    inspector = await make_inspector(db, await make_team(db, "11110"), lat=37.57, lon=126.99)
    shared, own = jpeg(colour="green"), jpeg(colour="purple")

    async def photographed(*photos: bytes) -> dict[str, Any]:
        case = (await client.post("/api/v1/complaints", json=complaint_body())).json()
        moved = await move(client, case["id"], to="assigned", version=1, inspector_id=inspector)
        uploaded = await client.post(
            f"/api/v1/field/complaints/{case['id']}/photos",
            files=[("photos", (f"p{i}.jpg", data, "image/jpeg")) for i, data in enumerate(photos)],
            headers=as_inspector(inspector),
        )
        assert uploaded.status_code == 201, uploaded.text
        return dict(moved.json())

    old = await photographed(shared, own)
    for step in ({"to": "accepted"}, {"to": "on_site"},
                 {"to": "resolved", "result_code": "ticket_issued"}):  # fmt: skip
        version = (await client.get(f"/api/v1/complaints/{old['ticket']}")).json()["version"]
        assert (await move(client, old["id"], version=version, **step)).status_code == 200
    kept = await photographed(shared)  # still open: its photo file must stay
    store = DiskStore(retention_settings.media_dir)
    files_before = sorted(p.name for p in Path(retention_settings.media_dir).rglob("*.*"))

    report = await retention.erase_due(
        transaction, now=FROZEN_AT + timedelta(days=366), settings=retention_settings,
        photos=store,
    )  # fmt: skip
    assert report.photos == 2 and report.file_errors == []
    listed = (await client.get(f"/api/v1/dispatch/complaints/{old['id']}/photos")).json()
    assert listed["photos"] == []
    kept_photos = (await client.get(f"/api/v1/dispatch/complaints/{kept['id']}/photos")).json()
    (kept_photo,) = kept_photos["photos"]
    assert (await client.get(kept_photo["url"])).status_code == 200  # its file is still there
    files_after = sorted(p.name for p in Path(retention_settings.media_dir).rglob("*.*"))
    # The purple photo's three files went (original, served copy, thumbnail); the shared
    # photo's stayed for the open case.
    assert len(files_before) - len(files_after) == report.files_deleted == 3
    erased = await db.execute(
        text("SELECT count(*) FROM attachment WHERE complaint_id = :c AND erased_at IS NOT NULL"),
        {"c": old["id"]},
    )
    assert erased.scalar_one() == 2  # the rows stay, for the statistics


def test_the_job_runs_daily_at_its_hour_in_the_citys_zone(settings: Settings) -> None:
    scheduler = AsyncIOScheduler()
    retention.add_job(
        scheduler, lambda: None, clock=FrozenClock(FROZEN_AT),  # type: ignore[arg-type,return-value]
        settings=settings.model_copy(update={"retention_run_at": "03:30"}),
        photos=DiskStore(settings.media_dir),
    )  # fmt: skip
    job = scheduler.get_job(retention.JOB_ID)
    fire = job.trigger.get_next_fire_time(None, FROZEN_AT)  # 2026-11-23 10:00 in Seoul
    assert fire.isoformat() == "2026-11-24T03:30:00+09:00"
    assert job.trigger.get_next_fire_time(fire, fire + timedelta(seconds=1)) == fire + timedelta(
        days=1
    )


@pytest.mark.parametrize(
    ("erasing", "change", "allowed"),
    [
        (False, "payload = '{}'", False),
        (True, "payload = '{}'", True),
        (True, "type = 'cancelled'", False),
        (True, "actor = 'someone else'", False),
        (True, "at = at - interval '1 day'", False),
    ],
)
async def test_the_timeline_is_append_only_but_for_erasing_personal_data(
    client: httpx.AsyncClient, db: AsyncConnection, erasing: bool, change: str, allowed: bool
) -> None:
    case = (await client.post("/api/v1/complaints", json=complaint_body())).json()
    async with db.begin_nested() as savepoint:
        if erasing:
            await db.execute(text("SET LOCAL dasan.erasing_personal_data = 'on'"))
        statement = text(f"UPDATE complaint_event SET {change} WHERE complaint_id = :c")
        if allowed:
            await db.execute(statement, {"c": case["id"]})
        else:
            with pytest.raises(Exception, match="append-only"):
                await db.execute(statement, {"c": case["id"]})
        await savepoint.rollback()
    async with db.begin_nested() as savepoint:
        await db.execute(text("SET LOCAL dasan.erasing_personal_data = 'on'"))
        with pytest.raises(Exception, match="append-only"):
            await db.execute(
                text("DELETE FROM complaint_event WHERE complaint_id = :c"), {"c": case["id"]}
            )
        await savepoint.rollback()
