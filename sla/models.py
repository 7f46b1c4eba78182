"""Tables of the SLA engine (migration 0009 is the truth; these are SQLAlchemy's view)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    Interval,
    SmallInteger,
    String,
    Time,
)
from sqlalchemy.dialects.postgresql import TSTZMULTIRANGE
from sqlalchemy.orm import Mapped, mapped_column

from dispatch_server.db import Base


class SlaCalendar(Base):
    """When the clock counts: around the clock, or office hours in a zone minus holidays."""

    __tablename__ = "sla_calendar"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(60))
    always_open: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlaCalendarHours(Base):
    """One working window of a weekday (local times)."""

    __tablename__ = "sla_calendar_hours"

    calendar_code: Mapped[str] = mapped_column(
        ForeignKey("sla_calendar.code", ondelete="CASCADE"), primary_key=True
    )
    isodow: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    opens: Mapped[time] = mapped_column(Time, primary_key=True)
    closes: Mapped[time] = mapped_column(Time)


class SlaHoliday(Base):
    """A local date on which a calendar does not count."""

    __tablename__ = "sla_holiday"

    calendar_code: Mapped[str] = mapped_column(
        ForeignKey("sla_calendar.code", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class SlaPolicy(Base):
    """A target for one stage of a category's cases (optionally of one priority)."""

    __tablename__ = "sla_policy"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    priority: Mapped[str | None] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10))
    target: Mapped[timedelta] = mapped_column(Interval)
    calendar_code: Mapped[str] = mapped_column(ForeignKey("sla_calendar.code"))
    warn_share: Mapped[float]
    supervisor_after: Mapped[timedelta] = mapped_column(Interval)
    reroute_on_breach: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlaTimer(Base):
    """One stage's clock of one case (kept by the timeline trigger, stepped by the sweep)."""

    __tablename__ = "sla_timer"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"))
    kind: Mapped[str] = mapped_column(String(10))
    calendar_code: Mapped[str] = mapped_column(ForeignKey("sla_calendar.code"))
    target: Mapped[timedelta] = mapped_column(Interval)
    warn_share: Mapped[float]
    supervisor_after: Mapped[timedelta] = mapped_column(Interval)
    reroute_on_breach: Mapped[bool]
    state: Mapped[str] = mapped_column(String(10))
    level: Mapped[int] = mapped_column(SmallInteger)
    cycle: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    warn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    escalate_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warn_left: Mapped[timedelta | None] = mapped_column(Interval)
    due_left: Mapped[timedelta | None] = mapped_column(Interval)
    pauses: Mapped[object] = mapped_column(TSTZMULTIRANGE)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_step_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SlaReroute(Base):
    """A case whose breach asks for a re-route the sweep has not made yet (sla/sweep.py)."""

    __tablename__ = "sla_reroute"

    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"), primary_key=True)
    breached_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
