"""Errors of the dispatch package."""

from __future__ import annotations

from dispatch_server.errors import Conflict, Invalid


class InvalidTransition(Conflict):
    """The case cannot make this move from where it stands."""

    code = "invalid_transition"


class StaleVersion(Conflict):
    """The case changed since the caller read it (optimistic concurrency)."""

    code = "stale_version"


class MissingFields(Invalid):
    """The move needs fields that were not given."""

    code = "missing_fields"


class InspectorUnavailable(Invalid):
    """The inspector cannot take this case (unknown, off duty, another district or category)."""

    code = "inspector_unavailable"


class UnknownResultCode(Invalid):
    """The result code is not one offered for this category and outcome."""

    code = "unknown_result_code"


class InvalidDuplicate(Invalid):
    """The case named as the original cannot be one."""

    code = "invalid_duplicate"
