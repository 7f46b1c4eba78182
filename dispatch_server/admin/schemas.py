"""What the admin API takes and gives (Pydantic only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from dispatch_server.text import clean_text

CategoryCode = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$")]


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


class TeamCreate(BaseModel):
    """A new team of a district."""

    model_config = ConfigDict(extra="forbid")

    district: str = Field(min_length=1, max_length=20, examples=["11110"])
    name: Annotated[str, AfterValidator(clean_text), AfterValidator(_not_blank)] = Field(
        max_length=100, examples=["주차단속팀"]
    )
    categories: list[CategoryCode] | None = Field(
        default=None, max_length=100, description="the categories it works; null: all"
    )


class TeamRead(BaseModel):
    """A team and how many inspectors it has (and how many are on duty)."""

    id: int
    district: str
    name: str
    categories: list[str] | None
    inspectors: int
    on_duty: int


class TeamList(BaseModel):
    """Teams by district, then name."""

    teams: list[TeamRead]


class RuleWrite(BaseModel):
    """The team a rule sends cases to."""

    model_config = ConfigDict(extra="forbid")

    team_id: int = Field(ge=1)


class RuleRead(BaseModel):
    """One routing rule: (district, category) -> team; category null: the fallback."""

    district: str
    category: str | None = Field(description="null: the district's fallback rule (`*` in URLs)")
    team_id: int
    team_name: str
    updated_at: datetime


class RuleList(BaseModel):
    """Rules by district, each district's category rules before its fallback."""

    rules: list[RuleRead]


class RouteRead(BaseModel):
    """Where a new case of (district, category) goes, and which rule sends it there."""

    district: str
    category: str
    team_id: int | None
    team_name: str | None
    matched_by: str = Field(description="category, fallback, or none (no team: routed by hand)")


class DedupSettings(BaseModel):
    """A category's duplicate rule: radius 0 turns it off."""

    model_config = ConfigDict(extra="forbid")

    radius_m: float = Field(ge=0, le=1000, allow_inf_nan=False)
    window_minutes: int = Field(ge=0, le=90 * 24 * 60)


class CategoryRead(BaseModel):
    """A category as administrators see it."""

    code: str
    name_ko: str
    name_en: str
    default_priority: str
    auto_assign: bool
    active: bool
    dedup: DedupSettings


class CategoryList(BaseModel):
    """Every category, by code."""

    categories: list[CategoryRead]
