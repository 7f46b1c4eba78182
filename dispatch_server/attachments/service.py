"""Taking photos in, listing them, handing their bytes out."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from anyio import to_thread
from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.access import EVERY_CASE, Scope
from dispatch_server.attachments import images
from dispatch_server.attachments.models import Attachment
from dispatch_server.attachments.schemas import PhotoList, PhotoRead
from dispatch_server.attachments.storage import PhotoStore
from dispatch_server.complaints.models import Complaint
from dispatch_server.errors import Invalid, NotFound

_attachment = Attachment.__table__
_complaint = Complaint.__table__
_SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png"}
_COLUMNS = [c for c in _attachment.c if c.name not in ("original_key", "kind", "erased_at")]


class PhotoRefused(Invalid):
    """An uploaded file is not a photo this service takes (the whole upload is refused)."""

    code = "photo_refused"


class PhotoNotFound(NotFound):
    """No such photo (or not one the caller may see)."""

    code = "photo_not_found"


DISPATCH_PHOTOS = "/api/v1/dispatch/photos"


def _read(row: Any, url_base: str) -> PhotoRead:
    values = dict(row._mapping)
    for key in ("served_key", "thumbnail_key"):
        values.pop(key, None)
    values["url"] = f"{url_base}/{row.id}"
    values["thumbnail_url"] = f"{url_base}/{row.id}/thumbnail"
    return PhotoRead.model_validate(values)


def _prepare(data: bytes, timezone: str, store: PhotoStore) -> dict[str, Any]:
    # CPU and disk work, run in a worker thread: checks, strips, thumbnails, stores.
    info = images.inspect(data, timezone=timezone)
    suffix = _SUFFIX[info.content_type]
    return {
        "content_type": info.content_type,
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "original_key": store.put(data, suffix),
        "served_key": store.put(images.without_metadata(data), suffix),
        "thumbnail_key": store.put(images.thumbnail(data), ".jpg"),
        "width": info.width,
        "height": info.height,
        "taken_at": info.taken_at,
        "taken_lat": info.lat,
        "taken_lon": info.lon,
    }


def _inspect(uploads: list[tuple[str, bytes]], timezone: str, max_bytes: int) -> None:
    for name, data in uploads:
        if len(data) > max_bytes:
            raise PhotoRefused(
                f"{name!r} is larger than {max_bytes:,} bytes",
                details={"file": name, "max_bytes": max_bytes},
            )
        try:
            images.inspect(data, timezone=timezone)
        except images.PhotoRejected as exc:
            raise PhotoRefused(f"{name!r}: {exc}", details={"file": name}) from exc


async def check_photos(uploads: list[tuple[str, bytes]], *, timezone: str, max_bytes: int) -> None:
    """PhotoRefused unless every file is a photo this service takes; nothing is stored
    (for uploads that must not leave files behind when the request is refused later)."""
    if uploads:  # no thread for nothing: most requests have no photo
        await to_thread.run_sync(_inspect, uploads, timezone, max_bytes)


async def prepare_photos(
    uploads: list[tuple[str, bytes]], *, timezone: str, store: PhotoStore, max_bytes: int
) -> list[dict[str, Any]]:
    """Check every file first (one bad file refuses them all: PhotoRefused), then strip,
    thumbnail and store their files; the rows are for `record_photos`."""
    for name, data in uploads:
        if len(data) > max_bytes:
            raise PhotoRefused(
                f"{name!r} is larger than {max_bytes:,} bytes",
                details={"file": name, "max_bytes": max_bytes},
            )
    prepared = []
    for name, data in uploads:
        try:
            prepared.append(await to_thread.run_sync(_prepare, data, timezone, store))
        except images.PhotoRejected as exc:
            raise PhotoRefused(f"{name!r}: {exc}", details={"file": name}) from exc
    return prepared


async def record_photos(
    connection: AsyncConnection,
    *,
    complaint_id: int,
    prepared: list[dict[str, Any]],
    uploaded_by: str,
    now: datetime,
) -> None:
    """The case's rows of prepared photos; the same photo twice is one attachment."""
    for values in prepared:
        statement = insert(_attachment).values(
            complaint_id=complaint_id, uploaded_by=uploaded_by, created_at=now, **values
        )
        await connection.execute(
            statement.on_conflict_do_nothing(index_elements=["complaint_id", "sha256"])
        )


async def add_photos(
    connection: AsyncConnection,
    *,
    complaint_id: int,
    uploads: list[tuple[str, bytes]],
    uploaded_by: str,
    now: datetime,
    timezone: str,
    store: PhotoStore,
    max_bytes: int,
    url_base: str = DISPATCH_PHOTOS,
) -> PhotoList:
    """Check every file first (one bad file refuses the upload), then store and record them.

    The same photo sent again to the same case is not stored twice: it is the same attachment.
    """
    prepared = await prepare_photos(uploads, timezone=timezone, store=store, max_bytes=max_bytes)
    await record_photos(
        connection, complaint_id=complaint_id, prepared=prepared, uploaded_by=uploaded_by, now=now
    )
    return await list_photos(
        connection, complaint_id=complaint_id, scope=EVERY_CASE, url_base=url_base
    )


_LIST = (
    select(*_COLUMNS)
    .join(_complaint, _complaint.c.id == _attachment.c.complaint_id)
    .where(
        _attachment.c.complaint_id == bindparam("complaint_id"), _attachment.c.erased_at.is_(None)
    )
    .order_by(_attachment.c.id)
)


async def list_photos(
    connection: AsyncConnection,
    *,
    complaint_id: int,
    scope: Scope,
    url_base: str = DISPATCH_PHOTOS,
) -> PhotoList:
    """The case's photos, oldest first, but those the retention job erased (none for a case
    outside the scope)."""
    statement = _LIST.where(scope.cases(_complaint))
    rows = await connection.execute(statement, {"complaint_id": complaint_id, **scope.params()})
    return PhotoList(complaint_id=complaint_id, photos=[_read(row, url_base) for row in rows])


_KEYS = (
    select(_attachment.c.content_type, _attachment.c.served_key, _attachment.c.thumbnail_key)
    .join(_complaint, _complaint.c.id == _attachment.c.complaint_id)
    .where(_attachment.c.id == bindparam("photo_id"), _attachment.c.erased_at.is_(None))
)


async def photo_bytes(
    connection: AsyncConnection, *, photo_id: int, thumbnail: bool, store: PhotoStore, scope: Scope
) -> tuple[bytes, str]:
    """The bytes to serve (never the original: no EXIF) and their content type; 404 for a
    photo of a case outside the scope."""
    statement = _KEYS.where(scope.cases(_complaint))
    row = (await connection.execute(statement, {"photo_id": photo_id, **scope.params()})).first()
    if row is None:
        raise PhotoNotFound(f"no photo has id {photo_id}", details={"photo_id": photo_id})
    key = row.thumbnail_key if thumbnail else row.served_key
    data = await to_thread.run_sync(store.get, key)
    return data, "image/jpeg" if thumbnail else row.content_type
