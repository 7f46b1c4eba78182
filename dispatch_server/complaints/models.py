"""Tables of complaints: categories, the complaint itself and its append-only timeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    REAL,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Interval,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from dispatch_server.complaints.constants import (
    AWAITING_VISIT,
    FINAL_STATUSES,
    Channel,
    Language,
    Priority,
    Status,
    sql_in,
)
from dispatch_server.db import Base


class Category(Base):
    """A kind of on-site complaint (illegal parking, broken street lamp, ...)."""

    __tablename__ = "category"

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    name_ko: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    # Names in the other languages of the call centre: {"zh": ..., "ja": ..., ...}.
    names: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    default_priority: Mapped[str] = mapped_column(String(10), server_default=Priority.NORMAL)
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    # Send a new case straight to the best-ranked candidate (dispatch/service.candidates).
    auto_assign: Mapped[bool] = mapped_column(server_default=text("false"))
    # A new case this close to an open one of the category, reported within the window after
    # it, is that case's duplicate. 0 m: never.
    dedup_radius_m: Mapped[float] = mapped_column(REAL, server_default=text("0"))
    dedup_window: Mapped[timedelta] = mapped_column(Interval, server_default=text("'0'"))
    # The status texts its reporters get besides received and the result: "assigned" (a
    # first assignment), "en_route" (the inspector is on the way). Migration 0011.
    citizen_updates: Mapped[list[str]] = mapped_column(
        ARRAY(String(20)), server_default=text("'{}'")
    )
    # What Open311 clients show of it (migration 0016): a description and a group name by
    # language, and search words; its questions are in open311.models.ServiceAttribute.
    descriptions: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    group_names: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    keywords: Mapped[list[str]] = mapped_column(ARRAY(String(50)), server_default=text("'{}'"))

    __table_args__ = (
        CheckConstraint(f"default_priority IN ({sql_in(Priority)})", name="priority"),
        CheckConstraint("dedup_radius_m BETWEEN 0 AND 1000", name="dedup_radius"),
        CheckConstraint(
            "dedup_window BETWEEN interval '0' AND interval '90 days'", name="dedup_window"
        ),
    )


class Complaint(Base):
    """One on-site complaint (a case) and where it stands."""

    __tablename__ = "complaint"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket: Mapped[str] = mapped_column(String(20), unique=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    description: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(20))
    reporter_phone: Mapped[str | None] = mapped_column(String(20))
    reporter_language: Mapped[str] = mapped_column(String(5), server_default=Language.KO)
    # Contact data besides the phone (migration 0015); all three are erased by the retention
    # job (dispatch_server/privacy) a set time after the case is done.
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_email: Mapped[str | None] = mapped_column(String(254))
    contact_erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    location: Mapped[object] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )
    address: Mapped[str | None] = mapped_column(Text)
    district_code: Mapped[str] = mapped_column(ForeignKey("district.code"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("inspector.id"))
    result_code: Mapped[str | None] = mapped_column(ForeignKey("result_code.code"))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"))
    status: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(10))
    # Optimistic concurrency: every write checks and bumps it.
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"status IN ({sql_in(Status)})", name="status"),
        CheckConstraint(f"channel IN ({sql_in(Channel)})", name="channel"),
        CheckConstraint(f"priority IN ({sql_in(Priority)})", name="priority"),
        CheckConstraint(f"reporter_language IN ({sql_in(Language)})", name="language"),
        CheckConstraint("char_length(description) BETWEEN 1 AND 4000", name="description_length"),
        Index("ix_complaint_location", "location", postgresql_using="gist"),
        Index("ix_complaint_created", "created_at", "id"),
        Index("ix_complaint_district_created", "district_code", "created_at", "id"),
        Index(
            "ix_complaint_open_assignee",
            "assignee_id",
            postgresql_where=text(f"status NOT IN ({sql_in(FINAL_STATUSES)})"),
        ),
        Index(
            "ix_complaint_open_district_created",
            "district_code",
            "created_at",
            "id",
            postgresql_where=text(f"status NOT IN ({sql_in(FINAL_STATUSES)})"),
        ),
        Index(
            "ix_complaint_pending_location",
            "location",
            postgresql_using="gist",
            postgresql_where=text(f"status IN ({sql_in(AWAITING_VISIT)})"),
        ),
        Index("ix_complaint_duplicate_of", "duplicate_of"),
    )


class ComplaintEvent(Base):
    """One entry of a case's timeline: who did what, when. Never updated or deleted."""

    __tablename__ = "complaint_event"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"))
    type: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (Index("ix_complaint_event_complaint", "complaint_id", "at", "id"),)
