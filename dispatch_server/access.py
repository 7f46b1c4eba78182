"""Who may call what, and which cases they see: the one place every endpoint goes through.

Every route declares its rule: `Depends(Access(...roles))` for signed-in callers, or the
`@public` mark for routes anyone may call. tests/test_permissions.py walks the route table
and fails for a route with neither, then calls every route as every role.

What a caller sees of the cases is their `Scope`, and the scope is applied in the SQL of
each case query (`Scope.cases`): a case outside it is not found (404), exactly as a case
that does not exist, so nothing about it leaks.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import ARRAY, ColumnElement, Table, Text, any_, bindparam, true
from starlette.routing import BaseRoute

from dispatch_server.accounts import service as accounts
from dispatch_server.accounts.credentials import (
    DISTRICT_ROLES,
    Principal,
    Role,
    TokenKind,
    token_digest,
)
from dispatch_server.deps import ContextDep
from dispatch_server.errors import Forbidden, NotFound, Unauthenticated

# Roles that see the reporter's full phone number (in their scope); everyone else sees it
# masked. Every full read is written to the access log.
FULL_PHONE_ROLES = frozenset({Role.AGENT, Role.DISPATCHER})
STAFF = (Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)
EVERYONE = (*STAFF, Role.INSPECTOR)


@dataclass(frozen=True)
class Scope:
    """Which cases a caller sees: every case, the cases of some districts, or the cases
    assigned to one inspector."""

    districts: frozenset[str] | None = None
    inspector_id: int | None = None

    @property
    def kind(self) -> str:
        """`all`, `districts` or `inspector`: statements are built (and cached) per kind."""
        if self.inspector_id is not None:
            return "inspector"
        return "all" if self.districts is None else "districts"

    def params(self) -> dict[str, Any]:
        """The bind parameters of `cases()`'s condition."""
        return {
            "scope_districts": sorted(self.districts) if self.districts is not None else None,
            "scope_inspector": self.inspector_id,
        }

    def cases(self, complaint: Table) -> ColumnElement[bool]:
        """The SQL condition on the complaint table (or an alias of it) for this scope."""
        return scope_condition(self.kind, complaint)

    def allows_district(self, district: str) -> bool:
        """Whether cases of this district are in the scope (an inspector's: never all)."""
        if self.inspector_id is not None:
            return False
        return self.districts is None or district in self.districts

    def narrowed(self, district: str | None) -> Scope:
        """The scope, or one district of it (UnknownDistrict, a 404, for another: as a
        district that does not exist)."""
        if district is None:
            return self
        if not self.allows_district(district):
            raise UnknownDistrict(
                f"no district of yours has code {district!r}", details={"district": district}
            )
        return Scope(districts=frozenset({district}))


class UnknownDistrict(NotFound):
    """A district that is not the city's, or not one of the caller's."""

    code = "unknown_district"


# The scope of the server's own jobs (SLA sweep, outbox, CLI) and of agents and admins.
EVERY_CASE = Scope()


def scope_condition(kind: str, complaint: Table) -> ColumnElement[bool]:
    """The condition of a scope kind on `complaint`, its values as bind parameters."""
    if kind == "districts":
        districts = bindparam("scope_districts", type_=ARRAY(Text))
        return complaint.c.district_code == any_(districts)
    if kind == "inspector":
        return complaint.c.assignee_id == bindparam("scope_inspector")
    return true()


def scope_sql(kind: str, complaint: str) -> str:
    """`scope_condition` as SQL text, for statements written by hand."""
    if kind == "districts":
        return f"{complaint}.district_code = ANY(CAST(:scope_districts AS text[]))"
    if kind == "inspector":
        return f"{complaint}.assignee_id = :scope_inspector"
    return "true"


def scope_of(principal: Principal) -> Scope:
    """What a signed-in account sees."""
    if principal.role is Role.INSPECTOR:
        # An inspector account always names its inspector (a CHECK in migration 0014).
        return Scope(inspector_id=principal.inspector_id)
    if principal.role in DISTRICT_ROLES:
        return Scope(districts=principal.districts)
    return EVERY_CASE


@dataclass(frozen=True)
class Caller:
    """A signed-in caller, as endpoints and services see them."""

    principal: Principal

    @cached_property
    def scope(self) -> Scope:
        return scope_of(self.principal)

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def actor(self) -> str:
        """How the caller is named in timelines: `inspector:<id>` for inspectors (as the
        field app's moves always were), else `user:<username>`."""
        if self.principal.inspector_id is not None:
            return f"inspector:{self.principal.inspector_id}"
        return f"user:{self.principal.username}"

    @property
    def inspector_id(self) -> int:
        """The caller's inspector (only on routes that admit inspectors alone)."""
        assert self.principal.inspector_id is not None
        return self.principal.inspector_id

    @property
    def sees_full_phone(self) -> bool:
        return self.principal.role in FULL_PHONE_ROLES


_bearer = HTTPBearer(auto_error=False, description="an access token from POST /api/v1/auth/token")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

# The consoles' sign-in (POST /api/v1/auth/session): an HttpOnly cookie with the session
# token, and a cookie the console's script reads to send the CSRF token back as a header.
SESSION_COOKIE = "dasan_session"
CSRF_COOKIE = "dasan_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(Forbidden):
    """A console's write without its session's CSRF token, or from another site."""

    code = "csrf_failed"


def check_csrf(request: Request, principal: Principal) -> None:
    """A write on a console session must come from the console itself: its CSRF token in
    the header (compared by digest with the session's) and, when the browser says where it
    comes from, from this site."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise CsrfRefused("a write from another site is refused")
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise CsrfRefused("a write from another origin is refused", details={"origin": origin})
    sent = request.headers.get(CSRF_HEADER, "")
    expected = principal.csrf_digest or b""
    if not sent or len(sent) > 200 or not hmac.compare_digest(token_digest(sent), expected):
        raise CsrfRefused(f"a console write needs its session's {CSRF_HEADER} header")


async def signed_in(request: Request, ctx: ContextDep, credentials: BearerDep) -> Principal:
    """The caller, from `Authorization: Bearer <access token>` or a console's session cookie
    (whose writes need the CSRF token); 401 without either."""
    if credentials is not None:
        token, kind = credentials.credentials, TokenKind.ACCESS
    elif SESSION_COOKIE in request.cookies:
        token, kind = request.cookies[SESSION_COOKIE], TokenKind.SESSION
    else:
        raise Unauthenticated("sign in first: send Authorization: Bearer <access token>")
    if len(token) > 200:
        raise Unauthenticated("the access token is not valid", code="invalid_token")
    async with ctx.autocommit() as connection:
        principal = await accounts.principal_of(
            connection, token=token, now=ctx.clock.now(), kind=kind
        )
    if kind is TokenKind.SESSION:
        check_csrf(request, principal)
    return principal


class Access:
    """A route's rule: the roles that may call it (as a FastAPI dependency, the Caller)."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    async def __call__(self, principal: Annotated[Principal, Depends(signed_in)]) -> Caller:
        if principal.role not in self.roles:
            allowed = ", ".join(sorted(self.roles))
            raise Forbidden(
                f"a {principal.role} account may not do this (it needs: {allowed})",
                details={"role": str(principal.role), "allowed": sorted(self.roles)},
            )
        return Caller(principal)

    def __repr__(self) -> str:
        return f"Access({', '.join(sorted(self.roles))})"


def allow(*roles: Role) -> Any:
    """`Annotated[Caller, allow(...)]`: the route admits these roles."""
    return Depends(Access(*roles))


# Agents log complaints for the whole city; a district's dispatchers work what arrives.
Intake = Annotated[Caller, allow(Role.AGENT)]
Contact = Annotated[Caller, allow(*FULL_PHONE_ROLES)]
Staff = Annotated[Caller, allow(*STAFF)]
Anyone = Annotated[Caller, allow(*EVERYONE)]
CaseDesk = Annotated[Caller, allow(Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)]
Dispatchers = Annotated[Caller, allow(Role.DISPATCHER, Role.ADMIN)]
Watchers = Annotated[Caller, allow(Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)]
Inspectors = Annotated[Caller, allow(Role.INSPECTOR)]
Admins = Annotated[Caller, allow(Role.ADMIN)]

# Route-level rules, for routes that need no Caller object.
STAFF_READ = allow(*STAFF)
EVERYONE_READ = allow(*EVERYONE)
ADMIN_WRITE = allow(Role.ADMIN)

F = TypeVar("F", bound=Callable[..., Any])
PUBLIC = "public"


def public(endpoint: F) -> F:
    """Mark a route anyone may call, signed in or not (health, sign-in, the tracking page,
    the SMS operator's callbacks, which prove themselves otherwise)."""
    endpoint.__access__ = PUBLIC  # type: ignore[attr-defined]
    return endpoint


def _accesses(dependant: Any) -> Iterator[Access]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Access):
            yield dependency.call
        yield from _accesses(dependency)


def rule_of(route: APIRoute) -> Access | str | None:
    """A route's rule: its Access, PUBLIC, or None when it has none (a bug)."""
    found = list(_accesses(route.dependant))
    if found:
        return found[0]
    return getattr(route.endpoint, "__access__", None)


def api_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Every API route of the application, included routers unfolded.

    Routers are included without a prefix (each router names its own), so a route's path
    is the one it was declared with.
    """

    def walk(routes: list[BaseRoute]) -> Iterator[APIRoute]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router"):  # FastAPI's included router
                assert not getattr(route.include_context, "prefix", ""), "include without prefix"
                yield from walk(route.original_router.routes)

    yield from walk(list(app.routes))
