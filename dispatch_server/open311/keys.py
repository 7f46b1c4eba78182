"""Open311 API keys: made, listed, revoked, and checked (with the key's rate limit).

A key is 256 random bits shown once, when it is made; the database keeps its sha256 and
its first characters (to tell keys apart in a listing). Every request that carries a key
counts against the key's own limit per minute, shared by all server processes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server import ratelimit
from dispatch_server.db import DriverStatement, driver_rows
from dispatch_server.errors import Conflict, Forbidden, Invalid, NotFound
from dispatch_server.open311.models import ApiClient
from dispatch_server.text import clean_text

_client = ApiClient.__table__
PREFIX = "o311_"
MAX_KEY = 200


class InvalidApiKey(Forbidden):
    """The api_key is missing, unknown or revoked (Open311 answers 403)."""

    code = "invalid_api_key"


class ClientNameTaken(Conflict):
    """Another client application already has this name."""

    code = "client_name_taken"


class ClientNotFound(NotFound):
    """No client application has this name."""

    code = "client_not_found"


class InvalidClient(Invalid):
    """The name or the rate limit of a new client application is not acceptable."""

    code = "invalid_client"


@dataclass(frozen=True)
class Client:
    """A client application as listings and checked requests see it."""

    id: int
    name: str
    key_prefix: str
    requests_per_minute: int
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewKey:
    """A client just made, and its key (the only time anyone sees it)."""

    client: Client
    key: str


def key_digest(key: str) -> bytes:
    """What the database keeps of a key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


_COLUMNS = (
    _client.c.id, _client.c.name, _client.c.key_prefix, _client.c.requests_per_minute,
    _client.c.created_at, _client.c.revoked_at,
)  # fmt: skip


async def create(
    connection: AsyncConnection, *, name: str, requests_per_minute: int, now: datetime
) -> NewKey:
    """A new client application with a fresh key; the caller commits."""
    name = clean_text(name)
    if not 1 <= len(name) <= 100:
        raise InvalidClient("a client's name has 1 to 100 characters", details={"name": name})
    if not 1 <= requests_per_minute <= 1_000_000:
        raise InvalidClient("the rate limit is 1 to 1,000,000 requests a minute")
    key = PREFIX + secrets.token_urlsafe(32)
    try:
        async with connection.begin_nested():
            row = (await connection.execute(
                insert(_client)
                .values(
                    name=name, key_prefix=key[:12], key_hash=key_digest(key),
                    requests_per_minute=requests_per_minute, created_at=now,
                )
                .returning(*_COLUMNS)
            )).one()  # fmt: skip
    except IntegrityError as exc:
        raise ClientNameTaken(f"a client named {name!r} exists already") from exc
    return NewKey(client=Client(*row), key=key)


async def listing(connection: AsyncConnection) -> list[Client]:
    """Every client application, oldest first."""
    rows = await connection.execute(select(*_COLUMNS).order_by(_client.c.id))
    return [Client(*row) for row in rows]


async def revoke(connection: AsyncConnection, *, name: str, now: datetime) -> Client:
    """Stop the client's key working at once (a revoked key stays revoked)."""
    result = await connection.execute(
        update(_client)
        .where(func.lower(_client.c.name) == name.strip().lower())
        .values(revoked_at=func.coalesce(_client.c.revoked_at, now))
        .returning(*_COLUMNS)
    )
    row = result.first()
    if row is None:
        raise ClientNotFound(f"no client application is named {name!r}")
    return Client(*row)


# The key's client and its request counted, in one statement (one round trip per request).
_AUTHENTICATE = DriverStatement(
    text(
        """
    WITH k AS (
        SELECT id, name, key_prefix, requests_per_minute, created_at, revoked_at
        FROM api_client WHERE key_hash = :digest AND revoked_at IS NULL
    ), hit AS (
        INSERT INTO rate_limit_window (key, window_start, hits)
        SELECT 'api_client:' || k.id, :window, 1 FROM k
        ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_window.hits + 1
        RETURNING hits
    )
    SELECT k.*, (SELECT hits FROM hit) AS current,
           coalesce((SELECT w.hits FROM rate_limit_window w
                     WHERE w.key = 'api_client:' || k.id AND w.window_start = :previous), 0)
               AS previous
    FROM k
    """
    )
)


async def authenticate(connection: AsyncConnection, *, key: str | None, now: datetime) -> Client:
    """The client a request's api_key belongs to, its request counted against the key's
    limit: InvalidApiKey (403) or RateLimited (429)."""
    if not key or len(key) > MAX_KEY:
        raise InvalidApiKey("an api_key is required: ask the city for one")
    start = ratelimit.window_start(now)
    rows = await driver_rows(
        connection, _AUTHENTICATE,
        {"digest": key_digest(key), "window": start, "previous": start - ratelimit.WINDOW},
    )  # fmt: skip
    if not rows:
        raise InvalidApiKey("the api_key is not valid (unknown or revoked)")
    *columns, current, previous = rows[0]
    client = Client(*columns)
    elapsed = (now - start).total_seconds()
    ratelimit.enforce(ratelimit.judge(current, previous, elapsed, client.requests_per_minute))
    return client
