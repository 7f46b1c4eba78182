"""The live event table (written by triggers, migration 0006) as SQLAlchemy sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from dispatch_server.db import Base


class Xid8(UserDefinedType[str]):
    """PostgreSQL's 64-bit transaction id; handled as its text in Python."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        """The column type in DDL."""
        return "xid8"


class LiveEvent(Base):
    """A case's timeline entry or an inspector's change, in the order streams deliver them."""

    __tablename__ = "live_event"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    tx_id: Mapped[str] = mapped_column(Xid8())
    kind: Mapped[str] = mapped_column(String(20))
    district_code: Mapped[str] = mapped_column(String(20))
    inspector_id: Mapped[int | None] = mapped_column(BigInteger)
    previous_inspector_id: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
