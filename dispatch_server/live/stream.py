"""The server-sent-event stream: live events as `text/event-stream` frames, as they commit."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from dispatch_server.access import Scope
from dispatch_server.db import AsyncConnectable
from dispatch_server.live.service import LiveEvent, Start, StreamPosition, read

logger = logging.getLogger(__name__)

MEDIA_TYPE = "text/event-stream"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# How long a browser's EventSource waits before it reconnects (ms).
RETRY_MS = 2000


def frame(event: LiveEvent) -> bytes:
    """One event as an SSE frame (its id is the position a reconnect resumes after)."""
    return f"id: {event.position}\nevent: {event.kind}\ndata: {event.data}\n\n".encode()


def reset_frame(position: StreamPosition) -> bytes:
    """Tells the reader to reload its lists: the events it asked to resume from are gone."""
    data = json.dumps(
        {"reason": "the events after your Last-Event-ID are no longer kept; reload, then "
         "follow this stream"}
    )  # fmt: skip
    return f"id: {position}\nevent: reset\ndata: {data}\n\n".encode()


async def events(
    connect: Callable[[], AsyncConnectable],
    *,
    scope: Scope,
    start: Start,
    poll_seconds: float,
    heartbeat_seconds: float,
    batch: int = 500,
) -> AsyncIterator[bytes]:
    """The stream's frames, forever (the server stops it when the reader goes away).

    Each poll borrows a pooled connection for one indexed read and gives it back, so an
    open stream holds no connection while it waits. If the database cannot be reached the
    stream ends; the reader reconnects with its Last-Event-ID and loses nothing.
    """
    yield f"retry: {RETRY_MS}\n\n".encode()
    position = start.position
    if start.reset:
        yield reset_frame(position)
    quiet_since = time.monotonic()
    while True:
        try:
            async with connect() as connection:
                found = await read(connection, scope=scope, after=position, limit=batch)
        except (DBAPIError, PoolTimeout):
            logger.warning("live stream ended: the database is not answering", exc_info=True)
            return
        for event in found:
            yield frame(event)
            position = event.position
        now = time.monotonic()
        if found:
            quiet_since = now
        elif now - quiet_since >= heartbeat_seconds:
            yield b": keep-alive\n\n"  # proxies close connections that stay silent
            quiet_since = now
        if len(found) < batch:
            await asyncio.sleep(poll_seconds)
