"""HTTP adapter of personal data: a case's contact data in full (logged), and the log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from dispatch_server.access import Admins, Contact
from dispatch_server.deps import ContextDep
from dispatch_server.http_errors import ERROR_RESPONSES
from dispatch_server.privacy import service
from dispatch_server.privacy.schemas import AccessLogPage, ContactRead

router = APIRouter(tags=["personal data"], responses=ERROR_RESPONSES)


@router.get(
    "/api/v1/complaints/{ticket}/contact",
    summary="The reporter's phone, name and e-mail in full (every read is logged)",
)
async def complaint_contact(
    ticket: str,
    request: Request,
    response: Response,
    caller: Contact,
    ctx: ContextDep,
    purpose: Annotated[
        str, Query(min_length=1, max_length=200, description="why: written to the access log")
    ] = "contact lookup",
) -> ContactRead:
    """Agents (any case) and the case's dispatchers only; everyone else sees the phone
    masked on the case itself. The read and its access-log entry are one statement."""
    response.headers["Cache-Control"] = "no-store"
    async with ctx.autocommit() as connection:
        return await service.read_contact(
            connection, ticket=ticket, caller=caller, purpose=purpose,
            client_address=request.client.host if request.client else None,
            now=ctx.clock.now(),
        )  # fmt: skip


@router.get(
    "/api/v1/admin/privacy/access-log",
    summary="Who read which reporter's contact data, when and why (newest first)",
)
async def access_log(
    caller: Admins,
    ctx: ContextDep,
    ticket: Annotated[str | None, Query(max_length=20)] = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AccessLogPage:
    """Filter by case, account and time; page with `before_id`."""
    async with ctx.autocommit() as connection:
        return await service.access_log(
            connection, ticket=ticket, username=username, since=since, until=until,
            before_id=before_id, limit=limit,
        )  # fmt: skip
