"""Accounts and sign-in: tokens, expiry, refresh rotation, sign-out, throttling without
account enumeration, disabling, password resets, and `dasan users`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.accounts import users
from dispatch_server.accounts.credentials import Passwords, Role, backoff, token_digest
from dispatch_server.clock import FrozenClock
from dispatch_server.config import Settings
from tests.conftest import FAST_PASSWORDS, FROZEN_AT, app_on
from tests.test_cli import DASAN, rows

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"
HASHER = Passwords(
    time_cost=FAST_PASSWORDS["password_time_cost"],
    memory_kib=FAST_PASSWORDS["password_memory_kib"],
    parallelism=FAST_PASSWORDS["password_parallelism"],
)


@pytest.fixture()
async def dispatcher(db: AsyncConnection) -> users.Account:
    return await users.create_user(
        db, username="Kim.Dispatcher", role=Role.DISPATCHER, districts=["11110", "11140"],
        password_hash=HASHER.hash(PASSWORD), now=FROZEN_AT,
    )  # fmt: skip


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_sign_in_gives_tokens_that_say_who_you_are(
    client: httpx.AsyncClient, db: AsyncConnection, dispatcher: users.Account
) -> None:
    response = await sign_in(client, "kim.dispatcher")  # usernames ignore case
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 3600
    me = await client.get("/api/v1/auth/me", headers=bearer(tokens))
    assert me.json() == {
        "username": "Kim.Dispatcher", "role": "dispatcher", "districts": ["11110", "11140"],
        "inspector_id": None,
    }  # fmt: skip
    # Only the tokens' hashes are stored.
    stored = await db.exec_driver_sql("SELECT token_hash FROM auth_token")
    hashes = {bytes(row[0]) for row in stored}
    assert token_digest(tokens["access_token"]) in hashes
    assert not any(tokens["access_token"].encode() in h for h in hashes)


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer dfa_not-a-token", "Basic YWRtaW46YWRtaW4=", "Bearer " + "x" * 500],
)
async def test_no_valid_token_is_401_with_a_bearer_challenge(
    client: httpx.AsyncClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_access_tokens_expire_and_refresh_tokens_work_once(
    client: httpx.AsyncClient, clock: FrozenClock, dispatcher: users.Account
) -> None:
    first = (await sign_in(client, "Kim.Dispatcher")).json()
    clock.advance(timedelta(minutes=61))
    expired = await client.get("/api/v1/auth/me", headers=bearer(first))
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "invalid_token"
    second = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=bearer(second.json()))).status_code == 200
    # The first refresh token again: somebody copied it. The whole sign-in ends.
    again = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert again.status_code == 401 and "already used" in again.json()["error"]["message"]
    assert (await client.get("/api/v1/auth/me", headers=bearer(second.json()))).status_code == 401
    clock.advance(timedelta(days=15))
    late = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]}
    )
    assert late.status_code == 401


async def test_sign_out_ends_that_sign_in_only(
    client: httpx.AsyncClient, dispatcher: users.Account
) -> None:
    phone = (await sign_in(client, "Kim.Dispatcher")).json()
    desk = (await sign_in(client, "Kim.Dispatcher")).json()
    out = await client.post("/api/v1/auth/sign-out", headers=bearer(desk))
    assert out.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=bearer(desk))).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": desk["refresh_token"]}
    )
    assert refreshed.status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(phone))).status_code == 200


async def test_wrong_password_unknown_user_and_disabled_account_look_alike(
    client: httpx.AsyncClient, db: AsyncConnection, dispatcher: users.Account
) -> None:
    wrong = await sign_in(client, "Kim.Dispatcher", "not the password")
    unknown = await sign_in(client, "nobody-at-all")
    await users.set_active(db, username="kim.dispatcher", active=False, now=FROZEN_AT)
    disabled = await sign_in(client, "Kim.Dispatcher")
    for response in (wrong, unknown, disabled):
        assert response.status_code == 401
        assert response.json()["error"] == {
            "code": "invalid_credentials", "message": "wrong username or password",
            "details": None,
        }  # fmt: skip


async def test_failures_make_the_account_wait_longer_each_time_known_or_not(
    client: httpx.AsyncClient, clock: FrozenClock, dispatcher: users.Account
) -> None:
    for name in ("Kim.Dispatcher", "nobody-at-all"):
        for _ in range(4):  # three free failures, the fourth starts the waits
            assert (await sign_in(client, name, "guess")).status_code == 401
        held = await sign_in(client, name)  # even the right password must wait
        assert held.status_code == 429, name
        assert held.headers["retry-after"] == "1"
        assert held.json()["error"]["code"] == "signin_throttled"
        clock.advance(timedelta(seconds=1))
        assert (await sign_in(client, name, "guess")).status_code == 401
        held = await sign_in(client, name)
        assert held.headers["retry-after"] == "2"  # doubled
        clock.advance(timedelta(seconds=2))
    assert (await sign_in(client, "Kim.Dispatcher")).status_code == 200
    # A success clears the account's count: the next failure is free again.
    assert (await sign_in(client, "Kim.Dispatcher", "guess")).status_code == 401
    assert (await sign_in(client, "Kim.Dispatcher")).status_code == 200


async def test_one_address_guessing_many_accounts_is_held_too(
    client: httpx.AsyncClient, clock: FrozenClock, dispatcher: users.Account
) -> None:
    for i in range(21):  # twenty free failures per address (offices share one)
        assert (await sign_in(client, f"user{i}", "guess")).status_code == 401
    assert (await sign_in(client, "Kim.Dispatcher")).status_code == 429
    clock.advance(timedelta(minutes=16))  # a quiet spell
    assert (await sign_in(client, "Kim.Dispatcher")).status_code == 200


def test_backoff_doubles_up_to_its_cap() -> None:
    cap = timedelta(minutes=15)
    waits = [backoff(n, free=3, cap=cap).total_seconds() for n in range(1, 9)]
    assert waits == [0, 0, 0, 1, 2, 4, 8, 16]
    assert backoff(100, free=3, cap=cap) == cap


async def test_a_password_reset_ends_existing_sign_ins(
    client: httpx.AsyncClient, db: AsyncConnection, dispatcher: users.Account
) -> None:
    tokens = (await sign_in(client, "Kim.Dispatcher")).json()
    await users.set_password(
        db, username="Kim.Dispatcher", password_hash=HASHER.hash("another password 2"),
        now=FROZEN_AT,
    )  # fmt: skip
    assert (await client.get("/api/v1/auth/me", headers=bearer(tokens))).status_code == 401
    assert (await sign_in(client, "Kim.Dispatcher")).status_code == 401
    assert (await sign_in(client, "Kim.Dispatcher", "another password 2")).status_code == 200


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"username": "bad name", "role": Role.AGENT}, "invalid_username"),
        ({"username": "d", "role": Role.DISPATCHER}, "invalid"),
        ({"username": "d", "role": Role.DISPATCHER, "districts": ["99999"]}, "unknown_district"),
        ({"username": "a", "role": Role.AGENT, "districts": ["11110"]}, "invalid"),
        ({"username": "i", "role": Role.INSPECTOR}, "invalid"),
        ({"username": "i", "role": Role.INSPECTOR, "inspector_id": 10**9}, "unknown_inspector"),
    ],
)
async def test_accounts_are_checked_when_created(
    db: AsyncConnection, fields: dict[str, Any], code: str
) -> None:
    with pytest.raises(users.Invalid) as raised:
        await users.create_user(db, password_hash="x", now=FROZEN_AT, **fields)
    assert raised.value.code == code


async def test_a_taken_username_is_a_conflict(
    db: AsyncConnection, dispatcher: users.Account
) -> None:
    with pytest.raises(users.Conflict):
        await users.create_user(
            db, username="KIM.DISPATCHER", role=Role.AGENT, password_hash="x", now=FROZEN_AT
        )


def test_dasan_users_creates_disables_and_lists(make_database: Callable[[str], str]) -> None:
    url = make_database("users")
    env = {**os.environ, "DASAN_DATABASE_URL": url, "COLUMNS": "200"}
    env.update({f"DASAN_{k.upper()}": str(v) for k, v in FAST_PASSWORDS.items()})

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DASAN, "users", *args], env=env, input=stdin, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip

    made = run("create", "sup-gangnam", "--role", "supervisor", "--district", "11680",
               "--password-stdin", stdin="a long enough password\n")  # fmt: skip
    assert made.returncode == 0, made.stderr + made.stdout
    short = run("create", "x", "--role", "agent", "--password-stdin", stdin="short\n")
    assert short.returncode != 0 and "at least 10 characters" in short.stdout + short.stderr
    taken = run("create", "SUP-gangnam", "--role", "agent", "--password-stdin",
                stdin="a long enough password\n")  # fmt: skip
    assert taken.returncode != 0
    assert run("disable", "sup-gangnam").returncode == 0
    listed = run("list").stdout
    assert "sup-gangnam" in listed and "11680" in listed and "(disabled)" in listed
    assert run("disable", "nobody").returncode != 0
    ((stored,),) = rows(
        url, "SELECT password_hash FROM user_account WHERE username = 'sup-gangnam'"
    )
    assert stored.startswith("$argon2id$") and "a long enough password" not in stored


# --- console sessions: an HttpOnly cookie, and a CSRF token on writes -------------------------


@pytest.fixture()
def browser_of(
    db: AsyncConnection, settings: Settings, clock: FrozenClock
) -> Callable[..., httpx.AsyncClient]:
    """A client that behaves like a browser on the console: no Authorization header, only
    the cookies the server sets (over http, or https with `secure=True`)."""

    def make(*, secure: bool = False) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app_on(db, settings, clock)),
            base_url="https://testserver" if secure else "http://testserver",
        )

    return make


async def console_sign_in(browser: httpx.AsyncClient, password: str = PASSWORD) -> httpx.Response:
    return await browser.post(
        "/api/v1/auth/session", json={"username": "kim.dispatcher", "password": password}
    )


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header by its cookie's name."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


async def test_a_console_session_is_an_http_only_strict_cookie(
    browser_of: Callable[..., httpx.AsyncClient], dispatcher: users.Account
) -> None:
    async with browser_of() as browser:
        response = await console_sign_in(browser)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["username"] == "Kim.Dispatcher" and body["role"] == "dispatcher"
        assert body["expires_in"] == 12 * 3600 and body["csrf_token"].startswith("dfc_")
        cookies = set_cookies(response)
        session, csrf = cookies["dasan_session"], cookies["dasan_csrf"]
        for header in (session, csrf):
            assert "SameSite=strict" in header and "Path=/" in header
            assert "Max-Age=43200" in header and "Secure" not in header  # plain http
        assert "HttpOnly" in session and "HttpOnly" not in csrf  # the script reads the token
        assert csrf.split(";", 1)[0] == f"dasan_csrf={body['csrf_token']}"
        me = await browser.get("/api/v1/auth/me")
        assert me.status_code == 200 and me.json()["username"] == "Kim.Dispatcher"
    async with browser_of(secure=True) as browser:
        cookies = set_cookies(await console_sign_in(browser))
        assert all("Secure" in header for header in cookies.values())


async def test_console_writes_need_the_sessions_csrf_token_from_this_site(
    browser_of: Callable[..., httpx.AsyncClient], dispatcher: users.Account
) -> None:
    async with browser_of() as browser:
        token = (await console_sign_in(browser)).json()["csrf_token"]
        other = (await console_sign_in(browser_of())).json()["csrf_token"]  # another session
        refused = [
            {},
            {"X-CSRF-Token": "dfc_guessed"},
            {"X-CSRF-Token": other},
            {"X-CSRF-Token": token, "Origin": "https://evil.example"},
            {"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"},
        ]
        for headers in refused:
            response = await browser.post("/api/v1/auth/sign-out", headers=headers)
            assert response.status_code == 403, headers
            assert response.json()["error"]["code"] == "csrf_failed"
        assert (await browser.get("/api/v1/auth/me")).status_code == 200  # still signed in
        done = await browser.post(
            "/api/v1/auth/sign-out",
            headers={"X-CSRF-Token": token, "Origin": "http://testserver",
                     "Sec-Fetch-Site": "same-origin"},
        )  # fmt: skip
        assert done.status_code == 204
        cleared = set_cookies(done)
        assert (
            'dasan_session=""' in cleared["dasan_session"] and "Max-Age=0" in cleared["dasan_csrf"]
        )
        browser.cookies.clear()
        browser.cookies.set("dasan_session", set_cookies(await console_sign_in(browser_of()))
                            ["dasan_session"].split(";")[0].split("=", 1)[1])  # fmt: skip
        assert (await browser.get("/api/v1/auth/me")).status_code == 200


async def test_the_session_ends_on_sign_out_and_after_its_hours(
    browser_of: Callable[..., httpx.AsyncClient],
    dispatcher: users.Account,
    clock: FrozenClock,
) -> None:
    async with browser_of() as browser:
        session = set_cookies(await console_sign_in(browser))["dasan_session"]
        value = session.split(";", 1)[0].split("=", 1)[1]
        # The session's token is no bearer token, and a bearer token is no session.
        as_bearer = await browser.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {value}"}
        )
        assert as_bearer.status_code == 401
        clock.advance(timedelta(hours=11, minutes=59))
        assert (await browser.get("/api/v1/auth/me")).status_code == 200
        clock.advance(timedelta(minutes=2))
        expired = await browser.get("/api/v1/auth/me")
        assert (
            expired.status_code == 401 and "console session" in expired.json()["error"]["message"]
        )


async def test_console_sign_in_is_throttled_like_token_sign_in(
    browser_of: Callable[..., httpx.AsyncClient], dispatcher: users.Account
) -> None:
    async with browser_of() as browser:
        statuses = [(await console_sign_in(browser, "wrong password")).status_code
                    for _ in range(4)]  # fmt: skip
        assert statuses == [401] * 4  # three free failures, the fourth starts the waits
        held = await console_sign_in(browser)  # even the right password must wait
        assert held.status_code == 429 and held.headers["retry-after"] == "1"
        assert "dasan_session" not in browser.cookies
