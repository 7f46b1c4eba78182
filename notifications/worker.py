"""The delivery worker: pending outbox rows out through their channel, each sent once.

A batch is claimed with `FOR UPDATE SKIP LOCKED` and held until its outcome is written,
so two workers never hold the same row; the texts of a batch go out concurrently. Per row:

- a citizen text in quiet hours that is not urgent waits for their end (no attempt spent);
- a phone that opted out, or a push to someone without a registered device, is `skipped`;
- an unknown template, a number that cannot be texted, a gateway's "never" (4xx of its
  permanent kind) is `dead` at once, with the reason;
- a timeout, a refused connection, a 5xx is retried after an exponential back-off with
  jitter, and is `dead` after `max_attempts`;
- otherwise `sent`, with the provider's id, the text as sent and its kind (sms/lms);
  a receipt later makes it `delivered` or `failed`.

What is not guaranteed: a worker killed after the gateway took a text and before its
batch committed leaves the row pending, and it is sent again (the gateways have no
idempotency key to send with it). The window is one batch's round trips.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.db import AsyncConnectable
from dispatch_server.privacy.redact import redact
from notifications.sms import GatewayError, OutgoingSms, SmsGateway, fit
from notifications.templates import Templates, UnknownTemplate

logger = logging.getLogger(__name__)

_CLAIM = text(
    """
    SELECT o.id, o.channel, o.recipient, o.template, o.language, o.payload, o.urgent,
           o.attempts, c.ticket, c.address, c.priority
    FROM outbox_message o
    LEFT JOIN complaint c ON c.id = o.complaint_id
    WHERE o.status = 'pending' AND o.next_attempt_at <= :now
    ORDER BY o.next_attempt_at, o.id
    LIMIT :batch
    FOR UPDATE OF o SKIP LOCKED
    """
)
_OPTED_OUT = text("SELECT phone FROM sms_opt_out WHERE phone = ANY(:phones)")
_TOKENS = text(
    "SELECT inspector_id, token FROM device WHERE inspector_id = ANY(:inspectors) ORDER BY id"
)
_DROP_TOKENS = text("DELETE FROM device WHERE token = ANY(:tokens)")
_RECORD = text(
    """
    UPDATE outbox_message o SET
        status = r.status,
        attempts = o.attempts + r.attempted,
        next_attempt_at = coalesce(r.next_attempt_at, o.next_attempt_at),
        sent_at = CASE WHEN r.status = 'sent' THEN CAST(:now AS timestamptz) ELSE o.sent_at END,
        provider_id = coalesce(r.provider_id, o.provider_id),
        body = coalesce(r.body, o.body),
        kind = coalesce(r.kind, o.kind),
        last_error = r.error
    FROM jsonb_to_recordset(CAST(:results AS jsonb)) AS r(
        id bigint, status text, attempted int, next_attempt_at timestamptz, provider_id text,
        body text, kind text, error text)
    WHERE o.id = r.id
    """
)


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which non-urgent citizen texts wait, e.g. 21:00-08:00."""

    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, zone: str) -> QuietHours | None:
        """`"21:00-08:00"`; an empty string: none."""
        if not spec.strip():
            return None
        start, end = (time.fromisoformat(part.strip()) for part in spec.split("-", 1))
        return cls(start, end, ZoneInfo(zone))

    def until(self, now: datetime) -> datetime | None:
        """The end of the quiet hours `now` is in (an aware time), or None when not quiet."""
        local = now.astimezone(self.zone)
        clock = local.time()
        if self.start <= self.end:
            quiet = self.start <= clock < self.end
        else:  # across midnight
            quiet = clock >= self.start or clock < self.end
        if not quiet:
            return None
        end = datetime.combine(local.date(), self.end, tzinfo=self.zone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=self.zone)
        return end


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 8
    backoff_s: float = 10.0
    backoff_max_s: float = 3600.0
    quiet: QuietHours | None = None
    public_url: str = "http://127.0.0.1:8000"
    concurrency: int = 64

    def retry_at(self, now: datetime, attempts: int, rng: random.Random) -> datetime:
        """After `attempts` failed tries: exponential, capped, with "full jitter" in [½, 1]."""
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** max(0, attempts - 1))
        return now + timedelta(seconds=delay * rng.uniform(0.5, 1.0))


class PushSender(Protocol):
    """What the worker needs of the push channel (notifications.push.FcmPush)."""

    async def send(self, tokens: list[str], title: str, body: str, data: dict[str, str]) -> Any:
        """A PushResult: ids, unregistered tokens, errors."""
        ...


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    deferred: int = 0
    batches: int = 0
    tokens_dropped: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)


@dataclass
class _Outcome:
    id: int
    status: str
    attempted: int = 0
    next_attempt_at: str | None = None
    provider_id: str | None = None
    body: str | None = None
    kind: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        # What a gateway answers can quote the number back: an error is kept without any.
        if self.error is not None:
            self.error = redact(self.error)


def message_values(row: Any, public_url: str) -> dict[str, object]:
    """What a message's template is filled with: its payload, the case's ticket and link."""
    values: dict[str, object] = dict(row.payload or {})
    for name in ("ticket", "address", "priority"):
        if getattr(row, name, None) is not None:
            values.setdefault(name, getattr(row, name))
    if values.get("ticket"):
        values["link"] = f"{public_url.rstrip('/')}/t/{values['ticket']}"
    # The payload always has "reason" (null when the move gave none): the result's name
    # stands in for it.
    values["reason"] = values.get("result_name") or values.get("reason")
    if "kind" in values:  # an SLA step: which clock
        values["stage"] = values["kind"]
    return values


def _textable(phone: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return False


async def deliver_batch(
    connection: AsyncConnection,
    *,
    now: datetime,
    batch: int,
    templates: Templates,
    sms: SmsGateway,
    push: PushSender | None,
    policy: Policy,
    rng: random.Random,
) -> DeliveryReport:
    """Claim up to `batch` due rows in the caller's transaction, send them, record how."""
    rows = (await connection.execute(_CLAIM, {"now": now, "batch": batch})).all()
    report = DeliveryReport(claimed=len(rows), batches=1)
    if not rows:
        return report
    phones = sorted({r.recipient for r in rows if r.channel == "sms"})
    opted_out = {
        p for (p,) in (await connection.execute(_OPTED_OUT, {"phones": phones})).all()
    } if phones else set()  # fmt: skip
    inspectors = sorted(
        {int(r.recipient.split(":", 1)[1]) for r in rows if r.recipient.startswith("inspector:")}
    )
    tokens: dict[int, list[str]] = {}
    if inspectors:
        for inspector_id, token in (
            await connection.execute(_TOKENS, {"inspectors": inspectors})
        ).all():
            tokens.setdefault(inspector_id, []).append(token)
    semaphore = asyncio.Semaphore(policy.concurrency)
    dropped: list[str] = []

    def failed(row: Any, error: str, *, permanent: bool = False) -> _Outcome:
        attempts = row.attempts + 1
        if permanent or attempts >= policy.max_attempts:
            why = error if permanent else f"gave up after {attempts} attempts: {error}"
            return _Outcome(row.id, "dead", attempted=1, error=why)
        retry = policy.retry_at(now, attempts, rng).isoformat()
        return _Outcome(row.id, "pending", attempted=1, next_attempt_at=retry, error=error)

    async def one(row: Any) -> _Outcome:
        values = message_values(row, policy.public_url)
        if row.channel == "sms":
            if row.recipient in opted_out:
                return _Outcome(row.id, "skipped", error="the citizen opted out of texts")
            if not row.urgent and policy.quiet is not None:
                until = policy.quiet.until(now)
                if until is not None:
                    return _Outcome(row.id, "pending", next_attempt_at=until.isoformat())
            if not _textable(row.recipient):
                return _Outcome(row.id, "dead", error="the number cannot get texts")
            try:
                kind, body = fit(templates.sms_text(row.template, row.language, values))
            except UnknownTemplate as error:
                return _Outcome(row.id, "dead", error=str(error))
            async with semaphore:
                try:
                    provider_id = await sms.send(OutgoingSms(row.id, row.recipient, body, kind))
                except GatewayError as error:
                    return failed(row, str(error), permanent=error.permanent)
            return _Outcome(
                row.id, "sent", attempted=1, provider_id=provider_id, body=body, kind=kind
            )
        # push
        try:
            message = templates.push_text(row.template, row.language, values)
        except UnknownTemplate as error:
            return _Outcome(row.id, "dead", error=str(error))
        kind, _, who = row.recipient.partition(":")
        if kind != "inspector":
            # Dispatchers and supervisors follow escalations on the console's live stream;
            # their phones get pushes once accounts exist (issue 6).
            return _Outcome(row.id, "skipped", error=f"no push devices for {kind}")
        devices = tokens.get(int(who), [])
        if not devices or push is None:
            reason = "no registered device" if devices == [] else "push is not configured"
            return _Outcome(row.id, "skipped", error=reason)
        body = f"{message.title}\n{message.body}"
        data = {"template": row.template, "ticket": str(values.get("ticket") or "")}
        async with semaphore:
            try:
                result = await push.send(devices, message.title, message.body, data)
            except GatewayError as error:
                return failed(row, str(error), permanent=error.permanent)
        dropped.extend(result.unregistered)
        if result.sent:
            return _Outcome(
                row.id,
                "sent",
                attempted=1,
                provider_id=",".join(result.ids)[:200],
                body=body,
                kind="push",
            )
        if result.unregistered and not result.retryable:
            return _Outcome(
                row.id, "skipped", attempted=1, error="every device token was unregistered"
            )
        return failed(row, result.error or "no device took the push")

    outcomes = await asyncio.gather(*(one(row) for row in rows))
    await connection.execute(
        _RECORD,
        {"now": now, "results": json.dumps([o.__dict__ for o in outcomes], ensure_ascii=False)},
    )
    if dropped:
        await connection.execute(_DROP_TOKENS, {"tokens": sorted(set(dropped))})
        report.tokens_dropped = len(set(dropped))
    for outcome in outcomes:
        report.outcomes[outcome.id] = outcome.status
        if outcome.status == "sent":
            report.sent += 1
        elif outcome.status == "dead":
            report.dead += 1
        elif outcome.status == "skipped":
            report.skipped += 1
        elif outcome.attempted:
            report.retried += 1
        else:
            report.deferred += 1
    return report


_COUNTS = ("claimed", "sent", "retried", "dead", "skipped", "deferred", "batches", "tokens_dropped")


async def deliver(
    transaction: Callable[[], AsyncConnectable],
    *,
    now: Callable[[], datetime],
    templates: Templates,
    sms: SmsGateway,
    push: PushSender | None,
    policy: Policy,
    batch: int = 200,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Deliver batches (a transaction each) until nothing is due."""
    rng = rng or random.Random()
    total = DeliveryReport()
    while True:
        async with transaction() as connection:
            report = await deliver_batch(
                connection, now=now(), batch=batch, templates=templates, sms=sms, push=push,
                policy=policy, rng=rng,
            )  # fmt: skip
        for name in (
            "claimed",
            "sent",
            "retried",
            "dead",
            "skipped",
            "deferred",
            "batches",
            "tokens_dropped",
        ):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        total.outcomes.update(report.outcomes)
        if report.claimed < batch:
            return total
