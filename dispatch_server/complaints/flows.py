"""What happens when a complaint arrives: validate, locate, store, commit."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from dispatch_server.clock import Clock
from dispatch_server.complaints import service
from dispatch_server.complaints.exceptions import (
    AddressAmbiguous,
    AddressImprecise,
    AddressNotFound,
)
from dispatch_server.complaints.schemas import (
    ComplaintCreate,
    ComplaintCreated,
    IntakeWarning,
    Locating,
)
from dispatch_server.config import Settings
from dispatch_server.db import AsyncConnectable
from dispatch_server.geocoding.schemas import CandidateRead
from geo.addresses import AddressRejected
from geo.districts import locate
from geo.exceptions import OutsideServiceArea
from geo.geocoder import Candidate, Geocoder, MatchLevel

# An address alone must place the case at a building or on its road: a dong's or a
# district's middle sends an inspector to the wrong street.
PRECISE_LEVELS = frozenset({MatchLevel.BUILDING, MatchLevel.ROAD_INTERPOLATED})
# Below this the best candidate is a guess: the agent is asked to choose or to pin a point.
MIN_CONFIDENCE = 0.5
# Two precise candidates this close in confidence, in two districts (who goes?) or this far
# apart (where to?): ambiguous.
AMBIGUOUS_MARGIN = 0.15
AMBIGUOUS_APART_M = 150.0
# A point-only complaint gets the nearest known address as its text when it is this close;
# past NEAR_M the text says "부근" (near). Farther than FILL_MAX_M, the text stays empty.
NEAR_M = 30.0
FILL_MAX_M = 300.0
# With both given: the address and the point this far apart (same district) is worth a look.
ADDRESS_FAR_M = 300.0
EARTH_RADIUS_M = 6_371_008.8


def metres_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine): metres, good to a few parts in a thousand."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


@dataclass
class Located:
    """Where intake will store the complaint, how it got there, and what to tell the agent."""

    place: service.Place
    locating: Locating
    # The district the geocoded address is in (address-only: the case's district).
    address_district: str | None = None
    warnings: list[IntakeWarning] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        """For the "received" event's payload."""
        found = self.locating.model_dump(mode="json", exclude_none=True)
        if self.address_district is not None:
            found["address_district"] = self.address_district
        return found


def _candidates(found: list[Candidate]) -> list[dict[str, Any]]:
    return [CandidateRead.of(c).model_dump(mode="json") for c in found]


def _best_precise(address: str, found: list[Candidate]) -> Candidate:
    """The candidate an address alone is stored at, or a 422 saying why there is none."""
    if not found:
        raise AddressNotFound(
            f"no place in the service area matches {address!r}: check it, or send a point",
            details={"address": address},
        )
    best = found[0]
    if best.match_level not in PRECISE_LEVELS:
        raise AddressImprecise(
            f"{address!r} was only placed at the {best.match_level} level: give the road and "
            "building number, or send a point",
            details={"address": address, "candidates": _candidates(found)},
        )
    rivals = [
        c
        for c in found[1:]
        if c.match_level in PRECISE_LEVELS
        and best.confidence - c.confidence < AMBIGUOUS_MARGIN
        and (
            c.district.code != best.district.code
            or metres_between(best.lat, best.lon, c.lat, c.lon) > AMBIGUOUS_APART_M
        )
    ]
    if rivals or best.confidence < MIN_CONFIDENCE:
        raise AddressAmbiguous(
            f"{address!r} may mean several places: choose one (send its point) or write the "
            "address in full",
            details={"address": address, "candidates": _candidates(found)},
        )
    return best


async def _by_address(geocoder: Geocoder, address: str) -> Located:
    best = _best_precise(address, await geocoder.geocode(address))
    return Located(
        place=service.Place(lat=best.lat, lon=best.lon, address=address),
        locating=Locating(
            located_by="address",
            address_source="given",
            match_level=best.match_level,
            confidence=best.confidence,
            normalized_address=best.normalized,
        ),
        address_district=best.district.code,
    )


async def _by_point(geocoder: Geocoder, lat: float, lon: float) -> Located:
    address = distance = None
    try:
        found = await geocoder.reverse(lat=lat, lon=lon)
    except OutsideServiceArea:
        found = None  # intake decides (the boundary tolerance, or a clear 422)
    if found is not None and found.address is not None and found.distance_m is not None:
        distance = found.distance_m
        if distance <= NEAR_M:
            address = found.address
        elif distance <= FILL_MAX_M:
            address = f"{found.address} 부근"
    return Located(
        place=service.Place(lat=lat, lon=lon, address=address),
        locating=Locating(
            located_by="point",
            address_source="reverse_geocoded" if address else None,
            match_level=None,
            distance_m=distance,
        ),
    )


async def _by_point_and_address(
    geocoder: Geocoder, lat: float, lon: float, address: str
) -> Located:
    located = Located(
        place=service.Place(lat=lat, lon=lon, address=address),
        locating=Locating(located_by="point", address_source="given", match_level=None),
    )
    try:
        found = await geocoder.geocode(address, limit=1)
    except AddressRejected as exc:
        # The point places the case; the text may describe the spot in the reporter's words.
        located.warnings.append(
            IntakeWarning(
                code="address_not_understood",
                message=f"the address text is not an address ({exc.message}); stored as given",
                details={"address": address},
            )
        )
        return located
    if not found:
        located.warnings.append(
            IntakeWarning(
                code="address_not_found",
                message="no known place matches the address text; the case is at the point",
                details={"address": address},
            )
        )
        return located
    best = found[0]
    distance = round(metres_between(lat, lon, best.lat, best.lon), 1)
    located.locating = Locating(
        located_by="point",
        address_source="given",
        match_level=best.match_level,
        confidence=best.confidence,
        normalized_address=best.normalized,
        distance_m=distance,
    )
    located.address_district = best.district.code
    if best.match_level in PRECISE_LEVELS and distance > ADDRESS_FAR_M:
        located.warnings.append(
            IntakeWarning(
                code="address_far_from_point",
                message=f"the address is {distance:.0f} m from the point; the case is at the point",
                details={"distance_m": distance, "normalized_address": best.normalized},
            )
        )
    return located


async def locate_complaint(geocoder: Geocoder, data: ComplaintCreate) -> Located:
    """Where to store the complaint: the point given, or the address geocoded (see schema)."""
    if data.location is None:
        assert data.address, "the schema asks for a location or an address"
        return await _by_address(geocoder, data.address)
    lat, lon = data.location.lat, data.location.lon
    if not data.address:
        return await _by_point(geocoder, lat, lon)
    return await _by_point_and_address(geocoder, lat, lon, data.address)


def _district_warning(located: Located, district: str) -> IntakeWarning | None:
    if located.locating.located_by != "point" or located.address_district in (None, district):
        return None
    return IntakeWarning(
        code="district_mismatch",
        message=f"the address is in district {located.address_district}, the point in "
        f"{district}; the case is at the point, in {district}",
        details={"address_district": located.address_district, "point_district": district},
    )


@dataclass(frozen=True)
class Intake:
    """A complaint received: what was stored and what the agent is told."""

    received: service.Received
    created: ComplaintCreated


async def receive(
    connect: Callable[[], AsyncConnectable],
    *,
    data: ComplaintCreate,
    geocoder: Geocoder,
    actor: str,
    clock: Clock,
    settings: Settings,
    details: dict[str, Any] | None = None,
) -> Intake:
    """Take in a complaint: locate it, route it to its district and team, store it.

    Geocoding runs first, on the geocoder's own connection, before intake takes one (a
    request never holds two). The complaint and its timeline entries are then stored by
    one statement: atomic on its own, so `connect` gives an autocommit connection, and the
    complaint is committed before the caller acknowledges it (an acknowledged complaint is
    never lost). Whatever intake must also write later (the citizen's "received" text, the
    SLA clocks) belongs in that same statement, or intake must switch to a transaction.
    `details` join the "received" event's payload (the channel's own facts, e.g. Open311's).
    """
    phone = service.normalized_phone(
        data.reporter.phone if data.reporter else None, region=settings.phone_region
    )
    located = await locate_complaint(geocoder, data)
    store = partial(
        service.create,
        data=data,
        place=located.place,
        reporter_phone=phone,
        actor=actor,
        now=clock.now(),
        timezone=settings.timezone,
        details=located.details() | (details or {}),
    )
    async with connect() as connection:
        district = located.address_district if located.locating.located_by == "address" else None
        stored = await store(connection, district_code=district)
        if stored is None:
            # In no district: the boundary tolerance may still place it (or refuse it, clearly).
            point = located.place
            found = await locate(
                connection, lat=point.lat, lon=point.lon, tolerance_m=settings.boundary_tolerance_m
            )
            stored = await store(connection, district_code=found.code)
            assert stored is not None, "a located district exists"
    warnings = list(located.warnings)
    mismatch = _district_warning(located, stored.complaint.district.code)
    if mismatch is not None:
        warnings.insert(0, mismatch)
    if data.link_to is not None and stored.complaint.duplicate_of != data.link_to:
        warnings.append(
            IntakeWarning(
                code="not_linked",
                message=f"{data.link_to} is not an open case of the category waiting for its "
                "visit any more: stored as a new case",
                details={"link_to": data.link_to},
            )
        )
    if stored.complaint.duplicate_of is not None:
        warnings.append(
            IntakeWarning(
                code="linked_as_duplicate",
                message=f"an open case of the category is {stored.duplicate_distance_m} m away: "
                f"stored as a duplicate of {stored.complaint.duplicate_of}, not dispatched "
                "again; its reporter gets that case's result",
                details={
                    "duplicate_of": stored.complaint.duplicate_of,
                    "distance_m": stored.duplicate_distance_m,
                },
            )
        )
    created = ComplaintCreated(
        **stored.complaint.model_dump(), locating=located.locating, warnings=warnings
    )
    return Intake(received=stored, created=created)
