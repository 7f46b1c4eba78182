"""HTTP adapter of the field API: /api/v1/field (the inspectors' app).

Who is calling: until accounts and tokens arrive (issue 6), the app names its inspector in
the `X-Inspector-Id` header. That is an interim identity, not authentication: issue 6
replaces it with the bearer token's inspector, and these endpoints keep their shape.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from dispatch_server import idempotency
from dispatch_server.attachments import service as attachments
from dispatch_server.attachments.schemas import PhotoList
from dispatch_server.attachments.service import PhotoRefused
from dispatch_server.complaints import service as complaints
from dispatch_server.complaints.exceptions import ComplaintNotFound
from dispatch_server.complaints.schemas import ComplaintRead
from dispatch_server.deps import ContextDep, require_json
from dispatch_server.dispatch import flows
from dispatch_server.dispatch.schemas import TransitionRequest
from dispatch_server.errors import Unauthenticated
from dispatch_server.field import service
from dispatch_server.field.schemas import (
    DeviceRead,
    DeviceRegistration,
    DutyChange,
    DutyRead,
    PingBatch,
    PositionRead,
    Queue,
)
from dispatch_server.http_errors import ERROR_RESPONSES
from dispatch_server.live.router import (
    STREAM_RESPONSES,
    LastEventIdHeader,
    LastEventIdQuery,
    open_stream,
)
from dispatch_server.live.service import Scope
from notifications import service as notifications

router = APIRouter(prefix="/api/v1/field", tags=["field"], responses=ERROR_RESPONSES)


async def calling_inspector(
    x_inspector_id: Annotated[
        int | None, Header(ge=1, description="interim identity until tokens (issue 6)")
    ] = None,
) -> int:
    """The inspector the app speaks for."""
    if x_inspector_id is None:
        raise Unauthenticated("say which inspector is calling (X-Inspector-Id)")
    return x_inspector_id


InspectorDep = Annotated[int, Depends(calling_inspector)]
KeyHeader = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=idempotency.KEY_PATTERN,
        description="a key the device makes per action (a UUID): a resend acts once",
    ),
]


@router.post("/duty", dependencies=[Depends(require_json)], summary="Go on or off duty")
async def change_duty(change: DutyChange, inspector: InspectorDep, ctx: ContextDep) -> DutyRead:
    """On duty: a candidate for new cases; off duty: not."""
    async with ctx.transaction() as connection:
        return await service.set_duty(connection, inspector_id=inspector, on_duty=change.on_duty)


@router.post("/positions", dependencies=[Depends(require_json)], summary="Report position fixes")
async def report_positions(
    batch: PingBatch, inspector: InspectorDep, ctx: ContextDep
) -> PositionRead:
    """Up to 500 fixes at once; the newest becomes the position if newer than the one held."""
    async with ctx.transaction() as connection:
        return await service.record_positions(
            connection, inspector_id=inspector, batch=batch, now=ctx.clock.now()
        )


@router.post(
    "/devices",
    dependencies=[Depends(require_json)],
    status_code=201,
    summary="Register this phone for push notifications (its FCM token)",
)
async def register_device(
    device: DeviceRegistration, inspector: InspectorDep, ctx: ContextDep
) -> DeviceRead:
    """Idempotent: the same token again only refreshes it (and moves it to the caller)."""
    async with ctx.autocommit() as connection:
        row = await notifications.register_device(
            connection, inspector_id=inspector, token=device.token, platform=device.platform,
            now=ctx.clock.now(),
        )  # fmt: skip
    return DeviceRead(**row)


@router.post(
    "/devices/unregister",
    dependencies=[Depends(require_json)],
    status_code=204,
    summary="Stop pushes to this phone (sign-out)",
)
async def unregister_device(
    device: DeviceRegistration, inspector: InspectorDep, ctx: ContextDep
) -> Response:
    async with ctx.autocommit() as connection:
        await notifications.unregister_device(
            connection, inspector_id=inspector, token=device.token
        )
    return Response(status_code=204)


@router.get("/queue", summary="My open cases, most urgent then nearest first")
async def my_queue(inspector: InspectorDep, ctx: ContextDep) -> Queue:
    """The cases assigned to me that I have not finished."""
    async with ctx.autocommit() as connection:
        return await service.queue(connection, inspector_id=inspector)


@router.get("/complaints/{complaint_id}", summary="One of my cases (phone masked)")
async def my_case(complaint_id: int, inspector: InspectorDep, ctx: ContextDep) -> ComplaintRead:
    """A case assigned to me; any other case is a 404."""
    async with ctx.autocommit() as connection:
        case = await complaints.get_by_id(connection, complaint_id=complaint_id)
    if case.assignee_id != inspector:
        raise ComplaintNotFound(
            f"no complaint has id {complaint_id}", details={"complaint_id": complaint_id}
        )
    return case


@router.post(
    "/complaints/{complaint_id}/transitions",
    dependencies=[Depends(require_json)],
    response_model=ComplaintRead,
    summary="My move on my case (accept, on the way, arrived, result)",
)
async def my_move(
    complaint_id: int,
    move: TransitionRequest,
    request: Request,
    inspector: InspectorDep,
    idempotency_key: KeyHeader,
    ctx: ContextDep,
) -> Response:
    """Accepted, en route, on site, resolved, unresolved or referred; a resend acts once."""
    result = await flows.move_once(
        ctx.transaction,
        ctx.clock,
        complaint_id=complaint_id,
        move=move,
        actor=f"inspector:{inspector}",
        scope=f"POST {request.url.path} inspector:{inspector}",
        key=idempotency_key,
        as_inspector=inspector,
    )
    return Response(result.answer, result.status_code, media_type="application/json")


@router.post(
    "/complaints/{complaint_id}/photos",
    status_code=201,
    summary="Add photos to my case (JPEG or PNG, checked by content)",
)
async def add_my_photos(
    complaint_id: int,
    photos: Annotated[list[UploadFile], File(description="one or more JPEG/PNG files")],
    inspector: InspectorDep,
    ctx: ContextDep,
) -> PhotoList:
    """Every file is checked before any is kept; EXIF time and GPS are read, then stripped."""
    settings = ctx.settings
    if not 1 <= len(photos) <= settings.max_photos_per_upload:
        raise PhotoRefused(
            f"send 1 to {settings.max_photos_per_upload} photos at once",
            details={"photos": len(photos)},
        )
    uploads = []
    for upload in photos:
        uploads.append((upload.filename or "photo", await upload.read()))
    async with ctx.transaction() as connection:
        case = await complaints.get_by_id(connection, complaint_id=complaint_id)
        if case.assignee_id != inspector:
            raise ComplaintNotFound(
                f"no complaint has id {complaint_id}", details={"complaint_id": complaint_id}
            )
        return await attachments.add_photos(
            connection,
            complaint_id=complaint_id,
            uploads=uploads,
            uploaded_by=f"inspector:{inspector}",
            now=ctx.clock.now(),
            timezone=settings.timezone,
            store=ctx.photos,
            max_bytes=settings.max_photo_bytes,
        )


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses=STREAM_RESPONSES,
    summary="Live: my cases' changes, as server-sent events",
)
async def my_stream(
    inspector: InspectorDep,
    ctx: ContextDep,
    last_event_id_header: LastEventIdHeader = None,
    last_event_id: LastEventIdQuery = None,
) -> StreamingResponse:
    """A case assigned to me, changed, or taken from me; my own duty changes. Reconnecting
    with Last-Event-ID resumes without a gap."""
    async with ctx.autocommit() as connection:
        await service.ensure_inspector(connection, inspector_id=inspector)
    return await open_stream(
        ctx, scope=Scope(inspector_id=inspector), header=last_event_id_header, query=last_event_id
    )
