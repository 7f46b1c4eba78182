"""The FastAPI application: `create_app()` wires routers, error handlers and resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from dispatch_server import health
from dispatch_server.clock import Clock, SystemClock
from dispatch_server.complaints.router import router as complaints_router
from dispatch_server.config import Settings, get_settings
from dispatch_server.db import get_read_sessionmaker, get_sessionmaker
from dispatch_server.http_errors import install_error_handlers
from dispatch_server.limits import BodySizeLimit


def create_app(
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    session_factory: sessionmaker[Session] | None = None,
    read_session_factory: sessionmaker[Session] | None = None,
) -> FastAPI:
    """A new application; every argument defaults to the real thing.

    Tests pass one factory for both kinds of session, so that reads see the test's writes.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Endpoints run in a thread pool; on a few cores, many threads only fight over the
        # GIL, so each worker gets a few (docs/benchmarks.md has the measurements).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="Dasan Field",
        version="0.1.0",
        summary="Field complaint dispatch and on-site service for a city's civil-affairs number",
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.sessionmaker = session_factory or get_sessionmaker()
    app.state.read_sessionmaker = read_session_factory or session_factory or get_read_sessionmaker()
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(complaints_router)
    return app
