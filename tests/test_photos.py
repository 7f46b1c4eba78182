"""Photos of a case: checked by content, EXIF read then stripped, thumbnails, storage."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime

import httpx2 as httpx
import pytest
from PIL import ExifTags, Image
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.config import Settings
from tests.auth import AS_INSPECTOR, as_inspector
from tests.factories import JONGNO
from tests.test_dispatch import make_inspector, make_team, move, new_case

pytestmark = pytest.mark.anyio


def jpeg(
    size: tuple[int, int] = (640, 480),
    *,
    taken: str | None = "2026:11:23 09:58:12",
    gps: tuple[float, float, float, float, float, float] | None = (37, 34, 13.44, 126, 59, 31.2),
    orientation: int | None = None,
    colour: str = "red",
) -> bytes:
    """A JPEG as a phone writes it, with EXIF time, GPS and orientation."""
    exif = Image.Exif()
    exif[ExifTags.Base.Model] = "Test Phone"
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    if taken:
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = taken
    if gps:
        info = exif.get_ifd(ExifTags.IFD.GPSInfo)
        info[ExifTags.GPS.GPSLatitudeRef], info[ExifTags.GPS.GPSLatitude] = "N", gps[:3]
        info[ExifTags.GPS.GPSLongitudeRef], info[ExifTags.GPS.GPSLongitude] = "E", gps[3:]
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", exif=exif)
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (50, 40), (0, 128, 255, 200)).save(out, "PNG")
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (10, 10)).save(out, "GIF")
    return out.getvalue()


@pytest.fixture()
async def my_case(client: httpx.AsyncClient, db: AsyncConnection) -> tuple[int, int]:
    inspector = await make_inspector(db, await make_team(db, "11110"), **JONGNO)
    case = await new_case(client)
    await move(client, case["id"], to="assigned", version=1, inspector_id=inspector)
    return case["id"], inspector


async def upload(
    client: httpx.AsyncClient, case_id: int, inspector: int, *files: tuple[str, bytes, str]
) -> httpx.Response:
    return await client.post(
        f"/api/v1/field/complaints/{case_id}/photos",
        files=[("photos", f) for f in files],
        headers={AS_INSPECTOR: str(inspector)},
    )


async def test_a_phone_photo_is_described_stripped_and_thumbnailed(
    client: httpx.AsyncClient, my_case: tuple[int, int], settings: Settings
) -> None:
    case_id, inspector = my_case
    original = jpeg()
    response = await upload(
        client, case_id, inspector, ("IMG_0001.HEIC.jpg", original, "image/jpeg")
    )
    assert response.status_code == 201, response.text
    (photo,) = response.json()["photos"]
    assert photo["content_type"] == "image/jpeg"
    assert (photo["width"], photo["height"]) == (640, 480)
    assert photo["sha256"] == hashlib.sha256(original).hexdigest()
    assert photo["size_bytes"] == len(original)
    # 09:58:12 on the phone, no offset in the file: Seoul time.
    assert photo["taken_at"] == "2026-11-23T00:58:12Z"
    assert photo["taken_lat"] == pytest.approx(37 + 34 / 60 + 13.44 / 3600, abs=1e-6)
    assert photo["taken_lon"] == pytest.approx(126 + 59 / 60 + 31.2 / 3600, abs=1e-6)
    assert photo["uploaded_by"] == f"inspector:{inspector}"

    # The inspector gets their case's photos under the field API.
    assert photo["url"] == f"/api/v1/field/photos/{photo['id']}"
    served = await client.get(photo["url"], headers=as_inspector(inspector))
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(served.content)) as image:
        assert image.size == (640, 480)
        assert len(image.getexif()) == 0  # no GPS, no device, nothing
    assert b"Test Phone" not in served.content

    thumb = await client.get(photo["thumbnail_url"], headers=as_inspector(inspector))
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert image.format == "JPEG"
        assert max(image.size) == 320
    # The original is kept as evidence, under its hash, and never served.
    stored = list((settings.media_dir).rglob(photo["sha256"] + ".jpg"))
    assert len(stored) == 1 and stored[0].read_bytes() == original

    # Dispatchers see the same photo under the dispatch API, and get the same bytes.
    listed = (await client.get(f"/api/v1/dispatch/complaints/{case_id}/photos")).json()
    base = f"/api/v1/dispatch/photos/{photo['id']}"
    dispatch_urls = {"url": base, "thumbnail_url": f"{base}/thumbnail"}
    assert listed["photos"] == [{**photo, **dispatch_urls}]
    assert (await client.get(dispatch_urls["url"])).content == served.content


async def test_a_sideways_photo_is_served_upright(
    client: httpx.AsyncClient, my_case: tuple[int, int]
) -> None:
    case_id, inspector = my_case
    sideways = jpeg((400, 300), orientation=6)  # "rotate 90° clockwise to view"
    photo = (await upload(client, case_id, inspector, ("s.jpg", sideways, "image/jpeg"))).json()
    served = await client.get(photo["photos"][0]["url"], headers=as_inspector(inspector))
    with Image.open(io.BytesIO(served.content)) as image:
        assert image.size == (300, 400)


async def test_png_and_photos_without_exif(
    client: httpx.AsyncClient, my_case: tuple[int, int]
) -> None:
    case_id, inspector = my_case
    response = await upload(
        client, case_id, inspector,
        ("a.png", png(), "image/png"), ("b.jpg", jpeg(taken=None, gps=None), "image/jpeg"),
    )  # fmt: skip
    assert response.status_code == 201, response.text
    first, second = response.json()["photos"]
    assert first["content_type"] == "image/png"
    assert second["taken_at"] is None and second["taken_lat"] is None


async def test_the_same_photo_twice_is_one_attachment(
    client: httpx.AsyncClient, my_case: tuple[int, int]
) -> None:
    case_id, inspector = my_case
    data = jpeg()
    await upload(client, case_id, inspector, ("a.jpg", data, "image/jpeg"))
    again = await upload(client, case_id, inspector, ("again.jpg", data, "image/jpeg"))
    assert len(again.json()["photos"]) == 1


BAD_FILES: list[tuple[str, bytes]] = [
    ("a text file named .jpg", b"this is not a picture at all"),
    ("a GIF", gif()),
    ("a truncated JPEG", jpeg()[:700]),
    ("HTML", b"<html><script>alert(1)</script></html>"),
    ("empty", b""),
]


@pytest.mark.parametrize("content", [b for _, b in BAD_FILES], ids=[n for n, _ in BAD_FILES])
async def test_what_is_not_a_photo_is_refused_and_nothing_kept(
    client: httpx.AsyncClient, my_case: tuple[int, int], content: bytes
) -> None:
    case_id, inspector = my_case
    response = await upload(
        client, case_id, inspector,
        ("good.jpg", jpeg(), "image/jpeg"), ("photo.jpg", content, "image/jpeg"),
    )  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "photo_refused"
    listed = (await client.get(f"/api/v1/dispatch/complaints/{case_id}/photos")).json()
    assert listed["photos"] == []  # the good one was not kept either


async def test_size_and_count_limits(
    client: httpx.AsyncClient, my_case: tuple[int, int], settings: Settings
) -> None:
    case_id, inspector = my_case
    too_many = [("p.jpg", jpeg(colour=c), "image/jpeg") for c in
                ("red", "blue", "green", "white", "black", "gray")]  # fmt: skip
    response = await upload(client, case_id, inspector, *too_many)
    assert response.json()["error"]["code"] == "photo_refused"
    # Over the photo limit (noise does not compress): refused by size.
    noisy = Image.effect_noise((2400, 2400), 100).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "JPEG", quality=100)
    big = out.getvalue()
    assert len(big) > settings.max_photo_bytes // 4
    small_limit = Settings(**{**settings.model_dump(), "max_photo_bytes": len(big) - 1})
    from dispatch_server.attachments.service import PhotoRefused, add_photos

    with pytest.raises(PhotoRefused, match="larger than"):
        await add_photos(
            None,  # type: ignore[arg-type]  # refused before any database work
            complaint_id=case_id, uploads=[("big.jpg", big)], uploaded_by="t",
            now=datetime.now(UTC), timezone="Asia/Seoul", store=None,  # type: ignore[arg-type]
            max_bytes=small_limit.max_photo_bytes,
        )  # fmt: skip


async def test_over_the_upload_body_limit_is_413(
    client: httpx.AsyncClient, my_case: tuple[int, int], settings: Settings
) -> None:
    case_id, inspector = my_case
    limit = settings.max_photo_bytes * settings.max_photos_per_upload + 65536
    response = await upload(
        client, case_id, inspector, ("x.jpg", b"\xff" * (limit + 1), "image/jpeg")
    )
    assert response.status_code == 413


async def test_only_my_case_takes_my_photos(
    client: httpx.AsyncClient, db: AsyncConnection, my_case: tuple[int, int]
) -> None:
    case_id, _ = my_case
    stranger = await make_inspector(db, await make_team(db, "11110"), **JONGNO)
    response = await upload(client, case_id, stranger, ("a.jpg", jpeg(), "image/jpeg"))
    assert response.status_code == 404


async def test_unknown_photo_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/dispatch/photos/987654321")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "photo_not_found"
