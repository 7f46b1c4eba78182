"""Creating, dropping and migrating the database (the `dasan db` commands and the tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from dispatch_server.config import PROJECT_ROOT

if TYPE_CHECKING:
    from alembic.config import Config

EXTENSIONS = ("postgis", "pg_trgm")


def _maintenance_url(url: URL) -> URL:
    return url.set(database="postgres")


def database_exists(url: str) -> bool:
    """Whether the database named by the URL exists on its server."""
    target = make_url(url)
    engine = create_engine(_maintenance_url(target), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            ).first()
            return found is not None
    finally:
        engine.dispose()


def create_database(url: str) -> bool:
    """Create the database named by the URL, with its extensions; False when it was there."""
    target = make_url(url)
    created = False
    if not database_exists(url):
        engine = create_engine(
            _maintenance_url(target), poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        try:
            with engine.connect() as connection:
                name = connection.dialect.identifier_preparer.quote(target.database or "")
                connection.execute(
                    text(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
                )
                created = True
        finally:
            engine.dispose()
    engine = create_engine(target, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for extension in EXTENSIONS:
                connection.execute(text(f"CREATE EXTENSION IF NOT EXISTS {extension}"))
    finally:
        engine.dispose()
    return created


def copy_database(template_url: str, url: str) -> None:
    """A new database named by `url`, a copy of the template's (nobody may be connected to
    the template meanwhile: PostgreSQL's rule); an old one of the name is dropped first."""
    drop_database(url)
    target, template = make_url(url), make_url(template_url)
    engine = create_engine(
        _maintenance_url(target), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as connection:
            quote = connection.dialect.identifier_preparer.quote
            connection.execute(
                text(
                    f"CREATE DATABASE {quote(target.database or '')}"
                    f" TEMPLATE {quote(template.database or '')}"
                )
            )
    finally:
        engine.dispose()


def drop_database(url: str) -> None:
    """Drop the database named by the URL (ending its sessions first)."""
    target = make_url(url)
    engine = create_engine(
        _maintenance_url(target), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as connection:
            name = connection.dialect.identifier_preparer.quote(target.database or "")
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        engine.dispose()


def alembic_config(url: str) -> Config:
    """Alembic's configuration for the product's migrations on the given database."""
    # Alembic is imported where it is used: it costs half a second on every `dasan` command.
    from alembic.config import Config

    config = Config(toml_file=str(PROJECT_ROOT / "pyproject.toml"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the migrations up to `revision`."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Undo the migrations down to `revision` ("base" undoes all)."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest migration's revision."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The revision the database is at (None before the first migration)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            exists = connection.execute(text("SELECT to_regclass('alembic_version')")).scalar()
            if exists is None:
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
