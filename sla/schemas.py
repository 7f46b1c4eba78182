"""What the SLA API reads and writes (Pydantic only)."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from dispatch_server.complaints.constants import Priority


class Kind(StrEnum):
    """The stage a clock measures."""

    ASSIGN = "assign"
    ARRIVE = "arrive"
    RESOLVE = "resolve"


class TimerState(StrEnum):
    """Where a clock stands."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    CANCELLED = "cancelled"


class PolicySet(BaseModel):
    """A stage's target for a category (and priority), as an administrator sets it."""

    model_config = ConfigDict(extra="forbid")

    target_minutes: float = Field(gt=0, le=90 * 24 * 60, description="working minutes")
    calendar: str = Field(min_length=1, max_length=30, description="an SLA calendar's code")
    warn_share: float = Field(default=0.75, gt=0, lt=1)
    supervisor_after_minutes: float = Field(default=60, ge=0, le=30 * 24 * 60)
    reroute_on_breach: bool = False


class PolicyRead(PolicySet):
    """A stored policy."""

    model_config = ConfigDict(extra="ignore")

    category: str
    priority: Priority | None
    kind: Kind
    updated_at: datetime


class PolicyList(BaseModel):
    """Every policy, by category, priority (general last) and kind."""

    policies: list[PolicyRead]


# A time of day in the calendar's own zone, without an offset: RFC 3339's partial-time
# (JSON Schema's "time" format would demand an offset the answer does not have).
LocalTime = Annotated[
    time,
    Field(json_schema_extra={"format": "partial-time"},
          description="local time in the calendar's zone, HH:MM[:SS]"),
]  # fmt: skip


class Window(BaseModel):
    """A working window of a weekday, in local time."""

    model_config = ConfigDict(extra="forbid")

    isodow: int = Field(ge=1, le=7, description="1 Monday ... 7 Sunday")
    opens: LocalTime
    closes: LocalTime


class CalendarSet(BaseModel):
    """A business calendar as an administrator sets it (the holidays are loaded apart)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    timezone: str = Field(min_length=1, max_length=60, description="an IANA zone")
    always_open: bool = False
    hours: list[Window] = Field(default_factory=list, max_length=70)


class CalendarRead(CalendarSet):
    """A stored calendar."""

    code: str
    holidays: int = Field(description="how many holidays it has")
    updated_at: datetime


class CalendarList(BaseModel):
    """Every calendar."""

    calendars: list[CalendarRead]


class Holiday(BaseModel):
    """A local date a calendar skips."""

    day: date
    name: str


class HolidayList(BaseModel):
    """A calendar's holidays, oldest first."""

    calendar: str
    holidays: list[Holiday]


class TimerRead(BaseModel):
    """One stage's clock of a case."""

    kind: Kind
    state: TimerState
    level: int = Field(description="0 none, 1 warned, 2 breached, 3 supervisor told")
    calendar: str
    target_minutes: float
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    escalate_at: datetime
    paused_at: datetime | None
    paused_minutes: float = Field(description="time spent paused, closed pauses only")
    stopped_at: datetime | None
    met: bool | None = Field(description="stopped by the due time; None while it counts")


class ComplaintSla(BaseModel):
    """A case's clocks; `expected_datetime` is the resolve clock's due time."""

    ticket: str
    expected_datetime: datetime | None
    timers: list[TimerRead]


class PauseReason(StrEnum):
    """Why a case's clocks stop counting for a while."""

    WAITING_CITIZEN = "waiting_citizen"
    WAITING_AGENCY = "waiting_agency"


class PauseRequest(BaseModel):
    """Pause a case's running clocks."""

    model_config = ConfigDict(extra="forbid")

    reason: PauseReason
    note: str | None = Field(default=None, max_length=1000)


class ResumeRequest(BaseModel):
    """Resume a case's paused clocks."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=1000)
