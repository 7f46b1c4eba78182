"""Dispatch benchmark: latency of the candidate ranking with 2,000 inspectors, 50,000 open cases.

Builds `<db>_bench` (migrations, Seoul, demo teams), adds on-duty inspectors up to 2,000
spread over the districts by area, and 50,000 open cases (one in ten urgent) of which 60 %
are assigned to an inspector of their district (so the queue counts in the ranking are
real). Then it starts `dasan serve` as `make run` does and drives wrk on GET
/api/v1/dispatch/complaints/{id}/
candidates over 2,000 different cases: at 1 connection (the latency a dispatcher sees) and
at 16 (under load), in interleaved rounds. Target (issue 3): p99 under 20 ms.

    .venv/bin/python bench/dispatch.py [--rounds 3] [--seconds 10] [--no-write] [--keep-db]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import (
    DOC,
    ROOT,
    bench_url,
    free_port,
    fresh_database,
    in_rounds,
    machine,
    preload_complaints,
    run_wrk,
    sign_in,
    start_server,
    stop_server,
    write_doc,
)
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dispatch_server import database
from dispatch_server.config import get_settings

INSPECTORS = 2_000
OPEN_CASES = 50_000
P99_TARGET_MS = 20.0


def populate(url: str, *, inspectors: int, cases: int) -> list[int]:
    """Inspectors and open cases as described above; the ids of 2,000 cases to rank for."""
    engine = create_engine(url, poolclass=NullPool)
    started = time.monotonic()
    with engine.begin() as connection:
        have = connection.execute(text("SELECT count(*) FROM inspector")).scalar_one()
        connection.execute(
            text(
                """
                WITH shares AS (
                    SELECT t.id AS team_id, d.code, d.geom,
                           ceil(:n * ST_Area(d.geom) / sum(ST_Area(d.geom)) OVER ())::int AS k
                    FROM team t JOIN district d ON d.code = t.district_code
                ), points AS (
                    SELECT team_id, code, (ST_Dump(ST_GeneratePoints(geom, k, 3))).geom AS p
                    FROM shares
                )
                INSERT INTO inspector (name, team_id, on_duty, position, position_at)
                SELECT 'bench-' || code || '-' || row_number() OVER (), team_id, true, p, now()
                FROM points LIMIT :n
                """
            ),
            {"n": inspectors - have},
        )
        preload_complaints(connection, count=cases, days=3, seed=5)
        # 60 % assigned to a random inspector of their district.
        connection.execute(
            text(
                """
                UPDATE complaint c SET status = 'assigned', assignee_id = pick.id,
                       team_id = pick.team_id
                FROM (
                    SELECT c2.id AS complaint_id, i.id, i.team_id,
                           row_number() OVER (PARTITION BY c2.id ORDER BY random()) AS r
                    FROM complaint c2
                    JOIN team t ON t.district_code = c2.district_code
                    JOIN inspector i ON i.team_id = t.id
                    WHERE c2.id % 10 < 6
                ) AS pick
                WHERE pick.complaint_id = c.id AND pick.r = 1
                """
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE) complaint, inspector, team"))
        counts = connection.execute(
            text(
                "SELECT (SELECT count(*) FROM inspector WHERE on_duty),"
                " (SELECT count(*) FROM complaint WHERE status NOT IN"
                "  ('closed', 'cancelled', 'duplicate')),"
                " (SELECT count(*) FROM complaint WHERE assignee_id IS NOT NULL)"
            )
        ).one()
        sample = connection.execute(
            text("SELECT id FROM complaint ORDER BY random() LIMIT 2000")
        ).scalars()
        ids = list(sample)
    engine.dispose()
    print(
        f"{counts[0]:,} on-duty inspectors, {counts[1]:,} open cases ({counts[2]:,} assigned)"
        f" in {time.monotonic() - started:.1f} s"
    )
    return ids


def lua_candidates(ids: list[int], auth: str) -> str:
    paths = ",\n".join(f'"/api/v1/dispatch/complaints/{i}/candidates"' for i in ids)
    return (
        f"{auth}"
        f"local paths = {{\n{paths}\n}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        "  return wrk.format('GET', paths[(i % #paths) + 1])\n"
        "end\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: run `bash scripts/system-deps.sh` (or `make setup`)")

    url = bench_url()
    fresh_database(url)
    ids = populate(url, inspectors=INSPECTORS, cases=OPEN_CASES)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(url, port, Path(tempfile.gettempdir()) / "dasan-bench-serve.log")
    # The sample spans every district: an admin's token sees them all (a district's
    # dispatcher would get 404 for the others).
    script = lua_candidates(ids, sign_in(base, "admin"))
    try:
        run_wrk("warm-up", f"{base}/", 2, 4, script)
        results = {}
        for connections in (1, 16):
            results[connections] = in_rounds(
                {f"c{connections}": (f"{base}/", script)},
                rounds=args.rounds,
                seconds=args.seconds,
                connections=connections,
            )[f"c{connections}"]
    finally:
        stop_server(server)
        if not args.keep_db:
            database.drop_database(url)

    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; server = "
        f"`dasan serve` with {get_settings().workers} workers; {INSPECTORS:,} on-duty "
        f"inspectors, {OPEN_CASES:,} open cases (60 % assigned); wrk over 2,000 cases, "
        f"{args.rounds} interleaved rounds of {args.seconds} s. Median round (range); p99 the "
        "worst round.",
        "",
        "| `GET .../candidates` | requests/s | range | p50 ms | p99 ms | errors | target | met |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for connections, (result, lowest, highest) in results.items():
        met = "yes" if result.p99_ms < P99_TARGET_MS else "**no**"
        lines.append(
            f"| {connections} connection{'s' if connections > 1 else ''} | "
            f"{result.requests_per_s:,.0f} | {lowest:,.0f}-{highest:,.0f} | "
            f"{result.p50_ms:.1f} | {result.p99_ms:.1f} | {result.non_2xx} | "
            f"p99 < {P99_TARGET_MS:.0f} ms | {met} |"
        )
    section = "\n".join(lines)
    print(section)
    for connections, (result, _, _) in results.items():
        ratio = result.p99_ms / P99_TARGET_MS
        print(f"c{connections}: p99 {result.p99_ms:.1f} ms = {ratio:.2f}x the 20 ms budget")
    if not args.no_write:
        write_doc(section, marker="dispatch")
        print(f"written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
