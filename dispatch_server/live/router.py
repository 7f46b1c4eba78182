"""HTTP side of the live streams: Last-Event-ID in, `text/event-stream` out.

The endpoints live with their audience (/api/v1/dispatch/stream, /api/v1/field/stream);
this module holds what they share.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query
from fastapi.responses import StreamingResponse

from dispatch_server.access import Scope
from dispatch_server.deps import AppContext
from dispatch_server.live import service, stream
from dispatch_server.live.service import StreamPosition

LastEventIdHeader = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        max_length=64,
        description="the id of the last event received: the stream resumes after it",
    ),
]
LastEventIdQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description="the same as the Last-Event-ID header, for clients that cannot set it",
    ),
]
STREAM_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "content": {stream.MEDIA_TYPE: {}},
        "description": "Server-sent events: `complaint` (a case's timeline entry and the case"
        " after it), `inspector` (duty or position), `reset` (reload: events were missed)",
    }
}


async def open_stream(
    ctx: AppContext, *, scope: Scope, header: str | None, query: str | None
) -> StreamingResponse:
    """Check the resume position (4xx before any byte is sent), then stream."""
    raw = header if header is not None else query
    after = StreamPosition.parse(raw) if raw else None
    async with ctx.autocommit() as connection:
        start = await service.start(connection, scope=scope, after=after)
    settings = ctx.settings
    frames = stream.events(
        ctx.autocommit,
        scope=scope,
        start=start,
        poll_seconds=settings.stream_poll_seconds,
        heartbeat_seconds=settings.stream_heartbeat_seconds,
    )
    return StreamingResponse(frames, media_type=stream.MEDIA_TYPE, headers=stream.HEADERS)
