"""Tables of accounts (migration 0014) as SQLAlchemy sees them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, LargeBinary, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from dispatch_server.db import Base


class UserAccount(Base):
    """Someone who signs in: a role, and the districts or the inspector it is scoped to."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    districts: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("inspector.id"))
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuthToken(Base):
    """An access or refresh token, by its sha256 only."""

    __tablename__ = "auth_token"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    session_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Console sessions: the sha256 of the CSRF token (migration 0015).
    csrf_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))


class SigninThrottle(Base):
    """Recent failed sign-ins of one account or one address, and until when it must wait."""

    __tablename__ = "signin_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int]
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
