"""The FastAPI application: `create_app()` wires routers, error handlers and resources."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from dispatch_server import health
from dispatch_server.clock import Clock, SystemClock
from dispatch_server.complaints.router import router as complaints_router
from dispatch_server.config import Settings, get_settings
from dispatch_server.db import get_sessionmaker
from dispatch_server.http_errors import install_error_handlers
from dispatch_server.limits import BodySizeLimit


def create_app(
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> FastAPI:
    """A new application; every argument defaults to the real thing."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Dasan Field",
        version="0.1.0",
        summary="Field complaint dispatch and on-site service for a city's civil-affairs number",
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.sessionmaker = session_factory or get_sessionmaker()
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(complaints_router)
    return app
