"""What happens when a complaint arrives: validate, locate, store, commit."""

from __future__ import annotations

from sqlalchemy.orm import Session

from dispatch_server.clock import Clock
from dispatch_server.complaints import service
from dispatch_server.complaints.schemas import ComplaintCreate, ComplaintRead
from dispatch_server.config import Settings
from geo.districts import locate


def receive(
    session: Session, *, data: ComplaintCreate, actor: str, clock: Clock, settings: Settings
) -> ComplaintRead:
    """Take in a complaint: route it to its district and store it with its first event.

    The complaint and its timeline entry are committed in one transaction before the caller
    acknowledges it, so an acknowledged complaint is never lost.
    """
    phone = service.normalized_phone(
        data.reporter.phone if data.reporter else None, region=settings.phone_region
    )
    now = clock.now()
    stored = service.create(
        session, data=data, reporter_phone=phone, actor=actor, now=now, timezone=settings.timezone
    )
    if stored is None:
        # In no district: the boundary tolerance may still place it (or refuse it, clearly).
        district = locate(
            session,
            lat=data.location.lat,
            lon=data.location.lon,
            tolerance_m=settings.boundary_tolerance_m,
        )
        stored = service.create(
            session,
            data=data,
            reporter_phone=phone,
            actor=actor,
            now=now,
            timezone=settings.timezone,
            district_code=district.code,
        )
        assert stored is not None, "a located district exists"
    session.commit()
    return stored
