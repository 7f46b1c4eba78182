"""What endpoints get from FastAPI: the application context, and body checks.

One plain dependency hands over everything the app holds (settings, clock, connection
factories): each FastAPI dependency costs time on every request, a generator dependency
most of all (measured in docs/benchmarks.md), so endpoints open their connections
themselves, in an `async with` block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from dispatch_server.accounts.credentials import Passwords
from dispatch_server.attachments.storage import PhotoStore
from dispatch_server.clock import Clock
from dispatch_server.config import Settings
from dispatch_server.db import AsyncConnectable
from dispatch_server.errors import DomainError
from geo.geocoder import Geocoder
from notifications.templates import Templates


class UnsupportedMediaType(DomainError):
    """The body is not in a format this endpoint reads."""

    code = "unsupported_media_type"


@dataclass(frozen=True)
class AppContext:
    """The application's shared parts, as endpoints use them."""

    settings: Settings
    clock: Clock
    # A connection in a transaction: for writes of several statements that land together.
    transaction: Callable[[], AsyncConnectable]
    # A connection in autocommit: for reads, and for writes that are one (atomic)
    # statement; it saves the BEGIN and COMMIT round trips.
    autocommit: Callable[[], AsyncConnectable]
    # Where photo files live.
    photos: PhotoStore
    # Addresses to places and back (the gazetteer by default).
    geocoder: Geocoder
    # Password hashing with the deployment's argon2 parameters.
    passwords: Passwords
    # The message texts (checked at start-up).
    templates: Templates


async def get_context(request: Request) -> AppContext:
    """The application's context (no I/O, so `async`: no thread hop)."""
    context: AppContext = request.app.state.context
    return context


async def require_json(request: Request) -> None:
    """Refuse a body that is not declared as JSON (415)."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as application/json (got {content_type or 'no content type'!r})",
            details={"content_type": content_type},
        )


ContextDep = Annotated[AppContext, Depends(get_context)]
