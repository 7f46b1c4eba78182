"""The one SQLAlchemy metadata (for Alembic), the engine and the session factory."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from dispatch_server.config import get_settings

# Stable constraint names, so migrations can name what they drop.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every table of the product."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str | None = None, **kwargs: object) -> Engine:
    """An engine for the given URL (default: the configured database)."""
    settings = get_settings()
    options: dict[str, object] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_recycle": 1800,
    }
    options.update(kwargs)
    return create_engine(url or settings.database_url, **options)  # type: ignore[arg-type]


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine, created on first use."""
    return make_engine()


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    """The process-wide session factory."""
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@lru_cache
def get_read_sessionmaker() -> sessionmaker[Session]:
    """Sessions for requests that only read: autocommit, so a lone SELECT is one round trip.

    Never use these for writes that must land together: each statement commits on its own.
    """
    return sessionmaker(
        bind=get_engine().execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )


def session_scope() -> Iterator[Session]:
    """A session for one unit of work (a request, a CLI command); closed afterwards."""
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


def load_all_models() -> None:
    """Import every module that defines tables, so the metadata is complete."""
    import dispatch_server.complaints.models  # noqa: F401
    import geo.models  # noqa: F401
