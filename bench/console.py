"""Dispatch console benchmark: time to first render with 10,000 open cases, headless Chromium.

Starts `dasan serve` on a database of its own (`<db>_bench`) with the demo data and 10,000
open cases spread over Seoul (each with its clocks), then, in rounds, opens
/console/dispatch as the demo admin (every district) in a fresh browser context (empty
cache) and reads how long after the navigation began the page had every case on the map
(`window.dasanReady`, set when the cluster layer has added the last marker), against the
same page over an empty board (the baseline: what the page costs with nothing on it).
Target (issue 8): under 1.5 s.

    .venv/bin/python bench/console.py [--rounds 5] [--cases 10000] [--no-write] [--keep-db]
"""

from __future__ import annotations

import argparse
import statistics
import sys
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
    machine,
    preload_complaints,
    start_history_clocks,
    start_server,
    stop_server,
    write_doc,
)
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(ROOT))
from dispatch_server import database  # noqa: E402
from dispatch_server.config import get_settings  # noqa: E402
from tests.browser import chromium  # noqa: E402

TARGET_S = 1.5


def prepare(url: str, cases: int) -> int:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        if cases:
            preload_complaints(connection, count=cases, days=1, closed_every=0)
        start_history_clocks(connection)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE) complaint, complaint_event, sla_timer"))
        still_open = "status NOT IN ('closed', 'cancelled', 'duplicate')"
        count = int(
            connection.execute(
                text(f"SELECT count(*) FROM complaint WHERE {still_open}")
            ).scalar_one()
        )
    engine.dispose()
    return count


def first_render(base: str, rounds: int) -> list[float]:
    """Seconds from navigation start to every case on the map, a fresh context a round."""
    times = []
    password = get_settings().demo_password
    with chromium() as browser:
        for _ in range(rounds):
            context = browser.new_context(viewport={"width": 1400, "height": 860})
            admin = {"username": "admin", "password": password}
            signed = context.request.post(f"{base}/api/v1/auth/session", data=admin)
            assert signed.ok, signed.text()
            page = context.new_page()
            page.goto(f"{base}/console/dispatch")
            page.wait_for_function("() => window.dasanReady", timeout=60_000)
            ready = page.evaluate("() => window.dasanReady")
            times.append(ready["ms"] / 1000)
            phases = {name: round(ms) for name, ms in ready["phases"].items()}
            print("phases (ms since navigation):", phases, "ready", round(ready["ms"]))
            context.close()
    return times


def measure(cases: int, rounds: int) -> tuple[list[float], int]:
    url = bench_url()
    fresh_database(url)
    on_board = prepare(url, cases)
    port = free_port()
    server = start_server(url, port, Path(tempfile.gettempdir()) / "dasan-bench-console.log")
    try:
        first_render(f"http://127.0.0.1:{port}", 1)  # warm the server's caches
        return first_render(f"http://127.0.0.1:{port}", rounds), on_board
    finally:
        stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    empty, _ = measure(0, args.rounds)
    full, on_board = measure(args.cases, args.rounds)
    if not args.keep_db:
        database.drop_database(bench_url())
    median, baseline = statistics.median(full), statistics.median(empty)
    section = "\n".join([
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; Debian Chromium "
        f"headless (software rendering), `dasan serve` on loopback; the demo admin (every "
        f"district); {args.rounds} rounds, each in a fresh browser context (empty cache).",
        "",
        "| board | open cases | first render (s), median (range) | ratio to the empty board "
        "| target | met |",
        "|---|---:|---:|---:|---|---|",
        f"| empty | 0 | {baseline:.2f} ({min(empty):.2f}-{max(empty):.2f}) | 1.00x | | |",
        f"| full | {on_board:,} | {median:.2f} ({min(full):.2f}-{max(full):.2f}) | "
        f"{median / baseline:.2f}x | < {TARGET_S} s | {'yes' if median < TARGET_S else '**no**'} |",
    ])  # fmt: skip
    print(section)
    print(f"first render {median:.2f} s = {median / TARGET_S:.2f}x the {TARGET_S} s target "
          f"({time.monotonic() - started:.0f} s in all)")  # fmt: skip
    if not args.no_write:
        write_doc(section, marker="console")
        print(f"written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
