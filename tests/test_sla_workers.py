"""The sweep in several real processes on one database: each step once, none lost.

Two `dasan worker` processes sweep the same overdue clocks at once, in small batches so
their claims interleave; then `dasan serve` (two workers) sweeps by itself on its schedule.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from tests.test_server import free_port

pytestmark = pytest.mark.server

DASAN = str(Path(sys.executable).with_name("dasan"))


def overdue_cases(engine: Engine, count: int, *, tag: str) -> list[int]:
    """`count` committed parking cases received 3 hours ago: every step of every clock is due."""
    with engine.begin() as connection:
        ids = list(
            connection.execute(
                text(
                    """
                    INSERT INTO complaint (ticket, category_code, description, channel, location,
                        district_code, status, priority, created_at, updated_at)
                    SELECT :tag || '-' || n, 'illegal_parking', 'test', 'phone',
                           ST_SetSRID(ST_MakePoint(126.99 + n * 1e-6, 37.57), 4326), '11110',
                           'received', 'normal', now() - interval '3 hours',
                           now() - interval '3 hours'
                    FROM generate_series(1, :count) AS n
                    RETURNING id
                    """
                ),
                {"tag": tag, "count": count},
            ).scalars()
        )
        # Their "received" entries start the clocks (the timeline trigger), 3 hours ago.
        connection.execute(
            text(
                "INSERT INTO complaint_event (complaint_id, type, actor, at, payload)"
                " SELECT id, 'received', 'test', created_at, '{}' FROM complaint"
                " WHERE id = ANY(:ids) ORDER BY id"
            ),
            {"ids": ids},
        )
    return ids


def step_counts(engine: Engine, ids: list[int]) -> dict[str, int]:
    with engine.connect() as connection:
        row = connection.execute(
            text(
                """
                SELECT
                  (SELECT count(*) FROM complaint_event
                   WHERE complaint_id = ANY(:ids) AND type LIKE 'sla\\_%') AS events,
                  (SELECT count(*) FROM (
                     SELECT 1 FROM complaint_event
                     WHERE complaint_id = ANY(:ids) AND type LIKE 'sla\\_%'
                     GROUP BY payload ->> 'timer_id', payload ->> 'cycle', payload ->> 'level'
                     HAVING count(*) > 1) d) AS twice,
                  (SELECT count(*) FROM outbox_message WHERE complaint_id = ANY(:ids)) AS messages,
                  (SELECT count(*) FROM sla_timer WHERE complaint_id = ANY(:ids)) AS timers,
                  (SELECT count(*) FROM sla_timer
                   WHERE complaint_id = ANY(:ids) AND level = 3) AS at_top
                """
            ),
            {"ids": ids},
        ).one()
    return dict(row._mapping)


@pytest.fixture(scope="module")
def sla_database(make_database: Callable[[str], str]) -> str:
    url = make_database("sla")
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        # No inspectors here: re-routing would only look for candidates and find none.
        connection.execute(text("UPDATE sla_policy SET reroute_on_breach = false"))
    engine.dispose()
    return url


def test_two_workers_take_each_step_once(sla_database: str) -> None:
    engine = create_engine(sla_database, poolclass=NullPool)
    ids = overdue_cases(engine, 1000, tag="W")
    env = {**os.environ, "DASAN_DATABASE_URL": sla_database, "DASAN_SLA_SWEEP_BATCH": "40"}
    workers = [
        subprocess.Popen(
            [DASAN, "worker", "--once"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    outputs = []
    for worker in workers:
        try:
            out, _ = worker.communicate(timeout=180)
        finally:
            worker.kill()
        assert worker.returncode == 0, out
        outputs.append(out)
    taken = [int(re.search(r"(\d+) steps on", out).group(1)) for out in outputs]  # type: ignore[union-attr]
    counts = step_counts(engine, ids)
    engine.dispose()
    # 1,000 cases x 3 clocks x 3 steps, each taken by exactly one of the two workers.
    assert counts == {
        "events": 9000, "twice": 0, "messages": 9000, "timers": 3000, "at_top": 3000,
    }  # fmt: skip
    assert sum(taken) == 9000
    assert all(n > 0 for n in taken), f"one worker did everything: {taken}"


def test_the_server_sweeps_on_its_own(sla_database: str, tmp_path: Path) -> None:
    engine = create_engine(sla_database, poolclass=NullPool)
    ids = overdue_cases(engine, 20, tag="S")
    port = free_port()
    env = {
        **os.environ, "DASAN_DATABASE_URL": sla_database, "DASAN_PORT": str(port),
        "DASAN_WORKERS": "2", "DASAN_SLA_SWEEP_SECONDS": "0.5",
    }  # fmt: skip
    with (tmp_path / "serve.log").open("w") as log:
        server = subprocess.Popen(
            [DASAN, "serve"], env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        counts = step_counts(engine, ids)
        while counts["at_top"] < 60 and time.monotonic() < deadline:
            time.sleep(0.2)  # waiting on another process, not measuring it
            counts = step_counts(engine, ids)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        engine.dispose()
    assert counts == {
        "events": 180, "twice": 0, "messages": 180, "timers": 60, "at_top": 60,
    }, (tmp_path / "serve.log").read_text()  # fmt: skip


def test_a_worker_serves_its_sweep_metrics_and_stops_cleanly(
    sla_database: str, tmp_path: Path
) -> None:
    """`dasan worker` with DASAN_WORKER_METRICS_PORT: its sweeps' times at /metrics; on
    SIGTERM it lets the running jobs finish and exits 0, no traceback."""
    engine = create_engine(sla_database, poolclass=NullPool)
    ids = overdue_cases(engine, 30, tag="M")
    port = free_port()
    env = {
        **os.environ, "DASAN_DATABASE_URL": sla_database, "DASAN_SLA_SWEEP_SECONDS": "0.5",
        "DASAN_WORKER_METRICS_PORT": str(port),
    }  # fmt: skip
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen([DASAN, "worker"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline, sweeps = time.monotonic() + 60, 0.0
        while time.monotonic() < deadline:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.TransportError:
                page = ""
            found = re.search(r"^dasan_sla_sweep_duration_seconds_count (\S+)$", page, re.M)
            sweeps = float(found.group(1)) if found else 0.0
            if sweeps >= 2 and step_counts(engine, ids)["at_top"] == 30:
                break
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, 15)
        code = worker.wait(timeout=30)
        engine.dispose()
    output = log.read_text()
    assert sweeps >= 2, output
    assert code == 0 and "Traceback" not in output, output
    assert f"metrics on 127.0.0.1:{port}" in output
