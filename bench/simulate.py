"""Simulation benchmark: the full day of issue 10 with `--speed max`.

Builds the city once on a database of its own (`<db>_bench_sim_city`: migrations, Seoul's
districts, the gazetteer, categories, SLA), then runs `dasan simulate`'s day on it as the
command does (a copy of the city per policy, its own `dasan serve` on the simulated clock,
the SLA sweep and the outbox every simulated minute): 2,200 reports, 150 inspectors, 24
hours, seed 7, the nearest policy; with `--all` also the three policies side by side.
Prints the wall time of the day (the target: under 5 minutes on 2 cores; the ratio is to
that), of building the city, the HTTP calls made and where the time went.

    .venv/bin/python bench/simulate.py [--all] [--complaints 2200] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from common import DOC, ROOT, bench_url, machine, write_doc

from dispatch_server import database
from dispatch_server.config import get_settings
from dispatch_server.simulation import world
from dispatch_server.simulation.policies import Policy
from dispatch_server.simulation.run import Options, simulate

TARGET_SECONDS = 300.0


def one(options: Options, settings: Any) -> dict[str, Any]:
    began = time.perf_counter()
    _, results = asyncio.run(simulate(options, settings, say=lambda _: None))
    seconds = time.perf_counter() - began
    calls = sum(sum(r.calls.values()) for r in results)
    wall: dict[str, float] = {}
    for r in results:
        for kind, spent in r.wall.items():
            wall[kind] = wall.get(kind, 0.0) + spent
    return {
        "policies": ", ".join(str(r.policy) for r in results),
        "seconds": seconds,
        "calls": calls,
        "visits": sum(sum(c.on_site_at is not None for c in r.cases) for r in results),
        "wall": wall,
        "arrive": [
            next(s["compliance"] for s in r.sla["stages"] if s["kind"] == "arrive") for r in results
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=2200)
    parser.add_argument("--inspectors", type=int, default=150)
    parser.add_argument("--all", action="store_true", help="also the three policies at once")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    args = parser.parse_args()

    settings = get_settings().model_copy(update={"database_url": bench_url()})
    city = world.run_database(settings.database_url, f"{settings.database_name}_sim_city")
    began = time.perf_counter()
    world.build_city(city, settings)
    build = time.perf_counter() - began
    print(f"city built in {build:.1f} s")
    runs = []
    try:
        choices = [[Policy.NEAREST]] + ([list(Policy)] if args.all else [])
        for policies in choices:
            options = Options(
                complaints=args.complaints, inspectors=args.inspectors, hours=24.0, seed=7,
                speed=None, policies=policies, city_database=city,
            )  # fmt: skip
            run = one(options, settings)
            runs.append(run)
            spent = ", ".join(
                f"{k} {v:.0f} s" for k, v in sorted(run["wall"].items(), key=lambda kv: -kv[1])
            )
            ratio = run["seconds"] / TARGET_SECONDS
            print(f"{run['policies']}: {run['seconds']:.1f} s ({ratio:.2f}x the 5-minute "
                  f"target), {run['calls']:,} calls, "
                  f"{run['calls'] / run['seconds']:.0f} calls/s; {spent}")  # fmt: skip
    finally:
        database.drop_database(city)

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured {when} on {machine()}; {args.complaints:,} reports, {args.inspectors} "
        f"inspectors, 24 h, seed 7, `--speed max`; the city built once beforehand in "
        f"{build:.0f} s (not in the day's time).",
        "",
        "| policies | day, wall | vs 5 min | HTTP calls | calls/s | visits | arrive compliance "
        "| target | met |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for run in runs:
        compliance = " / ".join(f"{c * 100:.1f} %" for c in run["arrive"] if c is not None)
        met = "yes" if run["seconds"] < TARGET_SECONDS else "**no**"
        target = "< 5 min" if run is runs[0] else "(reference)"
        ratio = run["seconds"] / TARGET_SECONDS
        lines.append(
            f"| {run['policies']} | {run['seconds']:.0f} s | {ratio:.2f}x "
            f"| {run['calls']:,} | {run['calls'] / run['seconds']:.0f} | {run['visits']:,} "
            f"| {compliance} | {target} | {met if run is runs[0] else ''} |"
        )
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_doc(section, marker="simulate")
        print(f"written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
