"""What can go wrong with SLA policies, calendars and clocks."""

from __future__ import annotations

from dispatch_server.errors import Conflict, Invalid, NotFound


class UnknownCalendar(Invalid):
    """A policy names a calendar that does not exist."""

    code = "unknown_calendar"


class CalendarNotFound(NotFound):
    """No calendar has that code."""

    code = "calendar_not_found"


class InvalidCalendar(Invalid):
    """A calendar's zone, hours or holidays are not acceptable."""

    code = "invalid_calendar"


class PolicyNotFound(NotFound):
    """No policy for that category, priority and stage."""

    code = "policy_not_found"


class NoClockToMove(Conflict):
    """Pause with no running clock, or resume with no paused one."""

    code = "no_clock_to_move"
