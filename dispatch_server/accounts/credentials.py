"""Roles, passwords and tokens: the pure parts of signing in (no database)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 10
# Hashing is deliberately slow: a longer "password" would only be a way to burn CPU.
MAX_PASSWORD = 200


class Role(StrEnum):
    """What an account may do; dispatchers and supervisors in their districts only."""

    AGENT = "agent"
    DISPATCHER = "dispatcher"
    INSPECTOR = "inspector"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


DISTRICT_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR})


@dataclass(frozen=True)
class Principal:
    """Who is calling, as every scoped query sees it."""

    user_id: int
    username: str
    role: Role
    districts: frozenset[str]
    inspector_id: int | None
    session_id: uuid.UUID
    # Console sessions (a cookie) only: the sha256 of the CSRF token writes must carry.
    csrf_digest: bytes | None = None


class TokenKind(StrEnum):
    """Access tokens go with each request; a refresh token only buys the next pair; a
    session token is a console's cookie (with a CSRF token for its writes)."""

    ACCESS = "access"
    REFRESH = "refresh"
    SESSION = "session"


# Prefixes make a leaked token recognisable to secret scanners and in logs.
_PREFIX = {TokenKind.ACCESS: "dfa_", TokenKind.REFRESH: "dfr_", TokenKind.SESSION: "dfs_"}
CSRF_PREFIX = "dfc_"


def new_csrf_token() -> str:
    """A console session's CSRF token: 256 random bits."""
    return CSRF_PREFIX + secrets.token_urlsafe(32)


def new_token(kind: TokenKind) -> str:
    """A fresh opaque token: 256 random bits."""
    return _PREFIX[kind] + secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"a password has at most {MAX_PASSWORD} characters"
    if not password.strip():
        return "a password cannot be only spaces"
    return None


class Passwords:
    """argon2id hashing with the deployment's cost parameters."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )

    def hash(self, password: str) -> str:
        """The PHC string to store (salt and parameters included)."""
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches; with no stored hash (an unknown user) the same work
        is done against a dummy, so the answer takes as long either way."""
        if len(password) > MAX_PASSWORD:
            return False
        try:
            return self._hasher.verify(stored or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """Whether the stored hash was made with other parameters than today's."""
        return self._hasher.check_needs_rehash(stored)

    @cached_property
    def _dummy(self) -> str:
        return self._hasher.hash(secrets.token_urlsafe(16))


def backoff(failures: int, *, free: int, cap: timedelta) -> timedelta:
    """How long to wait after `failures` failed sign-ins in a row: nothing for the first
    `free`, then 1 s, 2 s, 4 s, ... up to `cap`."""
    if failures <= free:
        return timedelta(0)
    return min(timedelta(seconds=2 ** min(failures - free - 1, 30)), cap)
