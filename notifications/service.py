"""Notifications' services: channels from settings, receipts, opt-outs, devices, dead letters."""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.config import Settings
from dispatch_server.errors import NotFound
from dispatch_server.phones import PhoneRejected, mask_phone
from dispatch_server.privacy.redact import redact
from notifications.sms import (
    FileSink,
    HttpGateway,
    HttpGatewayConfig,
    SmsGateway,
    fit,
    kannel,
)
from notifications.templates import Templates, UnknownTemplate
from notifications.worker import Policy, QuietHours, message_values

logger = logging.getLogger(__name__)

ACTOR = "system:sms"
# Kannel's report types (%d): 1 delivered to the phone, 2 not delivered, 4 buffered by the
# centre, 8 taken by the centre, 16 refused by the centre.
DELIVERED, UNDELIVERED, BUFFERED, SMSC_ACK, SMSC_NACK = 1, 2, 4, 8, 16
FINAL = {DELIVERED: "delivered", UNDELIVERED: "failed", SMSC_NACK: "failed"}
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "수신거부", "거부"})
START_WORDS = frozenset({"START", "UNSTOP", "수신허용", "수신동의"})


def sms_gateway(settings: Settings) -> SmsGateway:
    """The SMS gateway the settings name."""
    if settings.sms_gateway == "kannel":
        return HttpGateway(
            kannel(
                sendsms_url=settings.sms_gateway_url,
                username=settings.sms_gateway_username,
                password=settings.sms_gateway_password,
                sender=settings.sms_sender,
                receipt_base=settings.public_url,
                callback_token=settings.sms_callback_token,
            ),
            pool_size=settings.outbox_concurrency,
        )
    if settings.sms_gateway == "http":
        options: dict[str, Any] = {
            "url": settings.sms_gateway_url,
            "username": settings.sms_gateway_username,
            "password": settings.sms_gateway_password,
            "sender": settings.sms_sender,
            **settings.sms_http_options,
        }
        for name in ("extra", "kind_values"):
            if name in options:
                value = options[name]
                options[name] = tuple(
                    tuple(v) if isinstance(v, list) else v
                    for v in (value.items() if isinstance(value, dict) else value)
                )
        return HttpGateway(HttpGatewayConfig(**options), pool_size=settings.outbox_concurrency)
    return FileSink(settings.sms_file)


def push_sender(settings: Settings):  # type: ignore[no-untyped-def]
    """FCM when credentials are configured, else None (pushes are skipped, with the reason)."""
    if settings.fcm_credentials is None:
        return None
    from notifications.push import FcmPush

    return FcmPush(
        settings.fcm_credentials,
        project_id=settings.fcm_project_id,
        endpoint=settings.fcm_endpoint,
    )


def policy(settings: Settings) -> Policy:
    return Policy(
        max_attempts=settings.outbox_max_attempts,
        backoff_s=settings.outbox_backoff_seconds,
        backoff_max_s=settings.outbox_backoff_max_seconds,
        quiet=QuietHours.parse(settings.quiet_hours, settings.timezone),
        public_url=settings.public_url,
        concurrency=settings.outbox_concurrency,
    )


# --- receipts -------------------------------------------------------------------------------

_RECEIPT = text(
    """
    WITH message AS (
        UPDATE outbox_message SET
            status = CAST(:status AS varchar),
            delivered_at = CASE WHEN :status = 'delivered' THEN CAST(:now AS timestamptz) END,
            last_error = CASE WHEN :status = 'failed' THEN CAST(:answer AS text)
                              ELSE last_error END
        WHERE id = :id AND channel = 'sms' AND status = 'sent'
        RETURNING id, complaint_id, kind
    )
    INSERT INTO complaint_event (complaint_id, type, actor, at, payload)
    SELECT complaint_id, CASE WHEN :status = 'delivered' THEN 'sms_delivered'
                              ELSE 'sms_failed' END,
           :actor, :now,
           jsonb_build_object('message_id', id, 'kind', kind,
                              'report', CAST(:report AS integer),
                              'answer', CAST(:answer AS text),
                              'reported_at', CAST(:reported_at AS text))
    FROM message WHERE complaint_id IS NOT NULL
    RETURNING id
    """
)
# Locked: a report can overtake the worker's commit of "sent" (Kannel reports within
# milliseconds); the lock waits for that commit and then reads the row as it stands.
_MESSAGE = text(
    "SELECT id, status FROM outbox_message WHERE id = :id AND channel = 'sms' FOR UPDATE"
)


@dataclass(frozen=True)
class ReceiptOutcome:
    known: bool
    final: str | None  # delivered | failed, when the report settled it
    recorded: bool  # a timeline entry was written (not a repeat)


async def record_receipt(
    connection: AsyncConnection,
    *,
    message_id: int,
    report: int,
    answer: str,
    reported_at: str,
    now: datetime,
) -> ReceiptOutcome:
    """A gateway's delivery report: a final one settles the message and lands on the case's
    timeline (once: a repeated report changes nothing); an intermediate one is logged."""
    message = (await connection.execute(_MESSAGE, {"id": message_id})).first()
    if message is None:
        return ReceiptOutcome(known=False, final=None, recorded=False)
    final = FINAL.get(report)
    if final is None:
        logger.info("SMS %s: intermediate report %s (%s)", message_id, report, answer)
        return ReceiptOutcome(known=True, final=None, recorded=False)
    written = (
        await connection.execute(
            _RECEIPT,
            {
                "id": message_id, "status": final, "now": now, "answer": answer[:500],
                "report": report, "reported_at": reported_at[:50], "actor": ACTOR,
            },
        )
    ).first()  # fmt: skip
    return ReceiptOutcome(known=True, final=final, recorded=written is not None)


# --- opt-out ----------------------------------------------------------------------------------


def keyword(message: str) -> str | None:
    """ "stop" or "start" when an incoming text asks for it, else None."""
    word = unicodedata.normalize("NFKC", message).strip().strip(".!").replace(" ", "").upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return None


async def opt_out(connection: AsyncConnection, *, phone: str, source: str, now: datetime) -> None:
    await connection.execute(
        text(
            "INSERT INTO sms_opt_out (phone, source, opted_out_at) VALUES (:phone, :source, :now)"
            " ON CONFLICT (phone) DO NOTHING"
        ),
        {"phone": phone, "source": source, "now": now},
    )


async def opt_in(connection: AsyncConnection, *, phone: str) -> bool:
    result = await connection.execute(
        text("DELETE FROM sms_opt_out WHERE phone = :phone"), {"phone": phone}
    )
    return bool(result.rowcount)


# --- devices ----------------------------------------------------------------------------------


async def register_device(
    connection: AsyncConnection, *, inspector_id: int, token: str, platform: str, now: datetime
) -> dict[str, Any]:
    """The phone's token for this inspector (a token seen before moves to them)."""
    row = (
        await connection.execute(
            text(
                """
                INSERT INTO device (inspector_id, token, platform, registered_at, last_seen_at)
                SELECT id, :token, :platform, :now, :now FROM inspector WHERE id = :inspector_id
                ON CONFLICT (token) DO UPDATE SET
                    inspector_id = EXCLUDED.inspector_id, platform = EXCLUDED.platform,
                    last_seen_at = EXCLUDED.last_seen_at
                RETURNING id, inspector_id, platform, registered_at, last_seen_at
                """
            ),
            {"inspector_id": inspector_id, "token": token, "platform": platform, "now": now},
        )
    ).first()
    if row is None:
        raise NotFound(f"no inspector has id {inspector_id}", code="unknown_inspector")
    return dict(row._mapping)


async def unregister_device(connection: AsyncConnection, *, inspector_id: int, token: str) -> bool:
    result = await connection.execute(
        text("DELETE FROM device WHERE token = :token AND inspector_id = :inspector_id"),
        {"token": token, "inspector_id": inspector_id},
    )
    return bool(result.rowcount)


# --- dead letters -----------------------------------------------------------------------------

_COLUMNS = (
    "id, complaint_id, event_id, channel, recipient, template, language, status, attempts,"
    " next_attempt_at, created_at, sent_at, delivered_at, provider_id, kind, last_error"
)


async def list_messages(
    connection: AsyncConnection,
    *,
    status: str | None,
    complaint_id: int | None,
    after_id: int,
    limit: int,
) -> list[dict[str, Any]]:
    """Messages oldest first, paged by id, citizens' numbers masked."""
    rows = await connection.execute(
        text(
            f"SELECT {_COLUMNS} FROM outbox_message"
            " WHERE (CAST(:status AS text) IS NULL OR status = :status)"
            " AND (CAST(:complaint_id AS bigint) IS NULL OR complaint_id = :complaint_id)"
            " AND id > :after_id ORDER BY id LIMIT :limit"
        ),
        {"status": status, "complaint_id": complaint_id, "after_id": after_id, "limit": limit},
    )
    return [_without_numbers(dict(r._mapping)) for r in rows]


def _without_numbers(row: dict[str, Any]) -> dict[str, Any]:
    """A message as operators see it: no citizen's number in full (only agents and a case's
    dispatchers see one, logged): the recipient masked, any number in the error blanked."""
    if row["channel"] == "sms" and row["recipient"] is not None:
        try:
            row["recipient"] = mask_phone(row["recipient"])
        except PhoneRejected:
            row["recipient"] = "***"
    if row["last_error"]:
        row["last_error"] = redact(row["last_error"])
    return row


async def redrive(
    connection: AsyncConnection, *, ids: list[int] | None, now: datetime
) -> list[int]:
    """Dead letters (these, or all when `ids` is None) back in the queue, attempts from 0."""
    rows = await connection.execute(
        text(
            "UPDATE outbox_message SET status = 'pending', attempts = 0, next_attempt_at = :now,"
            " last_error = 're-driven after: ' || coalesce(last_error, '')"
            " WHERE status = 'dead' AND (CAST(:ids AS bigint[]) IS NULL OR id = ANY(:ids))"
            " RETURNING id"
        ),
        {"ids": ids, "now": now},
    )
    return sorted(r.id for r in rows)


_TEXTS = text(
    """
    SELECT o.id, o.template, o.language, o.payload, o.body, o.status, o.kind, o.created_at,
           o.sent_at, o.delivered_at, o.recipient IS NULL AS erased, c.ticket, c.address,
           c.priority
    FROM outbox_message o JOIN complaint c ON c.id = o.complaint_id
    WHERE o.complaint_id = :complaint_id AND o.channel = 'sms'
    ORDER BY o.id
    """
)


async def citizen_texts(
    connection: AsyncConnection, *, complaint_id: int, templates: Templates, public_url: str
) -> list[dict[str, Any]]:
    """The case's texts to its reporter (and its duplicates' reporters) as they read them,
    sent or waiting; no number (the caller checked the case is in their scope)."""
    texts = []
    for row in await connection.execute(_TEXTS, {"complaint_id": complaint_id}):
        body = row.body
        if body is None:
            try:
                rendered = templates.sms_text(row.template, row.language,
                                              message_values(row, public_url))  # fmt: skip
            except UnknownTemplate:
                rendered = ""
            body = fit(rendered)[1]
        texts.append({
            "id": row.id, "template": row.template, "language": row.language, "text": body,
            "status": row.status, "kind": row.kind or fit(body)[0], "created_at": row.created_at,
            "sent_at": row.sent_at, "delivered_at": row.delivered_at, "erased": row.erased,
        })  # fmt: skip
    return texts
