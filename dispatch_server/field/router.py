"""HTTP adapter of the field API: /api/v1/field (the inspectors' app).

Only inspector accounts call it; the inspector is the one the access token's account is
linked to, and the cases are theirs alone (any other case is a 404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from dispatch_server import idempotency
from dispatch_server.access import Inspectors
from dispatch_server.attachments import service as attachments
from dispatch_server.attachments.http import PHOTO_RESPONSES, serve_photo
from dispatch_server.attachments.schemas import PhotoList
from dispatch_server.attachments.service import PhotoRefused
from dispatch_server.complaints import service as complaints
from dispatch_server.complaints.schemas import ComplaintRead
from dispatch_server.deps import ContextDep, require_json
from dispatch_server.dispatch import flows
from dispatch_server.dispatch.schemas import TransitionRequest
from dispatch_server.field import service
from dispatch_server.field.schemas import (
    DeviceRead,
    DeviceRegistration,
    DutyChange,
    DutyRead,
    FieldCase,
    PingBatch,
    PositionRead,
    Queue,
    Reference,
)
from dispatch_server.http_errors import ERROR_RESPONSES
from dispatch_server.live.router import (
    STREAM_RESPONSES,
    LastEventIdHeader,
    LastEventIdQuery,
    open_stream,
)
from notifications import service as notifications

router = APIRouter(prefix="/api/v1/field", tags=["field"], responses=ERROR_RESPONSES)


KeyHeader = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=idempotency.KEY_PATTERN,
        description="a key the device makes per action (a UUID): a resend acts once",
    ),
]


@router.post("/duty", dependencies=[Depends(require_json)], summary="Go on or off duty")
async def change_duty(change: DutyChange, caller: Inspectors, ctx: ContextDep) -> DutyRead:
    """On duty: a candidate for new cases; off duty: not."""
    async with ctx.transaction() as connection:
        return await service.set_duty(
            connection, inspector_id=caller.inspector_id, on_duty=change.on_duty
        )


@router.post("/positions", dependencies=[Depends(require_json)], summary="Report position fixes")
async def report_positions(batch: PingBatch, caller: Inspectors, ctx: ContextDep) -> PositionRead:
    """Up to 500 fixes at once; the newest becomes the position if newer than the one held."""
    async with ctx.transaction() as connection:
        return await service.record_positions(
            connection, inspector_id=caller.inspector_id, batch=batch, now=ctx.clock.now()
        )


@router.post(
    "/devices",
    dependencies=[Depends(require_json)],
    status_code=201,
    summary="Register this phone for push notifications (its FCM token)",
)
async def register_device(
    device: DeviceRegistration, caller: Inspectors, ctx: ContextDep
) -> DeviceRead:
    """Idempotent: the same token again only refreshes it (and moves it to the caller)."""
    async with ctx.autocommit() as connection:
        row = await notifications.register_device(
            connection, inspector_id=caller.inspector_id, token=device.token,
            platform=device.platform, now=ctx.clock.now(),
        )  # fmt: skip
    return DeviceRead(**row)


@router.post(
    "/devices/unregister",
    dependencies=[Depends(require_json)],
    status_code=204,
    summary="Stop pushes to this phone (sign-out)",
)
async def unregister_device(
    device: DeviceRegistration, caller: Inspectors, ctx: ContextDep
) -> Response:
    async with ctx.autocommit() as connection:
        await notifications.unregister_device(
            connection, inspector_id=caller.inspector_id, token=device.token
        )
    return Response(status_code=204)


@router.get("/queue", summary="My open cases, most urgent then nearest first")
async def my_queue(caller: Inspectors, ctx: ContextDep) -> Queue:
    """The cases assigned to me that I have not finished."""
    async with ctx.autocommit() as connection:
        return await service.queue(connection, inspector_id=caller.inspector_id)


@router.get(
    "/complaints/{complaint_id}",
    summary="One of my cases with its timeline, photos and clocks (phone masked)",
)
async def my_case(complaint_id: int, caller: Inspectors, ctx: ContextDep) -> FieldCase:
    """A case assigned to me, with all the app keeps to work on it offline; any other case
    is a 404."""
    async with ctx.autocommit() as connection:
        return await service.case_bundle(connection, complaint_id=complaint_id, scope=caller.scope)


@router.get("/reference", summary="Categories and result codes, for showing and closing cases")
async def reference(caller: Inspectors, ctx: ContextDep) -> Reference:
    """The active categories (names in Korean and English) and every result code, by the
    outcome it records (resolved, unresolved, referred) and the category it is for."""
    async with ctx.autocommit() as connection:
        return await service.reference(connection)


@router.get(
    "/photos/{photo_id}",
    response_class=Response,
    responses=PHOTO_RESPONSES,
    summary="A photo of one of my cases, without metadata",
)
async def my_photo(photo_id: int, caller: Inspectors, ctx: ContextDep) -> Response:
    """The picture upright and re-encoded (no EXIF); a photo of any other case is a 404."""
    return await serve_photo(ctx, photo_id=photo_id, thumbnail=False, scope=caller.scope)


@router.get(
    "/photos/{photo_id}/thumbnail",
    response_class=Response,
    responses=PHOTO_RESPONSES,
    summary="A photo's thumbnail (JPEG, at most 320 px), of one of my cases",
)
async def my_photo_thumbnail(photo_id: int, caller: Inspectors, ctx: ContextDep) -> Response:
    """A small JPEG of the photo, without metadata."""
    return await serve_photo(ctx, photo_id=photo_id, thumbnail=True, scope=caller.scope)


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
    caller: Inspectors,
    idempotency_key: KeyHeader,
    ctx: ContextDep,
) -> Response:
    """Accepted, en route, on site, resolved, unresolved or referred; a resend acts once."""
    result = await flows.move_once(
        ctx.transaction,
        ctx.clock,
        complaint_id=complaint_id,
        move=move,
        actor=caller.actor,
        within=caller.scope,
        key_scope=idempotency.key_scope(request.url.path, caller.actor),
        key=idempotency_key,
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
    caller: Inspectors,
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
        # 404 unless the case is mine.
        await complaints.get_by_id(connection, complaint_id=complaint_id, scope=caller.scope)
        return await attachments.add_photos(
            connection,
            complaint_id=complaint_id,
            uploads=uploads,
            uploaded_by=caller.actor,
            now=ctx.clock.now(),
            timezone=settings.timezone,
            store=ctx.photos,
            max_bytes=settings.max_photo_bytes,
            url_base=service.FIELD_PHOTOS,
        )


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses=STREAM_RESPONSES,
    summary="Live: my cases' changes, as server-sent events",
)
async def my_stream(
    caller: Inspectors,
    ctx: ContextDep,
    last_event_id_header: LastEventIdHeader = None,
    last_event_id: LastEventIdQuery = None,
) -> StreamingResponse:
    """A case assigned to me, changed, or taken from me; my own duty changes. Reconnecting
    with Last-Event-ID resumes without a gap."""
    async with ctx.autocommit() as connection:
        await service.ensure_inspector(connection, inspector_id=caller.inspector_id)
    return await open_stream(
        ctx,
        scope=caller.scope,
        header=last_event_id_header,
        query=last_event_id,
    )
