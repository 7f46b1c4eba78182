"""POST requests: a GeoReport v2 service request becomes a complaint through the same
intake as every other channel (complaints.flows.receive, then dispatch), on channel
`open311`.

Everything is checked before anything is stored (the parameters, the service's questions,
the phone, the photo), so a refused request leaves nothing behind. The request's own
facts (the client, its token, the answers, media_url, address_id) go into the "received"
event, written by the intake statement itself: the complaint never exists without them.
"""

from __future__ import annotations

import logging
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.attachments import service as attachments
from dispatch_server.clock import Clock
from dispatch_server.complaints import flows
from dispatch_server.complaints.constants import Channel, Language
from dispatch_server.complaints.exceptions import InvalidPhone
from dispatch_server.complaints.schemas import (
    MAX_ADDRESS,
    MAX_DESCRIPTION,
    ComplaintCreate,
    ComplaintCreated,
    Location,
    ReporterIn,
)
from dispatch_server.complaints.service import normalized_phone
from dispatch_server.deps import AppContext
from dispatch_server.dispatch.flows import dispatch_received
from dispatch_server.open311 import service, texts
from dispatch_server.open311.keys import Client
from dispatch_server.open311.params import Params, refuse

log = logging.getLogger(__name__)
MAX_URL = 2000
_ADDRESS_ID = re.compile(r"^[0-9]{1,18}$")
MAX_NAME_PART = 50
TOKEN_LENGTH = 24
# Letters only: no run of digits a redaction pass could take for a phone number.
_TOKEN_ALPHABET = string.ascii_letters


# Random bytes below this are taken modulo the alphabet's size (208 = 4 x 52), so every
# letter is as likely; the others are dropped.
_TOKEN_BYTES_BELOW = 256 - 256 % len(_TOKEN_ALPHABET)


def new_token() -> str:
    """A fresh request token (~137 random bits)."""
    letters: list[str] = []
    while len(letters) < TOKEN_LENGTH:
        letters += (
            _TOKEN_ALPHABET[b % len(_TOKEN_ALPHABET)]
            for b in secrets.token_bytes(2 * TOKEN_LENGTH)
            if b < _TOKEN_BYTES_BELOW
        )
    return "".join(letters[:TOKEN_LENGTH])


@dataclass
class NewRequest:
    """A POST requests, checked and ready to store."""

    complaint: ComplaintCreate
    answers: dict[str, Any]
    # The answers in words, the "received" entry's note (what staff see on the timeline).
    note: str | None
    media_url: str | None
    address_id: str | None
    photos: list[tuple[str, bytes]]


_ADDRESS = text("SELECT ST_Y(location) AS lat, ST_X(location) AS lon FROM gazetteer_address "
                "WHERE id = :id")  # fmt: skip


def _media_url(value: str | None, params: Params) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        params.problem("media_url: an http or https URL, please")
        return None
    return value


def _reporter_name(first: str | None, last: str | None) -> str | None:
    if not first and not last:
        return None
    if first and last and all("\uac00" <= ch <= "\ud7a3" for ch in first + last):
        return last + first  # Korean order, no space: 홍 + 길동
    return " ".join(part for part in (first, last) if part)


async def read(
    connection: AsyncConnection,
    params: Params,
    photos: list[tuple[str, bytes]],
    *,
    language: Language,
    zone: ZoneInfo,
    phone_region: str,
    definitions: service.Definitions,
) -> NewRequest:
    """The request's parameters checked (the caller finishes `params`, which refuses them
    all together when any is wrong)."""
    code = params.text("service_code", max_length=50)
    point_given = params.given("lat"), params.given("long")
    lat = params.number("lat", low=-90, high=90)
    lon = params.number("long", low=-180, high=180)
    address = params.text("address_string", max_length=MAX_ADDRESS)
    address_id = params.text("address_id", max_length=20)
    description = params.text("description", max_length=MAX_DESCRIPTION)
    email = params.text("email", max_length=254)
    phone = params.text("phone", max_length=40)
    first = params.text("first_name", max_length=MAX_NAME_PART)
    last = params.text("last_name", max_length=MAX_NAME_PART)
    # Accepted as the spec allows, not kept: this service has no citizen accounts, and a
    # device's id is not needed to answer a complaint.
    params.text("device_id", max_length=200)
    params.text("account_id", max_length=200)
    media_url = _media_url(params.text("media_url", max_length=MAX_URL), params)
    if params.text("media", max_length=MAX_URL) is not None:
        params.problem("media: send the photo as a file (a multipart part with a filename)")
    given = params.attributes()

    answers: dict[str, Any] = {}
    note = None
    name_ko = None
    if code is None:
        params.problem("service_code is required (GET services.json lists them)")
    else:
        found = await definitions.get(connection, code)
        if found is None:
            params.problem(f"service_code: no service has the code {code!r}")
        else:
            answers = service.check_answers(code, found.questions, given, params, zone)
            note = service.answers_note(found.questions, answers)
            name_ko = found.name_ko

    location = None
    if point_given[0] != point_given[1]:
        params.problem("lat and long go together: give both")
    elif lat is not None and lon is not None:
        location = Location(lat=lat, lon=lon)
    if address_id is not None:
        if not _ADDRESS_ID.match(address_id):
            params.problem("address_id: an id of the city's address list (digits)")
        elif location is None:
            row = (await connection.execute(_ADDRESS, {"id": int(address_id)})).first()
            if row is None:
                params.problem(f"address_id: no address has the id {address_id}")
            else:
                location = Location(lat=row.lat, lon=row.lon)
    if not any(point_given) and address is None and address_id is None:
        params.problem("say where: lat and long, address_string, or address_id")

    if phone is not None:
        try:
            normalized_phone(phone, region=phone_region)
        except InvalidPhone as exc:
            params.problem(f"phone: {exc.message}")
    try:
        reporter = ReporterIn(
            phone=phone, language=language, name=_reporter_name(first, last), email=email
        )
    except ValidationError as exc:
        params.problems.extend(_messages(exc))
        reporter = None
    if len(photos) > 1:
        params.problem("media: one file per request")
    params.finish()
    assert code is not None and reporter is not None
    try:
        complaint = ComplaintCreate(
            category=code,
            description=description or name_ko or code,
            location=location,
            address=address,
            reporter=reporter,
            channel=Channel.OPEN311,
        )
    except ValidationError as exc:
        raise refuse(*_messages(exc)) from None
    return NewRequest(complaint, answers, note, media_url, address_id, photos)


def _messages(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in error['loc']) or 'request'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    ]


@dataclass(frozen=True)
class Stored:
    """A request stored: its id, its token, what to tell the citizen."""

    ticket: str
    token: str
    notice: str


async def store(ctx: AppContext, new: NewRequest, *, client: Client, language: str) -> Stored:
    """Store the request as a complaint (then dispatch it as intake does) and its photo."""
    settings = ctx.settings
    # Checked now, stored once the request is: a refused request leaves no file behind.
    await attachments.check_photos(
        new.photos, timezone=settings.timezone, max_bytes=settings.max_photo_bytes
    )
    token = new_token()
    created = await create(
        ctx, new, token=token, client_id=client.id, client_name=client.name, received=ctx.clock
    )
    if new.photos:
        actor = f"open311:{client.name}"[:100]
        await _keep_photos(ctx, new.photos, complaint_id=created.id, actor=actor)
    if created.duplicate_of:
        notice = texts.merged_notice(created.duplicate_of, language)
    else:
        notice = texts.received_notice(f"{settings.public_url}/t/{created.ticket}", language)
    return Stored(ticket=created.ticket, token=token, notice=notice)


async def create(
    ctx: AppContext,
    new: NewRequest,
    *,
    token: str,
    client_id: int,
    client_name: str,
    received: Clock,
    queued: bool = False,
) -> ComplaintCreated:
    """The request made a complaint received at `received.now()` (the moment of the POST,
    for a queued one), then dispatched as intake does. The token's unique index refuses a
    second complaint with the same token (IntegrityError)."""
    own: dict[str, Any] = {"token": token, "client": client_name, "client_id": client_id}
    if queued:
        own["queued"] = True
    if new.answers:
        own["attributes"] = new.answers
    if new.media_url:
        own["media_url"] = new.media_url
    if new.address_id:
        own["address_id"] = new.address_id
    actor = f"open311:{client_name}"[:100]
    details: dict[str, Any] = {"open311": own}
    if new.note:
        details["note"] = new.note
    intake = await flows.receive(
        ctx.autocommit, data=new.complaint, geocoder=ctx.geocoder, actor=actor,
        clock=received, settings=ctx.settings, details=details,
    )  # fmt: skip
    # Acknowledged by the caller only: stored and committed by now, whatever happens next.
    return await dispatch_received(ctx.transaction, ctx.clock, intake)


async def _keep_photos(
    ctx: AppContext, photos: list[tuple[str, bytes]], *, complaint_id: int, actor: str
) -> None:
    """The request's photo, stored after the request was (checked before it). Should that
    fail now (a full disk), the request stands and the failure is logged: the citizen's
    report is what must not be lost."""
    try:
        prepared = await attachments.prepare_photos(
            photos, timezone=ctx.settings.timezone, store=ctx.photos,
            max_bytes=ctx.settings.max_photo_bytes,
        )  # fmt: skip
        async with ctx.autocommit() as connection:
            await attachments.record_photos(
                connection, complaint_id=complaint_id, prepared=prepared, uploaded_by=actor,
                now=ctx.clock.now(),
            )  # fmt: skip
    except Exception:
        log.exception("the photo of Open311 request %s could not be kept", complaint_id)
