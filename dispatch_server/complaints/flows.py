"""What happens when a complaint arrives: validate, locate, store, commit."""

from __future__ import annotations

from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.clock import Clock
from dispatch_server.complaints import service
from dispatch_server.complaints.schemas import ComplaintCreate
from dispatch_server.config import Settings
from geo.districts import locate


async def receive(
    connection: AsyncConnection,
    *,
    data: ComplaintCreate,
    actor: str,
    clock: Clock,
    settings: Settings,
) -> service.Received:
    """Take in a complaint: route it to its district and store it with its first event.

    The complaint and its timeline entry are stored by one statement: atomic on its own, so
    the connection is an autocommit one, and the complaint is committed before the caller
    acknowledges it (an acknowledged complaint is never lost). Whatever intake must also
    write later (the citizen's "received" text, the SLA clocks) belongs in that same
    statement, or the endpoint must switch to a transaction.
    """
    phone = service.normalized_phone(
        data.reporter.phone if data.reporter else None, region=settings.phone_region
    )
    store = partial(
        service.create,
        connection,
        data=data,
        reporter_phone=phone,
        actor=actor,
        now=clock.now(),
        timezone=settings.timezone,
    )
    stored = await store()
    if stored is None:
        # In no district: the boundary tolerance may still place it (or refuse it, clearly).
        district = await locate(
            connection,
            lat=data.location.lat,
            lon=data.location.lon,
            tolerance_m=settings.boundary_tolerance_m,
        )
        stored = await store(district_code=district.code)
        assert stored is not None, "a located district exists"
    return stored
