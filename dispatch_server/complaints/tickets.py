"""Public ticket numbers: what a citizen reads out on the phone. Pure functions."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

TICKET_PATTERN = re.compile(r"^\d{6}-\d{6,}$")


# A ticket is `YYMMDD-NNNNNN`: the day of receipt in the city's zone, then the complaint's id
# with at least six digits. The database appends the id when it assigns it (the intake
# statement in complaints/service.py); the day comes from here.


def ticket_prefix(created_at: datetime, *, timezone: str) -> str:
    """`YYMMDD-`: the day of receipt in the city's zone."""
    return created_at.astimezone(ZoneInfo(timezone)).strftime("%y%m%d-")


def looks_like_ticket(text: str) -> bool:
    """Whether the text has the shape of a ticket number."""
    return TICKET_PATTERN.match(text) is not None
