"""Geocoding benchmark: accuracy on held-back gazetteer addresses, and speed.

Loads the gazetteer into the benchmarks' own database (`<db>_bench`) without a seeded
random 10 % of its addresses, geocodes those held-back addresses (written the standard way:
`서울특별시 <구> <road> <number>`) and compares each best candidate with the file's point:
  - the share whose placed point lies in the same district as the true point,
  - the median and 90th-percentile error in metres per match level,
  - addresses/s (8 concurrent geocodes on one process).
Then the district of 100,000 random points in Seoul's bounding box (points/s): with the
in-memory `DistrictIndex` (the figure held to its target) and, for reference, in PostGIS.
Figures go into docs/benchmarks.md between the geocode markers.

    .venv/bin/python bench/geocode.py [--seed 7] [--share 0.1] [--no-write] [--keep-db]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime

from common import bench_url, fresh_database, machine, write_doc
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Session

from dispatch_server import database
from dispatch_server.config import get_settings
from dispatch_server.db import autocommit_connections, make_engine
from geo.districts import DistrictIndex, districts_of_points
from geo.gazetteer import (
    SEOUL_GAZETTEER,
    GazetteerReport,
    KnownAddress,
    hold_out,
    load_gazetteer,
    read_addresses,
    read_dongs,
)
from geo.geocoder import GazetteerGeocoder

TARGETS = {"district": 0.99, "interpolated_median_m": 150.0, "addresses_s": 500.0,
           "points_s": 50_000.0}  # fmt: skip
SEOUL_BOX = (37.42, 126.76, 37.70, 127.19)


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    scale = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lat2 - lat1) * 111_320, (lon2 - lon1) * 111_320 * scale)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def text_of(address: KnownAddress) -> str:
    number = f"{address.main_no}-{address.sub_no}" if address.sub_no else str(address.main_no)
    return f"서울특별시 {address.district} {address.road} {number}"


async def measure(url: str, held: list[KnownAddress]) -> dict[str, object]:
    engine = create_async_engine(url, pool_size=8)
    geocoder = GazetteerGeocoder(autocommit_connections(engine))
    results: list[object] = [None] * len(held)
    queue = list(enumerate(held))

    async def worker() -> None:
        while queue:
            index, address = queue.pop()
            found = await geocoder.geocode(text_of(address), limit=1)
            results[index] = found[0] if found else None

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(8)))
    geocode_seconds = time.perf_counter() - started

    async with autocommit_connections(engine)() as connection:
        truth = await districts_of_points(connection, [a.lat for a in held], [a.lon for a in held])
        placed = [r for r in results if r is not None]
        placed_districts = await districts_of_points(
            connection,
            [r.lat for r in placed],
            [r.lon for r in placed],  # type: ignore[attr-defined]
        )
        generator = random.Random(11)
        south, west, north, east = SEOUL_BOX
        lats = [generator.uniform(south, north) for _ in range(100_000)]
        lons = [generator.uniform(west, east) for _ in range(100_000)]
        started = time.perf_counter()
        inside = 0
        for start in range(0, 100_000, 10_000):
            codes = await districts_of_points(
                connection, lats[start : start + 10_000], lons[start : start + 10_000]
            )
            inside += sum(code is not None for code in codes)
        sql_seconds = time.perf_counter() - started
        started = time.perf_counter()
        index = await DistrictIndex.load(connection)
        in_memory = index.codes_of(lats, lons)
        points_seconds = time.perf_counter() - started
        if sum(code is not None for code in in_memory) != inside:
            raise AssertionError("the in-memory index and PostGIS disagree")
    await engine.dispose()

    errors: dict[str, list[float]] = defaultdict(list)
    right = 0
    placed_iter = iter(placed_districts)
    for address, result, true_district in zip(held, results, truth, strict=True):
        if result is None:
            continue
        errors[result.match_level].append(  # type: ignore[attr-defined]
            metres(address.lat, address.lon, result.lat, result.lon)  # type: ignore[attr-defined]
        )
        right += next(placed_iter) == true_district
    return {
        "count": len(held), "found": len(placed), "right_district": right / len(held),
        "errors": errors, "addresses_s": len(held) / geocode_seconds,
        "points_s": 100_000 / points_seconds, "inside": inside,
        "sql_points_s": 100_000 / sql_seconds,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    url = bench_url()
    print("preparing the bench database (migrations, Seoul demo) ...", flush=True)
    fresh_database(url)
    shared = get_settings().shared_dir / "data"
    report = GazetteerReport()
    addresses = read_addresses(shared / SEOUL_GAZETTEER.addresses, report)
    kept, held = hold_out(addresses, share=args.share, seed=args.seed)
    engine = make_engine(get_settings().model_copy(update={"database_url": url}))
    with Session(engine) as session:
        load_gazetteer(session, kept, read_dongs(SEOUL_GAZETTEER, shared, report), report)
        session.commit()
    engine.dispose()
    print(f"loaded {len(kept):,} addresses; geocoding the {len(held):,} held back", flush=True)
    figures = asyncio.run(measure(url, held))
    if not args.keep_db:
        database.drop_database(url)

    errors: dict[str, list[float]] = figures["errors"]  # type: ignore[assignment]
    share = float(figures["right_district"])  # type: ignore[arg-type]
    rows = []
    for level in ("building", "road_interpolated", "dong", "district"):
        values = errors.get(level, [])
        if values:
            rows.append(
                f"| {level} | {len(values):,} | {statistics.median(values):,.0f} |"
                f" {percentile(values, 0.9):,.0f} |"
            )
    interpolated = errors.get("road_interpolated", [])
    median_interpolated = statistics.median(interpolated) if interpolated else float("nan")
    addresses_s = float(figures["addresses_s"])  # type: ignore[arg-type]
    points_s = float(figures["points_s"])  # type: ignore[arg-type]

    def verdict(ok: bool) -> str:
        return "yes" if ok else "**no**"

    section = "\n".join([
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; seed {args.seed},"
        f" {args.share:.0%} of the gazetteer's {len(addresses):,} addresses held back"
        f" ({figures['count']:,}), the rest loaded; one process, 8 concurrent geocodes.",
        "",
        "| match level of the best candidate | addresses | median error m | p90 error m |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        "| figure | value | target | met |",
        "|---|---:|---|---|",
        f"| placed in the true point's district | {share:.2%} | ≥ 99 % |"
        f" {verdict(share >= 0.99)} |",
        f"| median error, interpolated on the road | {median_interpolated:,.0f} m | ≤ 150 m |"
        f" {verdict(median_interpolated <= 150)} |",
        f"| geocoding | {addresses_s:,.0f} addresses/s | ≥ 500/s | {verdict(addresses_s >= 500)} |",
        f"| district of 100,000 random points, `DistrictIndex` (shapely, prepared; index"
        f" built from PostGIS inside the timing; {figures['inside']:,} inside)"
        f" | {points_s:,.0f} points/s | ≥ 50,000/s | {verdict(points_s >= 50_000)} |",
        f"| the same in PostGIS, `districts_of_points` (batches of 10,000)"
        f" | {float(figures['sql_points_s']):,.0f} points/s | (reference) | |",
    ])  # fmt: skip
    print(section)
    print(f"district: {share:.4f} = {share / 0.99:.2f}x its target of 99 %")
    print(f"interpolated median: {median_interpolated:.0f} m = {median_interpolated / 150:.2f}x"
          " its bound of 150 m")  # fmt: skip
    print(f"addresses/s: {addresses_s:,.0f} = {addresses_s / 500:.2f}x its target of 500/s")
    print(f"points/s: {points_s:,.0f} = {points_s / 50_000:.2f}x its target of 50,000/s")
    if not args.no_write:
        write_doc(section, marker="geocode")


if __name__ == "__main__":
    main()
