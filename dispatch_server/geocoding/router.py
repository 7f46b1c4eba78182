"""HTTP adapter of geocoding: /api/v1/geocode and /api/v1/reverse-geocode."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dispatch_server.access import EVERYONE_READ
from dispatch_server.deps import ContextDep
from dispatch_server.dispatch.board import outlines
from dispatch_server.geocoding.schemas import CandidateRead, GeocodeResult, ReverseGeocodeRead
from dispatch_server.http_errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["geocoding"], responses=ERROR_RESPONSES)


@router.get(
    "/geocode", dependencies=[EVERYONE_READ], summary="Places an address may mean, best first"
)
async def geocode(
    ctx: ContextDep,
    q: Annotated[str, Query(max_length=1000, description="a Seoul address, Korean or English")],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> GeocodeResult:
    """Road-name, lot-number, dong or district addresses; ambiguous text gives several."""
    candidates = await ctx.geocoder.geocode(q, limit=limit)
    return GeocodeResult(candidates=[CandidateRead.of(c) for c in candidates])


@router.get(
    "/reverse-geocode",
    dependencies=[EVERYONE_READ],
    summary="The district, dong and nearest address of a point",
)
async def reverse_geocode(
    ctx: ContextDep,
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
    lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
) -> ReverseGeocodeRead:
    """422 outside_service_area for a point in no district."""
    return ReverseGeocodeRead.of(await ctx.geocoder.reverse(lat=lat, lon=lon))


@router.get(
    "/districts",
    dependencies=[EVERYONE_READ],
    response_class=Response,
    summary="Every district's outline, as GeoJSON (simplified for maps)",
)
async def district_outlines(ctx: ContextDep) -> Response:
    """A FeatureCollection: each district's code and names, its outline simplified to about
    10 m (the consoles' base layer; no tiles needed)."""
    async with ctx.autocommit() as connection:
        body = await outlines(connection)
    return Response(body, media_type="application/geo+json",
                    headers={"Cache-Control": "private, max-age=3600"})  # fmt: skip
