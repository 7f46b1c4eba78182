"""HTTP adapter of the intake API: /api/v1/complaints."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server import idempotency
from dispatch_server.access import Caller, CaseDesk, Intake
from dispatch_server.complaints import flows, service
from dispatch_server.complaints.schemas import (
    CitizenText,
    CitizenTexts,
    ComplaintCreate,
    ComplaintCreated,
    ComplaintFilter,
    ComplaintPage,
    ComplaintRead,
    NearbyCases,
    Timeline,
)
from dispatch_server.db import AsyncConnectable
from dispatch_server.deps import AppContext, ContextDep, require_json
from dispatch_server.dispatch.flows import dispatch_received
from dispatch_server.errors import Invalid
from dispatch_server.http_errors import ERROR_RESPONSES
from notifications import service as notifications
from sla import timers
from sla.schemas import ComplaintSla

router = APIRouter(prefix="/api/v1/complaints", tags=["complaints"], responses=ERROR_RESPONSES)


class _Answered(Exception):
    """The request's Idempotency-Key was answered before: its first answer."""

    def __init__(self, replay: idempotency.Replay) -> None:
        self.replay = replay


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_json)],
    response_model=ComplaintCreated,
    summary="Log a complaint",
)
async def create_complaint(
    data: ComplaintCreate,
    request: Request,
    caller: Intake,
    ctx: ContextDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            pattern=idempotency.KEY_PATTERN,
            description="sent again with the same body (an answer lost, a console or a "
            "server restarted), the complaint is stored once and the first answer returned; "
            "with another body: 422",
        ),
    ] = None,
) -> Response:
    """Locate a complaint (geocoding its address, or filling the address of its point),
    route it to its district and team, link it to an open case it repeats, and store it.

    422 when it cannot be placed: `address_not_found`, `address_imprecise` or
    `address_ambiguous` (with the candidates: send one's point), `outside_service_area`.
    Warnings (stored all the same) come in `warnings`.
    """
    if idempotency_key is None:
        # Autocommit: intake stores a complaint in one atomic statement (see flows.receive).
        intake = await _receive(ctx, caller, data, ctx.autocommit)
        created = await dispatch_received(ctx.transaction, ctx.clock, intake)
        answer, ticket = created.model_dump_json().encode(), created.ticket
    else:
        try:
            answer = await _receive_once(ctx, caller, data, request, idempotency_key)
        except _Answered as answered:
            answer = answered.replay.answer
        ticket = json.loads(answer)["ticket"]
    return Response(
        answer, status.HTTP_201_CREATED, media_type="application/json",
        headers={"Location": f"{router.prefix}/{ticket}"},
    )  # fmt: skip


async def _receive(
    ctx: AppContext, caller: Caller, data: ComplaintCreate, connect: Callable[[], AsyncConnectable]
) -> flows.Intake:
    return await flows.receive(
        connect, data=data, geocoder=ctx.geocoder, actor=caller.actor, clock=ctx.clock,
        settings=ctx.settings,
    )  # fmt: skip


async def _receive_once(
    ctx: AppContext, caller: Caller, data: ComplaintCreate, request: Request, key: str
) -> bytes:
    """Intake in one transaction with its key's claim and its answer: a complaint stored
    whose answer is lost, sent again, is answered from the first time and not stored twice.

    The key is claimed once the complaint is located (geocoding holds its own connection
    first, so a request never holds two); the auto-assignment runs in a savepoint of the
    same transaction, so the answer remembered is the one given.
    """
    scope = idempotency.key_scope(request.url.path, caller.actor)
    fingerprint = idempotency.fingerprint(scope, data.model_dump_json().encode())
    async with AsyncExitStack() as stack:
        held: list[AsyncConnection] = []

        @asynccontextmanager
        async def claimed() -> AsyncIterator[AsyncConnection]:
            connection = await stack.enter_async_context(ctx.transaction())
            replay = await idempotency.claim(
                connection, scope=scope, key=key, request_fingerprint=fingerprint,
                now=ctx.clock.now(),
            )  # fmt: skip
            if replay is not None:
                raise _Answered(replay)
            held.append(connection)
            yield connection

        @asynccontextmanager
        async def savepoint() -> AsyncIterator[AsyncConnection]:
            async with held[0].begin_nested():
                yield held[0]

        intake = await _receive(ctx, caller, data, claimed)
        created = await dispatch_received(savepoint, ctx.clock, intake)
        answer = created.model_dump_json().encode()
        await idempotency.remember(
            held[0], scope=scope, key=key, status_code=status.HTTP_201_CREATED, answer=answer
        )
    return answer


@router.get("/nearby", summary="Open cases near a point (check before logging a new one)")
async def nearby_complaints(
    caller: CaseDesk,
    ctx: ContextDep,
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
    long: Annotated[
        float | None, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude")
    ] = None,
    lon: Annotated[
        float | None, Query(ge=-180, le=180, allow_inf_nan=False, description="same as long")
    ] = None,
    category: Annotated[str | None, Query(max_length=50, pattern=r"^[a-z0-9_]+$")] = None,
    radius_m: Annotated[
        float | None,
        Query(
            gt=0,
            le=1000,
            allow_inf_nan=False,
            description="default: the category's duplicate radius, or 100 m",
        ),
    ] = None,
) -> NearbyCases:
    """Open cases within the radius, nearest first; with a category, only its cases, and the
    one a new complaint here would be linked to (as its duplicate) is marked `would_link`."""
    longitude = long if long is not None else lon
    if longitude is None:
        raise Invalid("give the point's longitude as `long` (or `lon`)", code="validation_error")
    async with ctx.autocommit() as connection:
        found = await service.nearby(
            connection, lat=lat, lon=longitude, category=category, radius_m=radius_m,
            now=ctx.clock.now(), scope=caller.scope,
        )  # fmt: skip
    return NearbyCases.model_validate(found)


@router.get("/{ticket}", summary="One complaint by its ticket number")
async def get_complaint(ticket: str, caller: CaseDesk, ctx: ContextDep) -> ComplaintRead:
    """The complaint with this ticket number (the reporter's phone masked: see `/contact`)."""
    async with ctx.autocommit() as connection:
        return await service.get_by_ticket(connection, ticket=ticket, scope=caller.scope)


@router.get("/{ticket}/events", summary="A complaint's timeline, oldest first")
async def complaint_timeline(ticket: str, caller: CaseDesk, ctx: ContextDep) -> Timeline:
    """Every event of the case: received, each move with who, when and why."""
    async with ctx.autocommit() as connection:
        return await service.timeline(connection, ticket=ticket, scope=caller.scope)


@router.get("/{ticket}/texts", summary="The texts its reporter gets, as they read them")
async def complaint_texts(ticket: str, caller: CaseDesk, ctx: ContextDep) -> CitizenTexts:
    """Every text to the reporter (received, duplicate, results...), sent or waiting, in
    their language: what the agent tells a caller they will get. No phone number."""
    async with ctx.autocommit() as connection:
        case = await service.get_by_ticket(connection, ticket=ticket, scope=caller.scope)
        texts = await notifications.citizen_texts(
            connection, complaint_id=case.id, templates=ctx.templates,
            public_url=ctx.settings.public_url,
        )  # fmt: skip
    return CitizenTexts(ticket=ticket, texts=[CitizenText.model_validate(t) for t in texts])


@router.get("/{ticket}/sla", summary="A complaint's SLA clocks and its expected_datetime")
async def complaint_sla(ticket: str, caller: CaseDesk, ctx: ContextDep) -> ComplaintSla:
    """Assign, arrive and resolve clocks (those its policy has); `expected_datetime` is the
    resolve clock's due time."""
    async with ctx.autocommit() as connection:
        return await timers.complaint_sla(connection, ticket=ticket, scope=caller.scope)


@router.get(
    "",
    response_model=ComplaintPage,
    summary="List complaints (newest first, keyset pages)",
)
async def list_complaints(
    filters: Annotated[ComplaintFilter, Query()], caller: CaseDesk, ctx: ContextDep
) -> Response:
    """Complaints matching the filters, of the caller's districts; follow `next_cursor` for
    the next page."""
    async with ctx.autocommit() as connection:
        page = await service.list_page(connection, filters=filters, scope=caller.scope)
    # Already rendered as JSON (by the database).
    return Response(page, media_type="application/json")
