"""The retention job: a set time after a case is done, its reporter's contact data goes.

What is erased, per case, `contact_retention_days` after its last move into a done status
(resolved, unresolved, referred, closed, cancelled, duplicate; a duplicate waits for its
original too, whose result its reporter is owed):
- the reporter's phone, name and e-mail;
- phone numbers, e-mail addresses and number plates in the description and in the
  timeline's notes (privacy.redact);
- the number on its texts in the outbox (their history stays; one not yet sent is skipped).
Photos (faces, plates) go `photo_retention_days` after the same moment: their files are
deleted, unless the same bytes belong to a photo still kept; the rows stay, marked erased.

What stays is the anonymous case: category, district, point, address, times, statuses,
results. The job is safe in any number of processes: each batch claims its cases with
`FOR UPDATE SKIP LOCKED` and marks them erased in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.attachments.storage import PhotoStore
from dispatch_server.clock import Clock
from dispatch_server.complaints.constants import FINAL_STATUSES, Status, sql_in
from dispatch_server.config import Settings
from dispatch_server.db import AsyncConnectable
from dispatch_server.privacy.redact import redact_case_text, redact_values

logger = logging.getLogger(__name__)

# Statuses in which a case is done for its reporter: the result is known, or it was
# cancelled or merged (migration 0015's index has the same list).
DONE_STATUSES = FINAL_STATUSES | {Status.RESOLVED, Status.UNRESOLVED, Status.REFERRED}
ACTOR = "system:retention"
ERASED_EVENT = "contact_erased"
JOB_ID = "privacy-retention"
_DONE = sql_in(DONE_STATUSES)

# A case is due when it has been done for the retention time, and so has its original
# (a duplicate's reporter is owed the original's result).
_DUE_CASES = f"""
    FROM complaint c
    WHERE c.contact_erased_at IS NULL AND c.status IN ({_DONE}) AND c.updated_at < :cutoff
      AND (c.duplicate_of IS NULL OR EXISTS (
          SELECT FROM complaint o WHERE o.id = c.duplicate_of
             AND o.status IN ({_DONE}) AND o.updated_at < :cutoff))
"""
_COUNT_CASES = text(f"SELECT count(*) {_DUE_CASES}")
_CLAIM_CASES = text(
    f"SELECT c.id {_DUE_CASES} ORDER BY c.updated_at LIMIT :batch FOR UPDATE OF c SKIP LOCKED"
)
# RETURNING sees the row after the update: which fields held something is read before.
_ERASE_CASES = text(
    """
    WITH old AS (
        SELECT id,
            array_to_string(ARRAY[
                CASE WHEN reporter_phone IS NOT NULL THEN 'phone' END,
                CASE WHEN reporter_name IS NOT NULL THEN 'name' END,
                CASE WHEN reporter_email IS NOT NULL THEN 'email' END], ',') AS fields,
            reporter_name AS name
        FROM complaint WHERE id = ANY(:ids)
    )
    UPDATE complaint c
    SET reporter_phone = NULL, reporter_name = NULL, reporter_email = NULL,
        contact_erased_at = :now
    FROM old WHERE c.id = old.id
    RETURNING c.id, c.description, c.address, old.fields, old.name
    """
)
_SET_TEXTS = text(
    "UPDATE complaint SET description = :description, address = :address WHERE id = :id"
)
# Only entries whose text could hold a number or an address are read back to Python.
_NOTED_EVENTS = text(
    r"""
    SELECT id, payload FROM complaint_event
    WHERE complaint_id = ANY(:ids) AND payload::text ~ '[0-9]{4}|@'
    """
)
_SET_PAYLOAD = text("UPDATE complaint_event SET payload = :payload WHERE id = :id").bindparams(
    bindparam("payload", type_=JSONB)
)
# The timeline is append-only (a trigger); erasing personal data is the one rewrite it
# allows, to the payload only, in a transaction that declares it (migration 0015).
_ERASING = text("SET LOCAL dasan.erasing_personal_data = 'on'")
# The timeline says what went, and when (fields: a comma list, empty when there was none).
_ERASED_ENTRIES = text(
    """
    INSERT INTO complaint_event (complaint_id, type, actor, at, payload)
    SELECT e.id, :type, :actor, :now,
           jsonb_build_object('fields', to_jsonb(string_to_array(e.fields, ',')),
                              'after_days', CAST(:days AS numeric))
    FROM unnest(CAST(:ids AS bigint[]), CAST(:fields AS text[])) AS e(id, fields)
    ORDER BY e.id
    """
)
# Texts keep their history without the number; the idempotency key named it too. One not
# sent yet will not be (its number is gone).
_ERASE_MESSAGES = text(
    r"""
    UPDATE outbox_message
    SET recipient = NULL,
        idempotency_key = format('%s:%s:erased-%s:%s', complaint_id, event_id, id, channel),
        status = CASE WHEN status = 'pending' THEN 'skipped' ELSE status END,
        last_error = CASE WHEN status = 'pending'
                          THEN 'not sent: the contact data was erased'
                          ELSE regexp_replace(last_error, '\+?[0-9][0-9 ().-]{7,}[0-9]',
                                              '[삭제됨]', 'g') END
    WHERE complaint_id = ANY(:ids) AND channel = 'sms' AND recipient IS NOT NULL
    """
)
_DUE_PHOTOS = f"""
    FROM attachment a JOIN complaint c ON c.id = a.complaint_id
    WHERE a.erased_at IS NULL AND c.status IN ({_DONE}) AND c.updated_at < :cutoff
"""
_COUNT_PHOTOS = text(f"SELECT count(*) {_DUE_PHOTOS}")
_CLAIM_PHOTOS = text(
    f"SELECT a.id {_DUE_PHOTOS} ORDER BY a.id LIMIT :batch FOR UPDATE OF a SKIP LOCKED"
)
# The files of the photos erased now, less those that photos still kept share.
_ERASE_PHOTOS = text(
    """
    WITH erased AS (
        UPDATE attachment SET erased_at = :now WHERE id = ANY(:ids)
        RETURNING original_key, served_key, thumbnail_key
    ), keys AS (
        SELECT DISTINCT unnest(ARRAY[original_key, served_key, thumbnail_key]) AS key
        FROM erased
    )
    SELECT k.key FROM keys k
    WHERE NOT EXISTS (
        SELECT FROM attachment kept
        WHERE kept.erased_at IS NULL AND kept.id <> ALL(:ids)
          AND k.key IN (kept.original_key, kept.served_key, kept.thumbnail_key))
    """
)


@dataclass
class Erasure:
    """What one run erased."""

    cases: int = 0
    texts_redacted: int = 0
    messages: int = 0
    photos: int = 0
    files_deleted: int = 0
    file_errors: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.cases or self.photos or self.file_errors)


async def _erase_contacts(
    connection: AsyncConnection, *, ids: list[int], now: datetime, days: float
) -> tuple[int, int]:
    """Erase the cases' contact data; (texts redacted, messages emptied)."""
    erased = (await connection.execute(_ERASE_CASES, {"ids": ids, "now": now})).all()
    # The free texts lose what named or reached the reporter (their name too, read before
    # it is erased): the description, and the address as it was typed.
    descriptions = []
    for row in erased:
        description = redact_case_text(row.description, row.name)
        address = None if row.address is None else redact_case_text(row.address, row.name)
        if (description, address) != (row.description, row.address):
            descriptions.append({"id": row.id, "description": description, "address": address})
    if descriptions:
        await connection.execute(_SET_TEXTS, descriptions)
    notes = []
    for row in (await connection.execute(_NOTED_EVENTS, {"ids": ids})).all():
        cleaned = redact_values(row.payload)
        if cleaned != row.payload:
            notes.append({"id": row.id, "payload": cleaned})
    if notes:
        await connection.execute(_ERASING)
        await connection.execute(_SET_PAYLOAD, notes)
    await connection.execute(
        _ERASED_ENTRIES,
        {
            "ids": [row.id for row in erased],
            "fields": [row.fields for row in erased],
            "type": ERASED_EVENT, "actor": ACTOR, "now": now, "days": days,
        },
    )  # fmt: skip
    messages = (await connection.execute(_ERASE_MESSAGES, {"ids": ids})).rowcount
    return len(descriptions) + len(notes), messages


async def erase_due(
    transaction: Callable[[], AsyncConnectable],
    *,
    now: datetime,
    settings: Settings,
    photos: PhotoStore,
    dry_run: bool = False,
) -> Erasure:
    """Erase whatever is due at `now`, batch by batch, each batch committed on its own.

    With `dry_run`, count what is due and change nothing.
    """
    report = Erasure()
    contact_days = settings.contact_retention_days
    photo_days = settings.photo_retention_days
    contacts = {"cutoff": now - timedelta(days=contact_days), "batch": settings.retention_batch}
    pictures = {"cutoff": now - timedelta(days=photo_days), "batch": settings.retention_batch}
    if dry_run:
        async with transaction() as connection:
            report.cases = (await connection.execute(_COUNT_CASES, contacts)).scalar_one()
            report.photos = (await connection.execute(_COUNT_PHOTOS, pictures)).scalar_one()
        return report
    while True:
        async with transaction() as connection:
            ids = list((await connection.execute(_CLAIM_CASES, contacts)).scalars())
            if not ids:
                break
            redacted, messages = await _erase_contacts(
                connection, ids=ids, now=now, days=contact_days
            )
        report.cases += len(ids)
        report.texts_redacted += redacted
        report.messages += messages
    while True:
        async with transaction() as connection:
            ids = list((await connection.execute(_CLAIM_PHOTOS, pictures)).scalars())
            if not ids:
                break
            keys = (await connection.execute(_ERASE_PHOTOS, {"ids": ids, "now": now})).scalars()
            orphaned = list(keys)
        report.photos += len(ids)
        # Files go once their rows say so (committed): a failure leaves a file too many,
        # never a kept photo without its file.
        for key in orphaned:
            try:
                photos.delete(key)
                report.files_deleted += 1
            except OSError as exc:
                report.file_errors.append(f"{key}: {exc}")
                logger.warning("retention: photo file %s not deleted: %s", key, exc)
    return report


async def run_job(
    transaction: Callable[[], AsyncConnectable],
    *,
    clock: Clock,
    settings: Settings,
    photos: PhotoStore,
) -> Erasure | None:
    """One scheduled run; a failure is logged and the next day's run catches up."""
    try:
        report = await erase_due(transaction, now=clock.now(), settings=settings, photos=photos)
    except Exception:
        logger.exception("retention run failed; the next run catches up")
        return None
    if report:
        logger.info("retention: %s", report)
    return report


def add_job(
    scheduler: AsyncIOScheduler,
    transaction: Callable[[], AsyncConnectable],
    *,
    clock: Clock,
    settings: Settings,
    photos: PhotoStore,
) -> None:
    """Run the retention job daily at `settings.retention_run_at` in the city's zone.

    Whatever a missed day left is due the next run: the job looks for everything older
    than the retention time, not for one day's cases.
    """
    hour, minute = (int(part) for part in settings.retention_run_at.split(":"))
    scheduler.add_job(
        run_job,
        CronTrigger(hour=hour, minute=minute, timezone=settings.timezone),
        kwargs={"transaction": transaction, "clock": clock, "settings": settings,
                "photos": photos},
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )  # fmt: skip
