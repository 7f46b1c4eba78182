"""Idempotency-Key: a request sent twice (a flaky connection, an offline outbox) acts once.

The key is claimed, the action done and its answer stored in the caller's one transaction:
if the action fails, the claim goes with it and a retry acts afresh; if it succeeds, every
replay gets the first answer and changes nothing. A concurrent duplicate waits on the key's
row until the first commits, then replays. Only successful answers are stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Index, LargeBinary, SmallInteger, String, bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, mapped_column

from dispatch_server.db import Base
from dispatch_server.errors import Invalid

KEY_PATTERN = r"^[\x21-\x7e]{1,128}$"  # printable ASCII, no spaces


class IdempotencyKeyReused(Invalid):
    """The key was already used for a different request."""

    code = "idempotency_key_reused"


class IdempotencyKey(Base):
    """The first answer given to a key, within its scope."""

    __tablename__ = "idempotency_key"

    scope: Mapped[str] = mapped_column(String(300), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    answer: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_idempotency_key_created", "created_at"),)


_table = IdempotencyKey.__table__
_CLAIM = (
    insert(_table)
    .values(
        scope=bindparam("in_scope"),
        key=bindparam("in_key"),
        fingerprint=bindparam("fingerprint"),
        created_at=bindparam("now"),
    )
    .on_conflict_do_nothing(index_elements=["scope", "key"])
    .returning(_table.c.key)
)
_THIS_KEY = (
    _table.c.scope == bindparam("in_scope"),
    _table.c.key == bindparam("in_key"),
)
_STORED = select(_table.c.fingerprint, _table.c.status_code, _table.c.answer).where(*_THIS_KEY)
_REMEMBER = (
    _table.update()
    .where(*_THIS_KEY)
    .values(status_code=bindparam("new_status_code"), answer=bindparam("new_answer"))
)


@dataclass(frozen=True)
class Replay:
    """The answer first given to this key."""

    status_code: int
    answer: bytes


def key_scope(path: str, actor: str) -> str:
    """Where a key counts: one endpoint and one caller. A key (or its stored answer) is
    never another caller's: a replay must not show a case outside the replayer's scope."""
    return f"POST {path} {actor}"


def fingerprint(scope: str, body: bytes) -> str:
    """What identifies a request: its scope and its (validated, re-serialised) body."""
    return hashlib.sha256(scope.encode() + b"\0" + body).hexdigest()


async def claim(
    connection: AsyncConnection, *, scope: str, key: str, request_fingerprint: str, now: datetime
) -> Replay | None:
    """None when this request is the key's first (it is now claimed); else the first answer."""
    params = {"in_scope": scope, "in_key": key}
    claimed = await connection.execute(
        _CLAIM, params | {"fingerprint": request_fingerprint, "now": now}
    )
    if claimed.first() is not None:
        return None
    stored = (await connection.execute(_STORED, params)).one()
    if stored.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used for a different request",
            details={"idempotency_key": key},
        )
    assert stored.status_code is not None and stored.answer is not None
    return Replay(stored.status_code, bytes(stored.answer))


async def remember(
    connection: AsyncConnection, *, scope: str, key: str, status_code: int, answer: bytes
) -> None:
    """Store the answer to a claimed key (in the same transaction as the action)."""
    await connection.execute(
        _REMEMBER,
        {"in_scope": scope, "in_key": key, "new_status_code": status_code, "new_answer": answer},
    )


async def once(
    connection: AsyncConnection,
    *,
    scope: str,
    key: str | None,
    request_body: bytes,
    now: datetime,
    action: Callable[[], Awaitable[bytes]],
) -> Replay:
    """Run `action` (which returns the JSON answer) unless `key` was already answered.

    Without a key the action simply runs. The caller's connection must be in a transaction.
    """
    if key is not None:
        replay = await claim(
            connection,
            scope=scope,
            key=key,
            request_fingerprint=fingerprint(scope, request_body),
            now=now,
        )
        if replay is not None:
            return replay
    answer = await action()
    if key is not None:
        await remember(connection, scope=scope, key=key, status_code=200, answer=answer)
    return Replay(200, answer)


_PURGE = _table.delete().where(_table.c.created_at < bindparam("before"))


async def purge(connection: AsyncConnection, *, before: datetime) -> int:
    """Forget the keys claimed before `before`; how many went (a resend after that acts)."""
    result = await connection.execute(_PURGE, {"before": before})
    return result.rowcount
