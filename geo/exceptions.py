"""Errors of the geo package."""

from __future__ import annotations

from dispatch_server.errors import Invalid


class OutsideServiceArea(Invalid):
    """The point lies in no district of the service area."""

    code = "outside_service_area"


class BoundaryFileError(Invalid):
    """A boundary file cannot be read as districts."""

    code = "boundary_file_invalid"
