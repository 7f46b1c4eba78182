"""HTTP adapter of the dispatchers' API: /api/v1/dispatch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from dispatch_server import idempotency
from dispatch_server.access import Caller, Dispatchers, Watchers
from dispatch_server.attachments import service as attachments
from dispatch_server.attachments.http import PHOTO_RESPONSES, serve_photo
from dispatch_server.attachments.schemas import PhotoList
from dispatch_server.complaints import service as complaints
from dispatch_server.complaints.constants import Status
from dispatch_server.complaints.schemas import ComplaintRead
from dispatch_server.deps import AppContext, ContextDep, require_json
from dispatch_server.dispatch import board, flows, service
from dispatch_server.dispatch.schemas import (
    CandidateList,
    MergeRequest,
    PriorityChange,
    TransitionRequest,
    UnmergeRequest,
)
from dispatch_server.http_errors import ERROR_RESPONSES
from dispatch_server.live.router import (
    STREAM_RESPONSES,
    LastEventIdHeader,
    LastEventIdQuery,
    open_stream,
)
from sla import timers
from sla.schemas import ComplaintSla, PauseRequest, ResumeRequest

router = APIRouter(prefix="/api/v1/dispatch", tags=["dispatch"], responses=ERROR_RESPONSES)


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        pattern=idempotency.KEY_PATTERN,
        description="sent again with the same body, the move is made once and the first "
        "answer returned; with another body: 422",
    ),
]


async def _move(
    ctx: AppContext,
    caller: Caller,
    request: Request,
    complaint_id: int,
    move: TransitionRequest,
    key: str | None,
    only_from: frozenset[Status] | None = None,
) -> Response:
    """Make a dispatcher's move once per Idempotency-Key; the answer as stored."""
    result = await flows.move_once(
        ctx.transaction, ctx.clock, complaint_id=complaint_id, move=move, actor=caller.actor,
        within=caller.scope, key_scope=idempotency.key_scope(request.url.path, caller.actor),
        key=key, only_from=only_from,
    )  # fmt: skip
    return Response(result.answer, result.status_code, media_type="application/json")


@router.post(
    "/complaints/{complaint_id}/transitions",
    dependencies=[Depends(require_json)],
    response_model=ComplaintRead,
    summary="Move a case (assign, reassign, accept, ... close), at the version last read",
    responses={409: ERROR_RESPONSES[404] | {"description": "Invalid move or stale version"}},
)
async def move_complaint(
    complaint_id: int,
    move: TransitionRequest,
    request: Request,
    caller: Dispatchers,
    ctx: ContextDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Apply one move of the state machine; 409 lists the allowed moves or the new version."""
    return await _move(ctx, caller, request, complaint_id, move, idempotency_key)


@router.post(
    "/complaints/{complaint_id}/merge",
    dependencies=[Depends(require_json)],
    response_model=ComplaintRead,
    summary="Merge a case into the original it repeats (it becomes its duplicate)",
    responses={409: ERROR_RESPONSES[404] | {"description": "Invalid move or stale version"}},
)
async def merge_complaint(
    complaint_id: int,
    merge: MergeRequest,
    request: Request,
    caller: Dispatchers,
    ctx: ContextDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """The case moves to `duplicate` of `into` (an event on both); its own duplicates follow
    it to `into`. Only a case not yet assigned can be merged (409 lists the allowed moves)."""
    move = TransitionRequest(
        to=Status.DUPLICATE, version=merge.version, duplicate_of=merge.into, reason=merge.reason
    )
    return await _move(ctx, caller, request, complaint_id, move, idempotency_key)


@router.post(
    "/complaints/{complaint_id}/unmerge",
    dependencies=[Depends(require_json)],
    response_model=ComplaintRead,
    summary="Unmerge a duplicate: it becomes a received case of its own again",
    responses={409: ERROR_RESPONSES[404] | {"description": "Not a duplicate, or stale version"}},
)
async def unmerge_complaint(
    complaint_id: int,
    unmerge: UnmergeRequest,
    request: Request,
    caller: Dispatchers,
    ctx: ContextDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """The duplicate moves back to `received` (an event on it and on its former original)."""
    move = TransitionRequest(to=Status.RECEIVED, version=unmerge.version, reason=unmerge.reason)
    return await _move(
        ctx,
        caller,
        request,
        complaint_id,
        move,
        idempotency_key,
        only_from=frozenset({Status.DUPLICATE}),
    )


async def _clocks(
    ctx: AppContext,
    caller: Caller,
    request: Request,
    complaint_id: int,
    body: PauseRequest | ResumeRequest,
    key: str | None,
) -> Response:
    """Pause or resume a case's clocks once per Idempotency-Key; the clocks after it."""
    async with ctx.transaction() as connection:

        async def act() -> bytes:
            now = ctx.clock.now()
            if isinstance(body, PauseRequest):
                await timers.pause(
                    connection, complaint_id=complaint_id, request=body, actor=caller.actor,
                    now=now, scope=caller.scope,
                )  # fmt: skip
            else:
                await timers.resume(
                    connection, complaint_id=complaint_id, note=body.note, actor=caller.actor,
                    now=now, scope=caller.scope,
                )  # fmt: skip
            case = await complaints.get_by_id(
                connection, complaint_id=complaint_id, scope=caller.scope
            )
            clocks = await timers.complaint_sla(connection, ticket=case.ticket, scope=caller.scope)
            return clocks.model_dump_json().encode()

        result = await idempotency.once(
            connection, scope=idempotency.key_scope(request.url.path, caller.actor), key=key,
            request_body=body.model_dump_json().encode(), now=ctx.clock.now(), action=act,
        )  # fmt: skip
    return Response(result.answer, result.status_code, media_type="application/json")


@router.post(
    "/complaints/{complaint_id}/sla/pause",
    dependencies=[Depends(require_json)],
    response_model=ComplaintSla,
    summary="Pause a case's running SLA clocks (waiting for the citizen or another agency)",
)
async def pause_clocks(
    complaint_id: int,
    pause: PauseRequest,
    request: Request,
    caller: Dispatchers,
    ctx: ContextDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """The working time left is kept; 409 no_clock_to_move when no clock is running."""
    return await _clocks(ctx, caller, request, complaint_id, pause, idempotency_key)


@router.post(
    "/complaints/{complaint_id}/sla/resume",
    dependencies=[Depends(require_json)],
    response_model=ComplaintSla,
    summary="Resume a case's paused SLA clocks (due times move by the working time paused)",
)
async def resume_clocks(
    complaint_id: int,
    resume: ResumeRequest,
    request: Request,
    caller: Dispatchers,
    ctx: ContextDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """409 no_clock_to_move when no clock is paused."""
    return await _clocks(ctx, caller, request, complaint_id, resume, idempotency_key)


@router.get(
    "/complaints/{complaint_id}/candidates",
    summary="On-duty inspectors ranked for a case, with distance, load and score",
)
async def complaint_candidates(
    complaint_id: int, caller: Watchers, ctx: ContextDep
) -> CandidateList:
    """The nearest on-duty inspectors of the case's district team, ranked by score."""
    async with ctx.autocommit() as connection:
        return await service.candidates(connection, complaint_id=complaint_id, scope=caller.scope)


@router.get("/complaints/{complaint_id}/photos", summary="A case's photos, described")
async def complaint_photos(complaint_id: int, caller: Watchers, ctx: ContextDep) -> PhotoList:
    """Each photo with its EXIF time and place and the URLs of its bytes."""
    async with ctx.autocommit() as connection:
        # 404 when there is no such case in the caller's scope.
        await complaints.get_by_id(connection, complaint_id=complaint_id, scope=caller.scope)
        return await attachments.list_photos(
            connection, complaint_id=complaint_id, scope=caller.scope
        )


@router.get(
    "/photos/{photo_id}",
    response_class=Response,
    responses=PHOTO_RESPONSES,
    summary="A photo's bytes, without metadata",
)
async def photo(photo_id: int, caller: Watchers, ctx: ContextDep) -> Response:
    """The picture upright and re-encoded: no EXIF (no GPS, no device) ever leaves."""
    return await serve_photo(ctx, photo_id=photo_id, thumbnail=False, scope=caller.scope)


@router.get(
    "/photos/{photo_id}/thumbnail",
    response_class=Response,
    responses=PHOTO_RESPONSES,
    summary="A photo's thumbnail (JPEG, at most 320 px)",
)
async def photo_thumbnail(photo_id: int, caller: Watchers, ctx: ContextDep) -> Response:
    """A small JPEG of the photo, without metadata."""
    return await serve_photo(ctx, photo_id=photo_id, thumbnail=True, scope=caller.scope)


@router.post(
    "/complaints/{complaint_id}/priority",
    dependencies=[Depends(require_json)],
    response_model=ComplaintRead,
    summary="Make an open case more or less urgent, at the version last read",
    responses={409: ERROR_RESPONSES[404] | {"description": "Stale version, or a closed case"}},
)
async def change_priority(
    complaint_id: int,
    change: PriorityChange,
    request: Request,
    caller: Dispatchers,
    ctx: ContextDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """The new priority orders the inspector's queue and the board; a `priority_changed`
    entry (from, to, reason) goes on the timeline."""
    async with ctx.transaction() as connection:

        async def act() -> bytes:
            changed = await service.change_priority(
                connection, complaint_id=complaint_id, change=change, actor=caller.actor,
                now=ctx.clock.now(), scope=caller.scope,
            )  # fmt: skip
            return changed.model_dump_json().encode()

        result = await idempotency.once(
            connection, scope=idempotency.key_scope(request.url.path, caller.actor),
            key=idempotency_key, request_body=change.model_dump_json().encode(),
            now=ctx.clock.now(), action=act,
        )  # fmt: skip
    return Response(result.answer, result.status_code, media_type="application/json")


@router.get("/board", summary="Every open case of mine for the map: compact rows")
async def open_board(
    caller: Watchers,
    ctx: ContextDep,
    district: Annotated[str | None, Query(max_length=20, description="one of my districts")] = None,
    ids: Annotated[
        str | None,
        Query(
            max_length=20_000,
            pattern=r"^[0-9]+(,[0-9]+)*$",
            description="only these cases (comma list of ids)",
        ),
    ] = None,
) -> Response:
    """`{"now", "columns", "rows"}`: each row an array in the order of `columns` (id,
    ticket, status, category, priority, lat, lon, address, assignee_id, team_id, district,
    created_at, and the clock that runs out first: its kind, state, warn_at and due_at)."""
    wanted = [int(part) for part in ids.split(",")] if ids else None
    async with ctx.autocommit() as connection:
        body = await board.board(
            connection, scope=caller.scope.narrowed(district), district=district, ids=wanted
        )
    return Response(body, media_type="application/json")


@router.get("/inspectors", summary="The inspectors of my districts: duty, position, load")
async def district_inspectors(
    caller: Watchers,
    ctx: ContextDep,
    district: Annotated[str | None, Query(max_length=20, description="one of my districts")] = None,
) -> Response:
    """Each inspector with their team, duty, last position and time, and open cases."""
    async with ctx.autocommit() as connection:
        body = await board.inspectors(
            connection, scope=caller.scope.narrowed(district), district=district
        )
    return Response(body, media_type="application/json")


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses=STREAM_RESPONSES,
    summary="Live: a district's case changes and inspectors, as server-sent events",
)
async def district_stream(
    caller: Watchers,
    ctx: ContextDep,
    last_event_id_header: LastEventIdHeader = None,
    last_event_id: LastEventIdQuery = None,
    district: Annotated[
        str | None,
        Query(max_length=20, description="a district code; none: every district of yours"),
    ] = None,
) -> StreamingResponse:
    """Every timeline entry of the district's cases and every duty or position change of its
    inspectors, in commit order; reconnecting with Last-Event-ID resumes without a gap.
    Only districts of the caller's scope: another is an unknown district (404)."""
    return await open_stream(
        ctx, scope=caller.scope.narrowed(district), header=last_event_id_header,
        query=last_event_id,
    )  # fmt: skip
