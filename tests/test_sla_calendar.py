"""Business-calendar arithmetic (sla_add, sla_between) on the real database.

Seoul's office calendar is the demo seed's: Mon-Fri 09:00-18:00 KST, Korean public holidays
(from the `holidays` package) off. New York's exercises a zone with daylight saving time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

pytestmark = pytest.mark.anyio

H = timedelta(hours=1)
MIN = timedelta(minutes=1)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def add(db: AsyncConnection, calendar: str, start: str, amount: timedelta) -> datetime:
    row = await db.execute(
        text("SELECT sla_add(:c, :s, :a)"), {"c": calendar, "s": at(start), "a": amount}
    )
    return row.scalar_one()  # type: ignore[no-any-return]


async def between(db: AsyncConnection, calendar: str, start: str, end: str) -> timedelta:
    row = await db.execute(
        text("SELECT sla_between(:c, :s, :e)"), {"c": calendar, "s": at(start), "e": at(end)}
    )
    return row.scalar_one()  # type: ignore[no-any-return]


@pytest.fixture()
async def new_york(db: AsyncConnection) -> None:
    """Office hours Mon-Fri 09:00-17:00 and a 24x7 calendar, both in America/New_York."""
    await db.execute(
        text(
            "INSERT INTO sla_calendar (code, name, timezone, always_open, updated_at) VALUES"
            " ('nyc-office', 'NYC office', 'America/New_York', false, now()),"
            " ('nyc-24x7', 'NYC always', 'America/New_York', true, now())"
        )
    )
    await db.execute(
        text(
            "INSERT INTO sla_calendar_hours (calendar_code, isodow, opens, closes)"
            " SELECT 'nyc-office', d, '09:00', '17:00' FROM generate_series(1, 5) d"
        )
    )


SEOUL_OFFICE = [
    # (start, working time, due): 2026-11-23 is a Monday.
    ("2026-11-23T10:00+09:00", 2 * H, "2026-11-23T12:00+09:00"),  # inside the day
    ("2026-11-23T17:00+09:00", 2 * H, "2026-11-24T10:00+09:00"),  # over the night
    ("2026-11-23T20:00+09:00", 1 * H, "2026-11-24T10:00+09:00"),  # starts after hours
    ("2026-11-24T06:30+09:00", 1 * H, "2026-11-24T10:00+09:00"),  # starts before hours
    ("2026-11-23T09:00+09:00", 9 * H, "2026-11-23T18:00+09:00"),  # ends at closing, same day
    ("2026-11-27T17:30+09:00", 1 * H, "2026-11-30T09:30+09:00"),  # Friday -> Monday
    ("2026-11-28T11:00+09:00", 1 * H, "2026-11-30T10:00+09:00"),  # Saturday start
    ("2026-12-24T17:30+09:00", 1 * H, "2026-12-28T09:30+09:00"),  # Christmas, then weekend
    ("2026-02-13T17:00+09:00", 2 * H, "2026-02-19T10:00+09:00"),  # Seollal Mon-Wed
    ("2026-11-27T17:00+09:00", 27 * H, "2026-12-02T17:00+09:00"),  # 3 business days
    ("2026-11-23T10:00+09:00", 45 * MIN, "2026-11-23T10:45+09:00"),
    ("2026-11-28T11:00+09:00", timedelta(0), "2026-11-28T11:00+09:00"),  # nothing to add
]


@pytest.mark.parametrize(("start", "amount", "due"), SEOUL_OFFICE)
async def test_seoul_office_hours(
    db: AsyncConnection, start: str, amount: timedelta, due: str
) -> None:
    assert await add(db, "office", start, amount) == at(due)


@pytest.mark.parametrize(
    ("start", "amount", "due"),
    [
        ("2026-11-28T23:00+09:00", 30 * MIN, "2026-11-28T23:30+09:00"),
        ("2026-11-28T23:00+09:00", timedelta(days=3), "2026-12-01T23:00+09:00"),
        ("2026-12-24T17:30+09:00", 1 * H, "2026-12-24T18:30+09:00"),  # holidays count
    ],
)
async def test_around_the_clock(
    db: AsyncConnection, start: str, amount: timedelta, due: str
) -> None:
    assert await add(db, "24x7", start, amount) == at(due)


@pytest.mark.parametrize(
    ("calendar", "start", "amount", "due"),
    [
        # Clocks go back on Sunday 2026-11-01: Friday 16:00 EDT + 2 h = Monday 10:00 EST.
        ("nyc-office", "2026-10-30T16:00-04:00", 2 * H, "2026-11-02T10:00-05:00"),
        # ... and forward on Sunday 2026-03-08: Friday 16:00 EST + 2 h = Monday 10:00 EDT.
        ("nyc-office", "2026-03-06T16:00-05:00", 2 * H, "2026-03-09T10:00-04:00"),
        # Around the clock, 24 h are 24 real hours: the wall clock reads 11:00 after the
        # 25-hour Sunday, 13:00 after the 23-hour one.
        ("nyc-24x7", "2026-10-31T12:00-04:00", 24 * H, "2026-11-01T11:00-05:00"),
        ("nyc-24x7", "2026-03-07T12:00-05:00", 24 * H, "2026-03-08T13:00-04:00"),
    ],
)
async def test_a_zone_with_daylight_saving(
    db: AsyncConnection, new_york: None, calendar: str, start: str, amount: timedelta, due: str
) -> None:
    assert await add(db, calendar, start, amount) == at(due)


@pytest.mark.parametrize(
    ("calendar", "start", "end", "working"),
    [
        ("office", "2026-11-27T17:00+09:00", "2026-11-30T10:00+09:00", 2 * H),
        ("office", "2026-12-24T17:00+09:00", "2026-12-28T10:00+09:00", 2 * H),
        ("office", "2026-11-28T10:00+09:00", "2026-11-29T20:00+09:00", timedelta(0)),
        ("office", "2026-11-23T12:00+09:00", "2026-11-23T11:00+09:00", timedelta(0)),
        ("24x7", "2026-11-23T12:00+09:00", "2026-11-25T12:30+09:00", 48 * H + 30 * MIN),
        ("nyc-24x7", "2026-10-31T12:00-04:00", "2026-11-01T12:00-05:00", 25 * H),
        ("nyc-office", "2026-10-30T16:00-04:00", "2026-11-02T10:00-05:00", 2 * H),
    ],
)
async def test_working_time_between(
    db: AsyncConnection, new_york: None, calendar: str, start: str, end: str, working: timedelta
) -> None:
    assert await between(db, calendar, start, end) == working


async def test_add_and_between_agree(db: AsyncConnection) -> None:
    """Adding working time then measuring it back gives the same amount, from any start."""
    start = at("2026-12-23T16:10+09:00")
    for hours in (0.5, 3, 9, 20, 47):
        due = await add(db, "office", start.isoformat(), timedelta(hours=hours))
        assert await between(db, "office", start.isoformat(), due.isoformat()) == timedelta(
            hours=hours
        )


async def test_an_unknown_calendar_is_an_error(db: AsyncConnection) -> None:
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="unknown SLA calendar"):
        async with db.begin_nested():
            await add(db, "nope", "2026-11-23T10:00+09:00", H)
