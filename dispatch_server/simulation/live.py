"""`dasan simulate --live`: a day played in real time against a running server (the demo
`make run` starts), so the dispatch console shows the city move.

The server keeps its own clock, SLA sweep and outbox; the simulation logs reports as an
agent, dispatches them and drives the city's inspectors (every one of them, on duty for
the whole run) through the field API at the pace of the real clock. Its accounts
(`sim-agent`, `sim-dispatcher`, `sim-inspector-<id>`) are made in the server's database,
and the demo's data grows with every report, as a real day's would. Never in production.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dispatch_server.accounts.credentials import Passwords, Role
from dispatch_server.config import Settings
from dispatch_server.simulation import world
from dispatch_server.simulation.api import Account, Api
from dispatch_server.simulation.engine import TAIL, Case, Engine, Inspector, Outcomes
from dispatch_server.simulation.plan import INSPECT_MINUTES, SIMULATED, Arrival, draw_day
from dispatch_server.simulation.run import Options

# Positions while travelling, live: often enough that the console's map shows them move.
LIVE_PING_EVERY = timedelta(seconds=20)


def _crew(
    url: str, districts: list[str] | None, password: str
) -> list[tuple[int, str, str, float, float]]:
    """(inspector id, district, username, lat, lon) of the city's inspectors, each with a
    simulation account (its password reset to `password`)."""
    hashed = Passwords(**world.CHEAP).hash(password)
    now = datetime.now(UTC)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        world.put_account(connection, "sim-agent", Role.AGENT, hashed, None, now)
        world.put_account(connection, "sim-dispatcher", Role.ADMIN, hashed, None, now)
        rows = connection.execute(
            text(
                "SELECT i.id, t.district_code,"
                " coalesce(ST_Y(i.position), ST_Y(ST_PointOnSurface(d.geom))) AS lat,"
                " coalesce(ST_X(i.position), ST_X(ST_PointOnSurface(d.geom))) AS lon"
                " FROM inspector i JOIN team t ON t.id = i.team_id"
                " JOIN district d ON d.code = t.district_code"
                " WHERE (CAST(:districts AS text[]) IS NULL OR t.district_code = ANY(:districts))"
                " ORDER BY i.id"
            ),
            {"districts": districts},
        ).all()
        crew = []
        for inspector_id, district, lat, lon in rows:
            username = f"sim-inspector-{inspector_id}"
            taken = connection.execute(
                text("SELECT username FROM user_account WHERE inspector_id = :i"),
                {"i": inspector_id},
            ).scalar()
            if taken is not None and taken != username:
                continue  # a person's account: the simulation leaves that inspector alone
            world.put_account(connection, username, Role.INSPECTOR, hashed, inspector_id, now)
            crew.append((int(inspector_id), district, username, float(lat), float(lon)))
    engine.dispose()
    return crew


def _left_open(
    url: str, crew: list[tuple[int, str, str, float, float]], now: datetime
) -> list[Case]:
    """Cases an earlier live run left open: its inspectors' cases, and its own reports
    still waiting (a person's reports are left to the people in the console)."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, ticket, category_code, district_code, version, status, created_at,"
                " ST_Y(location) AS lat, ST_X(location) AS lon FROM complaint"
                " WHERE (assignee_id = ANY(:crew)"
                "        AND status IN ('assigned', 'accepted', 'en_route', 'on_site'))"
                " OR (status = 'received' AND assignee_id IS NULL"
                "     AND description LIKE :ours AND district_code = ANY(:districts))"
                " ORDER BY id"
            ),
            {"crew": [c[0] for c in crew], "ours": f"{SIMULATED}%",
             "districts": sorted({c[1] for c in crew})},
        ).all()  # fmt: skip
    engine.dispose()
    cases = []
    for row in rows:
        arrival = Arrival(
            n=-row.id, at=row.created_at, category=row.category_code,
            district=row.district_code, lat=row.lat, lon=row.lon, address=None,
            located_by="point", repeats=None, description="", phone="", language="ko",
            inspect_minutes=float(INSPECT_MINUTES.get(row.category_code, 12)),
            outcome="resolved",
        )  # fmt: skip
        cases.append(
            Case(
                id=row.id, ticket=row.ticket, arrival=arrival, version=row.version,
                status=row.status, created_at=row.created_at, due=now + timedelta(hours=1),
                district=row.district_code, lat=row.lat, lon=row.lon,
            )
        )  # fmt: skip
    return cases


async def _wait_for(api: Api, url: str, seconds: float = 60.0) -> None:
    """Until the server answers its health check (it may be starting beside us)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            if (await api.http.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise SystemExit(f"no server answers at {url}")
        await asyncio.sleep(0.5)


async def run_live(
    url: str,
    options: Options,
    settings: Settings,
    *,
    say: Callable[[str], None] = print,
) -> Outcomes:
    """Play the options' day from now, against the server at `url` (on its database)."""
    if settings.production:
        raise SystemExit("a live simulation fills the database with made-up reports: "
                         "not with DASAN_PRODUCTION=true")  # fmt: skip
    password = secrets.token_urlsafe(16)
    crew = _crew(settings.database_url, options.districts, password)
    if not crew:
        raise SystemExit("the city has no inspectors to drive: run `dasan seed-demo` first")
    places = world.read_places(settings.database_url, options.districts)
    api = Api(url)
    try:
        await _wait_for(api, url)  # the day starts once the server is there
    except BaseException:
        await api.aclose()
        raise
    start = datetime.now(UTC).replace(microsecond=0)
    plan = draw_day(
        seed=options.seed, start=start, hours=options.hours, complaints=options.complaints,
        inspectors=0, places=places, zone=ZoneInfo(settings.timezone),
    )  # fmt: skip
    end = start + timedelta(hours=options.hours) + TAIL
    inspectors = [
        Inspector(
            n=inspector_id, server_id=inspector_id, district=district,
            account=Account(username, password), home_lat=lat, home_lon=lon,
            shifts=[(start, end)],
        )
        for inspector_id, district, username, lat, lon in crew
    ]  # fmt: skip
    say(f"live: {len(plan.arrivals)} reports over {options.hours:g} h, {len(inspectors)} "
        f"inspectors, against {url}")  # fmt: skip
    try:
        engine = Engine(
            plan=plan, api=api, policy=options.policies[0], agent=Account("sim-agent", password),
            dispatcher=Account("sim-dispatcher", password), inspectors=inspectors,
            result_codes=world.result_codes(settings.database_url), speed=1.0,
            city_speed_m_per_min=options.city_speed_m_per_min, clock_file=None, tick=None,
            ping_every=LIVE_PING_EVERY, dispatch_delay=timedelta(seconds=options.dispatch_seconds),
        )  # fmt: skip
        for case in _left_open(settings.database_url, crew, plan.start):
            engine.adopt(case)
        return await engine.run()
    finally:
        await api.aclose()
