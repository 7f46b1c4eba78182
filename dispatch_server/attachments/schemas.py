"""What the photo API gives (Pydantic only)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class PhotoRead(BaseModel):
    """A photo of a case, described; its bytes are served without metadata."""

    id: int
    complaint_id: int
    content_type: str
    size_bytes: int
    sha256: str
    width: int
    height: int
    taken_at: datetime | None
    taken_lat: float | None
    taken_lon: float | None
    uploaded_by: str
    created_at: datetime
    url: str
    thumbnail_url: str


class PhotoList(BaseModel):
    """The photos of a case, oldest first."""

    complaint_id: int
    photos: list[PhotoRead]
