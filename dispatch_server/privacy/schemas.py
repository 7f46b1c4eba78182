"""What the personal-data API gives (Pydantic only)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from dispatch_server.complaints.constants import Language


class ContactRead(BaseModel):
    """A reporter's contact data in full. Reading it is logged (`access_log_id`)."""

    ticket: str
    phone: str | None = Field(description="E.164")
    phone_national: str | None = Field(description="as dialled in its country: 010-1234-5678")
    name: str | None
    email: str | None
    language: Language
    erased_at: datetime | None = Field(
        description="when the retention job erased the contact data (then all are null)"
    )
    access_log_id: int | None = Field(description="the log entry of this read (none: nothing "
                                      "was revealed)")  # fmt: skip


class AccessLogEntry(BaseModel):
    """One full read of a reporter's contact data."""

    id: int
    at: datetime
    username: str
    role: str
    ticket: str
    fields: list[str]
    purpose: str
    client_address: str | None


class AccessLogPage(BaseModel):
    """Reads newest first; pass `next_before_id` as `before_id` for the next page."""

    entries: list[AccessLogEntry]
    next_before_id: int | None
