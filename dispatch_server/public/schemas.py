"""The public view of a case (Pydantic only). Nothing in it names or locates a person."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Stage(StrEnum):
    """Where a case stands, in the words a citizen needs (several statuses share one)."""

    RECEIVED = "received"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"
    REFERRED = "referred"
    CLOSED = "closed"
    REOPENED = "reopened"
    MERGED = "merged"
    CANCELLED = "cancelled"


class Named(BaseModel):
    """A code with its Korean and English names."""

    code: str
    name_ko: str
    name_en: str


class Step(BaseModel):
    """One public step of the case's life."""

    stage: Stage
    at: datetime


class PublicCase(BaseModel):
    """A case as its reporter (or anyone holding the ticket) may see it."""

    ticket: str
    stage: Stage
    category: Named
    district: Named
    received_at: datetime
    updated_at: datetime
    result: Named | None = Field(None, description="how the visit ended, once it has")
    original_ticket: str | None = Field(
        None, description="the earlier report this one was merged into"
    )
    referred_to: str | None = Field(None, description="the agency a referred case went to")
    expected_datetime: datetime | None = Field(
        None, description="when the case is due to be resolved (while it is open)"
    )
    steps: list[Step] = Field(description="public steps, oldest first")
