"""Signing in, tokens and throttling, on the database (async, for the API)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
from sqlalchemy import bindparam, case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.accounts.credentials import (
    Passwords,
    Principal,
    Role,
    TokenKind,
    backoff,
    new_csrf_token,
    new_token,
    token_digest,
)
from dispatch_server.accounts.models import AuthToken, SigninThrottle, UserAccount
from dispatch_server.config import Settings
from dispatch_server.db import AsyncConnectable
from dispatch_server.errors import TooManyRequests, Unauthenticated

_user = UserAccount.__table__
_token = AuthToken.__table__
_throttle = SigninThrottle.__table__

# One message for an unknown user, a wrong password and a disabled account alike.
WRONG = "wrong username or password"


def passwords_of(settings: Settings) -> Passwords:
    """The deployment's password hasher."""
    return Passwords(
        time_cost=settings.password_time_cost,
        memory_kib=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
    )


@dataclass(frozen=True)
class Issued:
    """A new pair of tokens, as the client gets them (the only time they are seen)."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


def throttle_keys(username: str, address: str) -> list[str]:
    """The counters a sign-in attempt is charged to."""
    return [f"account:{username.strip().lower()}", f"address:{address}"]


_BY_USERNAME = select(_user.c.id, _user.c.password_hash, _user.c.active).where(
    func.lower(_user.c.username) == func.lower(bindparam("username"))
)
_BLOCKED = select(func.max(_throttle.c.blocked_until)).where(
    _throttle.c.key.in_(bindparam("keys", expanding=True)),
    _throttle.c.blocked_until > bindparam("now"),
)


async def _wait_left(connection: AsyncConnection, keys: list[str], now: datetime) -> int:
    until = (await connection.execute(_BLOCKED, {"keys": keys, "now": now})).scalar_one()
    return 0 if until is None else max(1, math.ceil((until - now).total_seconds()))


async def _charge_failure(
    connection: AsyncConnection, key: str, *, free: int, settings: Settings, now: datetime
) -> None:
    window = timedelta(minutes=settings.signin_window_minutes)
    fresh = _throttle.c.last_failure_at > now - window
    failures = (
        await connection.execute(
            pg_insert(_throttle)
            .values(key=key, failures=1, last_failure_at=now)
            .on_conflict_do_update(
                index_elements=[_throttle.c.key],
                set_={
                    # The existing row's count goes on after a recent failure, and starts
                    # again after a quiet spell.
                    "failures": case((fresh, _throttle.c.failures + 1), else_=1),
                    "last_failure_at": now,
                },
            )
            .returning(_throttle.c.failures)
        )
    ).scalar_one()
    wait = backoff(failures, free=free, cap=timedelta(seconds=settings.signin_max_wait_seconds))
    if wait:
        await connection.execute(
            update(_throttle).where(_throttle.c.key == key).values(blocked_until=now + wait)
        )


async def _issue(
    connection: AsyncConnection,
    *,
    user_id: int,
    session_id: uuid.UUID,
    settings: Settings,
    now: datetime,
) -> Issued:
    access, refresh = new_token(TokenKind.ACCESS), new_token(TokenKind.REFRESH)
    access_life = timedelta(minutes=settings.access_token_minutes)
    refresh_life = timedelta(days=settings.refresh_token_days)
    await connection.execute(
        insert(_token),
        [
            {"user_id": user_id, "session_id": session_id, "kind": str(kind),
             "token_hash": token_digest(token), "created_at": now, "expires_at": now + life}
            for kind, token, life in (
                (TokenKind.ACCESS, access, access_life),
                (TokenKind.REFRESH, refresh, refresh_life),
            )
        ],
    )  # fmt: skip
    return Issued(
        access_token=access,
        expires_in=int(access_life.total_seconds()),
        refresh_token=refresh,
        refresh_expires_in=int(refresh_life.total_seconds()),
    )


async def check_password(
    connect: Callable[[], AsyncConnectable],
    *,
    username: str,
    password: str,
    address: str,
    passwords: Passwords,
    settings: Settings,
    now: datetime,
) -> int:
    """The account id for a right username and password; a failure is counted against the
    account and the address (and committed: `connect` gives autocommit connections)."""
    keys = throttle_keys(username, address)
    async with connect() as connection:
        wait = await _wait_left(connection, keys, now)
        if wait:
            raise TooManyRequests(
                f"too many failed sign-ins: try again in {wait} s",
                retry_after=wait,
                code="signin_throttled",
            )
        row = (await connection.execute(_BY_USERNAME, {"username": username.strip()})).first()
    # The hash is checked on a worker thread and holding no connection (it takes a good part
    # of a second by design), against a dummy when there is no such user: the same time
    # either way.
    stored = row.password_hash if row is not None else None
    matches = await anyio.to_thread.run_sync(passwords.verify, stored, password)
    if row is None or not matches or not row.active:
        free = (settings.signin_free_failures_account, settings.signin_free_failures_address)
        async with connect() as connection:
            for key, free_failures in zip(keys, free, strict=True):
                await _charge_failure(
                    connection, key, free=free_failures, settings=settings, now=now
                )
        raise Unauthenticated(WRONG, code="invalid_credentials")
    rehashed = None
    if passwords.needs_rehash(row.password_hash):
        rehashed = await anyio.to_thread.run_sync(passwords.hash, password)
    async with connect() as connection:
        await connection.execute(delete(_throttle).where(_throttle.c.key == keys[0]))
        if rehashed is not None:
            await connection.execute(
                update(_user).where(_user.c.id == row.id).values(password_hash=rehashed)
            )
    return int(row.id)


async def issue_tokens(
    connect: Callable[[], AsyncConnectable], *, user_id: int, settings: Settings, now: datetime
) -> Issued:
    """An access and a refresh token for an account whose password was checked."""
    async with connect() as connection:
        return await _issue(
            connection, user_id=user_id, session_id=uuid.uuid4(), settings=settings, now=now
        )


@dataclass(frozen=True)
class ConsoleSession:
    """A console's sign-in: the cookie's token and the CSRF token its writes must carry."""

    session_token: str
    csrf_token: str
    expires_in: int
    principal: Principal


async def open_console_session(
    connect: Callable[[], AsyncConnectable], *, user_id: int, settings: Settings, now: datetime
) -> ConsoleSession:
    """A session token (for an HttpOnly cookie) and its CSRF token, for an account whose
    password was checked."""
    token, csrf = new_token(TokenKind.SESSION), new_csrf_token()
    life = timedelta(hours=settings.console_session_hours)
    async with connect() as connection:
        await connection.execute(
            insert(_token).values(
                user_id=user_id, session_id=uuid.uuid4(), kind=str(TokenKind.SESSION),
                token_hash=token_digest(token), csrf_hash=token_digest(csrf), created_at=now,
                expires_at=now + life,
            )
        )  # fmt: skip
        principal = await principal_of(connection, token=token, now=now, kind=TokenKind.SESSION)
    return ConsoleSession(
        session_token=token, csrf_token=csrf, expires_in=int(life.total_seconds()),
        principal=principal,
    )  # fmt: skip


_PRINCIPAL = (
    select(
        _user.c.id, _user.c.username, _user.c.role, _user.c.districts, _user.c.inspector_id,
        _token.c.session_id, _token.c.csrf_hash,
    )
    .join(_user, _user.c.id == _token.c.user_id)
    .where(
        _token.c.token_hash == bindparam("digest"),
        _token.c.kind == bindparam("kind"),
        _token.c.revoked_at.is_(None),
        _token.c.expires_at > bindparam("now"),
        _user.c.active,
    )
)  # fmt: skip


async def principal_of(
    connection: AsyncConnection,
    *,
    token: str,
    now: datetime,
    kind: TokenKind = TokenKind.ACCESS,
) -> Principal:
    """Who holds this access token, or this console session's (401 when it is unknown,
    expired, revoked, or its account is disabled)."""
    row = (
        await connection.execute(
            _PRINCIPAL, {"digest": token_digest(token), "now": now, "kind": str(kind)}
        )
    ).first()
    if row is None:
        what = "access token" if kind is TokenKind.ACCESS else "console session"
        raise Unauthenticated(f"the {what} is not valid (expired or signed out?)",
                              code="invalid_token")  # fmt: skip
    return Principal(
        user_id=row.id,
        username=row.username,
        role=Role(row.role),
        districts=frozenset(row.districts),
        inspector_id=row.inspector_id,
        session_id=row.session_id,
        csrf_digest=row.csrf_hash,
    )


async def _revoke_session(
    connection: AsyncConnection, session_id: uuid.UUID, now: datetime
) -> None:
    await connection.execute(
        update(_token)
        .where(_token.c.session_id == session_id, _token.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


_REFRESH = (
    select(_token.c.id, _token.c.user_id, _token.c.session_id, _token.c.revoked_at,
           _token.c.expires_at, _user.c.active)
    .join(_user, _user.c.id == _token.c.user_id)
    .where(_token.c.token_hash == bindparam("digest"),
           _token.c.kind == str(TokenKind.REFRESH))
    .with_for_update(of=_token)
)  # fmt: skip


async def refresh(
    connect: AsyncConnectable, *, refresh_token: str, settings: Settings, now: datetime
) -> Issued:
    """A new pair for a valid refresh token, which is spent. A spent one coming back means
    it was copied: the whole sign-in is revoked (committed before the 401)."""
    reused = False
    issued = None
    async with connect as connection:
        row = (await connection.execute(_REFRESH, {"digest": token_digest(refresh_token)})).first()
        if row is not None and row.revoked_at is not None:
            await _revoke_session(connection, row.session_id, now)
            reused = True
        elif row is not None and row.expires_at > now and row.active:
            await connection.execute(
                update(_token).where(_token.c.id == row.id).values(revoked_at=now)
            )
            issued = await _issue(
                connection, user_id=row.user_id, session_id=row.session_id,
                settings=settings, now=now,
            )  # fmt: skip
    if issued is None:
        raise Unauthenticated(
            "the refresh token was already used: every token of that sign-in is revoked"
            if reused
            else "the refresh token is not valid (expired or signed out?)",
            code="invalid_token",
        )
    return issued


async def sign_out(connection: AsyncConnection, *, principal: Principal, now: datetime) -> None:
    """Revoke every token of the caller's sign-in."""
    await _revoke_session(connection, principal.session_id, now)


async def purge(
    connection: AsyncConnection, *, settings: Settings, now: datetime
) -> tuple[int, int]:
    """Delete tokens a day past their expiry (kept that long so a late request still gets
    a clear 401 reason in the logs) and sign-in counts past their window; (tokens, counts)."""
    tokens = await connection.execute(
        delete(_token).where(_token.c.expires_at < now - timedelta(days=1))
    )
    window = timedelta(minutes=settings.signin_window_minutes)
    throttles = await connection.execute(
        delete(_throttle).where(
            _throttle.c.last_failure_at < now - window,
            func.coalesce(_throttle.c.blocked_until, _throttle.c.last_failure_at) < now,
        )
    )
    return tokens.rowcount, throttles.rowcount
