"""Signed-in callers for tests: accounts and access tokens written straight to the database.

The tests of sign-in itself (tests/test_auth.py) go through the password and the token
endpoint; every other test needs a caller of some role and gets one here, without paying
for argon2. Tokens made here live for a century: tests move their clock by days, or years.

`StaffAuth` is the in-process client's default: it signs each request in as the role its
audience expects (the intake API as an agent, the dispatch, admin and stats APIs as an
admin, the field API as the inspector named in the test-only `X-Test-As-Inspector`
header). A request that already carries `Authorization` is sent as it is. What each role may
do is tested in tests/test_permissions.py, not here.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import httpx2 as httpx
from sqlalchemy import Connection, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.accounts.credentials import Role, TokenKind, new_token, token_digest
from dispatch_server.accounts.models import AuthToken, UserAccount
from dispatch_server.dispatch.models import Inspector

AS_INSPECTOR = "X-Test-As-Inspector"
_user = UserAccount.__table__
_token = AuthToken.__table__
_numbers = itertools.count(1)
# No password signs in to these accounts: the hash is not one argon2 ever matches.
_NO_PASSWORD = "$argon2id$v=19$m=64,t=1,p=1$bm9wYXNzd29yZA$bm9wYXNzd29yZA"
_LIFE = timedelta(days=365 * 100)


def _rows(
    role: Role, districts: list[str] | None, inspector_id: int | None, username: str | None
) -> tuple[dict[str, Any], str]:
    from tests.conftest import FROZEN_AT

    name = username or f"test-{role}-{next(_numbers)}-{uuid.uuid4().hex[:6]}"
    user = {
        "username": name, "display_name": name, "role": str(role),
        "districts": sorted(districts or []), "inspector_id": inspector_id,
        "password_hash": _NO_PASSWORD, "active": True, "created_at": FROZEN_AT,
        "password_changed_at": FROZEN_AT,
    }  # fmt: skip
    return user, new_token(TokenKind.ACCESS)


def _token_row(user_id: int, token: str) -> dict[str, Any]:
    from tests.conftest import FROZEN_AT

    return {
        "user_id": user_id, "session_id": uuid.uuid4(), "kind": str(TokenKind.ACCESS),
        "token_hash": token_digest(token), "created_at": FROZEN_AT,
        "expires_at": FROZEN_AT + _LIFE,
    }  # fmt: skip


async def token_for(
    connection: AsyncConnection,
    role: Role,
    *,
    districts: list[str] | None = None,
    inspector_id: int | None = None,
    username: str | None = None,
) -> str:
    """A new account of `role` (in the test's transaction) and an access token of it."""
    user, token = _rows(role, districts, inspector_id, username)
    user_id = (await connection.execute(insert(_user).values(user).returning(_user.c.id))).scalar()
    assert user_id is not None
    await connection.execute(insert(_token).values(_token_row(user_id, token)))
    return token


def committed_token_for(
    connection: Connection,
    role: Role,
    *,
    districts: list[str] | None = None,
    inspector_id: int | None = None,
) -> str:
    """The same on a synchronous connection (for a database a server process reads); the
    caller commits."""
    user, token = _rows(role, districts, inspector_id, None)
    user_id = connection.execute(insert(_user).values(user).returning(_user.c.id)).scalar()
    assert user_id is not None
    connection.execute(insert(_token).values(_token_row(user_id, token)))
    return token


@functools.cache
def committed_headers(
    database_url: str, role: Role, districts: tuple[str, ...] = ()
) -> dict[str, str]:
    """Headers of a caller of `role` on a database a server process reads (made once per
    database and role, committed)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(database_url, poolclass=NullPool)
    with engine.begin() as connection:
        token = committed_token_for(connection, role, districts=list(districts))
    engine.dispose()
    return bearer(token)


def jongno_dispatcher(database_url: str) -> dict[str, str]:
    """Headers of a dispatcher of Jongno-gu on a server's database."""
    return committed_headers(database_url, Role.DISPATCHER, ("11110",))


def city_agent(database_url: str) -> dict[str, str]:
    """Headers of a call-centre agent (every district) on a server's database."""
    return committed_headers(database_url, Role.AGENT)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def as_inspector(inspector_id: int) -> dict[str, str]:
    """Headers that make StaffAuth sign the request in as this inspector."""
    return {AS_INSPECTOR: str(inspector_id)}


# Which role the in-process client signs in as, by the path's start (first match).
_DEFAULT_ROLE = (
    ("/api/v1/complaints", Role.AGENT),
    ("/api/v1/geocode", Role.AGENT),
    ("/api/v1/reverse-geocode", Role.AGENT),
    ("/api/v1/districts", Role.AGENT),
    ("/api/v1/dispatch", Role.ADMIN),
    ("/api/v1/admin", Role.ADMIN),
    ("/api/v1/stats", Role.ADMIN),
)


class StaffAuth(httpx.Auth):
    """Signs requests in as the role their audience expects (see the module's text)."""

    def __init__(self, connect: Callable[[], AbstractAsyncContextManager[AsyncConnection]]) -> None:
        # The test's own connection, or one that commits (for an app on a committed copy).
        self.connect = connect
        self.tokens: dict[object, str] = {}

    async def _token(self, key: object, role: Role, inspector_id: int | None = None) -> str:
        if key not in self.tokens:
            async with self.connect() as connection:
                self.tokens[key] = await token_for(connection, role, inspector_id=inspector_id)
        return self.tokens[key]

    async def async_auth_flow(self, request: httpx.Request) -> AsyncIterator[httpx.Request]:  # type: ignore[override]
        inspector = request.headers.pop(AS_INSPECTOR, None)
        if "authorization" not in request.headers:
            path = request.url.path
            token = None
            if inspector is not None:
                async with self.connect() as connection:
                    exists = await connection.execute(
                        select(Inspector.id).where(Inspector.id == int(inspector))
                    )
                    known = exists.first() is not None
                if known:
                    token = await self._token(("inspector", inspector), Role.INSPECTOR,
                                              int(inspector))  # fmt: skip
                else:  # an inspector that does not exist cannot sign in
                    token = "dfa_no-such-inspector"
            else:
                for prefix, role in _DEFAULT_ROLE:
                    if path.startswith(prefix):
                        token = await self._token(role, role)
                        break
            if token is not None:
                request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request]:
        raise NotImplementedError("the in-process client is async")
