"""SLA policies and business calendars: read and written by the admin API, the CLI, the seed."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Integer, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.complaints.constants import Priority
from dispatch_server.complaints.exceptions import UnknownCategory
from dispatch_server.complaints.models import Category
from sla.exceptions import CalendarNotFound, InvalidCalendar, PolicyNotFound, UnknownCalendar
from sla.models import SlaCalendar, SlaCalendarHours, SlaHoliday, SlaPolicy
from sla.schemas import (
    CalendarRead,
    CalendarSet,
    Holiday,
    Kind,
    PolicyRead,
    PolicySet,
    Window,
)

_calendar = SlaCalendar.__table__
_hours = SlaCalendarHours.__table__
_holiday = SlaHoliday.__table__
_policy = SlaPolicy.__table__
_category = Category.__table__

MINUTE = timedelta(minutes=1)


def _minutes(value: timedelta) -> float:
    return round(value / MINUTE, 3)


# --- policies ---------------------------------------------------------------------------


def policy_upsert(
    *,
    category: str,
    priority: Priority | None,
    kind: Kind,
    policy: PolicySet,
    now: datetime,
    replace: bool = True,
):  # type: ignore[no-untyped-def]
    """The statement that stores one policy (replacing the one of the same key, or not)."""
    values = {
        "category_code": category,
        "priority": str(priority) if priority else None,
        "kind": str(kind),
        "target": timedelta(minutes=policy.target_minutes),
        "calendar_code": policy.calendar,
        "warn_share": policy.warn_share,
        "supervisor_after": timedelta(minutes=policy.supervisor_after_minutes),
        "reroute_on_breach": policy.reroute_on_breach,
        "updated_at": now,
    }
    statement = insert(_policy).values(values)
    if not replace:
        return statement.on_conflict_do_nothing(
            constraint="uq_sla_policy_category_code_priority_kind"
        ).returning(_policy.c.id)
    return statement.on_conflict_do_update(
        constraint="uq_sla_policy_category_code_priority_kind",
        set_={
            k: statement.excluded[k]
            for k in values
            if k not in ("category_code", "priority", "kind")
        },
    )


_POLICIES = select(_policy).order_by(
    _policy.c.category_code, _policy.c.priority.nulls_last(), _policy.c.kind
)


def _policy_read(row) -> PolicyRead:  # type: ignore[no-untyped-def]
    return PolicyRead(
        category=row.category_code,
        priority=row.priority,
        kind=row.kind,
        target_minutes=_minutes(row.target),
        calendar=row.calendar_code,
        warn_share=round(row.warn_share, 4),
        supervisor_after_minutes=_minutes(row.supervisor_after),
        reroute_on_breach=row.reroute_on_breach,
        updated_at=row.updated_at,
    )


async def list_policies(
    connection: AsyncConnection, *, category: str | None = None
) -> list[PolicyRead]:
    """Every policy (of one category)."""
    statement = (
        _POLICIES if category is None else _POLICIES.where(_policy.c.category_code == category)
    )
    return [_policy_read(row) for row in await connection.execute(statement)]


async def set_policy(
    connection: AsyncConnection,
    *,
    category: str,
    priority: Priority | None,
    kind: Kind,
    policy: PolicySet,
    now: datetime,
) -> PolicyRead:
    """Store a policy; it applies to clocks started from now on (running ones keep theirs)."""
    if (
        await connection.execute(select(_category.c.code).where(_category.c.code == category))
    ).first() is None:
        raise UnknownCategory(f"no category has code {category!r}", details={"category": category})
    if (
        await connection.execute(
            select(_calendar.c.code).where(_calendar.c.code == policy.calendar)
        )
    ).first() is None:
        raise UnknownCalendar(
            f"no SLA calendar has code {policy.calendar!r}", details={"calendar": policy.calendar}
        )
    if policy.reroute_on_breach and kind is Kind.RESOLVE:
        raise InvalidCalendar(
            "re-routing on breach applies to the assign and arrive stages only",
            details={"kind": str(kind)},
            code="invalid_policy",
        )
    await connection.execute(
        policy_upsert(category=category, priority=priority, kind=kind, policy=policy, now=now)
    )
    found = await list_policies(connection, category=category)
    return next(p for p in found if p.priority == priority and p.kind == kind)


async def remove_policy(
    connection: AsyncConnection, *, category: str, priority: Priority | None, kind: Kind
) -> None:
    """Remove a policy (new cases of the category then have no clock for that stage)."""
    priority_matches = (
        _policy.c.priority.is_(None) if priority is None else _policy.c.priority == str(priority)
    )
    result = await connection.execute(
        delete(_policy).where(
            _policy.c.category_code == category, priority_matches, _policy.c.kind == str(kind)
        )
    )
    if result.rowcount == 0:
        raise PolicyNotFound(
            f"no {kind} policy for {category!r} (priority {priority or 'any'})",
            details={"category": category, "priority": priority, "kind": str(kind)},
        )


# --- calendars --------------------------------------------------------------------------


def check_calendar(calendar: CalendarSet) -> None:
    """The zone exists and the windows are sound, or InvalidCalendar says what is wrong."""
    try:
        ZoneInfo(calendar.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidCalendar(
            f"{calendar.timezone!r} is not a known time zone",
            details={"timezone": calendar.timezone},
        ) from exc
    if not calendar.always_open and not calendar.hours:
        raise InvalidCalendar("a calendar that is not always open needs working hours")
    by_day: dict[int, list[Window]] = {}
    for window in calendar.hours:
        if window.closes <= window.opens and window.closes != time(0):
            raise InvalidCalendar(
                f"a window must close after it opens ({window.opens}-{window.closes})",
                details={"window": window.model_dump(mode="json")},
            )
        by_day.setdefault(window.isodow, []).append(window)
    for day, windows in by_day.items():
        windows.sort(key=lambda w: w.opens)
        for before, after in zip(windows, windows[1:], strict=False):
            if after.opens < _closing(before):
                raise InvalidCalendar(f"windows of day {day} overlap", details={"isodow": day})


def _closing(window: Window) -> time:
    # 00:00 as a closing time means midnight at the end of the day.
    return time.max if window.closes == time(0) else window.closes


def calendar_rows(code: str, calendar: CalendarSet, *, now: datetime):  # type: ignore[no-untyped-def]
    """The statements that store a calendar and replace its hours (holidays are kept)."""
    values = {
        "code": code,
        "name": calendar.name,
        "timezone": calendar.timezone,
        "always_open": calendar.always_open,
        "updated_at": now,
    }
    upsert = insert(_calendar).values(values)
    yield upsert.on_conflict_do_update(
        index_elements=["code"], set_={k: upsert.excluded[k] for k in values if k != "code"}
    )
    yield delete(_hours).where(_hours.c.calendar_code == code)
    if calendar.hours:
        yield insert(_hours).values(
            [
                {
                    "calendar_code": code,
                    "isodow": w.isodow,
                    "opens": w.opens,
                    # PostgreSQL's time has 24:00 for the end of the day.
                    "closes": w.closes if w.closes != time(0) else "24:00",
                }
                for w in calendar.hours
            ]
        )


def holiday_rows(code: str, holidays: Iterable[Holiday]):  # type: ignore[no-untyped-def]
    """The statement that adds (or renames) a calendar's holidays, or None when there are none."""
    values = [{"calendar_code": code, "day": h.day, "name": h.name[:100]} for h in holidays]
    if not values:
        return None
    statement = insert(_holiday).values(values)
    return statement.on_conflict_do_update(
        index_elements=["calendar_code", "day"], set_={"name": statement.excluded.name}
    )


_HOLIDAY_COUNT = (
    select(func.count()).where(_holiday.c.calendar_code == _calendar.c.code).scalar_subquery()
)
_CALENDARS = select(_calendar, func.cast(_HOLIDAY_COUNT, Integer).label("holidays")).order_by(
    _calendar.c.code
)
_HOURS = select(_hours).order_by(_hours.c.calendar_code, _hours.c.isodow, _hours.c.opens)


def _window(row) -> Window:  # type: ignore[no-untyped-def]
    return Window(isodow=row.isodow, opens=row.opens, closes=row.closes)


async def list_calendars(
    connection: AsyncConnection, *, code: str | None = None
) -> list[CalendarRead]:
    """Every calendar (or one) with its hours and how many holidays it has."""
    statement = _CALENDARS if code is None else _CALENDARS.where(_calendar.c.code == code)
    hours: dict[str, list[Window]] = {}
    for row in await connection.execute(_HOURS):
        hours.setdefault(row.calendar_code, []).append(_window(row))
    return [
        CalendarRead(
            code=row.code,
            name=row.name,
            timezone=row.timezone,
            always_open=row.always_open,
            hours=hours.get(row.code, []),
            holidays=row.holidays,
            updated_at=row.updated_at,
        )
        for row in await connection.execute(statement)
    ]


async def set_calendar(
    connection: AsyncConnection, *, code: str, calendar: CalendarSet, now: datetime
) -> CalendarRead:
    """Store a calendar (running clocks keep their due times; new ones use the new hours)."""
    check_calendar(calendar)
    for statement in calendar_rows(code, calendar, now=now):
        await connection.execute(statement)
    return (await list_calendars(connection, code=code))[0]


async def _require_calendar(connection: AsyncConnection, code: str) -> None:
    if (
        await connection.execute(select(_calendar.c.code).where(_calendar.c.code == code))
    ).first() is None:
        raise CalendarNotFound(f"no SLA calendar has code {code!r}", details={"calendar": code})


async def list_holidays(connection: AsyncConnection, *, code: str) -> list[Holiday]:
    """A calendar's holidays, oldest first."""
    await _require_calendar(connection, code)
    rows = await connection.execute(
        select(_holiday.c.day, _holiday.c.name)
        .where(_holiday.c.calendar_code == code)
        .order_by(_holiday.c.day)
    )
    return [Holiday(day=row.day, name=row.name) for row in rows]


async def add_holidays(connection: AsyncConnection, *, code: str, holidays: list[Holiday]) -> int:
    """Add (or rename) holidays of a calendar; how many were given."""
    await _require_calendar(connection, code)
    statement = holiday_rows(code, holidays)
    if statement is not None:
        await connection.execute(statement)
    return len(holidays)


async def remove_holiday(connection: AsyncConnection, *, code: str, day: date) -> None:
    """Remove one holiday."""
    result = await connection.execute(
        delete(_holiday).where(_holiday.c.calendar_code == code, _holiday.c.day == day)
    )
    if result.rowcount == 0:
        raise CalendarNotFound(
            f"calendar {code!r} has no holiday on {day}",
            details={"calendar": code, "day": str(day)},
        )


def country_holidays(country: str, years: Iterable[int], *, language: str = "ko") -> list[Holiday]:
    """Public holidays of a country (the `holidays` package), in its language where it has it."""
    import holidays

    try:
        found = holidays.country_holidays(country, years=list(years), language=language)
    except NotImplementedError as exc:
        raise InvalidCalendar(
            f"no holiday data for country {country!r}", details={"country": country}
        ) from exc
    return [Holiday(day=day, name=name) for day, name in sorted(found.items())]


def file_holidays(path: Path) -> list[Holiday]:
    """Holidays from a CSV file of `date,name` lines (ISO dates; a header line is allowed)."""
    found = []
    with path.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].strip().lower() in ("date", "day") or row[0].startswith("#"):
                continue
            try:
                day = date.fromisoformat(row[0].strip())
            except ValueError as exc:
                raise InvalidCalendar(
                    f"{path.name} line {number}: {row[0]!r} is not a date (YYYY-MM-DD)",
                    details={"line": number},
                ) from exc
            name = row[1].strip() if len(row) > 1 and row[1].strip() else "holiday"
            found.append(Holiday(day=day, name=name))
    return found
