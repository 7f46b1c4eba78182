"""`dasan simulate`: a city's day end to end through the real server, dispatch policies
compared, crews sized (see dispatch_server/simulation)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dispatch_server.config import PROJECT_ROOT, get_settings

console = Console()
POLICIES = ("nearest", "territory", "sla-aware", "all")
T = TypeVar("T")


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise typer.BadParameter("a number of simulated seconds per second, or max") from None
    if not 0 < speed <= 1_000_000:
        raise typer.BadParameter("between 0 and 1,000,000, or max")
    return speed


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run it; what cannot be simulated is the caller's mistake (exit 2, said plainly)."""
    from dispatch_server.simulation.world import Refused

    try:
        return asyncio.run(coroutine)
    except Refused as refused:
        raise typer.BadParameter(str(refused), param_hint="--district") from None


def simulate(
    complaints: Annotated[int, typer.Option(min=1, max=100_000, help="reports of the day")] = 2200,
    inspectors: Annotated[int, typer.Option(min=1, max=5_000, help="inspectors, all shifts")] = 150,
    hours: Annotated[float, typer.Option(min=0.5, max=24 * 14, help="hours of reports")] = 24.0,
    seed: Annotated[int, typer.Option(help="the same seed gives the same day and report")] = 7,
    speed: Annotated[
        str, typer.Option(help="simulated seconds per real second, or max (as fast as it goes)")
    ] = "max",
    policy: Annotated[
        str, typer.Option(help="nearest, territory, sla-aware, or all (compared)")
    ] = "nearest",
    district: Annotated[
        list[str] | None, typer.Option(help="only this district's reports (repeatable)")
    ] = None,
    day: Annotated[
        str, typer.Option(help="the simulated day (YYYY-MM-DD), in the city's zone")
    ] = "2026-11-23",
    city_speed: Annotated[
        float, typer.Option(min=1, max=120, help="inspectors' speed in the city, km/h")
    ] = 15.0,
    dispatch_seconds: Annotated[
        float,
        typer.Option(min=0, max=3600, help="seconds a dispatcher takes to assign a new case"),
    ] = 60.0,
    out: Annotated[Path | None, typer.Option(help="folder of report.json and report.html")] = None,
    city_database: Annotated[
        str | None, typer.Option(help="a database with the city already (copied for each run)")
    ] = None,
    keep: Annotated[bool, typer.Option(help="keep the runs' databases")] = False,
    what_if: Annotated[
        bool, typer.Option("--what-if", help="find the fewest inspectors per district")
    ] = False,
    target: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="--what-if: arrive-on-site compliance")
    ] = 0.9,
    live: Annotated[
        bool, typer.Option("--live", help="play it in real time against the server at --url")
    ] = False,
    url: Annotated[
        str | None, typer.Option(help="--live: the running server (its database: DASAN_*)")
    ] = None,
) -> None:
    """Simulate a day of the city through the real server: reports logged by an agent,
    dispatched by a policy, worked by inspectors on shifts through the field API, SLA
    clocks and texts on the simulated clock; then the report (printed, and written as
    report.json and report.html).

    Without --live it runs on its own server and throw-away database, as fast as it can
    (--speed max) or paced; with --live it plays the day in real time against a running
    server (what `make run` starts, so the console shows the city move)."""
    from dispatch_server.simulation import report as reports
    from dispatch_server.simulation.policies import Policy
    from dispatch_server.simulation.run import Options
    from dispatch_server.simulation.run import simulate as run_simulation

    if district and any(not (len(d) == 5 and d.isascii() and d.isdigit()) for d in district):
        raise typer.BadParameter(
            "a district's five-digit code, e.g. 11110", param_hint="--district"
        )
    if out is not None and out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file, not a folder", param_hint="--out")
    if live and (what_if or policy == "all" or speed != "max"):
        raise typer.BadParameter(
            "a live day plays in real time with one policy: not with --what-if, --policy all "
            "or --speed", param_hint="--live",
        )  # fmt: skip
    if policy not in POLICIES:
        raise typer.BadParameter(f"one of {', '.join(POLICIES)}", param_hint="--policy")
    chosen = list(Policy) if policy == "all" else [Policy(policy)]
    try:
        the_day = date.fromisoformat(day)
    except ValueError:
        raise typer.BadParameter("YYYY-MM-DD", param_hint="--day") from None
    options = Options(
        complaints=complaints, inspectors=inspectors, hours=hours, seed=seed,
        speed=_speed(speed), policies=chosen, districts=sorted(district) if district else None,
        day=the_day, city_speed_kmh=city_speed, city_database=city_database, keep=keep,
        dispatch_seconds=dispatch_seconds,
    )  # fmt: skip
    settings = get_settings()
    if live:
        from dispatch_server.simulation.live import run_live

        if url is None:
            raise typer.BadParameter("--live needs the server's --url", param_hint="--url")
        outcomes = _run(run_live(url, options, settings, say=console.print))
        console.print(f"live simulation ended: {outcomes.logged} reports logged")
        return
    folder = out or PROJECT_ROOT / ".data" / "simulation" / f"seed-{seed}"
    started = time.monotonic()
    if what_if:
        from dispatch_server.simulation.whatif import fewest_inspectors

        search = _run(fewest_inspectors(options, settings, target=target, say=console.print))
        folder.mkdir(parents=True, exist_ok=True)
        answer = search.as_dict()
        (folder / "what-if.json").write_text(json.dumps(answer, indent=2) + "\n")
        console.print(
            f"fewest inspectors for {target:.0%} arrive-on-site compliance "
            f"({'settled' if search.settled else 'not settled: the last round'}): "
            f"{answer['total']} in all"
        )
        for code, count in answer["fewest"].items():
            console.print(f"  {code}: {count}")
        console.print(f"written to {folder / 'what-if.json'} in {time.monotonic() - started:.0f} s")
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as bar:  # fmt: skip
        tasks: dict[str, int] = {}

        def progress(policy: Policy, done: int, total: int) -> None:
            if policy not in tasks:
                tasks[policy] = bar.add_task(f"{policy}: reports", total=total)
            bar.update(tasks[policy], completed=done)

        plan, results = _run(
            run_simulation(options, settings, progress=progress, say=console.print)
        )
    figures = reports.build(plan, results, options)
    as_json, page = reports.write(figures, folder)
    console.print(reports.as_text(figures), soft_wrap=True)
    console.print(f"report: {page} (and {as_json.name}); {time.monotonic() - started:.0f} s")
