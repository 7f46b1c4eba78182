"""Managing accounts: create, disable, reset a password, list; the demo users."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.accounts.credentials import DISTRICT_ROLES, Passwords, Role
from dispatch_server.accounts.models import AuthToken, UserAccount
from dispatch_server.dispatch.models import Inspector, Team
from dispatch_server.errors import Conflict, Invalid, NotFound
from geo.models import District

_user = UserAccount.__table__
_token = AuthToken.__table__
_district = District.__table__
_inspector = Inspector.__table__
_team = Team.__table__

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Account:
    """An account as administrators list it (never its hash)."""

    id: int
    username: str
    display_name: str
    role: Role
    districts: list[str]
    inspector_id: int | None
    active: bool


class UnknownUser(NotFound):
    """No account has that username."""

    code = "unknown_user"


def _named(username: str) -> ColumnElement[bool]:
    return func.lower(_user.c.username) == func.lower(username)


_COLUMNS = (
    _user.c.id, _user.c.username, _user.c.display_name, _user.c.role, _user.c.districts,
    _user.c.inspector_id, _user.c.active,
)  # fmt: skip


def _account(row: object) -> Account:
    mapping = dict(row._mapping)  # type: ignore[attr-defined]
    mapping["role"] = Role(mapping["role"])
    return Account(**mapping)


async def _check_scope(
    connection: AsyncConnection, role: Role, districts: list[str], inspector_id: int | None
) -> None:
    if role in DISTRICT_ROLES:
        if not districts:
            raise Invalid(f"a {role} account needs at least one district")
        known = set(
            (
                await connection.execute(
                    select(_district.c.code).where(_district.c.code.in_(districts))
                )
            ).scalars()
        )
        if unknown := sorted(set(districts) - known):
            raise Invalid(f"unknown districts: {', '.join(unknown)}", code="unknown_district")
    elif districts:
        raise Invalid(f"a {role} account is not scoped to districts")
    if (role is Role.INSPECTOR) != (inspector_id is not None):
        raise Invalid("an inspector account needs an inspector id, and only it has one")
    if inspector_id is not None:
        found = await connection.execute(
            select(_inspector.c.id).where(_inspector.c.id == inspector_id)
        )
        if found.first() is None:
            raise Invalid(f"no inspector has id {inspector_id}", code="unknown_inspector")


async def create_user(
    connection: AsyncConnection,
    *,
    username: str,
    role: Role,
    password_hash: str,
    now: datetime,
    display_name: str | None = None,
    districts: list[str] | None = None,
    inspector_id: int | None = None,
) -> Account:
    """A new active account (422 for a bad name or scope, 409 when the name is taken)."""
    if not USERNAME.match(username):
        raise Invalid("a username is 1-64 letters, digits, '.', '_' or '-', starting with a "
                      "letter or digit", code="invalid_username")  # fmt: skip
    districts = sorted(set(districts or []))
    await _check_scope(connection, role, districts, inspector_id)
    try:
        async with connection.begin_nested():
            row = (
                await connection.execute(
                    insert(_user)
                    .values(
                        username=username, display_name=display_name or username,
                        role=str(role), districts=districts, inspector_id=inspector_id,
                        password_hash=password_hash, active=True, created_at=now,
                        password_changed_at=now,
                    )
                    .returning(*_COLUMNS)
                )
            ).one()  # fmt: skip
    except IntegrityError as exc:
        raise Conflict(
            f"the username {username!r} or the inspector is taken", code="account_exists"
        ) from exc
    return _account(row)


async def _revoke_all(connection: AsyncConnection, user_id: int, now: datetime) -> None:
    await connection.execute(
        update(_token)
        .where(_token.c.user_id == user_id, _token.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def _update(connection: AsyncConnection, username: str, **values: object) -> Account:
    row = (
        await connection.execute(
            update(_user).where(_named(username)).values(**values).returning(*_COLUMNS)
        )
    ).first()
    if row is None:
        raise UnknownUser(f"no account is called {username!r}")
    return _account(row)


async def set_active(
    connection: AsyncConnection, *, username: str, active: bool, now: datetime
) -> Account:
    """Enable or disable an account; disabling also ends every sign-in at once."""
    account = await _update(connection, username, active=active)
    if not active:
        await _revoke_all(connection, account.id, now)
    return account


async def set_password(
    connection: AsyncConnection, *, username: str, password_hash: str, now: datetime
) -> Account:
    """A new password; every existing sign-in of the account ends."""
    account = await _update(
        connection, username, password_hash=password_hash, password_changed_at=now
    )
    await _revoke_all(connection, account.id, now)
    return account


async def list_users(connection: AsyncConnection) -> list[Account]:
    """Every account, by username."""
    rows = await connection.execute(select(*_COLUMNS).order_by(func.lower(_user.c.username)))
    return [_account(row) for row in rows]


# The demo's accounts: one per role, scoped to Jongno-gu where a scope is needed.
DEMO_DISTRICT = "11110"
DEMO_USERS: tuple[tuple[str, Role], ...] = (
    ("agent1", Role.AGENT),
    (f"dispatcher-{DEMO_DISTRICT}", Role.DISPATCHER),
    (f"inspector-{DEMO_DISTRICT}-1", Role.INSPECTOR),
    ("supervisor1", Role.SUPERVISOR),
    ("admin", Role.ADMIN),
)


async def ensure_demo_users(
    connection: AsyncConnection, *, passwords: Passwords, password: str, now: datetime
) -> list[str]:
    """The demo accounts that were missing, created (an existing one is left as it is)."""
    existing = {a.username for a in await list_users(connection)}
    missing = [(name, role) for name, role in DEMO_USERS if name not in existing]
    if not missing:
        return []
    hashed = passwords.hash(password)
    linked = select(_user.c.inspector_id).where(_user.c.inspector_id.is_not(None))
    first_inspector = (
        await connection.execute(
            select(_inspector.c.id)
            .join(_team, _team.c.id == _inspector.c.team_id)
            .where(_team.c.district_code == DEMO_DISTRICT, _inspector.c.id.not_in(linked))
            .order_by(_inspector.c.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    created = []
    for name, role in missing:
        if role is Role.INSPECTOR and first_inspector is None:
            continue  # no demo inspector to sign in as
        await create_user(
            connection, username=name, role=role, password_hash=hashed, now=now,
            districts=[DEMO_DISTRICT] if role in DISTRICT_ROLES else None,
            inspector_id=first_inspector if role is Role.INSPECTOR else None,
        )  # fmt: skip
        created.append(name)
    return created
