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
)
from dispatch_server.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep, require_json
from dispatch_server.http_errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/complaints", tags=["complaints"], responses=ERROR_RESPONSES)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_json)],
    summary="Log a complaint",
)
def create_complaint(
    data: ComplaintCreate,
    response: Response,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> ComplaintRead:
    """Validate a complaint, route it to its district and store it; answers with its ticket."""
    complaint = flows.receive(
        session, data=data, actor=f"channel:{data.channel}", clock=clock, settings=settings
    )
    response.headers["Location"] = f"{router.prefix}/{complaint.ticket}"
    return complaint


@router.get("/{ticket}", summary="One complaint by its ticket number")
def get_complaint(ticket: str, session: ReadSessionDep) -> ComplaintRead:
    """The complaint with this ticket number."""
    return service.get_by_ticket(session, ticket=ticket)


@router.get(
    "",
    response_model=ComplaintPage,
    summary="List complaints (newest first, keyset pages)",
)
def list_complaints(
    filters: Annotated[ComplaintFilter, Query()], session: ReadSessionDep
) -> Response:
    """Complaints matching the filters; follow `next_cursor` for the next page."""
    # The service returns the page already rendered as JSON (by the database).
    return Response(service.list_page(session, filters=filters), media_type="application/json")
