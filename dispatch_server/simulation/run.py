"""One `dasan simulate`: the day drawn once, run once per dispatch policy on copies of the
same city, each through its own server; the figures gathered for the report."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import statistics
import tempfile
import time as time_of_day
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url

from dispatch_server import database
from dispatch_server.clock import FileClock
from dispatch_server.config import Settings
from dispatch_server.simulation import world
from dispatch_server.simulation.api import Account, Api
from dispatch_server.simulation.engine import Case, Engine, Inspector, Outcomes
from dispatch_server.simulation.plan import DayPlan, Place, draw_day
from dispatch_server.simulation.policies import Policy

# The demo's day: a Monday (the office calendar's clocks count), in the city's zone.
DEFAULT_DATE = date(2026, 11, 23)
TIME_TO_SITE_BINS = (15, 30, 60, 120, 240)  # minutes; the last bin is "more"


@dataclass
class Options:
    """What to simulate, and how."""

    complaints: int = 2200
    inspectors: int = 150
    hours: float = 24.0
    seed: int = 7
    speed: float | None = None  # simulated seconds per real second; None: as fast as it goes
    policies: list[Policy] = field(default_factory=lambda: [Policy.NEAREST])
    districts: list[str] | None = None
    day: date = DEFAULT_DATE
    city_speed_kmh: float = 15.0
    dispatch_seconds: float = 60.0  # a dispatcher reads a new case before assigning it
    city_database: str | None = None  # a database with the city already (copied per run)
    keep: bool = False  # keep the runs' databases (named <city>_run_<policy>)

    @property
    def city_speed_m_per_min(self) -> float:
        return self.city_speed_kmh * 1000 / 60


@dataclass
class RunResult:
    """One policy's day: the simulation's view and the server's figures."""

    policy: Policy
    outcomes: Outcomes
    cases: list[Case]
    inspectors: list[Inspector]
    sla: dict[str, Any]
    sla_by_category: dict[str, Any]
    sla_by_district: dict[str, Any]
    overview: dict[str, Any]
    calls: dict[str, int]
    # Real seconds by kind of event, and in all (for the benchmark; never in the report).
    wall: dict[str, float] = field(default_factory=dict)


def day_start(options: Options, timezone: str) -> datetime:
    """Midnight of the simulated day in the city's zone."""
    return datetime.combine(options.day, time(), ZoneInfo(timezone))


def plan_day(options: Options, places: list[Place], timezone: str) -> DayPlan:
    return draw_day(
        seed=options.seed, start=day_start(options, timezone), hours=options.hours,
        complaints=options.complaints, inspectors=options.inspectors, places=places,
        zone=ZoneInfo(timezone),
    )  # fmt: skip


@dataclass
class Figures:
    """The server's statistics of the day's reports (what a supervisor reads)."""

    sla: dict[str, Any]
    by_category: dict[str, Any]
    by_district: dict[str, Any]
    overview: dict[str, Any]


async def _figures(api: Api, account: Account, plan: DayPlan) -> Figures:
    period = {
        "from": plan.start.isoformat(),
        "to": (plan.start + timedelta(hours=plan.hours)).isoformat(),
    }
    sla = await api.stats(account, "/api/v1/stats/sla", period)
    by_category = {
        c: await api.stats(account, "/api/v1/stats/sla", {**period, "category": c})
        for c in sorted({a.category for a in plan.arrivals})
    }
    by_district = {
        d: await api.stats(account, "/api/v1/stats/sla", {**period, "district": d})
        for d in plan.districts()
    }
    overview = await api.stats(account, "/api/v1/stats/overview", period)
    return Figures(sla, by_category, by_district, overview)


async def run_policy(
    plan: DayPlan,
    policy: Policy,
    *,
    city_url: str,
    folder: Path,
    settings: Settings,
    options: Options,
    progress: Callable[[int, int], None] | None = None,
    copying: asyncio.Lock | None = None,
) -> RunResult:
    """The day under one policy, on a fresh copy of the city and its own server (`folder`
    is the run's own: the server's log, its texts; `copying` keeps copies of the city one
    at a time when runs go side by side)."""
    name = f"{make_url(city_url).database}_run_{policy.value.replace('-', '_')}"
    run_url = world.run_database(city_url, name)
    folder.mkdir(parents=True, exist_ok=True)
    # The clock file is written at every event: on a memory file system when there is one
    # (a rename on a journalled disk costs more than the event).
    shm = Path("/dev/shm")
    clocks = Path(tempfile.mkdtemp(prefix="dasan-clock-", dir=shm if shm.is_dir() else None))
    stack = contextlib.ExitStack()  # the server: started and stopped off the event loop
    try:
        clock_file = clocks / "clock"
        FileClock.write(clock_file, plan.start)
        async with copying or contextlib.nullcontext():
            await asyncio.to_thread(database.copy_database, city_url, run_url)
        crew = await asyncio.to_thread(world.set_up_crews, run_url, plan, now=plan.start)
        work = world.BackgroundWork(run_url, folder, settings, seed=plan.seed)
        try:
            starting = asyncio.ensure_future(
                asyncio.to_thread(
                    stack.enter_context, world.own_server(run_url, clock_file, folder)
                )
            )
            try:
                base = await asyncio.shield(starting)
            except asyncio.CancelledError:
                # Cancelled while it starts (another run failed): let it start, then stop it.
                with contextlib.suppress(Exception):
                    await starting
                raise
            api = Api(base)
            try:
                result = await _run(
                    plan, policy, api=api, crew=crew, work=work, clock_file=clock_file,
                    options=options, progress=progress,
                )  # fmt: skip
            finally:
                await api.aclose()
        finally:
            await work.aclose()
        return result
    finally:
        await asyncio.to_thread(stack.close)
        shutil.rmtree(clocks, ignore_errors=True)
        if not options.keep:
            await asyncio.to_thread(database.drop_database, run_url)


async def _run(
    plan: DayPlan,
    policy: Policy,
    *,
    api: Api,
    crew: world.Crew,
    work: world.BackgroundWork,
    clock_file: Path,
    options: Options,
    progress: Callable[[int, int], None] | None,
) -> RunResult:
    agent = Account(crew.agent, crew.password)
    dispatcher = Account(crew.dispatcher, crew.password)
    shifts: dict[int, list[tuple[datetime, datetime]]] = {}
    for shift in plan.shifts:
        shifts.setdefault(shift.n, []).append((shift.start, shift.end))
    first = {s.n: s for s in plan.shifts}
    inspectors = [
        Inspector(
            n=n, server_id=crew.inspectors[n][0], district=first[n].district,
            account=Account(crew.inspectors[n][1], crew.password),
            home_lat=first[n].home_lat, home_lon=first[n].home_lon, shifts=sorted(shifts[n]),
        )
        for n in sorted(shifts)
    ]  # fmt: skip
    engine = Engine(
        plan=plan, api=api, policy=policy, agent=agent, dispatcher=dispatcher,
        inspectors=inspectors, result_codes=world.result_codes(work.settings.database_url),
        speed=options.speed, city_speed_m_per_min=options.city_speed_m_per_min,
        clock_file=clock_file, tick=work.tick, progress=progress,
        dispatch_delay=timedelta(seconds=options.dispatch_seconds),
    )  # fmt: skip
    began = time_of_day.perf_counter()
    outcomes = await engine.run()
    wall = {**engine.wall, "day": time_of_day.perf_counter() - began}
    figures = await _figures(api, dispatcher, plan)
    return RunResult(
        policy=policy, outcomes=outcomes, cases=sorted(engine.cases.values(), key=lambda c: c.id),
        inspectors=inspectors, sla=figures.sla, sla_by_category=figures.by_category,
        sla_by_district=figures.by_district, overview=figures.overview,
        calls=dict(sorted(api.calls.made.items())), wall=wall,
    )  # fmt: skip


async def simulate(
    options: Options,
    settings: Settings,
    *,
    progress: Callable[[Policy, int, int], None] | None = None,
    say: Callable[[str], None] = print,
) -> tuple[DayPlan, list[RunResult]]:
    """The day, once per policy of the options (on the city database given, or one built
    beside the configured database and dropped afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="dasan-simulate-"))
    try:
        with world.city(options.city_database, settings, keep=options.keep, say=say) as city_url:
            return await _policies(options, settings, city_url, folder, progress, say)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _policies(
    options: Options, settings: Settings, city_url: str, folder: Path,
    progress: Callable[[Policy, int, int], None] | None, say: Callable[[str], None],
) -> tuple[DayPlan, list[RunResult]]:  # fmt: skip
    places = world.read_places(city_url, options.districts)
    plan = plan_day(options, places, settings.timezone)
    copying = asyncio.Lock()

    def tick(policy: Policy) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            if progress is not None:
                progress(policy, done, total)

        return report

    say(f"simulating the day with the {', '.join(map(str, options.policies))} "
        f"{'policies side by side' if len(options.policies) > 1 else 'policy'}...")  # fmt: skip
    # Each policy's day is on its own database, server and clock: side by side they
    # cannot touch each other, and the machine's cores are used.
    # A run that fails stops the others (the group cancels them) before the folder goes.
    async with asyncio.TaskGroup() as group:
        runs = [
            group.create_task(
                run_policy(
                    plan, policy, city_url=city_url, folder=folder / policy.value,
                    settings=settings, options=options, progress=tick(policy),
                    copying=copying,
                )
            )
            for policy in options.policies
        ]  # fmt: skip
    results = [run.result() for run in runs]
    return plan, results


def percentile(values: list[float], share: float) -> float | None:
    """The value below which `share` of them lie (linear, as PostgreSQL's
    percentile_cont); None for none."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def minutes_to_site(result: RunResult) -> list[float]:
    """Received to on site, per visited case (minutes)."""
    return [
        (c.on_site_at - c.created_at).total_seconds() / 60
        for c in result.cases
        if c.on_site_at is not None
    ]


def mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None
