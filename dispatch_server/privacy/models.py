"""The personal-data access log (migration 0015) as SQLAlchemy sees it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from dispatch_server.db import Base


class PersonalDataAccess(Base):
    """One read of a reporter's contact data in full: who, when, which case and fields."""

    __tablename__ = "personal_data_access"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20))
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"))
    fields: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    purpose: Mapped[str] = mapped_column(String(200))
    client_address: Mapped[str | None] = mapped_column(String(64))
