"""`dasan serve` as a real process, as `make run` starts it, answering over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx2 as httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dispatch_server.accounts.credentials import Role
from dispatch_server.simulation.world import free_port, start_serve, stop_group
from tests.auth import bearer, committed_token_for
from tests.factories import GANGNAM, complaint_body

pytestmark = pytest.mark.server


def rows(url: str, sql: str, **params: Any) -> list[Any]:
    """The rows a statement reads from a server's database (committed data), on a
    connection of its own."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql), params))
    finally:
        engine.dispose()


def jongno_inspectors(url: str, team_name: str, count: int) -> list[int]:
    """A committed team in Jongno-gu with `count` on-duty inspectors; their ids."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        team = connection.execute(
            text("INSERT INTO team (district_code, name) VALUES ('11110', :n) RETURNING id"),
            {"n": team_name},
        ).scalar_one()
        ids = [
            connection.execute(
                text(
                    "INSERT INTO inspector (name, team_id, on_duty, position) VALUES (:n, :t,"
                    " true, ST_SetSRID(ST_MakePoint(126.99, 37.57), 4326)) RETURNING id"
                ),
                {"n": f"{team_name} {i}", "t": team},
            ).scalar_one()
            for i in range(count)
        ]
    engine.dispose()
    return ids


class ServeProcess:
    """`dasan serve [args]` with `env` (DASAN_PORT among it), started and stopped at will.

    It runs in its own process group, so its workers are stopped (or killed) with it; its
    output goes to `log_path` (appended to on a restart)."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.env, self.log_path, self.args = env, log_path, args
        self.base = f"http://127.0.0.1:{env['DASAN_PORT']}"
        self.process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    def start(self) -> str:
        """Start it and wait until it answers its health check; its base URL."""
        self.process = start_serve(self.env, self.log_path, *self.args, append=self._starts > 0)
        self._starts += 1
        return self.base

    def kill(self) -> None:
        """kill -9 of the whole server, its workers with it (a crash, the power cut)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        """Stop it as an operator does (SIGTERM), killing it when it does not stop in 15 s."""
        if self.process is not None:
            stop_group(self.process)
            self.process = None


@contextmanager
def running_server(env: dict[str, str], log_path: Path, *args: str) -> Iterator[str]:
    """`dasan serve [args]` with `env` (DASAN_PORT among it) until the block ends; its base
    URL."""
    server = ServeProcess(env, log_path, *args)
    server.start()
    try:
        yield server.base
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(
    make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = {
        **os.environ,
        "DASAN_DATABASE_URL": make_database("server"),
        "DASAN_PORT": str(free_port()),
        # Streams look for events often and fall silent briefly, so the tests are quick.
        "DASAN_STREAM_POLL_SECONDS": "0.1",
        "DASAN_STREAM_HEARTBEAT_SECONDS": "1",
    }
    with running_server(env, tmp_path_factory.mktemp("server") / "serve.log") as base:
        yield base


class Staff(NamedTuple):
    """Headers of signed-in callers of the server's database."""

    agent: dict[str, str]
    dispatcher: dict[str, str]  # of Jongno-gu

    @staticmethod
    def inspector(database_url: str, inspector_id: int) -> dict[str, str]:
        engine = create_engine(database_url, poolclass=NullPool)
        with engine.begin() as connection:
            token = committed_token_for(connection, Role.INSPECTOR, inspector_id=inspector_id)
        engine.dispose()
        return bearer(token)


@pytest.fixture(scope="module")
def staff(make_database: Callable[[str], str]) -> Staff:
    engine = create_engine(make_database("server"), poolclass=NullPool)
    with engine.begin() as connection:
        agent = committed_token_for(connection, Role.AGENT)
        dispatcher = committed_token_for(connection, Role.DISPATCHER, districts=["11110"])
    engine.dispose()
    return Staff(bearer(agent), bearer(dispatcher))


def test_post_in_jongno_answers_201_over_http(server: str, staff: Staff) -> None:
    response = httpx.post(
        f"{server}/api/v1/complaints", json=complaint_body(), headers=staff.agent, timeout=10
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["district"] == {"code": "11110", "name_ko": "종로구", "name_en": "Jongno-gu"}
    fetched = httpx.get(
        f"{server}/api/v1/complaints/{created['ticket']}", headers=staff.agent, timeout=10
    )
    assert fetched.json()["id"] == created["id"]


def test_concurrent_posts_all_land_once(server: str, staff: Staff) -> None:
    """Many complaints at once over several connections: every 201 is stored, once."""
    import concurrent.futures

    marker = f"concurrency {time.time_ns()}"

    def post(i: int) -> int:
        body = complaint_body(description=f"{marker} #{i}")
        return int(
            httpx.post(
                f"{server}/api/v1/complaints", json=body, headers=staff.agent, timeout=10
            ).json()["id"]
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(post, range(80)))
    assert len(set(ids)) == 80
    listed: list[int] = []
    cursor = None
    while True:
        params = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        page = httpx.get(
            f"{server}/api/v1/complaints", params=params, headers=staff.agent, timeout=10
        ).json()
        listed += [c["id"] for c in page["items"] if c["description"].startswith(marker)]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(listed) == sorted(ids)


def test_docs_and_errors_over_http(server: str, staff: Staff) -> None:
    assert httpx.get(f"{server}/docs", timeout=10).status_code == 200
    bad = httpx.post(
        f"{server}/api/v1/complaints",
        content=b'{"location": {"lat": NaN}}',
        headers={"content-type": "application/json", **staff.agent},
        timeout=10,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"


def test_two_dispatchers_assign_at_once_one_wins(
    server: str, staff: Staff, make_database: Callable[[str], str]
) -> None:
    """Concurrent assignment over HTTP: exactly one 200, the other 409, for every case."""
    import concurrent.futures
    import threading

    inspectors = jongno_inspectors(make_database("server"), "race", 2)

    for _ in range(10):
        case = httpx.post(
            f"{server}/api/v1/complaints", json=complaint_body(), headers=staff.agent, timeout=10
        ).json()
        start = threading.Barrier(2)

        def assign(
            inspector: int, case_id: int = case["id"], start: threading.Barrier = start
        ) -> httpx.Response:
            start.wait(timeout=10)
            return httpx.post(
                f"{server}/api/v1/dispatch/complaints/{case_id}/transitions",
                json={"to": "assigned", "version": 1, "inspector_id": inspector},
                headers=staff.dispatcher,
                timeout=10,
            )

        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(assign, inspectors))
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        winner = next(a for a in answers if a.status_code == 200).json()
        loser = next(a for a in answers if a.status_code == 409).json()
        assert loser["error"]["code"] == "stale_version"
        stored = httpx.get(
            f"{server}/api/v1/complaints/{case['ticket']}", headers=staff.agent, timeout=10
        ).json()
        assert stored["assignee_id"] == winner["assignee_id"]
        assert stored["version"] == 2


def test_the_same_move_sent_twice_at_once_acts_once(
    server: str, staff: Staff, make_database: Callable[[str], str]
) -> None:
    """Two sends of one Idempotency-Key at the same moment: one move, the same answer twice."""
    import concurrent.futures
    import threading

    (inspector,) = jongno_inspectors(make_database("server"), "twice", 1)
    case = httpx.post(
        f"{server}/api/v1/complaints", json=complaint_body(), headers=staff.agent, timeout=10
    ).json()
    start = threading.Barrier(2)

    def send(_: int) -> httpx.Response:
        start.wait(timeout=10)
        return httpx.post(
            f"{server}/api/v1/dispatch/complaints/{case['id']}/transitions",
            json={"to": "assigned", "version": 1, "inspector_id": inspector},
            headers={"Idempotency-Key": f"race-{case['id']}", **staff.dispatcher},
            timeout=10,
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(send, range(2))
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.content == second.content
    engine = create_engine(make_database("server"), poolclass=NullPool)
    with engine.connect() as connection:
        count_assigned = "SELECT count(*) FROM complaint_event WHERE complaint_id = :id"
        count_assigned += " AND type = 'assigned'"
        moves = connection.execute(text(count_assigned), {"id": case["id"]}).scalar_one()
    engine.dispose()
    assert moves == 1


class Frame(NamedTuple):
    """One server-sent event."""

    id: str | None
    event: str
    data: dict[str, Any]


class EventStream:
    """A live stream read over HTTP, frame by frame, for at most `seconds` per wait."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None) -> None:
        self._context = httpx.stream(
            "GET", url, headers=headers or {}, timeout=httpx.Timeout(10, read=5)
        )
        self.response = self._context.__enter__()
        assert self.response.status_code == 200, self.response.read()
        assert self.response.headers["content-type"].startswith("text/event-stream")
        self._lines = self.response.iter_lines()
        self.comments: list[str] = []

    def next_frames(self, count: int, *, seconds: float = 10) -> list[Frame]:
        """The next `count` events (comments and `retry` skipped)."""
        frames: list[Frame] = []
        fields: dict[str, str] = {}
        deadline = time.monotonic() + seconds
        for line in self._lines:
            if line.startswith(":"):
                self.comments.append(line)
            elif line:
                name, _, value = line.partition(": ")
                fields[name] = value
            elif "event" in fields:
                frames.append(Frame(fields.get("id"), fields["event"], json.loads(fields["data"])))
                fields = {}
                if len(frames) == count:
                    return frames
            else:
                fields = {}
            if time.monotonic() > deadline:  # heartbeats arrive every second
                break
        raise AssertionError(f"only {len(frames)} of {count} events came: {frames}")

    def close(self) -> None:
        self._context.__exit__(None, None, None)


def test_a_dropped_stream_resumes_from_its_last_event_id_without_loss(
    server: str, staff: Staff
) -> None:
    """Events committed while the reader was away come on reconnect, in order, none twice."""
    stream = EventStream(
        f"{server}/api/v1/dispatch/stream?district=11110", headers=staff.dispatcher
    )
    try:
        first = httpx.post(
            f"{server}/api/v1/complaints", json=complaint_body(), headers=staff.agent, timeout=10
        )
        (seen,) = [
            frame
            for frame in stream.next_frames(1)
            if frame.data["complaint"]["id"] == first.json()["id"]
        ]
    finally:
        stream.close()
    assert seen.event == "complaint" and seen.id
    missed = [
        httpx.post(
            f"{server}/api/v1/complaints", json=complaint_body(), headers=staff.agent, timeout=10
        ).json()["id"]
        for _ in range(3)
    ]
    # Another district's case is not in this stream.
    gangnam = complaint_body(location=dict(GANGNAM))
    assert (
        httpx.post(
            f"{server}/api/v1/complaints", json=gangnam, headers=staff.agent, timeout=10
        ).status_code
        == 201
    )
    resumed = EventStream(
        f"{server}/api/v1/dispatch/stream?district=11110",
        headers={"Last-Event-ID": seen.id, **staff.dispatcher},
    )
    try:
        frames = resumed.next_frames(3)
        assert [f.data["complaint"]["id"] for f in frames] == missed
        assert [f.data["event"]["type"] for f in frames] == ["received"] * 3
        # Nothing more is waiting: only keep-alives come while the city is quiet.
        with pytest.raises(AssertionError, match="only 0 of 1"):
            resumed.next_frames(1, seconds=2.5)
        assert ": keep-alive" in resumed.comments
    finally:
        resumed.close()


def test_an_inspector_hears_of_an_assignment_at_once(
    server: str, staff: Staff, make_database: Callable[[str], str]
) -> None:
    (inspector,) = jongno_inspectors(make_database("server"), "live", 1)
    me = Staff.inspector(make_database("server"), inspector)
    stream = EventStream(f"{server}/api/v1/field/stream", headers=me)
    try:
        case = httpx.post(
            f"{server}/api/v1/complaints", json=complaint_body(), headers=staff.agent, timeout=10
        )
        answer = httpx.post(
            f"{server}/api/v1/dispatch/complaints/{case.json()['id']}/transitions",
            json={"to": "assigned", "version": 1, "inspector_id": inspector},
            headers=staff.dispatcher,
            timeout=10,
        )
        assert answer.status_code == 200
        (frame,) = stream.next_frames(1)
        assert frame.event == "complaint"
        assert frame.data["complaint"]["assignee_id"] == inspector
        assert frame.data["complaint"]["status"] == "assigned"
        assert "reporter" not in frame.data["complaint"]  # no personal data in streams
    finally:
        stream.close()
