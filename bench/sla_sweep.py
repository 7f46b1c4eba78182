"""SLA sweep benchmark: one sweep over 1,000,000 open clocks of which 1 % are due.

Builds `<db>_bench` (migrations, Seoul, the demo), preloads 333,334 open cases and three
running clocks each (1,000,002 clocks, written directly: the benchmark is the sweep, not
intake), with every hundredth clock's warning due at the sweep's time and the rest due
later. Then it times `sla.sweep.sweep` as the server runs it (async engine, batches of
DASAN_SLA_SWEEP_BATCH, a transaction each): claim with SKIP LOCKED, a timeline entry and an
outbox message per step, the clock's level raised. Rounds are interleaved with a reset
(the steps deleted, the clocks put back), and an empty sweep (nothing due) is timed too.
Target (issue 5): one sweep under 1 s.

    .venv/bin/python bench/sla_sweep.py [--rounds 3] [--clocks 1000000] [--no-write] [--keep-db]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from datetime import UTC, datetime

from common import bench_url, fresh_database, machine, preload_complaints, write_doc
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dispatch_server import database
from dispatch_server.config import get_settings
from dispatch_server.db import make_async_engine, transactions
from sla.sweep import sweep

TARGET_S = 1.0
KINDS = ("assign", "arrive", "resolve")


LAYOUTS = {
    # Every hundredth clock, spread evenly over the whole table: each step touches pages no
    # other step touches (the worst case for the writes).
    "scattered": "(c.id * 3 + k.n) % 100 = 0",
    # As due clocks are in a city: a clock falls due a policy's time after its case came in,
    # so the due clocks of one stage are cases received together, stored together. Here,
    # for each stage a different 1 % slice of the cases by arrival.
    "by-arrival": "(c.id - m.first) * 100 / m.cases = 10 + 30 * k.n",
}


def populate(url: str, *, clocks: int, at: datetime, layout: str) -> int:
    """The cases and clocks described above; how many clocks are due at `at`."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        cases = -(-clocks // len(KINDS))
        preload_complaints(connection, count=cases, days=1)
        connection.execute(
            text(
                """
                INSERT INTO sla_timer (complaint_id, kind, calendar_code, target, warn_share,
                    supervisor_after, reroute_on_breach, state, level, started_at, warn_at,
                    due_at, escalate_at)
                SELECT c.id, k.kind, '24x7', interval '30 minutes', 0.75, interval '15 minutes',
                       false, 'running', 0, w.warn_at - interval '22.5 minutes', w.warn_at,
                       w.warn_at + interval '7.5 minutes', w.warn_at + interval '22.5 minutes'
                FROM complaint c
                CROSS JOIN (SELECT min(id) AS first, count(*) AS cases FROM complaint) m
                CROSS JOIN (VALUES ('assign', 0), ('arrive', 1), ('resolve', 2)) AS k(kind, n)
                CROSS JOIN LATERAL (
                    SELECT CASE WHEN {due}
                                THEN CAST(:at AS timestamptz) - interval '1 minute'
                                ELSE CAST(:at AS timestamptz) + (1 + (c.id * 3 + k.n) % 600)
                                     * interval '1 minute' END AS warn_at) w
                """.replace("{due}", LAYOUTS[layout])
            ),
            {"at": at},
        )
        due = connection.execute(
            text("SELECT count(*) FROM sla_timer WHERE next_step_at <= :at"), {"at": at}
        ).scalar_one()
    vacuum(engine)
    engine.dispose()
    return int(due)


def vacuum(engine) -> None:  # type: ignore[no-untyped-def]
    """Every table vacuumed, as a server's are in steady state (so no autovacuum of the bulk
    load runs during a timed sweep), then a checkpoint: each sweep is timed right after one,
    when it must write a full image of every page it touches first (the worst case)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
        connection.execute(text("CHECKPOINT"))


def reset(url: str) -> None:
    """Undo a sweep: its entries and messages deleted, the clocks back at level 0."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        # The timeline is append-only (a trigger refuses deletes): for this reset only, the
        # benchmark's own database skips triggers.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text("DELETE FROM outbox_message"))
        connection.execute(text("DELETE FROM live_event"))
        connection.execute(text("DELETE FROM complaint_event WHERE type LIKE 'sla\\_%'"))
        connection.execute(text("UPDATE sla_timer SET level = 0, warned_at = NULL WHERE level > 0"))
    vacuum(engine)
    engine.dispose()


async def timed_sweep(url: str, at: datetime, batch: int, lanes: int) -> tuple[float, int, int]:
    """Seconds for one sweep at `at`, the steps it took and its batches."""
    settings = get_settings().model_copy(update={"database_url": url})
    engine = make_async_engine(settings, pool_size=lanes)
    try:
        async with contextlib.AsyncExitStack() as stack:  # warm connections, as in a server
            for _ in range(lanes):
                connection = await stack.enter_async_context(engine.connect())
                await connection.execute(text("SELECT 1"))
        started = time.perf_counter()
        report = await sweep(transactions(engine), now=at, batch=batch, lanes=lanes)
        elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    return elapsed, report.steps, report.batches


def measure(url: str, *, layout: str, clocks: int, rounds: int, batch: int, lanes: int) -> dict:
    """Build the database for one layout and time `rounds` sweeps; the figures."""
    at = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    print(f"building the benchmark database ({layout}) ...", flush=True)
    started = time.monotonic()
    fresh_database(url)
    due = populate(url, clocks=clocks, at=at, layout=layout)
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        total = connection.execute(text("SELECT count(*) FROM sla_timer")).scalar_one()
    engine.dispose()
    print(f"{total:,} running clocks, {due:,} due; built in {time.monotonic() - started:.0f} s")
    runs, empty = [], []
    for round_ in range(1, rounds + 1):
        elapsed, steps, batches = asyncio.run(timed_sweep(url, at, batch, lanes))
        assert steps == due, f"the sweep took {steps} steps, {due} were due"
        again, more, _ = asyncio.run(timed_sweep(url, at, batch, lanes))
        assert more == 0, "a second sweep found steps again"
        runs.append(elapsed)
        empty.append(again)
        print(
            f"{layout} round {round_}: {steps:,} steps in {batches} batches: {elapsed:.3f} s"
            f" ({steps / elapsed:,.0f} steps/s); a sweep with nothing due: {again * 1000:.1f} ms",
            flush=True,
        )
        if round_ < rounds:
            reset(url)
    median = statistics.median(runs)
    verdict = "met" if max(runs) < TARGET_S else "NOT met"
    print(
        f"{layout}: median {median:.3f} s (range {min(runs):.3f}-{max(runs):.3f}) for {due:,}"
        f" due of {total:,}: {median / TARGET_S:.2f}x the 1 s target ({verdict} in every round)"
    )
    return {"layout": layout, "due": due, "total": total, "runs": runs, "empty": empty}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clocks", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=get_settings().sla_sweep_batch)
    parser.add_argument("--lanes", type=int, default=get_settings().sla_sweep_lanes)
    parser.add_argument("--layout", choices=[*LAYOUTS, "both"], default="both")
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    parser.add_argument("--keep-db", action="store_true", help="keep <db>_bench afterwards")
    args = parser.parse_args()

    url = bench_url()
    layouts = list(LAYOUTS) if args.layout == "both" else [args.layout]
    results = [
        measure(
            url,
            layout=layout,
            clocks=args.clocks,
            rounds=args.rounds,
            batch=args.batch,
            lanes=args.lanes,
        )
        for layout in layouts
    ]
    if not args.no_write:
        rows = []
        for result in results:
            runs, due = result["runs"], result["due"]
            median = statistics.median(runs)
            verdict = "met" if max(runs) < TARGET_S else "NOT met"
            rows.append(
                f"| {result['layout']} | {due:,} | median {median:.3f} s (range"
                f" {min(runs):.3f}-{max(runs):.3f}), {median / TARGET_S:.2f}x the target"
                f" | < 1 s: {verdict} | {due / median:,.0f}"
                f" | {statistics.median(result['empty']) * 1000:.1f} ms |"
            )
        write_doc(
            "\n".join(
                [
                    f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}:"
                    f" {results[0]['total']:,} running clocks, batches of {args.batch:,} in"
                    f" {args.lanes} lanes, {args.rounds} rounds per layout.",
                    "",
                    "| due clocks | steps | one sweep | target | steps/s | nothing due |",
                    "|---|---|---|---|---|---|",
                    *rows,
                ]
            ),
            marker="sla-sweep",
        )
    if not args.keep_db:
        database.drop_database(url)


if __name__ == "__main__":
    main()
