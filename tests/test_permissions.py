"""The permission matrix: every route of the application x every role x own/other district.

`ROUTES` below is the rule book, written by hand: who may call each route, whether it is
about one case (or one district) and so scoped, and a request that works. The test walks
the application's route table and fails for a route missing from the book (a new endpoint
needs its line here, and a rule in dispatch_server.access) or a line without a route. Then
every route is called as every caller, on a case of the caller's own district and on one of
another district, and the status is checked:

- anonymous: 401 (public routes: their normal answer);
- a role the route does not admit: 403 (roles are no secret);
- an admitted district-scoped caller (dispatcher, supervisor of Jongno-gu; the inspector of
  Jongno-gu's cases) on the other district's case: 404, as for a case that does not exist;
- otherwise: the route's normal answer.

Every answer is also searched, as raw bytes, for the reporters' contact data (the phone in
each way it can be written, the name, the e-mail address): only /contact may hold it.

The data (two districts, each with a team, an inspector, an assigned case with a photo, a
received case and a duplicate) is built once for the module; each call runs in a SAVEPOINT
rolled back after it, so every call sees the same world.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dispatch_server.access import api_routes, rule_of
from dispatch_server.accounts.credentials import Role
from dispatch_server.clock import FrozenClock
from dispatch_server.config import Settings
from dispatch_server.main import create_app
from dispatch_server.open311 import keys
from tests.auth import bearer, token_for
from tests.conftest import FAST_PASSWORDS, FROZEN_AT
from tests.factories import GANGNAM, JONGNO, complaint_body
from tests.test_dispatch import make_inspector, make_team
from tests.test_photos import jpeg

pytestmark = pytest.mark.anyio

A, D, S, AD, IN = Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN, Role.INSPECTOR
DESK = frozenset({A, D, S, AD})
EVERYONE = DESK | {IN}
WATCHERS = frozenset({D, S, AD})
DISPATCHERS = frozenset({D, AD})
ADMIN = frozenset({AD})
INSPECTOR = frozenset({IN})
PUBLIC = None
# The callers: no token, and one account of each role. Dispatcher and supervisor see
# Jongno-gu; the inspector is Jongno-gu's; agents and admins see every district.
CALLERS = ("anonymous", *(str(role) for role in Role))
SCOPED = frozenset({D, S, IN})
OWN, OTHER = "11110", "11680"
# Every reporter of the world: what no answer but /contact may contain.
REPORTER = {"phone": "010-2345-6789", "language": "ko", "name": "김민수",
            "email": "minsu.kim@example.com"}  # fmt: skip
SECRETS = [
    form.encode()
    for form in (
        "+821023456789",
        "01023456789",
        "010-2345-6789",
        "1023456789",
        "2345-6789",
        "김민수",
        "minsu.kim@example.com",
        "minsu.kim",
    )
] + ["김민수".encode("unicode_escape")]  # as JSON may escape it
CONTACT_ROUTE = ("GET", "/api/v1/complaints/{ticket}/contact")


@dataclass
class Side:
    """One district's part of the world."""

    district: str
    team: int
    inspector: int
    assigned: dict[str, Any]  # assigned to the district's inspector, with a photo
    received: dict[str, Any]
    duplicate: dict[str, Any]  # a duplicate of `assigned`
    photo_id: int
    message_id: int  # the "received" text of `assigned`
    inspector_token: str


@dataclass
class World:
    own: Side
    other: Side
    tokens: dict[str, str]
    app: FastAPI
    connection: AsyncConnection
    open311_key: str
    open311_token: str  # of a request an app posted, with the reporter's contact data


@dataclass
class Call:
    """One request."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False


Build = Callable[[World, Side], dict[str, Any]]


@dataclass(frozen=True)
class Rule:
    """A line of the rule book: who may call the route, what it is scoped by, what works."""

    roles: frozenset[Role] | None
    ok: int
    scoped: bool = False  # by the case (or district) the request names
    build: Build = lambda world, side: {}  # noqa: E731
    stream: bool = False


DEVICE = {"token": "fcm-" + "x" * 60, "platform": "android"}


def case_id(kind: str = "assigned") -> Build:
    return lambda w, s: {"path": {"complaint_id": getattr(s, kind)["id"]}}


def ticket(w: World, s: Side) -> dict[str, Any]:
    return {"path": {"ticket": s.assigned["ticket"]}}


def json_format(**path: str) -> dict[str, Any]:
    return {"path": {"fmt": "json", **path}}


def open311_post(w: World) -> dict[str, Any]:
    """A request posted by an app, with the reporter's contact data."""
    return {
        "api_key": w.open311_key, "service_code": "street_lamp", "lat": JONGNO["lat"] + 0.01,
        "long": JONGNO["lon"], "attribute[problem]": "off", "phone": REPORTER["phone"],
        "email": REPORTER["email"], "first_name": "민수", "last_name": "김",
    }  # fmt: skip


ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", "/livez"): Rule(PUBLIC, 200),
    ("GET", "/healthz"): Rule(PUBLIC, 200),
    ("GET", "/docs"): Rule(PUBLIC, 200),
    # No account: the scraper's address decides (loopback here); counts only.
    ("GET", "/metrics"): Rule(PUBLIC, 200),
    # The consoles' pages: shells without data (the data comes through the API).
    **{
        ("GET", path): Rule(PUBLIC, 200)
        for path in ("/console", "/console/dispatch", "/console/intake", "/console/stats")
    },
    # Intake: agents, for the whole city.
    ("POST", "/api/v1/complaints"): Rule(
        frozenset({A}), 201, build=lambda w, s: {"json": complaint_body()}
    ),
    ("GET", "/api/v1/complaints"): Rule(DESK, 200),
    ("GET", "/api/v1/complaints/nearby"): Rule(
        DESK, 200, build=lambda w, s: {"params": {"lat": JONGNO["lat"], "long": JONGNO["lon"]}}
    ),
    ("GET", "/api/v1/complaints/{ticket}"): Rule(DESK, 200, True, ticket),
    ("GET", "/api/v1/complaints/{ticket}/events"): Rule(DESK, 200, True, ticket),
    ("GET", "/api/v1/complaints/{ticket}/sla"): Rule(DESK, 200, True, ticket),
    # The reporter's number in full: agents, and the case's dispatchers.
    ("GET", "/api/v1/complaints/{ticket}/contact"): Rule(frozenset({A, D}), 200, True, ticket),
    # Dispatch: moves by dispatchers (and admins); supervisors watch.
    ("POST", "/api/v1/dispatch/complaints/{complaint_id}/transitions"): Rule(
        DISPATCHERS,
        200,
        True,
        lambda w, s: {
            **case_id()(w, s),
            "json": {"to": "received", "version": s.assigned["version"]},
        },
    ),
    ("POST", "/api/v1/dispatch/complaints/{complaint_id}/merge"): Rule(
        DISPATCHERS,
        200,
        True,
        lambda w, s: {
            **case_id("received")(w, s),
            "json": {"into": s.assigned["ticket"], "version": s.received["version"]},
        },
    ),
    ("POST", "/api/v1/dispatch/complaints/{complaint_id}/unmerge"): Rule(
        DISPATCHERS,
        200,
        True,
        lambda w, s: {**case_id("duplicate")(w, s), "json": {"version": s.duplicate["version"]}},
    ),
    ("POST", "/api/v1/dispatch/complaints/{complaint_id}/sla/pause"): Rule(
        DISPATCHERS,
        200,
        True,
        lambda w, s: {**case_id()(w, s), "json": {"reason": "waiting_citizen"}},
    ),
    # Nothing is paused: 409 no_clock_to_move is the endpoint's own answer, past the rules.
    ("POST", "/api/v1/dispatch/complaints/{complaint_id}/sla/resume"): Rule(
        DISPATCHERS, 409, True, lambda w, s: {**case_id()(w, s), "json": {}}
    ),
    ("GET", "/api/v1/dispatch/complaints/{complaint_id}/candidates"): Rule(
        WATCHERS, 200, True, case_id("received")
    ),
    ("GET", "/api/v1/dispatch/complaints/{complaint_id}/photos"): Rule(
        WATCHERS, 200, True, case_id()
    ),
    ("GET", "/api/v1/dispatch/photos/{photo_id}"): Rule(
        WATCHERS, 200, True, lambda w, s: {"path": {"photo_id": s.photo_id}}
    ),
    ("GET", "/api/v1/dispatch/photos/{photo_id}/thumbnail"): Rule(
        WATCHERS, 200, True, lambda w, s: {"path": {"photo_id": s.photo_id}}
    ),
    ("GET", "/api/v1/dispatch/board"): Rule(
        WATCHERS, 200, True, lambda w, s: {"params": {"district": s.district}}
    ),
    ("GET", "/api/v1/dispatch/inspectors"): Rule(
        WATCHERS, 200, True, lambda w, s: {"params": {"district": s.district}}
    ),
    ("POST", "/api/v1/dispatch/complaints/{complaint_id}/priority"): Rule(
        DISPATCHERS,
        200,
        True,
        lambda w, s: {
            **case_id()(w, s),
            "json": {"priority": "high", "version": s.assigned["version"]},
        },
    ),
    ("GET", "/api/v1/districts"): Rule(EVERYONE, 200),
    ("GET", "/api/v1/complaints/{ticket}/texts"): Rule(DESK, 200, True, ticket),
    ("GET", "/api/v1/stats/overview"): Rule(
        WATCHERS, 200, True, lambda w, s: {"params": {"district": s.district}}
    ),
    ("GET", "/api/v1/dispatch/stream"): Rule(
        WATCHERS, 200, True, lambda w, s: {"params": {"district": s.district}}, stream=True
    ),
    # The field API: inspector accounts, their own cases.
    ("POST", "/api/v1/field/duty"): Rule(
        INSPECTOR, 200, build=lambda w, s: {"json": {"on_duty": True}}
    ),
    ("POST", "/api/v1/field/positions"): Rule(
        INSPECTOR,
        200,
        build=lambda w, s: {
            "json": {"pings": [{**JONGNO, "accuracy_m": 5, "at": FROZEN_AT.isoformat()}]}
        },
    ),
    ("POST", "/api/v1/field/devices"): Rule(INSPECTOR, 201, build=lambda w, s: {"json": DEVICE}),
    ("POST", "/api/v1/field/devices/unregister"): Rule(
        INSPECTOR, 204, build=lambda w, s: {"json": DEVICE}
    ),
    ("GET", "/api/v1/field/queue"): Rule(INSPECTOR, 200),
    ("GET", "/api/v1/field/complaints/{complaint_id}"): Rule(INSPECTOR, 200, True, case_id()),
    ("POST", "/api/v1/field/complaints/{complaint_id}/transitions"): Rule(
        INSPECTOR,
        200,
        True,
        lambda w, s: {
            **case_id()(w, s),
            "json": {"to": "accepted", "version": s.assigned["version"]},
            "headers": {"Idempotency-Key": str(uuid.uuid4())},
        },
    ),
    ("POST", "/api/v1/field/complaints/{complaint_id}/photos"): Rule(
        INSPECTOR,
        201,
        True,
        lambda w, s: {
            **case_id()(w, s),
            "files": [("photos", ("b.jpg", jpeg(colour="blue"), "image/jpeg"))],
        },
    ),
    ("GET", "/api/v1/field/stream"): Rule(INSPECTOR, 200, stream=True),
    ("GET", "/api/v1/field/reference"): Rule(INSPECTOR, 200),
    ("GET", "/api/v1/field/photos/{photo_id}"): Rule(
        INSPECTOR, 200, True, lambda w, s: {"path": {"photo_id": s.photo_id}}
    ),
    ("GET", "/api/v1/field/photos/{photo_id}/thumbnail"): Rule(
        INSPECTOR, 200, True, lambda w, s: {"path": {"photo_id": s.photo_id}}
    ),
    ("GET", "/api/v1/geocode"): Rule(
        EVERYONE, 200, build=lambda w, s: {"params": {"q": "서울특별시 성동구 왕십리로 333"}}
    ),
    ("GET", "/api/v1/reverse-geocode"): Rule(
        EVERYONE, 200, build=lambda w, s: {"params": {"lat": JONGNO["lat"], "lon": JONGNO["lon"]}}
    ),
    # Administration: admins write; the desk reads what it needs to work.
    ("GET", "/api/v1/admin/teams"): Rule(DESK, 200),
    ("POST", "/api/v1/admin/teams"): Rule(
        ADMIN, 201, build=lambda w, s: {"json": {"district": OWN, "name": "matrix team"}}
    ),
    ("GET", "/api/v1/admin/routing-rules"): Rule(DESK, 200),
    ("PUT", "/api/v1/admin/routing-rules/{district}/{category}"): Rule(
        ADMIN,
        200,
        build=lambda w, s: {
            "path": {"district": OWN, "category": "road_damage"},
            "json": {"team_id": w.own.team},
        },
    ),
    ("DELETE", "/api/v1/admin/routing-rules/{district}/{category}"): Rule(
        ADMIN, 204, build=lambda w, s: {"path": {"district": OWN, "category": "street_lamp"}}
    ),
    ("GET", "/api/v1/admin/route"): Rule(
        DESK, 200, build=lambda w, s: {"params": {"district": OWN, "category": "street_lamp"}}
    ),
    ("GET", "/api/v1/admin/categories"): Rule(DESK, 200),
    ("PUT", "/api/v1/admin/categories/{code}/dedup"): Rule(
        ADMIN,
        200,
        build=lambda w, s: {
            "path": {"code": "street_lamp"},
            "json": {"radius_m": 30, "window_minutes": 60},
        },
    ),
    ("GET", "/api/v1/admin/sla/policies"): Rule(DESK, 200),
    ("PUT", "/api/v1/admin/sla/policies/{category}/{kind}"): Rule(
        ADMIN,
        200,
        build=lambda w, s: {
            "path": {"category": "street_lamp", "kind": "arrive"},
            "json": {"target_minutes": 120, "calendar": "24x7"},
        },
    ),
    ("DELETE", "/api/v1/admin/sla/policies/{category}/{kind}"): Rule(
        ADMIN, 204, build=lambda w, s: {"path": {"category": "illegal_parking", "kind": "assign"}}
    ),
    ("GET", "/api/v1/admin/sla/calendars"): Rule(DESK, 200),
    ("PUT", "/api/v1/admin/sla/calendars/{code}"): Rule(
        ADMIN,
        200,
        build=lambda w, s: {
            "path": {"code": "matrix"},
            "json": {"name": "Matrix", "timezone": "Asia/Seoul", "always_open": True},
        },
    ),
    ("GET", "/api/v1/admin/sla/calendars/{code}/holidays"): Rule(
        DESK, 200, build=lambda w, s: {"path": {"code": "office"}}
    ),
    ("POST", "/api/v1/admin/sla/calendars/{code}/holidays"): Rule(
        ADMIN,
        200,
        build=lambda w, s: {
            "path": {"code": "office"},
            "json": {
                "calendar": "office",
                "holidays": [{"day": "2027-01-05", "name": "matrix day"}],
            },
        },
    ),
    ("DELETE", "/api/v1/admin/sla/calendars/{code}/holidays/{day}"): Rule(
        ADMIN, 204, build=lambda w, s: {"path": {"code": "office", "day": "2026-12-25"}}
    ),
    ("GET", "/api/v1/stats/sla"): Rule(
        WATCHERS, 200, True, lambda w, s: {"params": {"district": s.district}}
    ),
    ("GET", "/api/v1/admin/outbox"): Rule(ADMIN, 200),
    ("POST", "/api/v1/admin/outbox/redrive"): Rule(
        ADMIN, 200, build=lambda w, s: {"json": {"ids": []}}
    ),
    ("POST", "/api/v1/admin/sms-opt-outs"): Rule(
        ADMIN, 204, build=lambda w, s: {"json": {"phone": "010-9999-0000"}}
    ),
    ("DELETE", "/api/v1/admin/sms-opt-outs/{phone}"): Rule(
        ADMIN, 204, build=lambda w, s: {"path": {"phone": "+821099990000"}}
    ),
    ("GET", "/api/v1/admin/privacy/access-log"): Rule(ADMIN, 200),
    # The SMS gateway's callbacks: no account (a shared token, or loopback as here).
    **{
        (method, "/api/v1/notifications/sms/receipts"): Rule(
            PUBLIC,
            200,
            build=lambda w, s: {"params": {"message": w.own.message_id, "type": 1}},
        )
        for method in ("GET", "POST")
    },
    **{
        (method, "/api/v1/notifications/sms/inbound"): Rule(
            PUBLIC, 200, build=lambda w, s: {"params": {"from": "010-1234-5678", "text": "hi"}}
        )
        for method in ("GET", "POST")
    },
    # Citizens: a ticket number is all it takes.
    ("GET", "/api/v1/public/complaints/{ticket}"): Rule(PUBLIC, 200, build=ticket),
    ("GET", "/t/{ticket}"): Rule(PUBLIC, 200, build=ticket),
    # Signing in (wrong credentials here: the answer is the same for every caller).
    ("POST", "/api/v1/auth/token"): Rule(
        PUBLIC, 401, build=lambda w, s: {"json": {"username": "nobody", "password": "wrong one!"}}
    ),
    ("POST", "/api/v1/auth/session"): Rule(
        PUBLIC, 401, build=lambda w, s: {"json": {"username": "nobody", "password": "wrong one!"}}
    ),
    ("POST", "/api/v1/auth/refresh"): Rule(
        PUBLIC, 401, build=lambda w, s: {"json": {"refresh_token": "dfr_not-a-token"}}
    ),
    # Open311: reads are public (a key optional), posting proves itself with an api_key.
    ("GET", "/open311/v2/discovery.{fmt}"): Rule(PUBLIC, 200, build=lambda w, s: json_format()),
    ("GET", "/open311/v2/services.{fmt}"): Rule(PUBLIC, 200, build=lambda w, s: json_format()),
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): Rule(
        PUBLIC, 200, build=lambda w, s: json_format(service_code="street_lamp")
    ),
    ("GET", "/open311/v2/requests.{fmt}"): Rule(
        PUBLIC, 200, build=lambda w, s: {**json_format(), "params": {"extensions": "true"}}
    ),
    ("POST", "/open311/v2/requests.{fmt}"): Rule(
        PUBLIC, 200, build=lambda w, s: {**json_format(), "params": open311_post(w)}
    ),
    **{
        ("GET", path): Rule(
            PUBLIC,
            200,
            build=lambda w, s: {
                **json_format(service_request_id=s.assigned["ticket"]),
                "params": {"extensions": "true"},
            },
        )  # fmt: skip
        for path in (
            "/open311/v2/requests/{service_request_id}.{fmt}",
            "/open311/v2/request/{service_request_id}.{fmt}",
        )
    },
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): Rule(
        PUBLIC, 200, build=lambda w, s: json_format(token=w.open311_token)
    ),
    ("POST", "/api/v1/auth/sign-out"): Rule(EVERYONE, 204),
    ("GET", "/api/v1/auth/me"): Rule(EVERYONE, 200),
}


def expected(rule: Rule, caller: str, target: str) -> int:
    """The status the book says `caller` gets."""
    if rule.roles is PUBLIC:
        return rule.ok
    if caller == "anonymous":
        return 401
    role = Role(caller)
    if role not in rule.roles:
        return 403
    if rule.scoped and target == "other" and role in SCOPED:
        return 404
    return rule.ok


def cells() -> list[Any]:
    found = []
    for (method, path), rule in ROUTES.items():
        for caller in CALLERS:
            for target in ("own", "other") if rule.scoped else ("own",):
                name = f"{method} {path} as {caller} ({target})"
                found.append(pytest.param(method, path, caller, target, id=name))
    return found


@pytest.fixture(scope="module")
async def world(
    engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    """Both districts' data, built once in a transaction rolled back after the module."""
    async with engine.connect() as connection:
        outer = await connection.begin()

        @asynccontextmanager
        async def savepoint() -> AsyncIterator[AsyncConnection]:
            async with connection.begin_nested():
                yield connection

        settings = Settings(
            database_url=str(engine.url), media_dir=tmp_path_factory.mktemp("media"),
            sla_sweep_lanes=1, stream_poll_seconds=0.05, stream_heartbeat_seconds=0.05,
            **FAST_PASSWORDS,
        )  # fmt: skip
        # (A stream's first bytes, and so its status, go out with its first frame: a
        # keep-alive comes after the heartbeat time when no event does.)
        app = create_app(
            settings=settings, clock=FrozenClock(FROZEN_AT),
            connections=(savepoint, lambda: nullcontext(connection)),
        )  # fmt: skip
        agent = await token_for(connection, A)
        admin = await token_for(connection, AD)
        sides = []
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            for district, point in ((OWN, JONGNO), (OTHER, GANGNAM)):
                sides.append(await _side(client, connection, district, point, agent, admin))
        own, other = sides
        tokens = {
            "agent": agent,
            "admin": admin,
            "dispatcher": await token_for(connection, D, districts=[OWN]),
            "supervisor": await token_for(connection, S, districts=[OWN]),
            "inspector": own.inspector_token,
        }
        made = await keys.create(
            connection, name="permissions app", requests_per_minute=100_000, now=FROZEN_AT
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            world = World(own=own, other=other, tokens=tokens, app=app, connection=connection,
                          open311_key=made.key, open311_token="")  # fmt: skip
            answer = await client.post("/open311/v2/requests.json", data=open311_post(world))
            assert answer.status_code == 200, answer.text
            world.open311_token = answer.json()[0]["token"]
        yield world
        await outer.rollback()


async def _side(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    district: str,
    point: dict[str, float],
    agent: str,
    admin: str,
) -> Side:
    team = await make_team(connection, district)
    inspector = await make_inspector(connection, team, **point)
    for category in (None, "street_lamp"):
        await connection.execute(
            text("INSERT INTO routing_rule (district_code, category_code, team_id, updated_at)"
                 " VALUES (:d, :c, :t, :now)"),
            {"d": district, "c": category, "t": team, "now": FROZEN_AT},
        )  # fmt: skip

    async def post(path: str, token: str, **kwargs: Any) -> dict[str, Any]:
        response = await client.post(path, headers=bearer(token), **kwargs)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def spot(i: int) -> dict[str, float]:
        return {"lat": point["lat"] + 0.002 * i, "lon": point["lon"]}

    async def case(i: int) -> dict[str, Any]:
        return await post(
            "/api/v1/complaints", agent, json=complaint_body(location=spot(i), reporter=REPORTER)
        )

    assigned = await case(0)
    assigned = await post(
        f"/api/v1/dispatch/complaints/{assigned['id']}/transitions", admin,
        json={"to": "assigned", "version": 1, "inspector_id": inspector},
    )  # fmt: skip
    inspector_token = await token_for(connection, IN, inspector_id=inspector)
    photos = await post(
        f"/api/v1/field/complaints/{assigned['id']}/photos", inspector_token,
        files=[("photos", ("a.jpg", jpeg(), "image/jpeg"))],
    )  # fmt: skip
    received = await case(1)
    duplicate = await case(2)
    duplicate = await post(
        f"/api/v1/dispatch/complaints/{duplicate['id']}/merge", admin,
        json={"into": assigned["ticket"], "version": 1},
    )  # fmt: skip
    message_id = (
        await connection.execute(
            text("SELECT id FROM outbox_message WHERE complaint_id = :c AND template = 'received'"),
            {"c": assigned["id"]},
        )
    ).scalar_one()
    # The test's calls mark the received text sent first, so its receipt is one to take.
    await connection.execute(
        text("UPDATE outbox_message SET status = 'sent', sent_at = :now WHERE id = :id"),
        {"now": FROZEN_AT, "id": message_id},
    )
    return Side(
        district=district, team=team, inspector=inspector, assigned=assigned,
        received=received, duplicate=duplicate, photo_id=photos["photos"][0]["id"],
        message_id=message_id, inspector_token=inspector_token,
    )  # fmt: skip


def _call(world: World, rule: Rule, method: str, path: str, side: Side) -> Call:
    parts = rule.build(world, side)
    filled = path.format(**parts.get("path", {}))
    return Call(
        method, filled, params=parts.get("params", {}), json=parts.get("json"),
        files=parts.get("files"), headers=parts.get("headers", {}), stream=rule.stream,
    )  # fmt: skip


async def _stream_status(app: FastAPI, call: Call) -> int:
    """The status a streaming endpoint starts with (then the client goes away)."""
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    gone = asyncio.Event()
    query = str(httpx.QueryParams(call.params))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": call.method, "scheme": "http", "path": call.path, "raw_path": call.path.encode(),
        "query_string": query.encode(), "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in call.headers.items()],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip

    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:  # the (empty) request once, then nothing until the client goes
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and not started.done():
            started.set_result(message["status"])
            gone.set()
            types = [v for k, v in message["headers"] if k.lower() == b"content-type"]
            if types and types[0].startswith(b"text/event-stream"):
                # Held here until the app gives up on the gone client: it never gets to read
                # the database, so no query of the shared connection is cut off half way.
                await asyncio.Event().wait()

    task = asyncio.create_task(app(scope, receive, send))
    try:
        return await asyncio.wait_for(started, timeout=10)
    finally:
        gone.set()
        await asyncio.wait_for(task, timeout=10)


async def _status(world: World, call: Call, caller: str) -> tuple[int, bytes]:
    headers = dict(call.headers)
    if caller != "anonymous":
        headers.update(bearer(world.tokens[caller]))
    call.headers = headers
    if call.stream:
        return await _stream_status(world.app, call), b""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app), base_url="http://testserver"
    ) as client:
        response = await client.request(
            call.method, call.path, params=call.params, json=call.json, files=call.files,
            headers=headers,
        )  # fmt: skip
    return response.status_code, response.content


def test_every_route_has_a_rule_and_a_line_in_the_book() -> None:
    app = create_app()
    declared = {}
    for route in api_routes(app):
        for method in route.methods - {"HEAD"}:
            declared[(method, route.path)] = rule_of(route)
    without_rule = sorted(key for key, rule in declared.items() if rule is None)
    assert not without_rule, f"routes without an access rule: {without_rule}"
    assert sorted(set(declared) - set(ROUTES)) == [], "routes missing from the book"
    assert sorted(set(ROUTES) - set(declared)) == [], "lines of the book without a route"
    # The book and the code agree on who is public.
    for key, rule in ROUTES.items():
        assert (declared[key] == "public") == (rule.roles is PUBLIC), key


@pytest.mark.parametrize(("method", "path", "caller", "target"), cells())
async def test_the_matrix(world: World, method: str, path: str, caller: str, target: str) -> None:
    rule = ROUTES[(method, path)]
    side = world.own if target == "own" else world.other
    call = _call(world, rule, method, path, side)
    savepoint = await world.connection.begin_nested()
    try:
        status, body = await _status(world, call, caller)
    finally:
        await savepoint.rollback()
    assert status == expected(rule, caller, target), body[:300]
    if (method, path) != CONTACT_ROUTE:
        leaked = [secret for secret in SECRETS if secret in body]
        assert not leaked, f"contact data in the answer: {leaked}"
    elif status == 200:  # the data the search looks for is really there to find
        assert b"+821023456789" in body and "김민수".encode() in body


# Modules that reach the cases' tables with no caller's scope, and why that is right. Every
# other module that does must apply a Scope in its SQL (dispatch_server.access).
SERVER_SIDE = {
    "dispatch_server/privacy/retention.py": "the retention job erases what is due, every case",
    "dispatch_server/public/service.py": "the tracking page: one case by its ticket, public "
    "fields only (no account; a rate limit per address)",
    "dispatch_server/open311/service.py": "Open311's reads: public fields only, descriptions "
    "redacted (no account; a rate limit per address or per key)",
    "geo/districts.py": "loading boundaries: a retired district's cases keep pointing at it",
    "sla/reroute.py": "the sweep re-routes a breached case to another team",
    "sla/sweep.py": "the SLA sweep steps every due clock",
    "notifications/service.py": "the gateway's receipts (by message id, from the gateway only), "
    "the admins' outbox listing (numbers masked), devices",
    "notifications/worker.py": "the delivery worker sends every due message",
    "dispatch_server/simulation/world.py": "`dasan simulate`'s background work on its own "
    "throw-away database: when the sweep and the outbox next have something due",
    "dispatch_server/simulation/live.py": "`dasan simulate --live` (a CLI, never in production) "
    "takes up the cases its own inspectors and reports left open",
}
_TABLES = r"(complaint|complaint_event|attachment|sla_timer|outbox_message|live_event)"
_RAW_SQL = re.compile(rf"\b(FROM|JOIN|UPDATE|INTO)\s+{_TABLES}\b", re.IGNORECASE)
_CORE = re.compile(
    r"\b(Complaint|ComplaintEvent|Attachment|SlaTimer|OutboxMessage|LiveEvent)\.\w+"
    r"|import[^\n]*\b_complaint\b"
)
_SCOPED = re.compile(r"scope_condition|scope_sql|\.cases\(|\bscope: Scope|within: Scope")
PACKAGES = ("dispatch_server", "geo", "sla", "notifications")
ROOT = Path(__file__).resolve().parent.parent


def test_case_queries_go_through_the_scope() -> None:
    """A tripwire beside the matrix: a module that queries cases applies a Scope, or is
    listed above as the server's own work (a new one fails until someone decides)."""
    touching, unscoped = set(), []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            source = path.read_text()
            if path.name == "models.py" or not (_RAW_SQL.search(source) or _CORE.search(source)):
                continue
            touching.add(name)
            if name not in SERVER_SIDE and not _SCOPED.search(source):
                unscoped.append(name)
            if "router" in path.name:
                unscoped.append(f"{name} (a router: queries belong in services)")
    assert unscoped == []
    assert set(SERVER_SIDE) <= touching, "listed modules that no longer query cases"
