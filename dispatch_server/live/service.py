"""Reading live events in commit order, where a stream starts, and purging old events.

A position is (transaction id, event id). Events are read in that order and only from
transactions older than the oldest one still running (`pg_snapshot_xmin`): an event id is
taken when the row is written but becomes visible when its transaction commits, so reading
by id alone could step past an event that commits a moment later. Below that horizon every
transaction has ended, so nothing can still appear behind a reader's position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.access import Scope, UnknownDistrict
from dispatch_server.errors import Invalid
from geo.districts import DISTRICT_BY_CODE

_POSITION = re.compile(r"(\d{1,20})-(\d{1,19})")


class InvalidStreamPosition(Invalid):
    """A Last-Event-ID this server could not have given out."""

    code = "invalid_last_event_id"


@dataclass(frozen=True, order=True)
class StreamPosition:
    """A place in the stream of live events: after this event of this transaction."""

    tx_id: int
    event_id: int

    def __str__(self) -> str:
        return f"{self.tx_id}-{self.event_id}"

    @classmethod
    def parse(cls, value: str) -> StreamPosition:
        """The position an event id (`<tx>-<event>`) names; InvalidStreamPosition if none."""
        match = _POSITION.fullmatch(value.strip())
        if match is None or int(match[1]) >= 2**64 or int(match[2]) >= 2**63:
            raise InvalidStreamPosition(
                f"{value[:60]!r} is not an event id of this stream (expected <tx>-<event>)",
                details={"last_event_id": value[:60]},
            )
        return cls(int(match[1]), int(match[2]))


@dataclass(frozen=True)
class Start:
    """Where a stream begins, and whether the reader must reload what it shows first."""

    position: StreamPosition
    # The position asked for is gone (purged) or not from this database: events may have
    # been missed, so the reader reloads its lists and follows on from `position`.
    reset: bool


@dataclass(frozen=True)
class LiveEvent:
    """One event as streams send it: its position, kind and JSON."""

    position: StreamPosition
    kind: str
    data: str


_START = text(
    "SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text,"
    " (SELECT tx_id::text FROM live_event_purge), (SELECT id FROM live_event_purge)"
    " FROM pg_current_snapshot() AS s"
)


async def start(
    connection: AsyncConnection, *, scope: Scope, after: StreamPosition | None
) -> Start:
    """Where a stream resumes: after `after` when it can, else at the current horizon.

    Without `after` the stream starts at the horizon; events already committed above it
    are delivered again, which readers that keep the newest version of a case ignore.
    UnknownDistrict when the scope names a district the city does not have.
    """
    for district in sorted(scope.districts or ()):
        found = await connection.execute(DISTRICT_BY_CODE, {"district_code": district})
        if found.first() is None:
            raise UnknownDistrict(
                f"no district has code {district!r}", details={"district": district}
            )
    xmin, xmax, purged_tx, purged_id = (await connection.execute(_START)).one()
    horizon = StreamPosition(int(xmin), 0)
    if after is None:
        return Start(horizon, reset=False)
    purged = StreamPosition(int(purged_tx), purged_id) if purged_tx is not None else None
    if after.tx_id >= int(xmax) or (purged is not None and after < purged):
        return Start(horizon, reset=True)
    return Start(after, reset=False)


@lru_cache(maxsize=4)
def _read_statement(districts: int | None, by_inspector: bool) -> TextClause:
    conditions = [
        "(tx_id, id) > (CAST(:tx_id AS xid8), :event_id)",
        "tx_id < pg_snapshot_xmin(pg_current_snapshot())",
    ]
    if districts == 1:
        # By equality, so that the (district, position) index also gives the order.
        conditions.append("district_code = (CAST(:districts AS text[]))[1]")
    elif districts is not None:
        conditions.append("district_code = ANY(CAST(:districts AS text[]))")
    if by_inspector:
        conditions.append("(inspector_id = :inspector_id OR previous_inspector_id = :inspector_id)")
    return text(
        "SELECT tx_id::text, id, kind, data::text FROM live_event WHERE "
        + " AND ".join(conditions)
        # Qualified: a bare `tx_id` here would name the text column selected above, and
        # "10" sorts before "9".
        + " ORDER BY live_event.tx_id, live_event.id LIMIT :limit"
    )


async def read(
    connection: AsyncConnection, *, scope: Scope, after: StreamPosition, limit: int = 500
) -> list[LiveEvent]:
    """The scope's events after `after`, oldest first, as far as they are final (a stream's
    scope is the caller's, narrowed to a district when one was asked for).

    Run it in autocommit (each read takes a fresh snapshot); inside a transaction that has
    written, nothing is ever below the horizon.
    """
    count = None if scope.districts is None else min(len(scope.districts), 2)
    statement = _read_statement(count, scope.inspector_id is not None)
    rows = await connection.execute(
        statement,
        {
            "tx_id": str(after.tx_id),
            "event_id": after.event_id,
            "districts": sorted(scope.districts) if scope.districts is not None else None,
            "inspector_id": scope.inspector_id,
            "limit": limit,
        },
    )
    return [
        LiveEvent(StreamPosition(int(tx_id), event_id), kind, data)
        for tx_id, event_id, kind, data in rows
    ]


_PURGE = text(
    "WITH gone AS ("
    "  DELETE FROM live_event WHERE recorded_at < now() - CAST(:age AS interval)"
    "  RETURNING tx_id, id),"
    " newest AS (SELECT tx_id, id FROM gone ORDER BY tx_id DESC, id DESC LIMIT 1),"
    " marked AS ("
    "  INSERT INTO live_event_purge (tx_id, id) SELECT tx_id, id FROM newest"
    "  ON CONFLICT (singleton) DO UPDATE SET tx_id = EXCLUDED.tx_id, id = EXCLUDED.id"
    "  WHERE (live_event_purge.tx_id, live_event_purge.id) < (EXCLUDED.tx_id, EXCLUDED.id))"
    " SELECT count(*) FROM gone"
)


async def purge(connection: AsyncConnection, *, older_than: timedelta) -> int:
    """Delete events recorded longer ago than `older_than`; how many went.

    The newest position deleted is kept: a reader resuming before it gets a reset.
    """
    return int((await connection.execute(_PURGE, {"age": older_than})).scalar_one())
