"""Intake benchmark: POST /api/v1/complaints and the open-cases list, against a real server.

Starts `dasan serve` as `make run` does (workers = cores) on a database of its own
(`<db>_bench`), preloads 100,000 complaints, then drives a bounded loopback load with wrk
(concurrency 16, 10 s per endpoint, in interleaved rounds: this kind of machine drifts by
±15 % within minutes) and prints the median requests/s (with the range), p50 and p99 for:
  - GET /livez (no database: the ceiling of this server on this machine),
  - POST /api/v1/complaints,
  - GET /api/v1/complaints?district=..&status=open&limit=100.
The figures are written into docs/benchmarks.md between the intake markers.

    .venv/bin/python bench/intake.py [--rounds 3] [--seconds 10] [--connections 16]
                                     [--preload 100000] [--no-write] [--keep-db]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

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
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dispatch_server import database
from dispatch_server.config import get_settings
from dispatch_server.phones import PhoneRejected, normalize_phone

TARGETS = {"post": 1000.0, "list": 500.0}
P99_TARGET_MS = 100.0
CATEGORIES = [
    "illegal_parking", "illegal_parking", "illegal_parking", "illegal_parking",
    "vehicle_idling", "garbage_uncollected", "illegal_dumping", "street_lamp",
    "road_damage", "facility_damage",
]  # fmt: skip


def prepare_database(url: str, preload: int) -> None:
    """A fresh bench database: migrations, categories, Seoul, `preload` complaints."""
    fresh_database(url)
    engine = create_engine(url, poolclass=NullPool)
    started = time.monotonic()
    with engine.begin() as connection:
        # 90 days of history, one in five closed.
        preload_complaints(connection, count=preload, days=90, closed_every=5)
        start_history_clocks(connection)
    # VACUUM as well as ANALYZE: otherwise autovacuum wakes up for the 200,000 fresh rows
    # during the first rounds and takes CPU from the measurement.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE) complaint, complaint_event, sla_timer"))
        count = connection.execute(text("SELECT count(*) FROM complaint")).scalar_one()
    engine.dispose()
    print(f"preloaded {count:,} complaints in {time.monotonic() - started:.1f} s")


def sample_points(url: str, n: int = 2000) -> list[tuple[float, float]]:
    """Random points inside Seoul's districts, for the POST bodies."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT ST_Y(p.geom), ST_X(p.geom) FROM "
                "(SELECT (ST_Dump(ST_GeneratePoints(ST_Union(geom), :n, 11))).geom FROM district)"
                " AS p"
            ),
            {"n": n},
        ).all()
    engine.dispose()
    return [(float(lat), float(lon)) for lat, lon in rows]


def valid_phone(rng: random.Random) -> str:
    """A random Korean mobile number in an allocated range (the server refuses others)."""
    while True:
        phone = f"010-{rng.randint(2000, 9999)}-{rng.randint(0, 9999):04d}"
        try:
            normalize_phone(phone, region="KR")
            return phone
        except PhoneRejected:
            continue


def lua_post(points: list[tuple[float, float]], auth: str) -> str:
    bodies = []
    rng = random.Random(7)
    for i, (lat, lon) in enumerate(points):
        body = {
            "category": rng.choice(CATEGORIES),
            "description": f"벤치마크 민원 {i}: 차량이 인도를 막고 있습니다",
            "location": {"lat": lat, "lon": lon},
            "reporter": {"phone": valid_phone(rng)},
            "channel": "phone",
        }
        bodies.append(json.dumps(body, ensure_ascii=False))
    quoted = ",\n".join("[==[" + b + "]==]" for b in bodies)
    return (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"{auth}"
        f"local bodies = {{\n{quoted}\n}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[(i % #bodies) + 1])\n"
        "end\n"
    )


def lua_list(districts: list[str], auth: str) -> str:
    paths = ",\n".join(
        f'"/api/v1/complaints?district={code}&status=open&limit=100"' for code in districts
    )
    return (
        f"{auth}"
        f"local paths = {{\n{paths}\n}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        "  return wrk.format('GET', paths[(i % #paths) + 1])\n"
        "end\n"
    )


def report(
    results: dict[str, tuple[Result, float, float]],
    *,
    preload: int,
    rounds: int,
    seconds: int,
    connections: int,
) -> str:
    ceiling = results["ceiling"][0].requests_per_s
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; server = "
        f"`dasan serve` with {get_settings().workers} workers; {preload:,} complaints "
        f"preloaded; wrk, {connections} connections, {rounds} interleaved rounds of "
        f"{seconds} s per endpoint, loopback. Requests/s: the median round (lowest-highest); "
        "p50 of that round; p99 the worst of the rounds.",
        "",
        "| endpoint | requests/s | range | p50 ms | p99 ms | requests | errors "
        "| share of ceiling | target | target met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    labels = {
        "ceiling": ("`GET /livez` (no database: the ceiling)", "", None),
        "post": ("`POST /api/v1/complaints`", f"≥ {TARGETS['post']:,.0f}/s, p99 < 100 ms", "post"),
        "list": (
            "`GET /api/v1/complaints?district=..&status=open&limit=100`",
            f"≥ {TARGETS['list']:,.0f}/s",
            "list",
        ),
    }
    for key, (result, lowest, highest) in results.items():
        label, target, target_key = labels[key]
        met = ""
        if target_key == "post":
            ok = result.requests_per_s >= TARGETS["post"] and result.p99_ms < P99_TARGET_MS
            met = "yes" if ok else "**no**"
        elif target_key == "list":
            met = "yes" if result.requests_per_s >= TARGETS["list"] else "**no**"
        lines.append(
            f"| {label} | {result.requests_per_s:,.0f} | {lowest:,.0f}-{highest:,.0f} | "
            f"{result.p50_ms:.1f} | {result.p99_ms:.1f} | {result.requests:,} | "
            f"{result.non_2xx + result.socket_errors} | {result.requests_per_s / ceiling:.0%} "
            f"| {target} | {met} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--preload", type=int, default=100_000)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: run `bash scripts/system-deps.sh` (or `make setup`)")

    url = bench_url()
    prepare_database(url, args.preload)
    points = sample_points(url)
    districts = [f"{code}" for code in sorted({"11110", "11140", "11680", "11650", "11440"})]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = Path(tempfile.gettempdir()) / "dasan-bench-serve.log"
    server = start_server(url, port, log)
    # An agent logs the complaints and reads the lists (every district), as the call
    # centre does: each request carries its bearer token, checked against the database.
    auth = sign_in(base, "agent1")
    loads = {
        "ceiling": (f"{base}/livez", None),
        "post": (f"{base}/api/v1/complaints", lua_post(points, auth)),
        "list": (f"{base}/", lua_list(districts, auth)),
    }
    try:
        # Warm up each worker's connections and caches, then measure, round by round.
        run_wrk("warm-up", loads["post"][0], 2, args.connections, loads["post"][1])
        results = in_rounds(
            loads, rounds=args.rounds, seconds=args.seconds, connections=args.connections
        )
    finally:
        stop_server(server)
        if not args.keep_db:
            database.drop_database(url)
    section = report(
        results,
        preload=args.preload,
        rounds=args.rounds,
        seconds=args.seconds,
        connections=args.connections,
    )
    print(section)
    for key, target in TARGETS.items():
        rate = results[key][0].requests_per_s
        print(f"{key}: median {rate:,.0f}/s = {rate / target:.2f}x its target of {target:,.0f}/s")
    if not args.no_write:
        write_doc(section, marker="intake")
        print(f"written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
