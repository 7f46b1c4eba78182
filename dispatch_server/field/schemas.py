"""What the field API takes and gives (Pydantic only)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dispatch_server.attachments.schemas import PhotoRead
from dispatch_server.complaints.schemas import ComplaintRead, ComplaintSummary, EventRead
from sla.schemas import ComplaintSla

MAX_PINGS = 500


class DutyChange(BaseModel):
    """Going on or off duty."""

    model_config = ConfigDict(extra="forbid")

    on_duty: bool


class DutyRead(BaseModel):
    """An inspector's duty state."""

    inspector_id: int
    on_duty: bool


class Ping(BaseModel):
    """One position fix from the phone."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    accuracy_m: float = Field(ge=0, le=10_000, allow_inf_nan=False)
    at: AwareDatetime = Field(description="when the phone took the fix (with its zone)")


class PingBatch(BaseModel):
    """Fixes sent together (the app batches them, and sends late ones after a tunnel)."""

    model_config = ConfigDict(extra="forbid")

    pings: list[Ping] = Field(min_length=1, max_length=MAX_PINGS)


class PositionRead(BaseModel):
    """Where the server now places the inspector."""

    inspector_id: int
    accepted: int = Field(description="fixes in the batch")
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    at: datetime | None


class NextClock(BaseModel):
    """The case's clock that runs out first (arrive on site, then resolve)."""

    kind: str
    state: Literal["running", "paused"]
    warn_at: datetime
    due_at: datetime


class QueueItem(ComplaintSummary):
    """One of my open cases, with how far it is from my last position."""

    distance_m: float | None
    clock: NextClock | None = Field(description="null: no clock counts for the case")


class Queue(BaseModel):
    """My open cases: most urgent first, then nearest."""

    inspector_id: int
    items: list[QueueItem]


class DeviceRegistration(BaseModel):
    """The app's FCM registration token, sent at sign-in and whenever FCM renews it."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=20, max_length=4096, pattern=r"^[A-Za-z0-9_:\-.]+$")
    platform: Literal["android", "ios", "web"] = "android"


class DeviceRead(BaseModel):
    id: int
    inspector_id: int
    platform: str
    registered_at: datetime
    last_seen_at: datetime


class FieldCase(ComplaintRead):
    """One of my cases with what the app keeps for working offline: its timeline, its
    photos (URLs under /api/v1/field/photos) and its clocks."""

    timeline: list[EventRead]
    photos: list[PhotoRead]
    sla: ComplaintSla


class CategoryRef(BaseModel):
    code: str
    name_ko: str
    name_en: str


class ResultCodeRef(BaseModel):
    """A way a visit can end; `category` null: offered for every category."""

    code: str
    outcome: Literal["resolved", "unresolved", "referred"]
    category: str | None
    name_ko: str
    name_en: str


class Reference(BaseModel):
    """What the app needs to show cases and offer results (cached on the phone)."""

    categories: list[CategoryRef]
    result_codes: list[ResultCodeRef]
