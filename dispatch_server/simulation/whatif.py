"""`dasan simulate --what-if`: the fewest inspectors per district that keep arrive-on-site
SLA compliance at or above a target, found by running the same day with other crews.

Districts do not share inspectors (each has its own team), so every district's count is
searched at once: a bisection per district, one simulated day per round. A district
whose reports have no arrive clock (none of its categories has one) needs only one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dispatch_server.config import Settings
from dispatch_server.simulation import world
from dispatch_server.simulation.plan import DayPlan, inspectors_per_district, with_inspectors
from dispatch_server.simulation.policies import Policy
from dispatch_server.simulation.run import Options, plan_day, run_policy

MAX_ROUNDS = 8
MAX_PER_DISTRICT = 200


@dataclass
class Bounds:
    """What is known of a district's fewest: `low` is too few below it, `high` enough."""

    low: int = 1
    high: int | None = None

    def next(self, tried: int, ok: bool) -> int:
        if ok:
            self.high = tried
        else:
            self.low = tried + 1
        if self.high is None:
            return min(MAX_PER_DISTRICT, max(self.low, tried * 2))
        return (self.low + self.high) // 2

    @property
    def settled(self) -> bool:
        return self.high is not None and self.low >= self.high


@dataclass
class Round:
    """One simulated day of the search."""

    counts: dict[str, int]
    compliance: dict[str, float | None]


@dataclass
class Search:
    """The search's rounds and its answer."""

    target: float
    policy: Policy
    rounds: list[Round] = field(default_factory=list)
    fewest: dict[str, int] = field(default_factory=dict)
    settled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "policy": str(self.policy),
            "settled": self.settled,
            "fewest": dict(sorted(self.fewest.items())),
            "total": sum(self.fewest.values()),
            "rounds": [
                {
                    "counts": dict(sorted(r.counts.items())),
                    "arrive_compliance": dict(sorted(r.compliance.items())),
                }
                for r in self.rounds
            ],  # fmt: skip
        }


async def fewest_inspectors(
    options: Options,
    settings: Settings,
    *,
    target: float = 0.9,
    say: Callable[[str], None] = print,
) -> Search:
    """The search (at most MAX_ROUNDS days); `options.policies[0]` dispatches."""
    policy = options.policies[0]
    search = Search(target=target, policy=policy)
    folder = Path(tempfile.mkdtemp(prefix="dasan-whatif-"))
    try:
        with world.city(options.city_database, settings, keep=options.keep, say=say) as city_url:
            await _search(search, options, settings, city_url, folder, target, say)
        return search
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _search(
    search: Search, options: Options, settings: Settings, city_url: str, folder: Path,
    target: float, say: Callable[[str], None],
) -> None:  # fmt: skip
    places = world.read_places(city_url, options.districts)
    zone = ZoneInfo(settings.timezone)
    day = plan_day(options, places, settings.timezone)
    counts = inspectors_per_district(day, options.inspectors)
    bounds = {district: Bounds() for district in counts}
    for number in range(1, MAX_ROUNDS + 1):
        plan = with_inspectors(day, counts, places, zone)
        say(f"round {number}: {sum(counts.values())} inspectors")
        compliance = await _round(
            plan, search.policy, city_url, folder / f"round-{number}", settings, options
        )
        search.rounds.append(Round(dict(counts), compliance))
        for district, bound in bounds.items():
            value = compliance.get(district)
            ok = value is None or value >= target
            counts[district] = bound.next(counts[district], ok)
        if all(b.settled for b in bounds.values()):
            search.settled = True
            break
    search.fewest = {d: b.high if b.high is not None else counts[d] for d, b in bounds.items()}


async def _round(
    plan: DayPlan, policy: Policy, city_url: str, folder: Path, settings: Settings,
    options: Options,
) -> dict[str, float | None]:  # fmt: skip
    """Arrive-on-site compliance per district of one day with the plan's crews."""
    result = await run_policy(
        plan,
        policy,
        city_url=city_url,
        folder=folder,
        settings=settings,
        options=options,
    )
    return {
        district: next(s for s in report["stages"] if s["kind"] == "arrive")["compliance"]
        for district, report in result.sla_by_district.items()
    }
