"""Open311 client applications (migration 0015) as SQLAlchemy sees them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, LargeBinary, String
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
