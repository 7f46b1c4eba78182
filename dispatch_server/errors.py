"""Domain error types: each says what went wrong in the users' words, and its kind.

The kind decides the HTTP status in one place (dispatch_server.http_errors); services raise
these and never an HTTP exception.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected failure: a stable machine code and a human message."""

    code: str = "error"
    # Extra response headers (WWW-Authenticate, Retry-After).
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class Unauthenticated(DomainError):
    """The caller did not say (or prove) who they are."""

    code = "unauthenticated"
    headers: dict[str, str] | None = {"WWW-Authenticate": "Bearer"}


class Forbidden(DomainError):
    """The caller is signed in, but their role may not do this (roles are no secret)."""

    code = "forbidden"


class NotFound(DomainError):
    """The thing asked for does not exist (or the caller may not know it exists)."""

    code = "not_found"


class Invalid(DomainError):
    """The request is well-formed but its content is not acceptable."""

    code = "invalid"


class Conflict(DomainError):
    """The request collides with the current state (a stale version, an invalid move)."""

    code = "conflict"


class TooManyRequests(DomainError):
    """The caller must wait before trying again (`retry_after` seconds)."""

    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, details={"retry_after": retry_after}, code=code)
        self.headers = {"Retry-After": str(retry_after)}


class Unavailable(DomainError):
    """A part the request needs (the database) cannot be reached just now."""

    code = "unavailable"
