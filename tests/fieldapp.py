"""The field app's tests' shared parts: a real `dasan serve` on its own database, inspector
accounts with a password, the loopback proxy (tests/netcut.py), cases assigned by a
dispatcher. Fixtures: `field_server`, `field_net`, `field_inspector` (registered in
conftest.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dispatch_server.accounts.credentials import Passwords
from tests.auth import city_agent, jongno_dispatcher
from tests.factories import complaint_body
from tests.netcut import NetCut, netcut
from tests.test_server import free_port, jongno_inspectors, running_server

PASSWORD = "field app password"
CHEAP = Passwords(time_cost=1, memory_kib=64, parallelism=1)


@dataclass
class Server:
    base: str
    url: str  # its database

    def agent(self) -> dict[str, str]:
        return city_agent(self.url)

    def dispatcher(self) -> dict[str, str]:
        return jongno_dispatcher(self.url)

    def case(self, **body: Any) -> dict[str, Any]:
        answer = httpx.post(f"{self.base}/api/v1/complaints", json=complaint_body(**body),
                            headers=self.agent(), timeout=10)  # fmt: skip
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def move(self, case: dict[str, Any], **body: Any) -> dict[str, Any]:
        current = self.get(case)
        answer = httpx.post(
            f"{self.base}/api/v1/dispatch/complaints/{case['id']}/transitions",
            json={"version": current["version"], **body}, headers=self.dispatcher(), timeout=10,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def get(self, case: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.get(f"{self.base}/api/v1/complaints/{case['ticket']}",
                           headers=self.agent(), timeout=10)  # fmt: skip
        return dict(answer.json())

    def timeline(self, case: dict[str, Any]) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.base}/api/v1/complaints/{case['ticket']}/events",
                           headers=self.agent(), timeout=10)  # fmt: skip
        return list(answer.json()["events"])

    def photos(self, case: dict[str, Any]) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.base}/api/v1/dispatch/complaints/{case['id']}/photos",
                           headers=self.dispatcher(), timeout=10)  # fmt: skip
        return list(answer.json()["photos"])

    def sql(self, statement: str, **params: Any) -> Any:
        engine = create_engine(self.url, poolclass=NullPool)
        with engine.begin() as connection:
            result = connection.execute(text(statement), params)
            value = result.all() if result.returns_rows else None
        engine.dispose()
        return value


@pytest.fixture(scope="module")
def field_server(
    make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    url = make_database("fieldapp")
    env = {**os.environ, "DASAN_DATABASE_URL": url, "DASAN_PORT": str(free_port()),
           "DASAN_WORKERS": "1", "DASAN_STREAM_POLL_SECONDS": "0.1",
           "DASAN_STREAM_HEARTBEAT_SECONDS": "1"}  # fmt: skip
    with running_server(env, tmp_path_factory.mktemp("fieldapp") / "serve.log") as base:
        yield Server(base, url)


@dataclass
class Inspector:
    id: int
    username: str


def new_inspector(server: Server) -> Inspector:
    """An on-duty inspector of Jongno-gu with an account and PASSWORD."""
    (inspector_id,) = jongno_inspectors(server.url, f"field team {uuid.uuid4().hex[:6]}", 1)
    username = f"field-{inspector_id}"
    server.sql(
        "INSERT INTO user_account (username, display_name, role, districts, inspector_id,"
        " password_hash, active, created_at, password_changed_at) VALUES (:u, :u, 'inspector',"
        " '{}', :i, :h, true, now(), now())",
        u=username, i=inspector_id, h=CHEAP.hash(PASSWORD),
    )  # fmt: skip
    return Inspector(inspector_id, username)


@pytest.fixture()
def field_net(field_server: Server) -> Iterator[NetCut]:
    with netcut(int(field_server.base.rsplit(":", 1)[1])) as proxy:
        yield proxy


@pytest.fixture()
def field_inspector(field_server: Server) -> Inspector:
    return new_inspector(field_server)


def assigned_case(server: Server, inspector: Inspector, **body: Any) -> dict[str, Any]:
    case = server.case(**body)
    return server.move(case, to="assigned", inspector_id=inspector.id)
