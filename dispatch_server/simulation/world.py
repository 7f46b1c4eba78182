"""The simulation's own world: a throw-away database of the city, its crews and accounts,
and a `dasan serve` on it whose clock the simulation moves.

The city (districts, gazetteer, categories, SLA policies) is built once per `dasan
simulate` (or taken from a database given), then copied for each run, so every policy
compared starts from the same state. Crews and accounts are set up in the copy directly
(that is the city's set-up, not the day); the day itself only uses the HTTP API.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from dispatch_server import database
from dispatch_server.accounts.credentials import Passwords, Role
from dispatch_server.clock import FrozenClock
from dispatch_server.config import Settings
from dispatch_server.db import make_async_engine, transactions
from dispatch_server.simulation.engine import TickReport
from dispatch_server.simulation.plan import DayPlan, Place

TEAM_NAME = "시뮬레이션 현장팀"
# Cheap hashes: the accounts live as long as the run's throw-away database.
CHEAP = {"time_cost": 1, "memory_kib": 64, "parallelism": 1}


def build_city(url: str, settings: Settings, *, now: datetime | None = None) -> None:
    """A new database with the city: migrations, categories, result codes, Seoul's
    districts, the gazetteer and the SLA policies (no teams, inspectors or accounts)."""
    from dispatch_server.seed import (
        SEOUL_DISTRICTS,
        read_categories,
        seed_sla,
        upsert_categories,
        upsert_result_codes,
    )
    from geo.boundaries import read_districts
    from geo.districts import load_districts
    from geo.gazetteer import (
        SEOUL_GAZETTEER,
        GazetteerReport,
        load_gazetteer,
        read_addresses,
        read_dongs,
    )

    database.drop_database(url)
    database.create_database(url)
    database.upgrade(url)
    shared = settings.shared_dir / "data"
    shapes = read_districts(
        shared / SEOUL_DISTRICTS.filename, code_field=SEOUL_DISTRICTS.code_field,
        name_field=SEOUL_DISTRICTS.name_field, name_en_field=SEOUL_DISTRICTS.name_en_field,
    )  # fmt: skip
    now = now or datetime.now(UTC)
    engine = create_engine(url, poolclass=NullPool)
    with Session(engine) as session:
        upsert_categories(session, read_categories())
        upsert_result_codes(session)
        load_districts(session, shapes, now=now)
        report = GazetteerReport()
        addresses = read_addresses(shared / SEOUL_GAZETTEER.addresses, report)
        load_gazetteer(session, addresses, read_dongs(SEOUL_GAZETTEER, shared, report), report)
        seed_sla(session, timezone=settings.timezone, now=now)
        session.commit()
    engine.dispose()


class Refused(ValueError):
    """What the simulation was asked cannot be done (said before anything runs)."""


def read_places(url: str, districts: list[str] | None = None) -> list[Place]:
    """The city's known addresses (of some districts), in a fixed order."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT g.district_code, d.name_ko, ST_Y(g.location) AS lat,"
                " ST_X(g.location) AS lon, g.road_name, g.main_no, g.sub_no"
                " FROM gazetteer_address g JOIN district d ON d.code = g.district_code"
                " WHERE d.retired_at IS NULL"
                " AND (CAST(:districts AS text[]) IS NULL OR g.district_code = ANY(:districts))"
                " ORDER BY g.id"
            ),
            {"districts": districts},
        ).all()
    engine.dispose()
    unknown = sorted(set(districts or ()) - {row[0] for row in rows})
    if unknown:
        raise Refused(f"no such district, or none of its addresses known: {', '.join(unknown)}")
    places = []
    for code, district, lat, lon, road, main_no, sub_no in rows:
        number = f"{main_no}-{sub_no}" if sub_no else str(main_no)
        places.append(
            Place(district=code, district_name=district, lat=round(float(lat), 6),
                  lon=round(float(lon), 6), address=f"서울특별시 {district} {road} {number}")
        )  # fmt: skip
    return places


def result_codes(url: str) -> dict[tuple[str, str], list[str]]:
    """The result codes per (category, outcome) ("*": those of every category), by code."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT coalesce(category_code, '*'), outcome, code FROM result_code ORDER BY code"
            )
        ).all()
    engine.dispose()
    codes: dict[tuple[str, str], list[str]] = {}
    for category, outcome, code in rows:
        codes.setdefault((category, outcome), []).append(code)
    return codes


def put_account(connection: Connection, username: str, role: Role, hashed: str,
                inspector_id: int | None, now: datetime) -> None:  # fmt: skip
    """A simulation account with this password hash (made, or its password reset)."""
    updated = connection.execute(
        text("UPDATE user_account SET password_hash = :h, active = true WHERE username = :u"),
        {"u": username, "h": hashed},
    ).rowcount
    if not updated:
        connection.execute(
            text(
                "INSERT INTO user_account (username, display_name, role, districts,"
                " inspector_id, password_hash, active, created_at, password_changed_at)"
                " VALUES (:u, :u, :r, '{}', :i, :h, true, :now, :now)"
            ),
            {"u": username, "r": str(role), "i": inspector_id, "h": hashed, "now": now},
        )


@dataclass(frozen=True)
class Crew:
    """The accounts of a run and its inspectors' server ids, by the plan's numbers."""

    password: str
    agent: str
    dispatcher: str
    inspectors: dict[int, tuple[int, str]]  # n -> (server id, username)


def set_up_crews(url: str, plan: DayPlan, *, now: datetime) -> Crew:
    """A team in each district of the plan (taking every category), its inspectors (off
    duty, at home), and an account for the agent, the dispatcher and each inspector."""
    passwords = Passwords(**CHEAP)
    password = secrets.token_urlsafe(16)
    hashed = passwords.hash(password)
    engine = create_engine(url, poolclass=NullPool)
    inspectors: dict[int, tuple[int, str]] = {}
    homes = {s.n: s for s in plan.shifts}
    with engine.begin() as connection:
        teams = {}
        for district in plan.districts():
            teams[district] = connection.execute(
                text("INSERT INTO team (district_code, name) VALUES (:d, :n) RETURNING id"),
                {"d": district, "n": TEAM_NAME},
            ).scalar_one()
            connection.execute(
                text(
                    "INSERT INTO routing_rule (district_code, category_code, team_id, updated_at)"
                    " VALUES (:d, NULL, :t, :now)"
                ),
                {"d": district, "t": teams[district], "now": now},
            )

        def account(username: str, role: Role, inspector_id: int | None = None) -> None:
            put_account(connection, username, role, hashed, inspector_id, now)

        account("sim-agent", Role.AGENT)
        account("sim-dispatcher", Role.ADMIN)
        for n in sorted(homes):
            shift = homes[n]
            server_id = connection.execute(
                text(
                    "INSERT INTO inspector (name, team_id, on_duty, position, position_at)"
                    " VALUES (:name, :team, false, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326),"
                    " :now) RETURNING id"
                ),
                {"name": f"시뮬레이션 {n}", "team": teams[shift.district], "lat": shift.home_lat,
                 "lon": shift.home_lon, "now": now},
            ).scalar_one()  # fmt: skip
            username = f"sim-inspector-{n}"
            account(username, Role.INSPECTOR, server_id)
            inspectors[n] = (int(server_id), username)
    engine.dispose()
    return Crew(password, "sim-agent", "sim-dispatcher", inspectors)


def stop_group(process: subprocess.Popen[Any], seconds: float = 15) -> None:
    """Stop a process started in its own session, and its children (TERM, then KILL)."""
    with contextlib.suppress(ProcessLookupError):  # it may have ended already
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@contextmanager
def city(options_database: str | None, settings: Settings, *, keep: bool,
         say: Callable[[str], None]) -> Iterator[str]:  # fmt: skip
    """The city database to copy runs from: the one given, or one built beside the
    configured database (dropped at the end unless kept)."""
    if options_database is not None:
        yield options_database
        return
    built = run_database(settings.database_url, f"{settings.database_name}_sim_city")
    try:
        say("building the city's database (districts, gazetteer, categories, SLA)...")
        build_city(built, settings)
        yield built
    finally:
        if not keep:
            database.drop_database(built)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(
    env: dict[str, str], log_path: Path, *args: str, seconds: float = 30, append: bool = False
) -> subprocess.Popen[bytes]:
    """`dasan serve [args]` with `env` (DASAN_PORT among it) in a session of its own (so
    `stop_group` stops its workers too), its output to `log_path`; returned once its health
    check answers. When it exits or does not answer within `seconds` it is stopped, and the
    RuntimeError carries the end of its log."""
    base = f"http://127.0.0.1:{env['DASAN_PORT']}"
    dasan = str(Path(sys.executable).with_name("dasan"))
    with log_path.open("a" if append else "w") as log:
        process = subprocess.Popen(
            [dasan, "serve", *args], env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_group(process)
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"dasan serve did not start (log {log_path}):\n{tail}")
        time.sleep(0.2)


@contextmanager
def own_server(url: str, clock_file: Path, folder: Path) -> Iterator[str]:
    """`dasan serve` on the run's database and the simulated clock, until the block ends;
    its base URL. The SLA sweep and the outbox are left to the simulation (on its clock);
    texts go to a file."""
    port = free_port()
    env = {
        **os.environ,
        "DASAN_DATABASE_URL": url,
        "DASAN_PORT": str(port),
        "DASAN_WORKERS": "1",
        "DASAN_CLOCK_FILE": str(clock_file),
        "DASAN_SLA_SWEEP_IN_SERVE": "false",
        "DASAN_OUTBOX_IN_SERVE": "false",
        "DASAN_SMS_GATEWAY": "file",
        "DASAN_SMS_FILE": str(folder / "sms.jsonl"),
        "DASAN_MEDIA_DIR": str(folder / "media"),
        "DASAN_ACCESS_TOKEN_MINUTES": "1440",
        "DASAN_PRODUCTION": "false",
        # Housekeeping runs on real-time timers: not during a simulated day.
        "DASAN_HOUSEKEEPING_SECONDS": str(7 * 24 * 3600),
    }
    env.pop("DASAN_FCM_CREDENTIALS", None)
    process = start_serve(env, folder / "serve.log", seconds=60)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(process)


# When the sweep and the outbox next have something to do (both on their partial indexes):
# a tick with nothing due does nothing, as the real jobs would.
_NEXT_DUE = text(
    "SELECT (SELECT min(next_step_at) FROM sla_timer WHERE next_step_at IS NOT NULL),"
    " (SELECT min(next_attempt_at) FROM outbox_message WHERE status = 'pending')"
)


class BackgroundWork:
    """The server's background jobs, run by the simulation at its clock's times: the SLA
    sweep and the outbox delivery (in this process, on the run's database)."""

    def __init__(self, url: str, folder: Path, settings: Settings, *, seed: int = 0) -> None:
        from notifications.runner import Delivery
        from notifications.templates import load as load_templates

        self.settings = settings.model_copy(
            update={
                "database_url": url, "sms_gateway": "file", "sms_file": folder / "sms.jsonl",
                "fcm_credentials": None, "sla_sweep_lanes": 1,
            }
        )  # fmt: skip
        self.engine: AsyncEngine = make_async_engine(self.settings)
        self.transaction = transactions(self.engine)
        self.clock = FrozenClock(datetime.now(UTC))  # set to each tick's time
        self.delivery = Delivery(
            self.transaction, clock=self.clock, settings=self.settings,
            templates=load_templates(self.settings.templates_dir),
        )  # fmt: skip
        self.delivery.rng = random.Random(seed)  # retries' jitter: the same on every run

    async def tick(self, now: datetime) -> TickReport:
        from sla.sweep import sweep

        self.clock.set(now)
        async with self.engine.connect() as connection:
            step_due, message_due = (await connection.execute(_NEXT_DUE)).one()
        done = TickReport()
        if step_due is not None and step_due <= now:
            swept = await sweep(self.transaction, now=now, batch=self.settings.sla_sweep_batch)
            done.sla_steps, done.rerouted = swept.steps, list(swept.rerouted)
        if message_due is not None and message_due <= now:
            delivered = await self.delivery.run()
            done.messages = {
                "sent": delivered.sent, "retried": delivered.retried, "dead": delivered.dead,
                "skipped": delivered.skipped,
            }  # fmt: skip
        return done

    async def aclose(self) -> None:
        await self.delivery.aclose()
        await self.engine.dispose()


def run_database(base_url: str, name: str) -> str:
    """The URL of a run's database beside the base one."""
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)
