"""The simulator's hands: the public HTTP API as an agent, a dispatcher and inspectors use
it. Each caller signs in with its own account and signs in again when its token runs out
(a simulated day outlasts a token)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx


class ApiFailed(RuntimeError):
    """The server answered a call the simulation cannot go on without with an error."""

    def __init__(self, what: str, response: httpx.Response) -> None:
        super().__init__(f"{what}: {response.status_code} {response.text[:300]}")
        self.status_code = response.status_code
        self.body = response.text


@dataclass
class Account:
    """A signed-in account: its name and password, its current token."""

    username: str
    password: str
    token: str | None = None


@dataclass
class Calls:
    """How many calls the simulation made, by kind."""

    made: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> None:
        self.made[kind] = self.made.get(kind, 0) + 1


class Api:
    """One HTTP client for every simulated caller (sequential calls, one connection)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self.calls = Calls()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _sign_in(self, account: Account) -> None:
        answer = await self.http.post(
            "/api/v1/auth/token",
            json={"username": account.username, "password": account.password},
        )
        self.calls.count("sign_in")
        if answer.status_code != 200:
            raise ApiFailed(f"signing in as {account.username}", answer)
        account.token = answer.json()["access_token"]

    async def call(
        self, account: Account, kind: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        """One call as `account` (signed in first, and again once on a 401)."""
        for attempt in (1, 2):
            if account.token is None:
                await self._sign_in(account)
            headers = {"Authorization": f"Bearer {account.token}", **kwargs.pop("headers", {})}
            answer = await self.http.request(method, path, headers=headers, **kwargs)
            if answer.status_code == 401 and attempt == 1:
                account.token = None
                continue
            self.calls.count(kind)
            return answer
        raise AssertionError("unreachable")

    # -- the agent ---------------------------------------------------------------------

    async def log_complaint(self, agent: Account, body: dict[str, Any]) -> httpx.Response:
        return await self.call(agent, "intake", "POST", "/api/v1/complaints", json=body)

    # -- the dispatcher ----------------------------------------------------------------

    async def candidates(self, dispatcher: Account, complaint_id: int) -> list[dict[str, Any]]:
        answer = await self.call(
            dispatcher,
            "candidates",
            "GET",
            f"/api/v1/dispatch/complaints/{complaint_id}/candidates",
        )
        if answer.status_code != 200:
            raise ApiFailed("ranking candidates", answer)
        return list(answer.json()["candidates"])

    async def assign(
        self,
        dispatcher: Account,
        complaint_id: int,
        *,
        inspector_id: int,
        version: int,
        reason: str | None = None,
    ) -> httpx.Response:
        """Give the case to the inspector (a reassignment says why: `reason`)."""
        move: dict[str, Any] = {"to": "assigned", "inspector_id": inspector_id, "version": version}
        if reason is not None:
            move["reason"] = reason
        return await self.call(
            dispatcher, "assign", "POST", f"/api/v1/dispatch/complaints/{complaint_id}/transitions",
            json=move,
        )  # fmt: skip

    async def stats(self, supervisor: Account, path: str, params: dict[str, Any]) -> Any:
        answer = await self.call(supervisor, "stats", "GET", path, params=params)
        if answer.status_code != 200:
            raise ApiFailed(f"reading {path}", answer)
        return answer.json()

    # -- an inspector ------------------------------------------------------------------

    async def duty(self, inspector: Account, on_duty: bool) -> None:
        answer = await self.call(
            inspector, "duty", "POST", "/api/v1/field/duty", json={"on_duty": on_duty}
        )
        if answer.status_code != 200:
            raise ApiFailed("changing duty", answer)

    async def position(self, inspector: Account, lat: float, lon: float, at: datetime) -> None:
        ping = {"lat": lat, "lon": lon, "accuracy_m": 8.0, "at": at.isoformat()}
        answer = await self.call(
            inspector, "position", "POST", "/api/v1/field/positions", json={"pings": [ping]}
        )
        if answer.status_code not in (200, 202):
            raise ApiFailed("sending a position", answer)

    async def move(
        self, inspector: Account, complaint_id: int, body: dict[str, Any]
    ) -> httpx.Response:
        # The field app's resend key: one per move (its case, target and version).
        key = f"sim-{complaint_id}-{body['to']}-{body['version']}"
        return await self.call(
            inspector, f"field_{body['to']}", "POST",
            f"/api/v1/field/complaints/{complaint_id}/transitions", json=body,
            headers={"Idempotency-Key": key},
        )  # fmt: skip
