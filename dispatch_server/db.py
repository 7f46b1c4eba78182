"""The one SQLAlchemy metadata (for Alembic), the engines and the session factories.

The API runs on the async engine (psycopg's asyncio mode): its endpoints are `async`, so a
request never waits for a thread, and long-lived streams cost no thread either. The CLI,
boundary loading and migrations use the sync engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import MetaData, TextClause, create_engine
from sqlalchemy.dialects.postgresql import psycopg as _psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from dispatch_server.config import Settings, get_settings

# Stable constraint names, so migrations can name what they drop.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Something to `async with` for a connection.
AsyncConnectable = AbstractAsyncContextManager[AsyncConnection]


class Base(DeclarativeBase):
    """Base of every table of the product."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _pool_options(settings: Settings, **kwargs: object) -> dict[str, object]:
    options: dict[str, object] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
        "pool_recycle": 1800,
    }
    options.update(kwargs)
    return options


def make_engine(settings: Settings | None = None, **kwargs: object) -> Engine:
    """A sync engine for the settings' database (default: the process's settings)."""
    settings = settings or get_settings()
    return create_engine(settings.database_url, **_pool_options(settings, **kwargs))  # type: ignore[arg-type]


def make_async_engine(settings: Settings | None = None, **kwargs: object) -> AsyncEngine:
    """An async engine for the settings' database (default: the process's settings)."""
    settings = settings or get_settings()
    return create_async_engine(settings.database_url, **_pool_options(settings, **kwargs))


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine, created on first use."""
    return make_engine()


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    """The process-wide session factory."""
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


def autocommit_connections(engine: AsyncEngine) -> Callable[[], AsyncConnectable]:
    """Connections in autocommit: a lone statement is one round trip (no BEGIN, no COMMIT).

    For reads, and for writes done in one (atomic) statement. Never for writes of several
    statements that must land together: each statement commits on its own.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT").connect


def transactions(engine: AsyncEngine) -> Callable[[], AsyncConnectable]:
    """Connections inside a transaction, committed when the block ends without an error."""

    @asynccontextmanager
    async def transaction() -> AsyncIterator[AsyncConnection]:
        async with engine.begin() as connection:
            yield connection

    return transaction


_DIALECT = _psycopg.dialect()


class DriverStatement:
    """A text statement written once in the driver's own placeholders, for `driver_rows`."""

    def __init__(self, statement: TextClause) -> None:
        self.sql = str(statement.compile(dialect=_DIALECT))


async def driver_rows(
    connection: AsyncConnection, statement: DriverStatement, values: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """The rows of `statement`, run by psycopg itself on `connection` (in its transaction,
    or autocommit, as the connection is). For the busiest reads only: SQLAlchemy's
    execution layer costs a few hundred microseconds a statement, more than the work of a
    small one. Values go as they are (no SQLAlchemy type processing: plain values only)."""
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    async with driver.cursor() as cursor:
        await cursor.execute(statement.sql, values)
        return await cursor.fetchall()


def load_all_models() -> None:
    """Import every module that defines tables, so the metadata is complete."""
    import dispatch_server.accounts.models  # noqa: F401
    import dispatch_server.attachments.models  # noqa: F401
    import dispatch_server.complaints.models  # noqa: F401
    import dispatch_server.dispatch.models  # noqa: F401
    import dispatch_server.idempotency  # noqa: F401
    import dispatch_server.live.models  # noqa: F401
    import dispatch_server.open311.models  # noqa: F401
    import dispatch_server.privacy.models  # noqa: F401
    import geo.models  # noqa: F401
    import notifications.models  # noqa: F401
    import sla.models  # noqa: F401
