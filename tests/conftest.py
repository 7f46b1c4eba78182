"""Fixtures: one migrated, seeded database per run; a SAVEPOINT rolled back per test.

API tests are async (the anyio plugin, on asyncio) and talk to the real application through
httpx2's ASGI transport, on the test's own connection: the app's autocommit connections are
that connection as it is, its transactions are SAVEPOINTs on it.

The run builds `<db>_test` once (migrations + categories + Seoul's districts and gazetteer).
Tests that need committed data of their own (a real server process, the CLI) get a copy of
it made with CREATE DATABASE ... TEMPLATE, which takes well under a second.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

# Texts the servers and workers the tests start would append to the local SMS file: keep
# them out of the project's .data (every process started by a test inherits this).
os.environ.setdefault(
    "DASAN_SMS_FILE", os.path.join(tempfile.mkdtemp(prefix="dasan-tests-sms-"), "sms.jsonl")
)

from dispatch_server import database  # noqa: E402
from dispatch_server.clock import FrozenClock
from dispatch_server.config import Settings, get_settings
from dispatch_server.main import create_app
from dispatch_server.seed import SEOUL_DISTRICTS
from dispatch_server.simulation.world import build_city
from geo.boundaries import read_districts
from tests.auth import StaffAuth
from tests.fieldapp import field_inspector, field_net, field_server  # noqa: F401 (fixtures)

# 2026-11-23 10:00 in Seoul.
FROZEN_AT = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def _test_url() -> str:
    explicit = os.environ.get("DASAN_TEST_DATABASE_URL")
    if explicit:
        return explicit
    url = make_url(get_settings().database_url)
    return url.set(database=f"{url.database}_test").render_as_string(hide_password=False)


TEST_URL = _test_url()


def url_of(name: str) -> str:
    """The URL of another database on the test server."""
    return make_url(TEST_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def seoul_shapes():  # type: ignore[no-untyped-def]
    """Seoul's districts as read from the shared boundary file."""
    path = get_settings().shared_dir / "data" / SEOUL_DISTRICTS.filename
    return read_districts(
        path,
        code_field=SEOUL_DISTRICTS.code_field,
        name_field=SEOUL_DISTRICTS.name_field,
        name_en_field=SEOUL_DISTRICTS.name_en_field,
    )


@pytest.fixture(scope="session")
def template_database(seoul_shapes) -> str:  # type: ignore[no-untyped-def]
    """The migrated, seeded test database (built once per run); its URL."""
    build_city(TEST_URL, get_settings(), now=FROZEN_AT)
    return TEST_URL


# Copies of the seeded database for tests that commit (a server process, the CLI). They are
# made together before anything else connects: PostgreSQL copies a template database only
# while nobody is connected to it.
COPIES = (
    "cli",
    "server",
    "migrations",
    "atomic",
    "stream",
    "routing",
    "sla",
    "kannel",
    "outbox",
    "users",
    "browser",
    "fieldapp",
    "consoles",
    "open311",
    "open311_queue",
    "simulation",
    "policies",
    "live",
    "fuzz",
    "faults",
    "faults_sms",
    "faults_open311",
    "faults_pair",
)


@pytest.fixture(scope="session")
def database_copies(template_database: str) -> Iterator[dict[str, str]]:
    """URLs of throw-away copies of the seeded test database, by name; dropped afterwards."""
    template = make_url(template_database).database
    urls = {}
    admin = create_engine(url_of("postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for suffix in COPIES:
            name = f"{template}_{suffix}"
            urls[suffix] = url_of(name)
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    yield urls
    for url in urls.values():
        database.drop_database(url)


@pytest.fixture(scope="session")
def make_database(database_copies: dict[str, str]) -> Callable[[str], str]:
    """The URL of the named copy of the seeded database (one of COPIES)."""
    return database_copies.__getitem__


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests run on asyncio (as uvicorn does)."""
    return "asyncio"


@pytest.fixture(scope="session")
async def engine(
    template_database: str, database_copies: dict[str, str]
) -> AsyncIterator[AsyncEngine]:
    """The async engine of the shared test database (opened after the copies were made)."""
    engine = create_async_engine(template_database, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture()
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()


@pytest.fixture()
def clock() -> FrozenClock:
    """A clock that stands at FROZEN_AT until a test moves it."""
    return FrozenClock(FROZEN_AT)


# argon2 at its cheapest: the tests check what hashing decides, not how long it takes.
FAST_PASSWORDS = {"password_time_cost": 1, "password_memory_kib": 64, "password_parallelism": 1}


@pytest.fixture()
def settings(template_database: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test database, photos in the test's own folder.

    One sweep lane: the tests' transactions are savepoints of one connection, which two
    lanes cannot share (the worker tests run real processes with the default lanes).
    """
    return Settings(
        database_url=template_database, media_dir=tmp_path / "media", sla_sweep_lanes=1,
        **FAST_PASSWORDS,
    )  # fmt: skip


def app_on(db: AsyncConnection, settings: Settings, clock: FrozenClock) -> FastAPI:
    """The real application on the test's connection: its transactions are SAVEPOINTs on
    it, its autocommit connections the connection itself."""

    @asynccontextmanager
    async def savepoint() -> AsyncIterator[AsyncConnection]:
        async with db.begin_nested():
            yield db

    return create_app(
        settings=settings, clock=clock, connections=(savepoint, lambda: nullcontext(db))
    )


@pytest.fixture()
async def client(
    db: AsyncConnection, clock: FrozenClock, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The real application in-process, on the test's rolled-back connection; requests are
    signed in as their audience's role (tests/auth.py) unless they carry Authorization."""
    transport = httpx.ASGITransport(app=app_on(db, settings, clock))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", auth=StaffAuth(lambda: nullcontext(db))
    ) as test_client:
        yield test_client


async def count_complaints(db: AsyncConnection) -> int:
    """How many complaints the test's transaction sees."""
    return int((await db.execute(text("SELECT count(*) FROM complaint"))).scalar_one())
