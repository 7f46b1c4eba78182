"""HTTP adapter of the intake API: /api/v1/complaints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from dispatch_server.complaints import flows, service
from dispatch_server.complaints.schemas import (
    ComplaintCreate,
    ComplaintFilter,
    ComplaintPage,
    ComplaintRead,
    Timeline,
)
from dispatch_server.deps import ContextDep, require_json
from dispatch_server.dispatch.flows import auto_assign
from dispatch_server.http_errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/complaints", tags=["complaints"], responses=ERROR_RESPONSES)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_json)],
    summary="Log a complaint",
)
async def create_complaint(
    data: ComplaintCreate, response: Response, ctx: ContextDep
) -> ComplaintRead:
    """Validate a complaint, route it to its district and store it; answers with its ticket."""
    # Autocommit: intake stores a complaint in one atomic statement (see flows.receive).
    async with ctx.autocommit() as connection:
        received = await flows.receive(
            connection,
            data=data,
            actor=f"channel:{data.channel}",
            clock=ctx.clock,
            settings=ctx.settings,
        )
    complaint = received.complaint
    if received.auto_assign:
        # Stored and committed above: whatever happens now, the complaint is not lost.
        assigned = await auto_assign(ctx.transaction, ctx.clock, complaint_id=complaint.id)
        complaint = assigned or complaint
    response.headers["Location"] = f"{router.prefix}/{complaint.ticket}"
    return complaint


@router.get("/{ticket}", summary="One complaint by its ticket number")
async def get_complaint(ticket: str, ctx: ContextDep) -> ComplaintRead:
    """The complaint with this ticket number."""
    async with ctx.autocommit() as connection:
        return await service.get_by_ticket(connection, ticket=ticket)


@router.get("/{ticket}/events", summary="A complaint's timeline, oldest first")
async def complaint_timeline(ticket: str, ctx: ContextDep) -> Timeline:
    """Every event of the case: received, each move with who, when and why."""
    async with ctx.autocommit() as connection:
        return await service.timeline(connection, ticket=ticket)


@router.get(
    "",
    response_model=ComplaintPage,
    summary="List complaints (newest first, keyset pages)",
)
async def list_complaints(
    filters: Annotated[ComplaintFilter, Query()], ctx: ContextDep
) -> Response:
    """Complaints matching the filters; follow `next_cursor` for the next page."""
    async with ctx.autocommit() as connection:
        page = await service.list_page(connection, filters=filters)
    # Already rendered as JSON (by the database).
    return Response(page, media_type="application/json")
