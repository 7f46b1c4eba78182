"""FastAPI dependencies shared by the routers: session, clock, settings, body checks.

They are `async def` on purpose: none of them waits on I/O at the start, and FastAPI runs a
plain `def` dependency in the thread pool, one extra thread hop per dependency per request.
The endpoints themselves stay `def` (one hop), since they talk to the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from dispatch_server.clock import Clock
from dispatch_server.config import Settings
from dispatch_server.errors import DomainError


class UnsupportedMediaType(DomainError):
    """The body is not in a format this endpoint reads."""

    code = "unsupported_media_type"


async def _session(factory: sessionmaker[Session]) -> AsyncIterator[Session]:
    # Making a session does no I/O (it connects on first use). Closing one whose transaction
    # is still open sends a ROLLBACK, so that is done in the thread pool.
    session = factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A transactional session for this request; what it does not commit is rolled back."""
    async for session in _session(request.app.state.sessionmaker):
        yield session


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """An autocommit session for a request that only reads (no BEGIN/ROLLBACK round trips)."""
    async for session in _session(request.app.state.read_sessionmaker):
        yield session


async def get_clock(request: Request) -> Clock:
    """The app's clock."""
    clock: Clock = request.app.state.clock
    return clock


async def get_app_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def require_json(request: Request) -> None:
    """Refuse a body that is not declared as JSON (415)."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as application/json (got {content_type or 'no content type'!r})",
            details={"content_type": content_type},
        )


SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
