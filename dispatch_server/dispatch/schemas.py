"""What the dispatch API takes and gives (Pydantic only)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from dispatch_server.complaints.constants import Priority, Status
from dispatch_server.text import clean_text

ShortText = Annotated[str, AfterValidator(clean_text), Field(max_length=500)]


class TransitionRequest(BaseModel):
    """A move of a case to another status, at the version the caller last saw."""

    model_config = ConfigDict(extra="forbid")

    to: Status
    version: int = Field(ge=1, description="the case's version the caller last read")
    inspector_id: int | None = Field(default=None, ge=1, description="for `assigned`")
    result_code: str | None = Field(
        default=None, max_length=50, pattern=r"^[a-z0-9_]+$", description="for results"
    )
    referred_to: ShortText | None = Field(default=None, description="for `referred`")
    duplicate_of: str | None = Field(
        default=None, max_length=20, description="ticket of the original, for `duplicate`"
    )
    reason: ShortText | None = None
    note: Annotated[str, AfterValidator(clean_text), Field(max_length=4000)] | None = None
    occurred_at: AwareDatetime | None = Field(
        default=None,
        description="when it happened, for a move made offline (the field app sends the "
        "device's time): the move counts from then, but not before the case's last change, "
        "not after now and not more than 24 h back",
    )


class PriorityChange(BaseModel):
    """A case's priority, at the version the caller last saw."""

    model_config = ConfigDict(extra="forbid")

    priority: Priority
    version: int = Field(ge=1)
    reason: ShortText | None = None


class MergeRequest(BaseModel):
    """Link a case to the original it repeats, at the version the caller last saw."""

    model_config = ConfigDict(extra="forbid")

    into: str = Field(max_length=20, description="ticket of the original")
    version: int = Field(ge=1)
    reason: ShortText | None = None


class UnmergeRequest(BaseModel):
    """Make a duplicate a case of its own again (it is dispatched like a new one)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    reason: ShortText | None = None


class Candidate(BaseModel):
    """An on-duty inspector who could take the case, with the numbers behind the rank."""

    inspector_id: int
    name: str
    team_id: int
    distance_m: float
    eta_min: float = Field(description="distance at the city speed")
    open_cases: int
    score: float = Field(description="eta_min + load_weight x open_cases x minutes_per_case")
    position_at: datetime | None


class CandidateScope(StrEnum):
    """Whose inspectors a candidate list ranks."""

    TEAM = "team"  # the case's own team
    DISTRICT = "district"  # every team of the district that works the category


class CandidateList(BaseModel):
    """The ranked candidates of a case, best first."""

    complaint_id: int
    priority: Priority
    team_id: int | None = Field(description="the case's team (routing rules)")
    scope: CandidateScope = Field(
        description="team: its team's inspectors; district: the case has no team, or nobody "
        "of it is on duty, so every team of the district that works the category"
    )
    speed_m_per_min: float
    minutes_per_open_case: float
    load_weight: float
    candidates: list[Candidate]
