"""Open311 benchmark: POST and GET requests.json against a real server, beside the intake
API doing the same work (the baseline: what the Open311 layer costs on top of intake).

Starts `dasan serve` as `make run` does on a database of its own (`<db>_bench`, dropped
afterwards) with 1,000 stored requests, makes an api_key with the CLI, then drives wrk at
16 connections for 10 s per load, in interleaved rounds, and prints requests/s (median
round, with the range), p50 and p99 of:
  - POST /open311/v2/requests.json (form-encoded, 2,000 different requests at random points
    of Seoul, with the answer each service requires and a valid phone),
  - GET /open311/v2/requests.json?page_size=100&page=N (pages 1-10 in turn),
  - the baselines: POST /api/v1/complaints and GET /api/v1/complaints?limit=100 (an agent).
Every request carries the api_key (reads with a key count against the key's limit). The
reads run first, while the database holds the 1,000 requests only; then the posts. After
each round of Open311 posts the bench waits (up to 300 s) for the server to make cases of
the posts it queued (deferred creation, docs/open311.md) before the next load, and prints
how many were queued, how long the queue took to empty, and the cases made a second from
the start of the load to the empty queue.
The figures are written into docs/benchmarks.md between the open311 markers.

    .venv/bin/python bench/open311.py [--rounds 3] [--seconds 10] [--connections 16]
                                      [--stored 1000] [--no-write] [--keep-db]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from common import (
    DOC,
    ROOT,
    Result,
    bench_url,
    free_port,
    fresh_database,
    in_rounds,
    machine,
    preload_complaints,
    run_wrk,
    sign_in,
    start_history_clocks,
    start_server,
    stop_server,
    write_doc,
)
from intake import lua_post, sample_points, valid_phone
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dispatch_server import database
from dispatch_server.config import get_settings

TARGETS = {"open311_post": 700.0, "open311_list": 400.0}
# The answer each service's definition requires (seed/categories.json).
REQUIRED = {
    "illegal_parking": ("vehicle_type", "car"), "vehicle_idling": ("vehicle_type", "bus"),
    "garbage_uncollected": ("waste_kind", "food"), "illegal_dumping": ("waste_kind", "bulky"),
    "street_lamp": ("problem", "off"), "road_damage": ("size", "small"),
    "facility_damage": ("facility", "sign"),
}  # fmt: skip


def prepare_database(url: str, stored: int) -> None:
    fresh_database(url)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        preload_complaints(connection, count=stored, days=30, closed_every=4)
        start_history_clocks(connection)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE) complaint, complaint_event, sla_timer"))
    engine.dispose()


def make_key(url: str) -> str:
    env = {**os.environ, "DASAN_DATABASE_URL": url}
    dasan = str(Path(sys.executable).with_name("dasan"))
    made = subprocess.run(
        [dasan, "open311", "keys", "create", "bench app", "--requests-per-minute", "1000000"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return made.stdout.strip().splitlines()[-1]


def lua_open311_post(points: list[tuple[float, float]], key: str) -> str:
    rng = random.Random(11)
    bodies = []
    for i, (lat, lon) in enumerate(points):
        service = rng.choice(sorted(REQUIRED))
        code, answer = REQUIRED[service]
        bodies.append(
            urlencode(
                {
                    "api_key": key, "service_code": service, "lat": f"{lat:.6f}",
                    "long": f"{lon:.6f}", f"attribute[{code}]": answer,
                    "description": f"앱으로 신고한 민원 {i}", "phone": valid_phone(rng),
                }
            )
        )  # fmt: skip
    quoted = ",\n".join(f'"{b}"' for b in bodies)
    return (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        f"local bodies = {{\n{quoted}\n}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[(i % #bodies) + 1])\n"
        "end\n"
    )


def lua_open311_list(key: str, pages: int = 10) -> str:
    paths = ",\n".join(
        f'"/open311/v2/requests.json?page_size=100&page={page}&api_key={key}"'
        for page in range(1, pages + 1)
    )
    return (
        f"local paths = {{\n{paths}\n}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        "  return wrk.format('GET', paths[(i % #paths) + 1])\n"
        "end\n"
    )


LABELS = {
    "open311_post": "`POST /open311/v2/requests.json` (form)",
    "intake_post": "baseline: `POST /api/v1/complaints` (JSON, an agent)",
    "open311_list": "`GET /open311/v2/requests.json?page_size=100`",
    "intake_list": "baseline: `GET /api/v1/complaints?limit=100`",
}
BASELINE_OF = {"open311_post": "intake_post", "open311_list": "intake_list"}


@dataclass
class Backlog:
    """What one round of Open311 posts left behind: how many posts were made cases at once,
    how many were queued (deferred creation), and how long the servers took to make cases
    of the queue once the load stopped."""

    immediate: int
    queued: int
    left: int  # still queued when the load stopped
    drain_s: float
    seconds: float  # the load's

    @property
    def end_to_end(self) -> float:
        """Cases made per second from the start of the load to the empty queue."""
        return (self.immediate + self.queued) / (self.seconds + self.drain_s)


class QueueWatch:
    """Around each Open311 post round: the newest complaint before it, then the wait for
    the queue to empty (bounded) and the count of what the round made."""

    MAX_WAIT_S = 300.0

    def __init__(self, url: str, seconds: int) -> None:
        self.engine = create_engine(url, poolclass=NullPool)
        self.seconds = seconds
        self.newest = 0
        self.rounds: list[Backlog] = []

    def before(self, name: str) -> None:
        if name == "open311_post":
            with self.engine.connect() as connection:
                self.newest = connection.execute(_NEWEST).scalar_one()

    def after(self, name: str, result: Result) -> None:
        if name != "open311_post":
            return
        started = time.monotonic()
        with self.engine.connect() as connection:
            left = waiting = connection.execute(_WAITING).scalar_one()
            while waiting and time.monotonic() - started < self.MAX_WAIT_S:
                time.sleep(0.1)
                connection.commit()
                waiting = connection.execute(_WAITING).scalar_one()
            drain_s = time.monotonic() - started if left else 0.0
            if waiting:
                raise SystemExit(f"{waiting} queued posts still waiting after {drain_s:.0f} s")
            queued, made = connection.execute(_MADE, {"newest": self.newest}).one()
        backlog = Backlog(immediate=made - queued, queued=queued, left=left, drain_s=drain_s,
                          seconds=self.seconds)  # fmt: skip
        self.rounds.append(backlog)
        print(
            f"  {made:,} cases: {backlog.immediate:,} made at once, {queued:,} queued; "
            f"{left:,} left in the queue at the end, made cases in {drain_s:.1f} s; "
            f"{backlog.end_to_end:,.0f} cases/s end to end"
        )


_NEWEST = text("SELECT coalesce(max(id), 0) FROM complaint")
_WAITING = text("SELECT count(*) FROM open311_queue WHERE failed_at IS NULL")
_MADE = text(
    "SELECT count(*) FILTER (WHERE e.payload #> '{open311,queued}' = 'true'), count(*)"
    " FROM complaint c JOIN complaint_event e ON e.complaint_id = c.id AND e.type = 'received'"
    " WHERE c.id > :newest AND c.channel = 'open311'"
)


def report(
    results: dict[str, tuple[Result, float, float]], *, stored: int, rounds: int, seconds: int,
    connections: int, backlogs: list[Backlog],
) -> str:  # fmt: skip
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; server = "
        f"`dasan serve` with {get_settings().workers} workers; {stored:,} requests stored "
        f"beforehand; wrk, {connections} connections, {rounds} interleaved rounds of {seconds} s "
        "per load, loopback. Median round (lowest-highest); p99 the worst round.",
        "",
        "| load | requests/s | range | p50 ms | p99 ms | errors | vs baseline | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for key, (result, lowest, highest) in results.items():
        ratio, target, met = "", "", ""
        if key in BASELINE_OF:
            baseline = results[BASELINE_OF[key]][0].requests_per_s
            ratio = f"{result.requests_per_s / baseline:.2f}x"
            target = f"≥ {TARGETS[key]:,.0f}/s"
            met = "yes" if result.requests_per_s >= TARGETS[key] else "**no**"
        lines.append(
            f"| {LABELS[key]} | {result.requests_per_s:,.0f} | {lowest:,.0f}-{highest:,.0f} | "
            f"{result.p50_ms:.1f} | {result.p99_ms:.1f} | "
            f"{result.non_2xx + result.socket_errors} | {ratio} | {target} | {met} |"
        )
    if backlogs:
        middle = sorted(backlogs, key=lambda b: b.end_to_end)[len(backlogs) // 2]
        made = middle.immediate + middle.queued
        lines += [
            "",
            f"Deferred creation (`DASAN_OPEN311_DEFER=busy`, the default), the median round of "
            f"Open311 posts: {made:,} posts, {middle.queued:,} of them "
            f"({middle.queued / made:.0%}) queued and answered with a token, the rest made "
            f"cases at once; {middle.left:,} were still queued when the load stopped and were "
            f"made cases {middle.drain_s:.1f} s later; cases made end to end (from the start "
            f"of the load to the empty queue): {middle.end_to_end:,.0f}/s.",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--stored", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: run `bash scripts/system-deps.sh` (or `make setup`)")

    url = bench_url()
    prepare_database(url, args.stored)
    key = make_key(url)
    points = sample_points(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = Path(tempfile.gettempdir()) / "dasan-bench-open311.log"
    server = start_server(url, port, log)
    auth = sign_in(base, "agent1")
    loads = {
        "open311_post": (f"{base}/open311/v2/requests.json", lua_open311_post(points, key)),
        "intake_post": (f"{base}/api/v1/complaints", lua_post(points, auth)),
        "open311_list": (f"{base}/", lua_open311_list(key)),
        "intake_list": (f"{base}/", lua_list_all(auth)),
    }
    watch = QueueWatch(url, args.seconds)
    reads = {name: loads[name] for name in ("open311_list", "intake_list")}
    writes = {name: loads[name] for name in ("open311_post", "intake_post")}
    try:
        # The reads first, on the 1,000 stored requests alone (the posts add thousands);
        # each phase's two loads interleaved, round by round.
        run_wrk("warm-up", reads["open311_list"][0], 2, args.connections, reads["open311_list"][1])
        results = in_rounds(
            reads, rounds=args.rounds, seconds=args.seconds, connections=args.connections
        )
        # After each round of Open311 posts, the queue is left to empty before the next
        # load starts (so the baseline does not run beside the drain), and that is timed.
        results |= in_rounds(
            writes, rounds=args.rounds, seconds=args.seconds, connections=args.connections,
            before=watch.before, after=watch.after,
        )  # fmt: skip
    finally:
        stop_server(server)
        watch.engine.dispose()
        if not args.keep_db:
            database.drop_database(url)
    section = report(
        results, stored=args.stored, rounds=args.rounds, seconds=args.seconds,
        connections=args.connections, backlogs=watch.rounds,
    )  # fmt: skip
    print(section)
    for name, target in TARGETS.items():
        rate = results[name][0].requests_per_s
        baseline = results[BASELINE_OF[name]][0].requests_per_s
        print(
            f"{name}: median {rate:,.0f}/s = {rate / target:.2f}x its target of {target:,.0f}/s, "
            f"{rate / baseline:.2f}x its baseline ({baseline:,.0f}/s)"
        )
    if not args.no_write:
        write_doc(section, marker="open311")
        print(f"written to {DOC.relative_to(ROOT)}")


def lua_list_all(auth: str) -> str:
    """The intake API's list of every district's cases, 100 a page (an agent sees all)."""
    return f'{auth}wrk.path = "/api/v1/complaints?limit=100"\n'


if __name__ == "__main__":
    main()
