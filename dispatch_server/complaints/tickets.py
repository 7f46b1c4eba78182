"""Public ticket numbers: what a citizen reads out on the phone. Pure functions."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

TICKET_PATTERN = re.compile(r"^\d{6}-\d{6,}$")


def make_ticket(complaint_id: int, created_at: datetime, *, timezone: str) -> str:
    """`YYMMDD-NNNNNN`: the day of receipt in the city's zone, then the case number."""
    day = created_at.astimezone(ZoneInfo(timezone)).strftime("%y%m%d")
    return f"{day}-{complaint_id:06d}"


def looks_like_ticket(text: str) -> bool:
    """Whether the text has the shape of a ticket number."""
    return TICKET_PATTERN.match(text) is not None
