"""HTTP adapter of the admin API: /api/v1/admin (teams, routing rules, categories).

Open to any caller until accounts and roles arrive (issue 6).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from dispatch_server.access import ADMIN_WRITE as WRITE
from dispatch_server.access import STAFF_READ as READ
from dispatch_server.admin import service
from dispatch_server.admin.schemas import (
    CategoryList,
    CategoryRead,
    DedupSettings,
    RouteRead,
    RuleList,
    RuleRead,
    RuleWrite,
    TeamCreate,
    TeamList,
    TeamRead,
)
from dispatch_server.deps import ContextDep, require_json
from dispatch_server.http_errors import ERROR_RESPONSES
from geo import routing

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=ERROR_RESPONSES)

DistrictQuery = Annotated[str | None, Query(max_length=20, description="one district's code")]
DistrictPath = Annotated[str, Path(max_length=20, examples=["11110"])]
CategoryPath = Annotated[
    str,
    Path(
        max_length=50,
        pattern=r"^([a-z0-9_]+|\*)$",
        description="a category code, or `*` for the district's fallback rule",
    ),
]


def _rule_read(rule: routing.Rule) -> RuleRead:
    return RuleRead(
        district=rule.district_code, category=rule.category_code, team_id=rule.team_id,
        team_name=rule.team_name, updated_at=rule.updated_at,
    )  # fmt: skip


@router.get("/teams", dependencies=[READ], summary="Teams, with their inspector counts")
async def list_teams(ctx: ContextDep, district: DistrictQuery = None) -> TeamList:
    """Every team, or one district's."""
    async with ctx.autocommit() as connection:
        return TeamList(teams=await service.list_teams(connection, district=district))


@router.post(
    "/teams",
    status_code=status.HTTP_201_CREATED,
    dependencies=[WRITE, Depends(require_json)],
    summary="Add a team to a district",
)
async def create_team(team: TeamCreate, ctx: ContextDep) -> TeamRead:
    """409 team_exists when the district has a team of that name."""
    async with ctx.transaction() as connection:
        return await service.create_team(connection, team)


@router.get(
    "/routing-rules", dependencies=[READ], summary="Routing rules: (district, category) -> team"
)
async def list_rules(ctx: ContextDep, district: DistrictQuery = None) -> RuleList:
    """Every rule, or one district's; a district's fallback (category null) comes last."""
    async with ctx.autocommit() as connection:
        rules = await routing.list_rules(connection, district=district)
    return RuleList(rules=[_rule_read(rule) for rule in rules])


@router.put(
    "/routing-rules/{district}/{category}",
    dependencies=[WRITE, Depends(require_json)],
    summary="Set the team of a district's category (`*`: the fallback)",
)
async def set_rule(
    district: DistrictPath, category: CategoryPath, body: RuleWrite, ctx: ContextDep
) -> RuleRead:
    """Creates or replaces the rule. 422 invalid_routing_rule: unknown district or category,
    a team of another district, or one that does not work the category."""
    async with ctx.transaction() as connection:
        rule = await routing.set_rule(
            connection, district=district, category=routing.category_of(category),
            team_id=body.team_id, now=ctx.clock.now(),
        )  # fmt: skip
    return _rule_read(rule)


@router.delete(
    "/routing-rules/{district}/{category}",
    dependencies=[WRITE],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a rule (`*`: the fallback)",
)
async def remove_rule(district: DistrictPath, category: CategoryPath, ctx: ContextDep) -> Response:
    """404 routing_rule_not_found when there is no such rule."""
    async with ctx.transaction() as connection:
        await routing.remove_rule(
            connection, district=district, category=routing.category_of(category)
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/route", dependencies=[READ], summary="Which team a new case of (district, category) goes to"
)
async def route(
    ctx: ContextDep,
    district: Annotated[str, Query(max_length=20)],
    category: Annotated[str, Query(max_length=50, pattern=r"^[a-z0-9_]+$")],
) -> RouteRead:
    """The category's own rule, else the district's fallback, else none."""
    async with ctx.autocommit() as connection:
        found = await routing.resolve(connection, district=district, category=category)
    return RouteRead(
        district=found.district_code, category=found.category_code, team_id=found.team_id,
        team_name=found.team_name, matched_by=str(found.matched_by),
    )  # fmt: skip


@router.get("/categories", dependencies=[READ], summary="Categories with their duplicate rules")
async def list_categories(ctx: ContextDep) -> CategoryList:
    """Every category, by code."""
    async with ctx.autocommit() as connection:
        return CategoryList(categories=await service.list_categories(connection))


@router.put(
    "/categories/{code}/dedup",
    dependencies=[WRITE, Depends(require_json)],
    summary="Set a category's duplicate radius and window",
)
async def set_dedup(
    code: Annotated[str, Path(max_length=50)], dedup: DedupSettings, ctx: ContextDep
) -> CategoryRead:
    """New complaints use them; radius 0 turns duplicate linking off for the category."""
    async with ctx.transaction() as connection:
        return await service.set_dedup(connection, code=code, dedup=dedup)
