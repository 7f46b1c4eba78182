"""Teams and categories as administrators manage them (routing rules: geo.routing)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Integer, bindparam, cast, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.admin.schemas import (
    CategoryRead,
    DedupSettings,
    TeamCreate,
    TeamRead,
)
from dispatch_server.complaints.exceptions import UnknownCategory
from dispatch_server.complaints.models import Category
from dispatch_server.dispatch.models import Inspector, Team
from dispatch_server.errors import Conflict, Invalid
from geo.districts import DISTRICT_BY_CODE

_team = Team.__table__
_inspector = Inspector.__table__
_category = Category.__table__


class TeamExists(Conflict):
    """The district already has a team of that name."""

    code = "team_exists"


class InvalidTeam(Invalid):
    """The team names a district or categories that do not exist."""

    code = "invalid_team"


_TEAMS = (
    select(
        _team.c.id,
        _team.c.district_code,
        _team.c.name,
        _team.c.categories,
        func.count(_inspector.c.id),
        cast(func.count(_inspector.c.id).filter(_inspector.c.on_duty), Integer),
    )
    .outerjoin(_inspector, _inspector.c.team_id == _team.c.id)
    .group_by(_team.c.id)
    .order_by(_team.c.district_code, _team.c.name)
)


async def list_teams(connection: AsyncConnection, *, district: str | None = None) -> list[TeamRead]:
    """Teams, of one district or all."""
    statement = _TEAMS if district is None else _TEAMS.where(_team.c.district_code == district)
    rows = await connection.execute(statement)
    return [
        TeamRead(
            id=row[0],
            district=row[1],
            name=row[2],
            categories=row[3],
            inspectors=row[4],
            on_duty=row[5],
        )  # fmt: skip
        for row in rows
    ]


async def create_team(connection: AsyncConnection, team: TeamCreate) -> TeamRead:
    """Add a team to a district; the caller commits."""
    district = (
        await connection.execute(DISTRICT_BY_CODE, {"district_code": team.district})
    ).first()
    if district is None:
        raise InvalidTeam(
            f"no district has code {team.district!r}", details={"district": team.district}
        )
    if team.categories is not None:
        known = set((await connection.execute(select(_category.c.code))).scalars())
        unknown = sorted(set(team.categories) - known)
        if unknown:
            raise InvalidTeam(
                f"unknown categories: {', '.join(unknown)}",
                details={"unknown": unknown, "known": sorted(known)},
            )
    created = await connection.execute(
        insert(_team)
        .values(district_code=team.district, name=team.name, categories=team.categories)
        .on_conflict_do_nothing(constraint="uq_team_district_code_name")
        .returning(_team.c.id)
    )
    team_id = created.scalar()
    if team_id is None:
        raise TeamExists(
            f"district {team.district} already has a team named {team.name!r}",
            details={"district": team.district, "name": team.name},
        )
    return TeamRead(
        id=team_id, district=team.district, name=team.name, categories=team.categories,
        inspectors=0, on_duty=0,
    )  # fmt: skip


_CATEGORIES = select(
    _category.c.code,
    _category.c.name_ko,
    _category.c.name_en,
    _category.c.default_priority,
    _category.c.auto_assign,
    _category.c.active,
    _category.c.dedup_radius_m,
    _category.c.dedup_window,
).order_by(_category.c.code)


def _category_read(row: object) -> CategoryRead:
    code, name_ko, name_en, priority, auto, active, radius, window = row  # type: ignore[misc]
    return CategoryRead(
        code=code, name_ko=name_ko, name_en=name_en, default_priority=priority,
        auto_assign=auto, active=active,
        dedup=DedupSettings(radius_m=radius, window_minutes=int(window.total_seconds() // 60)),
    )  # fmt: skip


async def list_categories(connection: AsyncConnection) -> list[CategoryRead]:
    """Every category with its duplicate rule."""
    return [_category_read(row) for row in await connection.execute(_CATEGORIES)]


async def set_dedup(
    connection: AsyncConnection, *, code: str, dedup: DedupSettings
) -> CategoryRead:
    """Change a category's duplicate radius and window; new complaints use them."""
    changed = await connection.execute(
        update(_category)
        .where(_category.c.code == bindparam("code_"))
        .values(dedup_radius_m=dedup.radius_m, dedup_window=timedelta(minutes=dedup.window_minutes))
        .returning(_category.c.code),
        {"code_": code},
    )
    if changed.first() is None:
        known = (await connection.execute(select(_category.c.code))).scalars().all()
        raise UnknownCategory(
            f"unknown category {code!r}", details={"category": code, "known": known}
        )
    row = (await connection.execute(_CATEGORIES.where(_category.c.code == code))).one()
    return _category_read(row)
