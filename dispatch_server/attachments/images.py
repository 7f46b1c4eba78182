"""Looking at an uploaded photo: pure functions on bytes (Pillow), no database, no disk."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.ExifTags import GPS, IFD, Base

# What the content must be, whatever the file is called.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
# Refuse pictures so large that decoding them is the attack (40 megapixels is a lot of phone).
MAX_PIXELS = 40_000_000
THUMBNAIL_SIZE = (320, 320)


class PhotoRejected(ValueError):
    """The bytes are not a photo this service takes."""


@dataclass(frozen=True)
class PhotoInfo:
    """What the photo says about itself."""

    content_type: str
    width: int
    height: int
    taken_at: datetime | None
    lat: float | None
    lon: float | None


def _degrees(value: object, ref: object) -> float | None:
    try:
        d, m, s = (float(part) for part in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = d + m / 60 + s / 3600
    if not math.isfinite(degrees):
        return None
    return -degrees if ref in ("S", "W") else degrees


def _taken_at(exif: Image.Exif, timezone: str) -> datetime | None:
    details = exif.get_ifd(IFD.Exif)
    raw = details.get(Base.DateTimeOriginal) or exif.get(Base.DateTime)
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.strptime(raw.strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = details.get(Base.OffsetTimeOriginal)
    if isinstance(offset, str):
        try:
            return datetime.strptime(f"{raw.strip()} {offset.strip()}", "%Y:%m:%d %H:%M:%S %z")
        except ValueError:
            pass
    # No offset in the file: the phone's clock was in the city's zone.
    return moment.replace(tzinfo=ZoneInfo(timezone))


def inspect(data: bytes, *, timezone: str) -> PhotoInfo:
    """Check that the bytes are a whole JPEG or PNG and read its EXIF time and position."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            image_format = probe.format
            probe.verify()  # structure and checksums, without decoding everything
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise PhotoRejected(f"the picture has more than {MAX_PIXELS:,} pixels")
            image.load()  # decodes: a truncated file fails here
            width, height = image.width, image.height
            exif = image.getexif()
    except PhotoRejected:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as exc:
        raise PhotoRejected(f"not a readable JPEG or PNG picture ({exc})") from exc
    if image_format not in FORMATS:
        raise PhotoRejected(f"a {image_format} picture; send JPEG or PNG")
    gps = exif.get_ifd(IFD.GPSInfo)
    lat = _degrees(gps.get(GPS.GPSLatitude), gps.get(GPS.GPSLatitudeRef))
    lon = _degrees(gps.get(GPS.GPSLongitude), gps.get(GPS.GPSLongitudeRef))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    return PhotoInfo(
        content_type=FORMATS[image_format],
        width=width,
        height=height,
        taken_at=_taken_at(exif, timezone),
        lat=lat,
        lon=lon,
    )


def _encode(image: Image.Image, image_format: str) -> bytes:
    out = io.BytesIO()
    if image_format == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=88, optimize=True)
    else:
        image.save(out, "PNG", optimize=True)
    return out.getvalue()


def without_metadata(data: bytes) -> bytes:
    """The picture as served: turned upright, re-encoded with no EXIF (no GPS, no device)."""
    with Image.open(io.BytesIO(data)) as image:
        image_format = image.format or "JPEG"
        upright = ImageOps.exif_transpose(image)
        return _encode(upright, image_format)


def thumbnail(data: bytes) -> bytes:
    """A small JPEG of the picture, upright, with no metadata."""
    with Image.open(io.BytesIO(data)) as image:
        small = ImageOps.exif_transpose(image)
        small.thumbnail(THUMBNAIL_SIZE)
        return _encode(small, "JPEG")
