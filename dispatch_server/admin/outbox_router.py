"""HTTP adapter of the outbox administration: /api/v1/admin/outbox and opt-outs.

Admins only. Citizens' numbers are masked here: only agents and a case's dispatchers see
one in full (GET /api/v1/complaints/{ticket}/contact, logged).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import BaseModel, Field

from dispatch_server.access import ADMIN_WRITE
from dispatch_server.deps import ContextDep, require_json
from dispatch_server.errors import Invalid
from dispatch_server.http_errors import ERROR_RESPONSES
from dispatch_server.phones import PhoneRejected, normalize_phone
from notifications import service

router = APIRouter(prefix="/api/v1/admin", tags=["admin: outbox"], responses=ERROR_RESPONSES)

Status = Literal["pending", "sent", "delivered", "failed", "dead", "skipped"]


class MessageRead(BaseModel):
    id: int
    complaint_id: int | None
    event_id: int | None
    channel: str
    recipient: str | None = Field(
        description="a citizen's number masked (+82******5678; null once erased), or the "
        "staff a push is for"
    )
    template: str
    language: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    provider_id: str | None
    kind: str | None
    last_error: str | None


class MessageList(BaseModel):
    messages: list[MessageRead]
    # Pass as after_id for the next page; null on the last.
    next_after_id: int | None


class Redrive(BaseModel):
    # These dead letters; null: every dead letter.
    ids: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, max_length=10_000)


class Redriven(BaseModel):
    ids: list[int]


class OptOut(BaseModel):
    phone: str = Field(min_length=1, max_length=40)


@router.get(
    "/outbox",
    dependencies=[ADMIN_WRITE],
    summary="Outbox messages (e.g. status=dead: the dead letters)",
)
async def list_messages(
    ctx: ContextDep,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    complaint_id: Annotated[int | None, Query(ge=1)] = None,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MessageList:
    """Oldest first, paged by id; the reason of a failure is in last_error."""
    async with ctx.autocommit() as connection:
        rows = await service.list_messages(
            connection, status=status_, complaint_id=complaint_id, after_id=after_id,
            limit=limit,
        )  # fmt: skip
    return MessageList(
        messages=[MessageRead(**row) for row in rows],
        next_after_id=rows[-1]["id"] if len(rows) == limit else None,
    )


@router.post(
    "/outbox/redrive",
    dependencies=[ADMIN_WRITE, Depends(require_json)],
    summary="Put dead letters back in the queue (attempts from zero)",
)
async def redrive(body: Redrive, ctx: ContextDep) -> Redriven:
    """Only dead letters move; the ids that did are returned."""
    async with ctx.autocommit() as connection:
        ids = await service.redrive(connection, ids=body.ids, now=ctx.clock.now())
    return Redriven(ids=ids)


@router.post(
    "/sms-opt-outs",
    dependencies=[ADMIN_WRITE, Depends(require_json)],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop every text to a number (the citizen asked an agent)",
)
async def add_opt_out(body: OptOut, ctx: ContextDep) -> Response:
    phone = _phone(body.phone, ctx.settings.phone_region)
    async with ctx.autocommit() as connection:
        await service.opt_out(connection, phone=phone, source="admin", now=ctx.clock.now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/sms-opt-outs/{phone}",
    dependencies=[ADMIN_WRITE],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Texts to a number again",
)
async def remove_opt_out(
    phone: Annotated[str, Path(min_length=1, max_length=40)], ctx: ContextDep
) -> Response:
    number = _phone(phone, ctx.settings.phone_region)
    async with ctx.autocommit() as connection:
        await service.opt_in(connection, phone=number)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _phone(raw: str, region: str) -> str:
    try:
        return normalize_phone(raw, region=region)
    except PhoneRejected as error:
        raise Invalid(str(error), code="invalid_phone") from None
