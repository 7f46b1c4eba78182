"""What the complaint API takes and gives (Pydantic only)."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from dispatch_server.complaints.constants import (
    OPEN_STATUSES,
    Channel,
    Language,
    Priority,
    Status,
)
from dispatch_server.text import clean_text
from geo.geocoder import MatchLevel

MAX_DESCRIPTION = 4000
MAX_ADDRESS = 500


def _cleaned(value: str) -> str:
    return clean_text(value)


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def _at_most(limit: int):  # type: ignore[no-untyped-def]
    def check(value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters (it has {len(value)})")
        return value

    return check


Description = Annotated[
    str,
    AfterValidator(_cleaned),
    AfterValidator(_not_blank),
    AfterValidator(_at_most(MAX_DESCRIPTION)),
]
AddressText = Annotated[str, AfterValidator(_cleaned), AfterValidator(_at_most(MAX_ADDRESS))]
MAX_NAME = 100
MAX_EMAIL = 254
# One @, something on each side, a dot in the domain, no spaces: the rest is the mail
# server's business (an address that passes and bounces costs nothing; one refused wrongly
# loses the citizen).
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("is not an e-mail address (name@example.com)")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


PersonName = Annotated[str, AfterValidator(_cleaned), AfterValidator(_at_most(MAX_NAME))]
Email = Annotated[
    str, AfterValidator(_cleaned), AfterValidator(_at_most(MAX_EMAIL)), AfterValidator(_email)
]


class Location(BaseModel):
    """A WGS84 point; NaN and infinity are refused."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, examples=[37.5704])
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, examples=[126.9920])


class ReporterIn(BaseModel):
    """Who reported it: a phone to text back, the language to text in, and optionally a name
    and an e-mail address. All of it is personal data: shown in full only to agents and the
    case's dispatchers (GET .../contact, logged), erased a set time after the case is done."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(default=None, max_length=40, examples=["010-1234-5678"])
    language: Language = Language.KO
    name: PersonName | None = Field(default=None, max_length=400, examples=["김민수"])
    email: Email | None = Field(default=None, max_length=400, examples=["minsu@example.com"])


class ComplaintCreate(BaseModel):
    """A new complaint as an agent, an app or a partner system sends it.

    Where: a point (`location`), an address, or both. An address alone is geocoded; a point
    alone gets the nearest known address as its text; with both, the point is where the
    case is, and the response warns when the address says otherwise.
    """

    model_config = ConfigDict(extra="forbid")

    category: str = Field(
        min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$", examples=["illegal_parking"]
    )
    description: Description = Field(examples=["승용차가 소화전 앞에 주차되어 있습니다"])
    location: Location | None = None
    address: AddressText | None = Field(default=None, examples=["서울특별시 종로구 종로 100"])
    reporter: ReporterIn | None = None
    channel: Channel = Channel.PHONE
    priority: Priority | None = None
    link_to: str | None = Field(
        default=None,
        max_length=20,
        pattern=r"^[0-9A-Za-z-]+$",
        description="the ticket of the open case this complaint repeats, as the agent chose "
        "it (from GET .../nearby): stored as its duplicate if it is of the category and still "
        "waiting for its visit (else stored as a new case, with a warning)",
    )
    link_duplicates: bool = Field(
        default=True,
        description="false: store it as a new case even when an open case of the category is "
        "close by (the agent checked: it is another problem)",
    )

    @model_validator(mode="after")
    def _somewhere(self) -> ComplaintCreate:
        if self.location is None and not self.address:
            raise ValueError("say where: give a location (lat, lon), an address, or both")
        return self


class DistrictRead(BaseModel):
    """A district as shown on a complaint."""

    code: str
    name_ko: str
    name_en: str | None


class ReporterRead(BaseModel):
    """The reporter as staff see it: the phone masked."""

    phone_masked: str | None
    language: Language


class ComplaintSummary(BaseModel):
    """A complaint as lists show it: everything but the reporter's personal data."""

    id: int
    ticket: str
    status: Status
    category: str
    priority: Priority
    channel: Channel
    description: str
    address: str | None
    district: DistrictRead
    location: Location
    team_id: int | None = Field(description="its team: by the routing rules, or its inspector's")
    assignee_id: int | None = Field(description="the inspector working the case")
    result_code: str | None = Field(description="how the visit ended, once it has")
    duplicate_of: str | None = Field(description="the ticket of the case this one repeats")
    version: int
    created_at: datetime
    updated_at: datetime


class ComplaintRead(ComplaintSummary):
    """One complaint as the API returns it, with its reporter (phone masked)."""

    reporter: ReporterRead


class IntakeWarning(BaseModel):
    """Something the agent should look at: the complaint was stored all the same."""

    code: str = Field(examples=["district_mismatch"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class Locating(BaseModel):
    """How intake placed the complaint."""

    located_by: Literal["point", "address"] = Field(
        description="where the stored point came from: the given location or the geocoded address"
    )
    address_source: Literal["given", "reverse_geocoded"] | None = Field(
        description="where the address text came from (none: no known address near)"
    )
    match_level: MatchLevel | None = Field(
        description="how precisely the given address was matched (none: not geocoded)"
    )
    confidence: float | None = None
    normalized_address: str | None = None
    distance_m: float | None = Field(
        default=None,
        description="point only: to the nearest known address; both: between the point and "
        "the geocoded address",
    )


class ComplaintCreated(ComplaintRead):
    """The stored complaint, how it was located, and warnings for the agent."""

    locating: Locating
    warnings: list[IntakeWarning]


class NearbyCase(ComplaintSummary):
    """An open case near the point asked about."""

    distance_m: float
    would_link: bool = Field(
        description="a new complaint of the category here would be linked to this case"
    )


class NearbyCases(BaseModel):
    """Open cases near a point, nearest first (at most 20)."""

    radius_m: float
    category: str | None
    cases: list[NearbyCase]


class ComplaintPage(BaseModel):
    """One page of a complaint list; pass `next_cursor` back as `cursor` for the next."""

    items: list[ComplaintSummary]
    next_cursor: str | None


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class ComplaintFilter(BaseModel):
    """Filters of the complaint list (query parameters); comma lists where noted."""

    model_config = ConfigDict(extra="forbid")

    district: str | None = Field(default=None, max_length=500, description="codes, comma list")
    category: str | None = Field(default=None, max_length=500, description="codes, comma list")
    status: str | None = Field(
        default=None,
        max_length=500,
        description="statuses, comma list; `open` = every status but closed, cancelled, duplicate",
    )
    created_from: datetime | None = Field(default=None, description="inclusive, ISO 8601")
    created_to: datetime | None = Field(default=None, description="exclusive, ISO 8601")
    bbox: str | None = Field(
        default=None, max_length=200, description="min_lon,min_lat,max_lon,max_lat (WGS84)"
    )
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)

    @property
    def districts(self) -> list[str]:
        """District codes asked for."""
        return _split(self.district)

    @property
    def categories(self) -> list[str]:
        """Category codes asked for."""
        return _split(self.category)

    def statuses(self) -> list[Status]:
        """Statuses asked for, `open` expanded."""
        result: set[Status] = set()
        for name in _split(self.status):
            if name == "open":
                result |= OPEN_STATUSES
            else:
                try:
                    result.add(Status(name))
                except ValueError:
                    allowed = ", ".join(["open", *sorted(Status)])
                    raise ValueError(f"unknown status {name!r}; one of: {allowed}") from None
        return sorted(result)

    def bounding_box(self) -> tuple[float, float, float, float] | None:
        """The bbox as numbers, checked."""
        if self.bbox is None:
            return None
        parts = self.bbox.split(",")
        try:
            min_lon, min_lat, max_lon, max_lat = (float(part) for part in parts)
        except ValueError:
            raise ValueError("bbox is four numbers: min_lon,min_lat,max_lon,max_lat") from None
        numbers = (min_lon, min_lat, max_lon, max_lat)
        if not all(math.isfinite(n) for n in numbers):
            raise ValueError("bbox numbers must be finite")
        if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
            raise ValueError("bbox must be min_lon < max_lon within ±180, min_lat < max_lat ±90")
        return numbers

    @model_validator(mode="after")
    def _check(self) -> ComplaintFilter:
        self.statuses()
        self.bounding_box()
        if self.created_from and self.created_to and self.created_from >= self.created_to:
            raise ValueError("created_from must be before created_to")
        for moment in (self.created_from, self.created_to):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("created_from and created_to need a time zone (e.g. +09:00, Z)")
        return self


class EventRead(BaseModel):
    """One entry of a case's timeline."""

    id: int
    type: str
    actor: str
    at: datetime
    payload: dict[str, Any]


class Timeline(BaseModel):
    """A case's timeline, oldest first."""

    ticket: str
    events: list[EventRead]


class CitizenText(BaseModel):
    """A text to a case's reporter, as they read it (sent, or waiting to be)."""

    id: int
    template: str
    language: Language
    text: str
    status: str
    kind: str = Field(description="sms (90 bytes at most) or lms")
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    erased: bool = Field(description="the number was erased by the retention job")


class CitizenTexts(BaseModel):
    """A case's texts to its reporter, oldest first."""

    ticket: str
    texts: list[CitizenText]
