"""Faults, for real: what a crash, a database restart, an SMS gateway outage, several
processes on one database and a phone's lost connection do, and that nothing acknowledged is
lost and nothing happens twice.

Every test here is marked `fault` (and runs in `make test`). Each is bounded in time, talks
to 127.0.0.1 only, and stops every process it starts by its process group id. The SMS operator
is the only part faked: a local HTTP server speaking the generic gateway's protocol.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx2 as httpx
import pytest

from dispatch_server.accounts.credentials import Role
from dispatch_server.clock import FileClock
from dispatch_server.simulation.world import stop_group
from field_app.services.field import FieldService
from field_app.services.sync import Cases, Syncer
from tests.auth import committed_headers
from tests.factories import complaint_body
from tests.fieldapp import PASSWORD, Inspector, Server, assigned_case
from tests.netcut import NetCut
from tests.pgcluster import own_cluster
from tests.test_open311_server import make_key
from tests.test_photos import jpeg
from tests.test_server import ServeProcess, free_port, rows

pytestmark = [pytest.mark.server, pytest.mark.fault]

DASAN = str(Path(sys.executable).with_name("dasan"))


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll `condition` until true; the seconds it took (an AssertionError after `seconds`)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.1)
    return time.monotonic() - started


# --- a complaint load, as agents' consoles send it ---------------------------------------------


class Load:
    """Threads logging complaints as fast as they are answered, each report with its own
    Idempotency-Key (as the intake console sends it), against `bases` in turn.

    A report answered 201 is acknowledged; one that got no answer, or a 503, is unanswered
    (it may or may not be stored): `resend()` sends those again with the same key and body.
    """

    def __init__(self, bases: list[str], headers: dict[str, str], tag: str, threads: int = 4):
        self.bases, self.headers, self.tag = bases, headers, tag
        self.bodies: dict[str, dict[str, Any]] = {}
        self.acknowledged: dict[str, int] = {}  # key -> complaint id
        self.unanswered: set[str] = set()
        self.statuses: Counter[int | str] = Counter()
        self.answered_at: list[float] = []  # monotonic times of the 201s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self, lane: int) -> None:
        with httpx.Client(timeout=5) as client:
            sent = 0
            while not self._stop.is_set():
                key = f"{self.tag}-{uuid.uuid4()}"
                body = complaint_body(description=f"{self.tag} {key}")
                with self._lock:
                    self.bodies[key] = body
                base = self.bases[(lane + sent) % len(self.bases)]
                sent += 1
                if not self._send(client, base, key):
                    time.sleep(0.05)  # a console's pause before its next report

    def _send(self, client: httpx.Client, base: str, key: str) -> bool:
        try:
            answer = client.post(f"{base}/api/v1/complaints", json=self.bodies[key],
                                 headers=self.headers | {"Idempotency-Key": key})  # fmt: skip
        except httpx.TransportError as error:
            with self._lock:
                self.statuses[type(error).__name__] += 1
                self.unanswered.add(key)
            return False
        with self._lock:
            self.statuses[answer.status_code] += 1
            if answer.status_code == 201:
                self.acknowledged[key] = int(answer.json()["id"])
                self.unanswered.discard(key)
                self.answered_at.append(time.monotonic())
                return True
            self.unanswered.add(key)
        return False

    def resend(self, seconds: float = 30) -> None:
        """Send every unanswered report again (same key, same body) until each is answered."""
        deadline = time.monotonic() + seconds
        with httpx.Client(timeout=5) as client:
            while self.unanswered:
                assert time.monotonic() < deadline, f"still unanswered: {len(self.unanswered)}"
                for key in sorted(self.unanswered):
                    self._send(client, self.bases[0], key)

    def stored(self, url: str) -> Counter[str]:
        """How many complaints of this load are in the database, by key."""
        found = rows(url, "SELECT description FROM complaint WHERE description LIKE :tag",
                     tag=f"{self.tag} %")  # fmt: skip
        return Counter(description.split(" ", 1)[1] for (description,) in found)


# --- the SMS operator, faked -------------------------------------------------------------------


class Operator:
    """An SMS operator's HTTP gateway on 127.0.0.1:`port`: `GET /send?...&ref=<message id>`.

    `stop()` closes its port (connections refused), `failing = True` makes it answer 503
    (up but broken); `received` counts each message id it took."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/send"
        self.received: Counter[str] = Counter()
        self.failing = False
        self._server: ThreadingHTTPServer | None = None

    def options(self) -> dict[str, str]:
        """The product's settings to speak to it (DASAN_SMS_*)."""
        return {
            "DASAN_SMS_GATEWAY": "http",
            "DASAN_SMS_GATEWAY_URL": self.url,
            "DASAN_SMS_HTTP_OPTIONS": json.dumps(
                {"receipt_param": "ref", "receipt_url": "{id}", "accepted": "^OK"}
            ),
        }

    def start(self) -> None:
        operator = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                if operator.failing:
                    status, body = 503, b"Service Unavailable"
                else:
                    operator.received[query["ref"]] += 1
                    status, body = 200, f"OK {uuid.uuid4().hex[:12]}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def operator() -> Iterator[Operator]:
    running = Operator()
    try:
        yield running
    finally:
        running.stop()


@contextmanager
def workers(env: dict[str, str], logs: list[Path]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """A `dasan worker` per log file (each in its own process group) until the block ends."""
    processes = []
    try:
        for log in logs:
            with log.open("w") as out:
                processes.append(
                    subprocess.Popen([DASAN, "worker"], env=env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
                )  # fmt: skip
        yield processes
    finally:
        for process in processes:
            stop_group(process)


def swept(log: Path) -> int:
    """The SLA steps a process says it took (its log's sweep lines)."""
    return sum(int(n) for n in re.findall(r"SLA sweep: (\d+) steps", log.read_text()))


def server_env(url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "DASAN_DATABASE_URL": url, "DASAN_PORT": str(free_port()),
            "DASAN_WORKERS": "2", "DASAN_QUIET_HOURS": "", **extra}  # fmt: skip


# --- the tests ---------------------------------------------------------------------------------


def test_kill_9_of_the_api_mid_load_loses_no_acknowledged_complaint(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    url = make_database("faults")
    server = ServeProcess(server_env(url), tmp_path / "serve.log")
    server.start()
    try:
        with Load([server.base], committed_headers(url, Role.AGENT), "kill9") as load:
            wait_for(lambda: len(load.acknowledged) >= 150, 60, "150 complaints acknowledged")
            server.kill()  # kill -9, the workers with it, requests in flight
            killed_with = len(load.acknowledged)
            time.sleep(1)  # the consoles keep sending into the void meanwhile
        # Every acknowledged complaint is in the database already, before any restart.
        stored = load.stored(url)
        assert all(stored[key] == 1 for key in load.acknowledged), "an acknowledged one is lost"
        assert load.unanswered, "the kill met no request on its way (the load is too slow?)"
        server.start()
        load.resend()  # the consoles send what got no answer again, with the same keys
        stored = load.stored(url)
    finally:
        server.stop()
    assert set(stored) == set(load.bodies)  # every report sent is stored...
    assert set(stored.values()) == {1}, "stored twice"  # ...once
    assert killed_with >= 150 and set(load.statuses) <= {201, "ConnectError", "ReadError",
                                                        "RemoteProtocolError"}  # fmt: skip
    # The acknowledged ids are the stored ones (a resend's answer is the first answer).
    ids = dict(rows(url, "SELECT split_part(description, ' ', 2), id FROM complaint"
                         " WHERE description LIKE 'kill9 %'"))  # fmt: skip
    assert ids == load.acknowledged


@contextmanager
def open311_posts(base: str, key: str, lanes: int = 8) -> Iterator[list[str]]:
    """Open311 posts from `lanes` threads until the block ends (each to its own point);
    the tokens of the ones answered 200, as they come."""
    acknowledged: list[str] = []
    stop = threading.Event()

    def post_until_stopped(lane: int) -> None:
        with httpx.Client(base_url=base, timeout=10) as client:
            i = 0
            while not stop.is_set():
                i += 1
                data = {"api_key": key, "service_code": "street_lamp", "attribute[problem]": "off",
                        "lat": f"{37.5704 + 0.0001 * (i % 50):.6f}",
                        "long": f"{126.9920 + 0.0001 * lane:.6f}"}  # fmt: skip
                try:
                    answer = client.post("/open311/v2/requests.json", data=data)
                except httpx.HTTPError:
                    continue
                if answer.status_code == 200:
                    acknowledged.append(answer.json()[0]["token"])

    threads = [threading.Thread(target=post_until_stopped, args=(n,)) for n in range(lanes)]
    for thread in threads:
        thread.start()
    try:
        yield acknowledged
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)


_TOKEN_CASES = (
    "SELECT payload #>> '{open311,token}', count(*) FROM complaint_event"
    " WHERE type = 'received' AND payload ? 'open311' GROUP BY 1"
)


def test_kill_9_with_open311_posts_queued_loses_none_and_makes_each_once(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    url = make_database("faults_open311")
    # Every post queued; a dead process's claimed rows are free again 3 s after it died.
    env = server_env(url, DASAN_OPEN311_DEFER="always", DASAN_OPEN311_QUEUE_LEASE_SECONDS="3")
    key = make_key(env, "kill app")
    server = ServeProcess(env, tmp_path / "serve.log")
    server.start()
    try:
        with open311_posts(server.base, key) as acknowledged:
            wait_for(lambda: len(acknowledged) >= 300, 60, "300 posts acknowledged")
            server.kill()  # kill -9, the drains with it
        tokens = list(acknowledged)
        queued = {t for (t,) in rows(url, "SELECT token FROM open311_queue")}
        made_cases = {t for t, _ in rows(url, _TOKEN_CASES)}
        # Every acknowledged post is stored, as a row of the queue or as a case already.
        assert set(tokens) <= queued | made_cases, "an acknowledged post is lost"
        assert set(tokens) & queued, "the kill found the queue empty (the drain kept up?)"
        server.start()  # the new processes make cases of what the dead ones left
        wait_for(lambda: rows(url, "SELECT count(*) FROM open311_queue")[0][0] == 0, 60,
                 "the queue emptied after the restart")  # fmt: skip
        counts = dict(rows(url, _TOKEN_CASES))
        answered = httpx.get(f"{server.base}/open311/v2/tokens/{tokens[0]}.json", timeout=10)
    finally:
        server.stop()
    assert all(counts.get(token) == 1 for token in tokens), "a post made no case, or two"
    assert "service_request_id" in answered.json()[0]
    print(f"{len(tokens)} acknowledged, {len(set(tokens) & queued)} still queued at the kill")


def test_open311_posts_queued_when_the_database_goes_away_are_made_cases_after(
    tmp_path: Path,
) -> None:
    with own_cluster() as cluster:
        env = server_env(
            cluster.url, DASAN_OPEN311_DEFER="always", DASAN_OPEN311_QUEUE_LEASE_SECONDS="3",
            DASAN_OPEN311_QUEUE_SECONDS="0.5",
        )  # fmt: skip
        key = make_key(env, "restart app")
        log = tmp_path / "serve.log"
        server = ServeProcess(env, log)
        server.start()
        try:
            with open311_posts(server.base, key) as acknowledged:
                wait_for(lambda: len(acknowledged) >= 300, 60, "300 posts acknowledged")
                cluster.stop()  # mid-load: the drains are making cases of a backlog
            tokens = list(acknowledged)  # the posting has stopped: every answer is in
            time.sleep(3)  # down for a while: every drain round fails meanwhile
            cluster.start()
            wait_for(lambda: rows(cluster.url, "SELECT count(*) FROM open311_queue")[0][0] == 0,
                     60, "the queue emptied once the database was back")  # fmt: skip
            counts = dict(rows(cluster.url, _TOKEN_CASES))
        finally:
            server.stop()
    met = log.read_text(errors="replace")
    assert "open311 queue drain failed" in met or "not made a case; retried" in met, (
        "the drains never met the outage"
    )
    assert all(counts.get(token) == 1 for token in tokens), "a post made no case, or two"
    print(f"{len(tokens)} acknowledged before the database stopped, each one case after")


def test_the_server_rides_out_a_database_restart(tmp_path: Path) -> None:
    with own_cluster() as cluster:
        server = ServeProcess(server_env(cluster.url), tmp_path / "serve.log")
        server.start()
        try:
            with Load([server.base], committed_headers(cluster.url, Role.AGENT), "pg") as load:
                wait_for(lambda: len(load.acknowledged) >= 100, 60, "100 acknowledged")
                cluster.stop()  # a fast shutdown: every session is cut
                time.sleep(3)  # down for a while: answers now are 503s, never 500s
                during = len(load.acknowledged)
                cluster.start()
                back = time.monotonic()
                recovered = wait_for(lambda: any(t > back for t in load.answered_at), 10,
                                     "a 201 within 10 s of the database's return")  # fmt: skip
                health = httpx.get(f"{server.base}/healthz", timeout=5).status_code
                wait_for(lambda: len(load.acknowledged) >= during + 100, 30, "100 more")
            load.resend()
            stored = load.stored(cluster.url)
            events = rows(cluster.url, "SELECT count(*) FROM complaint_event e JOIN complaint c"
                          " ON c.id = e.complaint_id WHERE c.description LIKE 'pg %'"
                          " AND e.type = 'received'")[0][0]  # fmt: skip
        finally:
            server.stop()
    print(f"recovered {recovered:.2f} s after the database came back; {dict(load.statuses)}")
    assert recovered < 10 and health == 200
    assert load.statuses[503] > 0, "the outage was not seen (too short?)"
    assert 500 not in load.statuses
    assert set(stored) == set(load.bodies) and set(stored.values()) == {1}
    assert events == len(stored)  # each with its timeline entry


def test_an_sms_gateway_down_for_a_minute_delivers_every_text_once_after(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    url = make_database("faults_sms")
    with operator() as gateway:  # not started: its port refuses connections
        env = server_env(
            url, DASAN_WORKERS="1", DASAN_OUTBOX_POLL_SECONDS="0.5",
            DASAN_OUTBOX_BACKOFF_SECONDS="1", DASAN_OUTBOX_BACKOFF_MAX_SECONDS="8",
            DASAN_OUTBOX_MAX_ATTEMPTS="40", **gateway.options(),
        )  # fmt: skip
        server = ServeProcess(env, tmp_path / "serve.log")
        server.start()
        try:
            agent = committed_headers(url, Role.AGENT)
            ids = []
            for n in range(40):
                body = complaint_body(
                    description=f"sms-outage {n}",
                    reporter={"phone": f"010-5555-{n:04d}", "language": "ko"},
                )
                answer = httpx.post(f"{server.base}/api/v1/complaints", json=body,
                                    headers=agent, timeout=10)  # fmt: skip
                assert answer.status_code == 201, answer.text
                ids.append(answer.json()["id"])
            texts = "SELECT id, status, attempts FROM outbox_message WHERE channel = 'sms'" \
                " AND complaint_id = ANY(:ids)"  # fmt: skip
            down_at = time.monotonic()
            time.sleep(30)  # refused for half a minute,
            gateway.failing = True
            gateway.start()
            time.sleep(max(0.0, 60 - (time.monotonic() - down_at)))  # then 503s: a minute down
            during = rows(url, texts, ids=ids)
            gateway.failing = False
            wait_for(lambda: all(r.status == "sent" for r in rows(url, texts, ids=ids)), 30,
                     "every text sent once the gateway is back")  # fmt: skip
            after = rows(url, texts, ids=ids)
        finally:
            server.stop()
    assert len(during) == 40  # the receipts ("received, ticket ...") to 40 citizens
    assert all(r.status == "pending" and r.attempts >= 3 for r in during), during  # none given up
    assert sorted(gateway.received) == sorted(str(r.id) for r in after)
    assert set(gateway.received.values()) == {1}, "a text delivered twice"


def test_two_apis_and_two_workers_take_each_sla_step_and_send_each_text_once(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    url = make_database("faults_pair")
    clock = tmp_path / "clock"
    FileClock.write(clock, datetime.now(UTC))
    with operator() as gateway:
        gateway.start()
        env = server_env(
            url, DASAN_CLOCK_FILE=str(clock), DASAN_SLA_SWEEP_SECONDS="0.5",
            DASAN_SLA_SWEEP_BATCH="25", DASAN_OUTBOX_POLL_SECONDS="0.5",
            DASAN_OUTBOX_BATCH="20", **gateway.options(),
        )  # fmt: skip
        apis = [ServeProcess(env | {"DASAN_PORT": str(free_port())}, tmp_path / f"serve{n}.log")
                for n in (1, 2)]  # fmt: skip
        try:
            for api in apis:
                api.start()
            logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
            with workers(env, logs):
                agent = committed_headers(url, Role.AGENT)
                with Load([api.base for api in apis], agent, "pair", threads=4) as load:
                    wait_for(lambda: len(load.acknowledged) >= 200, 60, "200 complaints")
                ids = sorted(load.acknowledged.values())
                assert load.unanswered == set()
                # Four hours pass: every step of every clock of every case is due at once, and
                # four sweepers (two servers, two workers) race for them.
                at = datetime.now(UTC) + timedelta(hours=4)
                FileClock.write(clock, at)
                settled = """
                    SELECT (SELECT count(*) FROM sla_timer WHERE complaint_id = ANY(:ids)
                              AND state = 'running' AND next_step_at <= :at) AS due,
                           (SELECT count(*) FROM outbox_message WHERE complaint_id = ANY(:ids)
                              AND status = 'pending') AS waiting
                """
                wait_for(lambda: tuple(rows(url, settled, ids=ids, at=at)[0]) == (0, 0), 120,
                         "every step taken, every message settled")  # fmt: skip
        finally:
            for api in apis:
                api.stop()
    twice = rows(url, """
        SELECT payload ->> 'timer_id', payload ->> 'cycle', payload ->> 'level', count(*)
        FROM complaint_event WHERE complaint_id = ANY(:ids) AND type LIKE 'sla\\_%'
        GROUP BY 1, 2, 3 HAVING count(*) > 1""", ids=ids)  # fmt: skip
    steps = rows(url, "SELECT count(*) FROM complaint_event WHERE complaint_id = ANY(:ids)"
                      " AND type LIKE 'sla\\_%'", ids=ids)[0][0]  # fmt: skip
    messages = rows(url, "SELECT id, channel, status, template FROM outbox_message"
                         " WHERE complaint_id = ANY(:ids)", ids=ids)  # fmt: skip
    sms = [m for m in messages if m.channel == "sms"]
    assert twice == [] and steps > len(ids)  # steps were taken, each once
    assert len({(m.template, m.id) for m in messages}) == len(messages)
    assert sorted(gateway.received) == sorted(str(m.id) for m in sms if m.status == "sent")
    assert sms and set(gateway.received.values()) == {1}, "a text sent twice"
    # The four sweepers shared the work: what each says it took adds up to the steps.
    took = [swept(log) for log in [api.log_path for api in apis] + logs]
    print(f"{steps} steps, taken {took}; messages {Counter(m.template for m in messages)}")
    assert sum(took) == steps
    assert sum(1 for n in took if n) >= 2, f"one sweeper did everything: {took}"


def test_the_field_apps_outbox_replayed_three_times_acts_once(
    field_server: Server, field_net: NetCut, field_inspector: Inspector, tmp_path: Path
) -> None:
    """The phone did its work in a tunnel; on the way out the connection drops after the
    server acted, and the phone (restored from its own storage, as after a crash) sends its
    whole outbox again, three times: each action has one effect."""
    phone = tmp_path / "phone"
    app = FieldService(phone, live=False)
    app.start = lambda: None  # type: ignore[method-assign]
    app.sign_in(field_net.url, field_inspector.username, PASSWORD)
    cases = [assigned_case(field_server, field_inspector) for _ in range(3)]
    assert app.api is not None
    Syncer(app.api, app.outbox, Cases(app.store)).pull()
    field_net.cut()  # the tunnel
    photo = tmp_path / "IMG_7.jpg"
    photo.write_bytes(jpeg(colour="teal"))
    for case in cases:
        for move in ("accepted", "en_route", "on_site"):
            app.move(case["id"], move)
        app.record_result(case["id"], "resolved", result_code="ticket_issued", note="단속",
                          photos=[photo])  # fmt: skip
    pending = app.outbox.pending_count()
    app.close()
    saved = tmp_path / "phone-as-it-was"
    shutil.copytree(phone, saved)  # the phone's storage with the whole outbox waiting
    field_net.restore()
    for attempt in range(3):
        if attempt:  # the phone comes back as it was before it heard the answers
            shutil.rmtree(phone)
            shutil.copytree(saved, phone)
        again = FieldService(phone, live=False)
        again.start = lambda: None  # type: ignore[method-assign]
        assert again.restore() and again.outbox.pending_count() == pending
        assert again.api is not None
        assert Syncer(again.api, again.outbox, Cases(again.store)).push() == []
        assert again.outbox.pending_count() == 0
        again.close()
    for case in cases:
        moves = [e["type"] for e in field_server.timeline(case)]
        assert moves == ["received", "assigned", "accepted", "en_route", "on_site", "resolved"]
        assert len(field_server.photos(case)) == 1
    assert pending == 3 * 5
