"""Routing rules: which team of a district takes the cases of a category.

A rule names (district, category) -> team; a rule without a category is the district's
fallback, for every category without a rule of its own. No rule at all leaves the case
without a team: the district's dispatchers route it by hand. The rules are read at intake,
inside the intake statement (ROUTED_TEAM); a changed rule applies to the cases that arrive
after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Text, bindparam, delete, literal_column, nulls_last, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.complaints.models import Category
from dispatch_server.dispatch.models import Team
from dispatch_server.errors import Invalid, NotFound
from geo.districts import DISTRICT_BY_CODE
from geo.models import RoutingRule

# How a fallback rule is written where a category code is expected (CLI, URLs).
FALLBACK = "*"

_rule = RoutingRule.__table__
_team = Team.__table__
_category = Category.__table__


class UnknownRoutingTarget(Invalid):
    """A rule names a district, category or team that does not exist or does not fit."""

    code = "invalid_routing_rule"


class RoutingRuleNotFound(NotFound):
    """No rule exists for that district and category."""

    code = "routing_rule_not_found"


class MatchedBy(StrEnum):
    """Which rule routed a case."""

    CATEGORY = "category"
    FALLBACK = "fallback"
    NONE = "none"


@dataclass(frozen=True)
class Rule:
    """One routing rule, with its team's name."""

    district_code: str
    category_code: str | None  # None: the fallback
    team_id: int
    team_name: str
    updated_at: datetime


@dataclass(frozen=True)
class Route:
    """Where a (district, category) goes, and by which rule."""

    district_code: str
    category_code: str
    team_id: int | None
    team_name: str | None
    matched_by: MatchedBy


def category_of(text: str) -> str | None:
    """A category code as the CLI and URLs write it: `*` is the fallback (None)."""
    return None if text == FALLBACK else text


def routed_team(district_code: ColumnElement[Any], category: ColumnElement[Any]) -> Any:
    """The team id a case of this district and category goes to (NULL: none), as SQL.

    The category's own rule wins over the fallback.
    """
    return (
        select(_rule.c.team_id)
        .where(
            _rule.c.district_code == district_code,
            (_rule.c.category_code == category) | _rule.c.category_code.is_(None),
        )
        .order_by(nulls_last(_rule.c.category_code))
        .limit(literal_column("1"))  # a constant: this composes into the intake statement
        .scalar_subquery()
    )


_RULES = (
    select(
        _rule.c.district_code,
        _rule.c.category_code,
        _rule.c.team_id,
        _team.c.name,
        _rule.c.updated_at,
    )
    .join(_team, _team.c.id == _rule.c.team_id)
    .order_by(_rule.c.district_code, nulls_last(_rule.c.category_code))
)
_DISTRICT_PARAM = bindparam("district", type_=Text)
_CATEGORY_PARAM = bindparam("category", type_=Text)
_ROUTE = (
    select(_rule.c.team_id, _team.c.name, _rule.c.category_code)
    .join(_team, _team.c.id == _rule.c.team_id)
    .where(
        _rule.c.district_code == _DISTRICT_PARAM,
        (_rule.c.category_code == _CATEGORY_PARAM) | _rule.c.category_code.is_(None),
    )
    .order_by(nulls_last(_rule.c.category_code))
    .limit(1)
)


async def list_rules(connection: AsyncConnection, *, district: str | None = None) -> list[Rule]:
    """The rules, by district, each district's category rules before its fallback."""
    statement = _RULES if district is None else _RULES.where(_rule.c.district_code == district)
    rows = await connection.execute(statement)
    return [Rule(*row) for row in rows]


async def _check(
    connection: AsyncConnection, *, district: str, category: str | None, team_id: int | None
) -> None:
    """UnknownRoutingTarget unless the district, category and team exist and fit."""
    found = (await connection.execute(DISTRICT_BY_CODE, {"district_code": district})).first()
    if found is None:
        raise UnknownRoutingTarget(
            f"no district has code {district!r}", details={"district": district}
        )
    if category is not None:
        known = (await connection.execute(select(_category.c.code))).scalars().all()
        if category not in known:
            raise UnknownRoutingTarget(
                f"unknown category {category!r}",
                details={"category": category, "known": sorted(known)},
            )
    if team_id is not None:
        team = (
            await connection.execute(
                select(_team.c.district_code, _team.c.categories).where(_team.c.id == team_id)
            )
        ).first()
        if team is None:
            raise UnknownRoutingTarget(f"no team has id {team_id}", details={"team_id": team_id})
        if team.district_code != district:
            raise UnknownRoutingTarget(
                f"team {team_id} belongs to district {team.district_code}, not {district}",
                details={"team_id": team_id, "team_district": team.district_code},
            )
        if category is not None and team.categories is not None and category not in team.categories:
            raise UnknownRoutingTarget(
                f"team {team_id} does not work {category!r} cases",
                details={"team_id": team_id, "team_categories": team.categories},
            )


async def set_rule(
    connection: AsyncConnection,
    *,
    district: str,
    category: str | None,
    team_id: int,
    now: datetime,
) -> Rule:
    """Create or replace the rule of (district, category); None: the fallback. Caller commits."""
    await _check(connection, district=district, category=category, team_id=team_id)
    statement = insert(_rule).values(
        district_code=district, category_code=category, team_id=team_id, updated_at=now
    )
    await connection.execute(
        statement.on_conflict_do_update(
            constraint="uq_routing_rule_district_code_category_code",
            set_={"team_id": statement.excluded.team_id, "updated_at": now},
        )
    )
    rules = await list_rules(connection, district=district)
    return next(rule for rule in rules if rule.category_code == category)


async def remove_rule(connection: AsyncConnection, *, district: str, category: str | None) -> None:
    """Delete the rule of (district, category); RoutingRuleNotFound when there is none."""
    matches = (
        _rule.c.category_code.is_(None) if category is None else (_rule.c.category_code == category)
    )
    deleted = await connection.execute(
        delete(_rule).where(_rule.c.district_code == district, matches).returning(_rule.c.id)
    )
    if deleted.first() is None:
        what = "fallback rule" if category is None else f"rule for {category!r}"
        raise RoutingRuleNotFound(
            f"district {district} has no {what}",
            details={"district": district, "category": category or FALLBACK},
        )


async def resolve(connection: AsyncConnection, *, district: str, category: str) -> Route:
    """Where a new case of this district and category would go, and why."""
    await _check(connection, district=district, category=category, team_id=None)
    row = (await connection.execute(_ROUTE, {"district": district, "category": category})).first()
    if row is None:
        return Route(district, category, None, None, MatchedBy.NONE)
    matched = MatchedBy.FALLBACK if row.category_code is None else MatchedBy.CATEGORY
    return Route(district, category, row.team_id, row.name, matched)
