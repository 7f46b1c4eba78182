"""The FastAPI application: `create_app()` wires routers, error handlers and resources."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from dispatch_server import apidocs, health, housekeeping
from dispatch_server.accounts.router import router as auth_router
from dispatch_server.accounts.service import passwords_of
from dispatch_server.admin.outbox_router import router as outbox_admin_router
from dispatch_server.admin.router import router as admin_router
from dispatch_server.admin.sla_router import router as sla_admin_router
from dispatch_server.attachments.storage import DiskStore
from dispatch_server.clock import Clock, FileClock, SystemClock
from dispatch_server.complaints.router import router as complaints_router
from dispatch_server.config import Settings, get_settings
from dispatch_server.consoles.router import router as consoles_router
from dispatch_server.db import (
    AsyncConnectable,
    autocommit_connections,
    make_async_engine,
    transactions,
)
from dispatch_server.deps import AppContext
from dispatch_server.dispatch.router import router as dispatch_router
from dispatch_server.field.router import router as field_router
from dispatch_server.gateways.router import router as gateways_router
from dispatch_server.geocoding.router import router as geocoding_router
from dispatch_server.http_errors import install_error_handlers
from dispatch_server.limits import BodySizeLimit
from dispatch_server.observability import RequestId
from dispatch_server.open311 import router as open311
from dispatch_server.open311.formats import error_response as open311_error_response
from dispatch_server.open311.queue import Queue as Open311Queue
from dispatch_server.privacy import retention
from dispatch_server.privacy.router import router as privacy_router
from dispatch_server.public.router import router as public_router
from dispatch_server.security_headers import SecurityHeaders
from dispatch_server.stats.router import router as stats_router
from geo.geocoder import GazetteerGeocoder
from notifications.runner import Delivery
from notifications.runner import add_job as add_delivery_job
from notifications.templates import load as load_templates
from sla.scheduler import make_scheduler
from sla.scheduler import stop as stop_scheduler


def clock_of(settings: Settings) -> Clock:
    """The real clock, or a simulation's (DASAN_CLOCK_FILE), never in production."""
    if settings.clock_file is None:
        return SystemClock()
    if settings.production:
        raise SystemExit("DASAN_CLOCK_FILE is for simulations: not with DASAN_PRODUCTION=true")
    return FileClock(settings.clock_file)


def create_app(
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    connections: tuple[Callable[[], AsyncConnectable], Callable[[], AsyncConnectable]]
    | None = None,
) -> FastAPI:
    """A new application; every argument defaults to the real thing.

    `connections` (tests: on the test's own connection, rolled back after it) replaces the
    (transaction, autocommit) connection factories, and the app opens no engine of its own.
    """
    settings = settings or get_settings()
    engine = None
    if connections is None:
        engine = make_async_engine(settings)
        connections = transactions(engine), autocommit_connections(engine)
    transaction, autocommit = connections

    the_clock = clock or clock_of(settings)
    photos = DiskStore(settings.media_dir)
    # Checked now: a broken template file stops the start, not a send hours later.
    templates = load_templates(settings.templates_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Housekeeping and the SLA sweep run in the real server only (tests call them).
        chores = scheduler = delivery = drain = None
        if engine is not None:
            chores = asyncio.create_task(
                housekeeping.run_forever(transaction, settings=settings, clock=the_clock)
            )
            drain = asyncio.create_task(app.state.open311_queue.run_forever(app.state.context))
            scheduler = make_scheduler(
                transaction, clock=the_clock, settings=settings, sweep=settings.sla_sweep_in_serve
            )
            retention.add_job(
                scheduler, transaction, clock=the_clock, settings=settings, photos=photos
            )
            if settings.outbox_in_serve:
                delivery = Delivery(
                    transaction, clock=the_clock, settings=settings, templates=templates
                )
                add_delivery_job(scheduler, delivery)
            scheduler.start()
        yield
        if scheduler is not None:
            await stop_scheduler(scheduler)
        if delivery is not None:
            await delivery.aclose()
        for task in (chores, drain):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        if engine is not None:
            await engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="Dasan Field",
        version="0.1.0",
        summary="Field complaint dispatch and on-site service for a city's civil-affairs number",
        # /docs is served by dispatch_server.apidocs (no CDN, no inline script).
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = AppContext(
        settings=settings,
        clock=the_clock,
        transaction=transaction,
        autocommit=autocommit,
        photos=photos,
        geocoder=GazetteerGeocoder(autocommit),
        passwords=passwords_of(settings),
        templates=templates,
    )
    # Posts queued for creation (deferred: dispatch_server/open311/queue.py), drained by
    # every server process.
    app.state.open311_queue = Open311Queue(settings)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        # Photo uploads: every photo at its limit, plus the multipart framing; an Open311
        # request may carry one photo (`media`).
        uploads={
            "/photos": settings.max_photo_bytes * settings.max_photos_per_upload + 65536,
            f"{open311.PREFIX}/requests.json": settings.max_photo_bytes + 65536,
            f"{open311.PREFIX}/requests.xml": settings.max_photo_bytes + 65536,
        },
        refusal=open311.body_too_large,
    )
    app.add_middleware(open311.OpenCors)
    # Large answers (the board, outlines, statistics, the consoles' libraries) compressed
    # for clients that ask; event streams never are (Starlette leaves them alone).
    app.add_middleware(GZipMiddleware, minimum_size=16_384, compresslevel=5)
    app.add_middleware(SecurityHeaders)
    # Outermost: every answer has its request id (and its time in the metrics), whatever
    # fails inside.
    app.add_middleware(RequestId, log_access=settings.access_log and settings.log_format == "json")
    install_error_handlers(app, dialects={"/open311/": open311_error_response})
    # Matched in this order, each route tried in turn (a few microseconds each): the APIs
    # that take the most requests first (intake, the field app, Open311, the dispatchers').
    app.include_router(health.router)
    app.include_router(complaints_router)
    app.include_router(field_router)
    app.include_router(open311.router)
    app.include_router(dispatch_router)
    app.include_router(geocoding_router)
    app.include_router(admin_router)
    app.include_router(sla_admin_router)
    app.include_router(stats_router)
    app.include_router(outbox_admin_router)
    app.include_router(gateways_router)
    app.include_router(public_router)
    app.include_router(auth_router)
    app.include_router(privacy_router)
    app.include_router(consoles_router)
    apidocs.install(app)
    return app
