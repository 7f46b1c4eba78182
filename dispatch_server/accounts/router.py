"""HTTP adapter of sign-in: /api/v1/auth (tokens for API clients and the field app, a
cookie session for the web consoles)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from dispatch_server.access import CSRF_COOKIE, SESSION_COOKIE, Anyone, public
from dispatch_server.accounts import service
from dispatch_server.accounts.credentials import MAX_PASSWORD, Principal, Role
from dispatch_server.deps import AppContext, ContextDep, require_json
from dispatch_server.http_errors import ERROR_RESPONSES
from dispatch_server.ratelimit import client_address

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=ERROR_RESPONSES)


class SignIn(BaseModel):
    """A username and password."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class RefreshBody(BaseModel):
    """A refresh token from an earlier sign-in or refresh."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=200)


class Tokens(BaseModel):
    """A new pair of tokens: send the access token as `Authorization: Bearer ...`."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_token: str
    refresh_expires_in: int = Field(description="seconds the refresh token is valid")


class Me(BaseModel):
    """The signed-in account."""

    username: str
    role: Role
    districts: list[str]
    inspector_id: int | None

    @staticmethod
    def fields_of(principal: Principal) -> dict[str, Any]:
        return {
            "username": principal.username,
            "role": principal.role,
            "districts": sorted(principal.districts),
            "inspector_id": principal.inspector_id,
        }


class ConsoleSignedIn(Me):
    """A console session: the session itself is in an HttpOnly cookie; send `csrf_token`
    (also in the `dasan_csrf` cookie) as X-CSRF-Token with every write."""

    csrf_token: str
    expires_in: int = Field(description="seconds the session lasts")


async def _check(body: SignIn, request: Request, ctx: AppContext) -> int:
    """The account signing in (its password checked, failures throttled)."""
    return await service.check_password(
        ctx.autocommit,
        username=body.username,
        password=body.password,
        address=client_address(request),
        passwords=ctx.passwords,
        settings=ctx.settings,
        now=ctx.clock.now(),
    )


def _no_store(response: Response) -> None:
    # Tokens must not stay in any cache (RFC 6749 section 5.1).
    response.headers["Cache-Control"] = "no-store"


@router.post(
    "/token",
    dependencies=[Depends(require_json)],
    summary="Sign in: a username and password for an access and a refresh token",
    responses={429: {"description": "too many failed sign-ins: wait Retry-After seconds"}},
)
@public
async def token(body: SignIn, request: Request, response: Response, ctx: ContextDep) -> Tokens:
    """Wrong username, wrong password and a disabled account get the same 401; repeated
    failures make the account and the address wait, longer each time."""
    user_id = await _check(body, request, ctx)
    issued = await service.issue_tokens(
        ctx.autocommit, user_id=user_id, settings=ctx.settings, now=ctx.clock.now()
    )
    _no_store(response)
    return Tokens.model_validate(issued, from_attributes=True)


def _cookie_secure(request: Request, ctx: AppContext) -> bool:
    configured = ctx.settings.cookie_secure
    return request.url.scheme == "https" if configured is None else configured


@router.post(
    "/session",
    dependencies=[Depends(require_json)],
    summary="Sign in a web console: a session cookie (HttpOnly) and a CSRF token",
    responses={429: {"description": "too many failed sign-ins: wait Retry-After seconds"}},
)
@public
async def console_session(
    body: SignIn, request: Request, response: Response, ctx: ContextDep
) -> ConsoleSignedIn:
    """Throttled like /token. The cookies are SameSite=Strict (and Secure over https); a
    write on the session needs the X-CSRF-Token header."""
    user_id = await _check(body, request, ctx)
    session = await service.open_console_session(
        ctx.autocommit, user_id=user_id, settings=ctx.settings, now=ctx.clock.now()
    )
    secure = _cookie_secure(request, ctx)
    for name, value, http_only in (
        (SESSION_COOKIE, session.session_token, True),
        (CSRF_COOKIE, session.csrf_token, False),
    ):
        response.set_cookie(
            name, value, max_age=session.expires_in, path="/", secure=secure,
            httponly=http_only, samesite="strict",
        )  # fmt: skip
    _no_store(response)
    return ConsoleSignedIn(
        **Me.fields_of(session.principal),
        csrf_token=session.csrf_token,
        expires_in=session.expires_in,
    )


@router.post(
    "/refresh",
    dependencies=[Depends(require_json)],
    summary="A new pair of tokens for a refresh token (which is spent)",
)
@public
async def refresh(body: RefreshBody, response: Response, ctx: ContextDep) -> Tokens:
    """A refresh token works once; used again, it revokes its whole sign-in."""
    issued = await service.refresh(
        ctx.transaction(),
        refresh_token=body.refresh_token,
        settings=ctx.settings,
        now=ctx.clock.now(),
    )
    _no_store(response)
    return Tokens.model_validate(issued, from_attributes=True)


@router.post(
    "/sign-out", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke this sign-in's tokens"
)
async def sign_out(caller: Anyone, request: Request, response: Response, ctx: ContextDep) -> None:
    """The access token sent and its refresh token (or the console session, whose cookies
    are cleared) stop working at once."""
    async with ctx.autocommit() as connection:
        await service.sign_out(connection, principal=caller.principal, now=ctx.clock.now())
    if SESSION_COOKIE in request.cookies:
        secure = _cookie_secure(request, ctx)
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            response.delete_cookie(name, path="/", secure=secure, samesite="strict")


@router.get("/me", summary="Who the access token belongs to")
async def me(caller: Anyone) -> Me:
    """The account's name, role and scope."""
    return Me(**Me.fields_of(caller.principal))
