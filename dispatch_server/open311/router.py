"""HTTP adapter of Open311 GeoReport v2: /open311/v2/..., JSON or XML by the extension.

The endpoints read their parameters themselves (open311/params.py) so that every refusal
is the spec's error list, a name the spec does not have is refused rather than ignored,
and form, multipart and JSON bodies read alike. Reads are public (with an api_key they
count against the key's limit, else against the address's); posting needs a key.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch_server import ratelimit
from dispatch_server.access import public
from dispatch_server.complaints.constants import Language
from dispatch_server.deps import AppContext, ContextDep
from dispatch_server.open311 import intake, keys, queue, service, texts
from dispatch_server.open311.formats import (
    MEDIA_TYPES,
    Format,
    Open311Error,
    error_response,
    parse_format,
    render,
)
from dispatch_server.open311.openapi import (
    DISCOVERY_DOC,
    POST_DOC,
    REQUEST_DOC,
    REQUESTS_DOC,
    SERVICE_DOC,
    SERVICES_DOC,
    TOKEN_DOC,
)
from dispatch_server.open311.params import MAX_PAIRS, Params, json_pairs, parse_pairs, refuse

PREFIX = "/open311/v2"
router = APIRouter(prefix=PREFIX, tags=["open311"])
# When this API last changed in a way a client would notice (discovery's changeset).
CHANGESET = "2026-12-01T00:00:00+09:00"
# Headers a browser client may read from another origin.
EXPOSED = "X-Total-Count, X-Page, X-Page-Size, Link, Location, Retry-After"


def _params(pairs: list[tuple[str, str]]) -> Params:
    """The parameters, less `_`: the cache-buster browsers' libraries add (jQuery's
    `cache: false`), taken by every endpoint and ignored."""
    params = Params(pairs)
    params.text("_", max_length=100)
    return params


def _query(request: Request) -> Params:
    return _params(parse_pairs(request.scope.get("query_string", b"")))


def _language(request: Request, params: Params) -> str:
    """`locale` (ko, en-US...) when one of ours, else the Accept-Language's, else Korean."""
    locale = params.text("locale", max_length=35)
    return str(texts.language_of(locale or request.headers.get("accept-language")))


def _not_found_unless(value: str, pattern: re.Pattern[str], what: str) -> None:
    """A path id that cannot be one is a 404 at once (never a database error)."""
    if not pattern.match(value):
        raise Open311Error(404, [f"no {what} is {value[:40]!r}"])


_SERVICE_CODE = re.compile(r"^[a-z0-9_]{1,50}$")
_TICKET = re.compile(r"^[0-9]{6}-[0-9]{6,14}$")
_TOKEN = re.compile(r"^[A-Za-z]{1,100}$")


def _jurisdiction(params: Params, ctx: AppContext) -> None:
    given = params.text("jurisdiction_id", max_length=200)
    if given is not None and given.lower() != ctx.settings.open311_jurisdiction_id.lower():
        raise Open311Error(
            404, [f"jurisdiction_id {given[:100]!r} is not served here (this is "
                  f"{ctx.settings.open311_jurisdiction_id})"],
        )  # fmt: skip


async def _read(request: Request, ctx: AppContext, connection: AsyncConnection) -> Params:
    """A read's query, its jurisdiction checked and the read counted (on the connection the
    read goes on to use): against its api_key when it carries one, else its address."""
    params = _query(request)
    _jurisdiction(params, ctx)
    key = params.text("api_key", max_length=keys.MAX_KEY)
    now = ctx.clock.now()
    if key is not None:
        await keys.authenticate(connection, key=key, now=now)
    else:
        await ratelimit.check(
            connection, key=f"public:{ratelimit.client_address(request)}",
            limit=ctx.settings.public_reads_per_minute, now=now,
        )  # fmt: skip
    return params


def _definitions(request: Request) -> service.Definitions:
    """The application's cache of service definitions (made with its first post)."""
    state = request.app.state
    if not hasattr(state, "open311_definitions"):
        state.open311_definitions = service.Definitions()
    definitions: service.Definitions = state.open311_definitions
    return definitions


def _queue(request: Request) -> queue.Queue:
    """The application's Open311 queue (create_app makes it)."""
    found: queue.Queue = request.app.state.open311_queue
    return found


def _zone(ctx: AppContext) -> ZoneInfo:
    return ZoneInfo(ctx.settings.timezone)


@router.get("/discovery.{fmt}", summary="Discovery: where this API is and what it speaks",
            openapi_extra=DISCOVERY_DOC)  # fmt: skip
@public
async def discovery(fmt: str, request: Request, ctx: ContextDep) -> Response:
    """GeoReport's discovery document: the endpoint, its formats, whom to ask for a key."""
    form = parse_format(fmt)
    params = _query(request)
    _jurisdiction(params, ctx)
    params.text("api_key", max_length=keys.MAX_KEY)  # sent with every call by some clients
    _language(request, params)
    params.finish()
    endpoint = {
        "specification": service.SPEC_URL,
        "url": f"{ctx.settings.public_url}{PREFIX}",
        "changeset": CHANGESET,
        "type": "production",
        "formats": [MEDIA_TYPES[Format.JSON], MEDIA_TYPES[Format.XML].split(";")[0]],
    }
    document = {
        "changeset": CHANGESET,
        "contact": ctx.settings.open311_contact,
        "key_service": ctx.settings.open311_key_service,
        "endpoints": [endpoint],
    }
    return render(form, "discovery", document)


@router.get("/services.{fmt}", summary="The services (kinds of complaint) one can report",
            openapi_extra=SERVICES_DOC)  # fmt: skip
@public
async def list_services(fmt: str, request: Request, ctx: ContextDep) -> Response:
    """Every service: code, name (in the Accept-Language), description, group, keywords,
    and whether it has questions (`metadata`: see services/{code})."""
    form = parse_format(fmt)
    async with ctx.autocommit() as connection:
        params = await _read(request, ctx, connection)
        language = _language(request, params)
        params.finish()
        found = await service.services(connection, language=language)
    return render(form, "services", found, headers={"Vary": "Accept-Language"})


@router.get("/services/{service_code}.{fmt}", summary="A service's questions (attributes)",
            openapi_extra=SERVICE_DOC)  # fmt: skip
@public
async def service_definition(
    service_code: str, fmt: str, request: Request, ctx: ContextDep
) -> Response:
    """The attributes to ask the citizen: code, datatype, required, order, description and,
    for lists, the values (`key` to send, `name` to show)."""
    form = parse_format(fmt)
    _not_found_unless(service_code, _SERVICE_CODE, "service's code")
    async with ctx.autocommit() as connection:
        params = await _read(request, ctx, connection)
        language = _language(request, params)
        params.finish()
        found = await service.definition(connection, code=service_code, language=language)
    return render(form, "service_definition", found, headers={"Vary": "Accept-Language"})


_FORM = "application/x-www-form-urlencoded"


class _StrictMultiPart(MultiPartParser):
    """Starlette's multipart parser, except that a field whose bytes are not in the body's
    charset (UTF-8 unless the Content-Type names another) is refused: Starlette would read
    it as Latin-1 and the request would be stored garbled."""

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode(self._charset)
            except UnicodeDecodeError:
                raise MultiPartException(
                    f"the field {part.field_name[:50]!r} is not valid {self._charset}: send "
                    "UTF-8 text"
                ) from None
        super().on_part_end()


async def _body(request: Request) -> tuple[list[tuple[str, str]], list[tuple[str, bytes]]]:
    """The body's parameters and files (form, multipart or JSON; none is fine too)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        pairs: list[tuple[str, str]] = []
        files: list[tuple[str, bytes]] = []
        parser = _StrictMultiPart(
            request.headers, request.stream(), max_files=2, max_fields=MAX_PAIRS
        )
        try:
            parsed = await parser.parse()  # closes its temporary files when it fails
        except MultiPartException as exc:
            raise refuse(exc.message) from None
        try:
            for name, value in parsed.multi_items():
                if not isinstance(value, UploadFile):
                    pairs.append((name, value))
                elif name != "media":
                    raise refuse(f"{name[:50]!r}: the only file this endpoint takes is `media`")
                else:
                    files.append((value.filename or "media", await value.read()))
        finally:
            await parsed.close()  # the parser's temporary files, whatever happens
        return pairs, files
    raw = await request.body()
    if not raw.strip():
        return [], []
    if media_type in (_FORM, ""):
        return parse_pairs(raw), []
    if media_type == "application/json":
        return json_pairs(raw), []
    raise Open311Error(
        415, [f"send the parameters as {_FORM}, multipart/form-data or application/json"]
    )


@router.post("/requests.{fmt}", summary="Report a problem (post a service request)",
             openapi_extra=POST_DOC)  # fmt: skip
@public
async def post_request(fmt: str, request: Request, ctx: ContextDep) -> Response:
    """Needs an `api_key`. Where: `lat` and `long`, `address_string` (geocoded) or
    `address_id`. Answers with the `service_request_id`, a `token` (GET tokens/{token})
    and a `service_notice` with the page where the citizen can follow it; or, when the
    server is busy and the post was queued (stored, made a case a moment later), with the
    `token` and the notice only: GET tokens/{token} gives the id once it is made."""
    waiting = _queue(request)
    with waiting.posting():
        return await _post(fmt, request, ctx, waiting)


async def _post(fmt: str, request: Request, ctx: AppContext, waiting: queue.Queue) -> Response:
    form = parse_format(fmt)
    body, photos = await _body(request)
    params = _params(parse_pairs(request.scope.get("query_string", b"")) + body)
    _jurisdiction(params, ctx)
    key = params.text("api_key", max_length=keys.MAX_KEY)
    if params.problems:  # the key given twice, or too long: say so, not "missing"
        raise refuse(*params.problems)
    language = Language(_language(request, params))
    async with ctx.autocommit() as connection:
        client = await keys.authenticate(connection, key=key, now=ctx.clock.now())
        new = await intake.read(
            connection, params, photos, language=language, zone=_zone(ctx),
            phone_region=ctx.settings.phone_region, definitions=_definitions(request),
        )  # fmt: skip
        deferred = not new.photos and new.complaint.location is not None and waiting.should_defer()
        if deferred:
            token = intake.new_token()
            await queue.enqueue(
                connection, new, token=token, client_id=client.id, language=str(language),
                now=ctx.clock.now(), tolerance_m=ctx.settings.boundary_tolerance_m,
            )  # fmt: skip
    if deferred:
        waiting.wake.set()
        answer = [{"token": token, "service_notice": texts.queued_notice(str(language)),
                   "account_id": None}]  # fmt: skip
        location = f"{PREFIX}/tokens/{token}.{form}"
        return render(form, "service_requests", answer, headers={"Location": location})
    stored = await intake.store(ctx, new, client=client, language=str(language))
    answer = [
        {
            "service_request_id": stored.ticket,
            "token": stored.token,
            "service_notice": stored.notice,
            "account_id": None,
        }
    ]
    location = f"{PREFIX}/requests/{stored.ticket}.{form}"
    return render(form, "service_requests", answer, headers={"Location": location})


def _page_headers(
    request: Request, ctx: AppContext, total: int, query: service.RequestQuery
) -> dict[str, str]:
    headers = {
        "X-Total-Count": str(total),
        "X-Page": str(query.page),
        "X-Page-Size": str(query.page_size),
        "Vary": "Accept-Language",
    }
    # Links on the public address, without the caller's key (headers end up in logs).
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("api_key", "page")]

    def page(number: int) -> str:
        query = urlencode([*kept, ("page", str(number))])
        return f"{ctx.settings.public_url}{request.url.path}?{query}"

    links = []
    if query.page * query.page_size < total:
        links.append(f'<{page(query.page + 1)}>; rel="next"')
    if query.page > 1 and (query.page - 2) * query.page_size < total:
        links.append(f'<{page(query.page - 1)}>; rel="prev"')
    if links:
        headers["Link"] = ", ".join(links)
    return headers


@router.get("/requests.{fmt}", summary="Find service requests", openapi_extra=REQUESTS_DOC)
@public
async def list_requests(fmt: str, request: Request, ctx: ContextDep) -> Response:
    """Newest first. By default the last 90 days (the longest window) and 1,000 requests
    (the largest page); `service_request_id` (a comma list) overrides every other filter.
    Extensions: `lat`/`long`/`radius`, `bbox`, `updated_after`/`updated_before`,
    `page`/`page_size` (X-Total-Count, Link), `extensions=true`."""
    form = parse_format(fmt)
    async with ctx.autocommit() as connection:
        params = await _read(request, ctx, connection)
        query = service.read_query(params, zone=_zone(ctx), now=ctx.clock.now())
        language = _language(request, params)
        params.finish()
        found = None
        if form is Format.JSON and not query.extensions:
            # The common page, written by the database (see service.find_json).
            body, total = await service.find_json(
                connection, query, language=language, zone=_zone(ctx)
            )
        else:
            found = await service.find(connection, query, language=language, zone=_zone(ctx))
    if found is None:
        page = Response(body, media_type=MEDIA_TYPES[form])
    else:  # the connection given back first: writing XML takes a while
        page, total = render(form, "service_requests", found.documents), found.total
    page.headers.update(_page_headers(request, ctx, total, query))
    return page


async def _one(request: Request, ctx: AppContext, service_request_id: str, fmt: str) -> Response:
    form = parse_format(fmt)
    _not_found_unless(service_request_id, _TICKET, "service request's id")
    async with ctx.autocommit() as connection:
        params = await _read(request, ctx, connection)
        extended = params.flag("extensions")
        language = _language(request, params)
        params.finish()
        found = await service.one(
            connection, ticket=service_request_id, language=language, zone=_zone(ctx),
            extended=extended,
        )  # fmt: skip
    return render(form, "service_requests", [found], headers={"Vary": "Accept-Language"})


@router.get("/requests/{service_request_id}.{fmt}", summary="One service request",
            openapi_extra=REQUEST_DOC)  # fmt: skip
@public
async def get_request(
    service_request_id: str, fmt: str, request: Request, ctx: ContextDep
) -> Response:
    """The request as a list of one (the spec's shape); `extensions=true` adds
    `extended_attributes`."""
    return await _one(request, ctx, service_request_id, fmt)


@router.get("/request/{service_request_id}.{fmt}", include_in_schema=False)
@public
async def get_request_singular(
    service_request_id: str, fmt: str, request: Request, ctx: ContextDep
) -> Response:
    """The same, at the path the spec's own swagger file uses."""
    return await _one(request, ctx, service_request_id, fmt)


@router.get("/tokens/{token}.{fmt}", summary="The service_request_id a token stands for",
            openapi_extra=TOKEN_DOC)  # fmt: skip
@public
async def get_token(token: str, fmt: str, request: Request, ctx: ContextDep) -> Response:
    """The id of the request the token's post became; while a queued post waits, the token
    alone (ask again in a moment); a 404 when it could not be made a case, and why."""
    form = parse_format(fmt)
    _not_found_unless(token, _TOKEN, "token")
    async with ctx.autocommit() as connection:
        params = await _read(request, ctx, connection)
        _language(request, params)  # taken, unused: a token's answer has no words
        params.finish()
        try:
            ticket = await queue.state_of(connection, token=token)
        except queue.Queued:
            return render(form, "service_requests", [{"token": token}],
                          headers={"Retry-After": "1"})  # fmt: skip
    return render(form, "service_requests", [{"service_request_id": ticket, "token": token}])


def body_too_large(path: str, max_bytes: int) -> tuple[str, bytes] | None:
    """The 413 of BodySizeLimit under /open311/, in the spec's format."""
    if not path.startswith("/open311/"):
        return None
    response = error_response(path, 413, [f"the request is larger than {max_bytes:,} bytes"])
    return response.media_type or "application/json", bytes(response.body)


class OpenCors:
    """Browsers' cross-origin access to /open311/ (public data, keys in parameters, no
    cookies): every origin may read the answers; preflights are answered here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/open311/"):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            headers = [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-allow-methods", b"GET, POST"),
                (b"access-control-allow-headers", b"Content-Type, Accept-Language"),
                (b"access-control-max-age", b"600"),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-expose-headers", EXPOSED.encode()),
                ]
            await send(message)

        await self.app(scope, receive, with_cors)
