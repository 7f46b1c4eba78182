"""Open311 client applications (migration 0015) and service questions (0016) as SQLAlchemy
sees them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, LargeBinary, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from dispatch_server.db import Base


class ApiClient(Base):
    """A third-party application allowed to post requests: its key by sha256 only."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key_prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    requests_per_minute: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ServiceAttribute(Base):
    """One question of a category's Open311 service definition (migration 0016)."""

    __tablename__ = "service_attribute"

    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"), primary_key=True)
    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    # GeoReport's "order": 1 is asked first.
    position: Mapped[int]
    datatype: Mapped[str] = mapped_column(String(20))
    required: Mapped[bool]
    # False: a notice shown to the citizen, not a question (it takes no answer).
    variable: Mapped[bool] = mapped_column(server_default=text("true"))
    descriptions: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    datatype_descriptions: Mapped[dict[str, str]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
    # Lists only: [{"key": ..., "names": {"ko": ..., "en": ...}}, ...] in the order shown.
    values: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))


class Open311Queued(Base):
    """A checked POST waiting to become a case (migration 0020; open311/queue.py)."""

    __tablename__ = "open311_queue"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    token: Mapped[str] = mapped_column(String(24), unique=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    client_id: Mapped[int] = mapped_column(ForeignKey("api_client.id"))
    language: Mapped[str] = mapped_column(String(8))
    request: Mapped[dict[str, Any]] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None]
