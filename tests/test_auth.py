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
from tests.conftest import FAST_PASSWORDS, FROZEN_AT
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
