"""Errors of the complaints package."""

from __future__ import annotations

from dispatch_server.errors import Invalid, NotFound


class ComplaintNotFound(NotFound):
    """No complaint has that ticket (or id)."""

    code = "complaint_not_found"


class UnknownCategory(Invalid):
    """The category code is not one of the active categories."""

    code = "unknown_category"


class InvalidPhone(Invalid):
    """The reporter's phone number cannot be texted."""

    code = "invalid_phone"


class InvalidCursor(Invalid):
    """The pagination cursor was not one this server gave out."""

    code = "invalid_cursor"


class AddressNotFound(Invalid):
    """No known place matches the address (and no point was given)."""

    code = "address_not_found"


class AddressImprecise(Invalid):
    """The address only names a dong or a district (and no point was given)."""

    code = "address_imprecise"


class AddressAmbiguous(Invalid):
    """The address may mean several places (and no point was given): choose one."""

    code = "address_ambiguous"
