"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from dispatch_server.access import public
from dispatch_server.deps import ContextDep
from dispatch_server.errors import NotFound

router = APIRouter(tags=["health"])


@router.get("/livez", summary="The process is up (no database call)")
@public
async def livez() -> dict[str, str]:
    """Always ok while the process serves requests."""
    return {"status": "ok"}


@router.get("/healthz", summary="The process is up and its database answers")
@public
async def healthz(ctx: ContextDep) -> JSONResponse:
    """Ok when the database answers a query; 503 otherwise."""
    try:
        async with ctx.autocommit() as connection:
            result = await connection.execute(
                text("SELECT count(*) FROM district WHERE retired_at IS NULL")
            )
            districts = result.scalar_one()
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "districts": districts})


@router.get("/metrics", include_in_schema=False)
@public
async def metrics(request: Request, ctx: ContextDep) -> Response:
    """Prometheus metrics (dispatch_server/metrics.py), for the addresses allowed only."""
    from dispatch_server.metrics import exposition

    client = request.client.host if request.client else ""
    allowed = {a.strip() for a in ctx.settings.metrics_allow_ips.split(",")}
    if "*" not in allowed and client not in allowed:
        raise NotFound("no such page")
    async with ctx.autocommit() as connection:
        body, content_type = await exposition(connection, ctx.clock.now())
    return Response(body, media_type=content_type)
