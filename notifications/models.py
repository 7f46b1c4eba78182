"""The outbox (migration 0009): one row per message, written with the change that causes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from dispatch_server.db import Base


class OutboxMessage(Base):
    """A message to send (SMS to a citizen, push to staff), and how its delivery stands."""

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"))
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(10))
    # NULL once the retention job erased the case's contact data (migration 0015).
    recipient: Mapped[str | None] = mapped_column(String(100))
    template: Mapped[str] = mapped_column(String(50))
    language: Mapped[str] = mapped_column(String(5))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    body: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(15))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_id: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    kind: Mapped[str | None] = mapped_column(String(5))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Device(Base):
    """An inspector's phone, by its FCM registration token (migration 0011)."""

    __tablename__ = "device"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspector.id"))
    token: Mapped[str] = mapped_column(String(4096), unique=True)
    platform: Mapped[str] = mapped_column(String(10))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SmsOptOut(Base):
    """A phone that asked for no more texts (STOP / 수신거부)."""

    __tablename__ = "sms_opt_out"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    source: Mapped[str] = mapped_column(String(10))
    opted_out_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
