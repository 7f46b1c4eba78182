"""Texts through a real Kannel (bearerbox, smsbox, the test SMS centre) from a real server.

`dasan serve` delivers the outbox through Kannel's smsbox; fakesmsc, standing in for the
operator, shows what reached the phones; Kannel's delivery reports come back to the
server's receipt endpoint and land on the case timelines. Then the gateway goes down and
comes back, and two `dasan outbox deliver` processes share one outbox.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests import kannel as kannel_harness
from tests.auth import city_agent, jongno_dispatcher
from tests.factories import complaint_body
from tests.kannel import PASSWORD, USERNAME, Kannel
from tests.test_server import free_port, jongno_inspectors, rows, running_server

pytestmark = pytest.mark.server
DASAN = str(Path(sys.executable).with_name("dasan"))
PHONE_A, PHONE_B = "+821055501001", "+821055501002"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kannel]:
    assert kannel_harness.installed(), "Kannel is missing: scripts/system-deps.sh installs it"
    running = Kannel(tmp_path_factory.mktemp("kannel")).start()
    yield running
    running.stop()


def kannel_env(gateway: Kannel, url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DASAN_DATABASE_URL": url,
        "DASAN_PORT": str(port),
        "DASAN_WORKERS": "1",
        "DASAN_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DASAN_SMS_GATEWAY": "kannel",
        "DASAN_SMS_GATEWAY_URL": gateway.sendsms_url,
        "DASAN_SMS_GATEWAY_USERNAME": USERNAME,
        "DASAN_SMS_GATEWAY_PASSWORD": PASSWORD,
        "DASAN_QUIET_HOURS": "",  # the tests run at any hour
        "DASAN_OUTBOX_POLL_SECONDS": "0.2",
        "DASAN_OUTBOX_BACKOFF_SECONDS": "0.5",
        "DASAN_SLA_SWEEP_IN_SERVE": "false",
    }


@pytest.fixture(scope="module")
def server(
    gateway: Kannel,
    make_database: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str]]:
    url = make_database("kannel")
    env = kannel_env(gateway, url, free_port())
    with running_server(env, tmp_path_factory.mktemp("serve") / "serve.log") as base:
        yield base, url


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def post(base: str, url: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/api/v1/complaints", json=complaint_body(**body), headers=city_agent(url),
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_cases_life_reaches_the_phones_in_their_language(
    server: tuple[str, str], gateway: Kannel
) -> None:
    base, url = server
    (inspector,) = jongno_inspectors(url, "lamp team", 1)
    before = len(gateway.received())
    case = post(base, url, category="street_lamp", reporter={"phone": PHONE_A, "language": "en"})
    twin = post(
        base, url, category="street_lamp", location=case["location"],
        reporter={"phone": PHONE_B, "language": "vi"},
    )  # fmt: skip
    assert twin["status"] == "duplicate"
    version = case["version"]
    for step in (
        {"to": "assigned", "inspector_id": inspector},
        {"to": "accepted"},
        {"to": "en_route"},
        {"to": "on_site"},
        {"to": "resolved", "result_code": "fixed_on_site"},
    ):
        moved = httpx.post(
            f"{base}/api/v1/dispatch/complaints/{case['id']}/transitions",
            json={"version": version, **step},
            headers=jongno_dispatcher(url),
            timeout=10,
        )
        assert moved.status_code == 200, moved.text
        version = moved.json()["version"]

    got = gateway.wait_for(before + 5)[before:]
    ids = [case["id"], twin["id"]]

    def recorded() -> bool:  # the worker commits its batch after the operator has the texts
        found = rows(
            url,
            "SELECT status FROM outbox_message WHERE channel = 'sms' AND complaint_id = ANY(:ids)",
            ids=ids,
        )
        return len(found) == 5 and all(r.status in ("sent", "delivered") for r in found)

    wait_until(recorded, "the outbox to record the texts")
    sent = rows(
        url,
        "SELECT recipient, template, language, body, status FROM outbox_message"
        " WHERE channel = 'sms' AND complaint_id = ANY(:ids) ORDER BY id",
        ids=[case["id"], twin["id"]],
    )
    assert [(r.recipient, r.template, r.language) for r in sent] == [
        (PHONE_A, "received", "en"),
        (PHONE_B, "duplicate", "vi"),
        (PHONE_A, "assigned", "en"),
        (PHONE_A, "resolved", "en"),
        (PHONE_B, "resolved", "vi"),
    ]
    # What the operator got is what the outbox says it sent, once each, from "120".
    assert sorted((g.to, g.text) for g in got) == sorted((r.recipient, r.body) for r in sent)
    assert {g.sender for g in got} == {"120"}
    assert all(case["ticket"] in r.body for r in sent if r.recipient == PHONE_A)
    assert all(twin["ticket"] in r.body for r in sent if r.recipient == PHONE_B)
    assert sent[0].body.startswith("[Seoul 120] Your Broken street lamp report is received")
    assert sent[4].body.startswith(f"[Seoul 120] Mã số {twin['ticket']}: phản ánh")

    # Kannel's delivery reports come back and land on each case's timeline.
    def settled() -> bool:
        statuses = rows(
            url,
            "SELECT status FROM outbox_message WHERE channel = 'sms' AND complaint_id = ANY(:ids)",
            ids=[case["id"], twin["id"]],
        )
        return {s.status for s in statuses} == {"delivered"}

    wait_until(settled, "delivery reports")
    timeline = httpx.get(
        f"{base}/api/v1/complaints/{case['ticket']}/events",
        headers=jongno_dispatcher(url),
        timeout=10,
    ).json()
    delivered = [e for e in timeline["events"] if e["type"] == "sms_delivered"]
    assert len(delivered) == 3 and {e["actor"] for e in delivered} == {"system:sms"}


def test_gateway_down_then_back_delivers_each_text_once(
    server: tuple[str, str], gateway: Kannel
) -> None:
    base, url = server
    # smsbox down: the connection is refused, the worker retries.
    gateway.stop_process("smsbox")
    phones = [f"+8210555020{i:02d}" for i in range(4)]
    cases = [post(base, url, reporter={"phone": p, "language": "ko"}) for p in phones[:2]]

    def attempts_failed() -> bool:
        found = rows(
            url,
            "SELECT attempts, status, last_error FROM outbox_message"
            " WHERE complaint_id = ANY(:ids)",
            ids=[c["id"] for c in cases],
        )
        return len(found) == 2 and all(
            r.attempts >= 1 and r.status == "pending" and "unreachable" in r.last_error
            for r in found
        )

    wait_until(attempts_failed, "failed attempts while smsbox is down")
    gateway.start_smsbox()
    # The operator down: Kannel takes the texts and queues them.
    gateway.stop_process("fakesmsc")
    cases += [post(base, url, reporter={"phone": p, "language": "ko"}) for p in phones[2:]]

    def all_sent() -> bool:
        found = rows(
            url,
            "SELECT status FROM outbox_message WHERE complaint_id = ANY(:ids)",
            ids=[c["id"] for c in cases],
        )
        return len(found) == 4 and all(r.status in ("sent", "delivered") for r in found)

    wait_until(all_sent, "the texts to reach Kannel")
    assert not [g for g in gateway.received() if g.to in phones[2:]]  # queued, not out yet
    gateway.start_operator()
    wait_until(
        lambda: len([g for g in gateway.received() if g.to in phones]) >= 4,
        "queued texts to reach the operator",
    )
    time.sleep(1)  # anything sent twice would show up by now
    counts = collections.Counter(g.to for g in gateway.received() if g.to in phones)
    assert counts == dict.fromkeys(phones, 1)


def test_two_workers_never_send_the_same_row(
    gateway: Kannel,
    make_database: Callable[[str], str],
    tmp_path: Path,
) -> None:
    url = make_database("outbox")
    count = 300
    phones = [f"+82105560{i:04d}" for i in range(count)]
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox_message (channel, recipient, template, language, payload,"
                " idempotency_key, next_attempt_at, created_at)"
                " SELECT 'sms', p, 'received', 'en',"
                " jsonb_build_object('ticket', 'T-' || n, 'category_name', 'Test'),"
                " 'two-workers:' || n, now(), now()"
                " FROM unnest(CAST(:phones AS text[])) WITH ORDINALITY AS u(p, n)"
            ),
            {"phones": phones},
        )
    engine.dispose()
    env = {
        **kannel_env(gateway, url, free_port()),
        "DASAN_OUTBOX_BATCH": "20",  # small batches: the two claim in turns
    }
    outputs = [(tmp_path / f"w{i}.log").open("w") for i in range(2)]
    workers = [
        subprocess.Popen(
            [DASAN, "outbox", "deliver"], env=env, start_new_session=True, stdout=output,
            stderr=subprocess.STDOUT,
        )
        for output in outputs
    ]  # fmt: skip
    try:
        for worker in workers:
            assert worker.wait(timeout=120) == 0, (tmp_path / "w0.log").read_text()
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=5)
        for output in outputs:
            output.close()
    logs = [(tmp_path / f"w{i}.log").read_text() for i in range(2)]
    sent_by = [int(log.split(" sent")[0].split()[-1]) for log in logs]
    assert sum(sent_by) == count and min(sent_by) > 0, logs  # both took a share
    states = rows(url, "SELECT status, attempts, count(*) AS n FROM outbox_message GROUP BY 1, 2")
    assert [(s.status, s.attempts, s.n) for s in states] == [("sent", 1, count)]
    wait_until(
        lambda: len({g.to for g in gateway.received()} & set(phones)) == count,
        "every text at the operator",
    )
    counts = collections.Counter(g.to for g in gateway.received() if g.to in set(phones))
    assert set(counts.values()) == {1}, [p for p, n in counts.items() if n > 1]
