"""Pushes to inspectors through firebase-admin, for real, against a local FCM on 127.0.0.1.

The fake FCM speaks HTTP v1 (`POST /v1/projects/{project}/messages:send`): it answers a
message name, or 404 UNREGISTERED for a token the test says is gone. The credentials are a
service-account file with a fresh RSA key in a universe other than Google's, so
google-auth signs its own token and nothing leaves the machine.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.clock import FrozenClock
from notifications.push import FcmPush
from notifications.sms import FileSink
from notifications.worker import DeliveryReport, Policy, deliver
from tests.auth import AS_INSPECTOR
from tests.factories import JONGNO
from tests.test_dispatch import make_inspector, make_team, move, new_case
from tests.test_notifications import TEMPLATES, LocalServer
from tests.test_sla import Transaction, transaction  # noqa: F401 (a fixture)

pytestmark = pytest.mark.anyio
PROJECT = "dasan-test"
UNREGISTERED = {
    "error": {
        "code": 404,
        "message": "Requested entity was not found.",
        "status": "NOT_FOUND",
        "details": [
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": "UNREGISTERED",
            }
        ],
    }
}


class FakeFcm:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        numbers = itertools.count(1)
        fcm = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fcm.received.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), **body}
                )
                token = body["message"].get("fid") or body["message"]["token"]
                if token.startswith("gone-"):
                    status, answer = 404, UNREGISTERED
                else:
                    status, answer = 200, {"name": f"projects/{PROJECT}/messages/{next(numbers)}"}
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return None

        self.local = LocalServer(Handler)
        self.endpoint = (
            f"http://127.0.0.1:{self.local.port}/v1/projects/{{project_id}}/messages:send"
        )

    def close(self) -> None:
        self.local.close()


@pytest.fixture()
def fcm() -> Iterator[FakeFcm]:
    fake = FakeFcm()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def service_account(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path_factory.mktemp("fcm") / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "test-key",
                "private_key": pem,
                "client_email": f"push@{PROJECT}.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "http://127.0.0.1:9/token",
                "universe_domain": "test.invalid",
            }
        )
    )
    return path


def target(sent: dict[str, Any]) -> str:
    """The registration token a message went to (firebase-admin 7.7 calls it "fid")."""
    return str(sent["message"].get("fid") or sent["message"].get("token"))


async def register(client: httpx.AsyncClient, inspector: int, token: str) -> None:
    response = await client.post(
        "/api/v1/field/devices", json={"token": token}, headers={AS_INSPECTOR: str(inspector)}
    )
    assert response.status_code == 201, response.text


async def deliver_through(
    fcm: FakeFcm,
    service_account: Path,
    transaction: Transaction,  # noqa: F811
    clock: FrozenClock,
    tmp_path: Path,
) -> DeliveryReport:
    """One delivery run with firebase-admin pointed at the fake FCM."""
    push = FcmPush(service_account, endpoint=fcm.endpoint)
    try:
        return await deliver(
            transaction, now=clock.now, templates=TEMPLATES, sms=FileSink(tmp_path / "s"),
            push=push, policy=Policy(), rng=random.Random(1),
        )  # fmt: skip
    finally:
        await push.aclose()


async def devices(db: AsyncConnection) -> list[str]:
    return [r.token for r in await db.execute(text("SELECT token FROM device ORDER BY id"))]


async def test_an_assignment_is_pushed_and_a_gone_token_dropped(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    clock: FrozenClock,
    transaction: Transaction,  # noqa: F811
    fcm: FakeFcm,
    service_account: Path,
    tmp_path: Path,
) -> None:
    team = await make_team(db, "11110", ["illegal_parking"])
    inspector = await make_inspector(db, team, lat=JONGNO["lat"], lon=JONGNO["lon"])
    good, gone = "phone-a-" + "a" * 40, "gone-phone-b-" + "b" * 40
    await register(client, inspector, good)
    await register(client, inspector, gone)
    case = await new_case(client, reporter=None)
    moved = await move(client, case["id"], version=1, to="assigned", inspector_id=inspector)
    assert moved.status_code == 200

    report = await deliver_through(fcm, service_account, transaction, clock, tmp_path)
    assert (report.sent, report.tokens_dropped) == (1, 1)
    assert sorted(target(m) for m in fcm.received) == sorted([good, gone])
    sent = next(m for m in fcm.received if target(m) == good)
    assert sent["path"] == f"/v1/projects/{PROJECT}/messages:send"
    assert sent["auth"].startswith("Bearer ")
    assert sent["message"]["notification"] == {
        "title": f"새 민원 배정 {case['ticket']}",
        "body": f"불법 주정차 · {case['address']}",
    }
    assert sent["message"]["data"] == {"template": "assigned_to_you", "ticket": case["ticket"]}
    assert sent["message"]["android"]["priority"] == "high"
    assert await devices(db) == [good]  # the unregistered phone is forgotten
    (row,) = list(
        await db.execute(
            text("SELECT status, provider_id, kind FROM outbox_message WHERE channel = 'push'")
        )
    )
    assert tuple(row) == ("sent", f"projects/{PROJECT}/messages/1", "push")


async def test_a_push_with_no_phone_left_is_skipped_not_retried(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    clock: FrozenClock,
    transaction: Transaction,  # noqa: F811
    fcm: FakeFcm,
    service_account: Path,
    tmp_path: Path,
) -> None:
    team = await make_team(db, "11110", ["illegal_parking"])
    with_gone, without = [
        await make_inspector(db, team, lat=JONGNO["lat"], lon=JONGNO["lon"]) for _ in range(2)
    ]
    await register(client, with_gone, "gone-only-" + "c" * 40)
    for inspector in (with_gone, without):
        case = await new_case(client, reporter=None)
        await move(client, case["id"], version=1, to="assigned", inspector_id=inspector)
    report = await deliver_through(fcm, service_account, transaction, clock, tmp_path)
    assert report.skipped == 2 and report.sent == 0
    reasons = [
        r.last_error
        for r in await db.execute(
            text("SELECT last_error FROM outbox_message WHERE channel = 'push' ORDER BY id")
        )
    ]
    assert reasons == ["every device token was unregistered", "no registered device"]
    assert await devices(db) == []
    assert len(fcm.received) == 1  # the phone that had none was never tried
