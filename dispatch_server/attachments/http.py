"""Serving a photo's bytes over HTTP: shared by the dispatchers' and the inspectors' routes."""

from __future__ import annotations

from fastapi import Response

from dispatch_server.access import Scope
from dispatch_server.attachments import service
from dispatch_server.deps import AppContext

PHOTO_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}}}
}


async def serve_photo(ctx: AppContext, *, photo_id: int, thumbnail: bool, scope: Scope) -> Response:
    """The served copy (upright, no EXIF: no GPS, no device) or its thumbnail; 404 for a
    photo of a case outside the scope. Browsers may keep it; shared caches may not."""
    async with ctx.autocommit() as connection:
        data, content_type = await service.photo_bytes(
            connection, photo_id=photo_id, thumbnail=thumbnail, store=ctx.photos, scope=scope
        )
    return Response(data, media_type=content_type, headers={"Cache-Control": "private"})
