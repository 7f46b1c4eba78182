"""The day to simulate, drawn from a seed: who reports what, where and when; who works
which shift. Pure: the same seed and the same city give the same day.

Arrivals follow the hours of a call centre's day (a quiet night, a morning and an evening
peak); the category mix is led by illegal parking; places are the gazetteer's addresses,
more in the districts that have more of them (the denser ones). A share of reports repeat
an open one close by (duplicates) and a share cannot be placed at all. Inspectors are
spread over the districts by their expected load, in day, evening and night shifts.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dispatch_server.phones import PhoneRejected, normalize_phone

# Share of a day's reports in each hour (index: the city's hour), before normalising.
HOURLY = (
    0.8, 0.5, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 4.5, 6.0, 6.5, 6.0,
    5.0, 5.5, 5.8, 5.6, 5.4, 5.8, 6.2, 6.0, 5.0, 3.5, 2.2, 1.3,
)  # fmt: skip
# Category mix of the demo's categories (illegal parking about 40 %).
MIX = {
    "illegal_parking": 0.40, "garbage_uncollected": 0.15, "illegal_dumping": 0.12,
    "street_lamp": 0.10, "road_damage": 0.10, "facility_damage": 0.07, "vehicle_idling": 0.06,
}  # fmt: skip
# Minutes on site, on average, and how a visit ends (resolved, unresolved, referred).
INSPECT_MINUTES = {
    "illegal_parking": 8, "vehicle_idling": 6, "garbage_uncollected": 15,
    "illegal_dumping": 20, "street_lamp": 12, "road_damage": 20, "facility_damage": 15,
}  # fmt: skip
OUTCOMES = {"illegal_parking": (0.70, 0.25, 0.05), "vehicle_idling": (0.65, 0.30, 0.05)}
DEFAULT_OUTCOMES = (0.78, 0.12, 0.10)
LANGUAGES = (("ko", 0.95), ("en", 0.02), ("zh", 0.01), ("vi", 0.01), ("ja", 0.005),
             ("mn", 0.005))  # fmt: skip
# Shifts (city hours; the night one ends the next morning) and the share of inspectors.
SHIFTS = (("day", 7, 16, 0.5), ("evening", 15, 24, 0.33), ("night", 23, 32, 0.17))
DUPLICATE_SHARE = 0.06
UNLOCATABLE_SHARE = 0.03
ADDRESS_SHARE = 0.40  # of the placeable reports: an address read out; the rest a point
POINT_SPREAD_M = 60.0  # a point report lies this far from its address, at most
DUPLICATE_WITHIN = timedelta(minutes=45)
METRES_PER_DEGREE = 111_320.0
SIMULATED = "[시뮬레이션 "  # how a simulated report's description begins


@dataclass(frozen=True)
class Place:
    """A known address of the city: where reports come from."""

    district: str
    district_name: str
    lat: float
    lon: float
    address: str


@dataclass(frozen=True)
class Arrival:
    """One report as the caller gives it, and how its visit will go."""

    n: int
    at: datetime
    category: str
    district: str
    lat: float
    lon: float
    address: str | None  # given to the agent (geocoded when there is no point)
    located_by: str  # "point", "address" or "unlocatable"
    repeats: int | None  # the earlier arrival this one is a repeat of
    description: str
    phone: str
    language: str
    inspect_minutes: float
    outcome: str  # resolved, unresolved or referred


@dataclass(frozen=True)
class Shift:
    """Working hours of one inspector (`n`; a night inspector has two: the end of the
    night before, and the night that starts), and where they start from."""

    n: int
    district: str
    name: str
    start: datetime
    end: datetime
    home_lat: float
    home_lon: float


@dataclass
class DayPlan:
    """Everything the day will bring, in order."""

    seed: int
    start: datetime
    hours: float
    arrivals: list[Arrival] = field(default_factory=list)
    shifts: list[Shift] = field(default_factory=list)

    def districts(self) -> list[str]:
        """The districts the day has reports or inspectors in."""
        return sorted({a.district for a in self.arrivals} | {s.district for s in self.shifts})


def _choice(rng: random.Random, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _phone(rng: random.Random) -> str:
    """A mobile number the numbering plan allocates (as the server checks it)."""
    while True:
        phone = f"010-{rng.randint(2000, 9999)}-{rng.randint(0, 9999):04d}"
        try:
            normalize_phone(phone, region="KR")
        except PhoneRejected:
            continue
        return phone


def _near(rng: random.Random, lat: float, lon: float, metres: float) -> tuple[float, float]:
    distance = metres * math.sqrt(rng.random())
    angle = rng.random() * 2 * math.pi
    dlat = distance * math.cos(angle) / METRES_PER_DEGREE
    dlon = distance * math.sin(angle) / (METRES_PER_DEGREE * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def _arrival_times(
    rng: random.Random, start: datetime, hours: float, count: int, zone: ZoneInfo
) -> list[datetime]:
    """`count` moments in [start, start + hours), by the hour of the city's day."""
    slots = max(1, math.ceil(hours))
    weights = [HOURLY[(start.astimezone(zone) + timedelta(hours=h)).hour] for h in range(slots)]
    times = []
    for _ in range(count):
        slot = rng.choices(range(slots), weights=weights)[0]
        offset = timedelta(hours=slot) + timedelta(seconds=rng.random() * 3600)
        if offset < timedelta(hours=hours):
            times.append(start + offset)
        else:
            times.append(start + timedelta(seconds=rng.random() * hours * 3600))
    return sorted(times)


def draw_day(
    *,
    seed: int,
    start: datetime,
    hours: float,
    complaints: int,
    inspectors: int,
    places: list[Place],
    zone: ZoneInfo,
) -> DayPlan:
    """The day's reports and shifts (deterministic in its arguments)."""
    if not places:
        raise ValueError("the city has no known addresses to draw places from")
    rng = random.Random(seed)
    by_district: dict[str, list[Place]] = {}
    for place in places:
        by_district.setdefault(place.district, []).append(place)
    districts = sorted(by_district)
    weights = {d: float(len(by_district[d])) for d in districts}
    plan = DayPlan(seed=seed, start=start, hours=hours)
    recent: list[Arrival] = []
    for n, at in enumerate(_arrival_times(rng, start, hours, complaints, zone), start=1):
        category = _choice(rng, MIX)
        district = _choice(rng, weights)
        place = rng.choice(by_district[district])
        repeats = None
        roll = rng.random()
        recent = [a for a in recent if at - a.at <= DUPLICATE_WITHIN]
        if roll < DUPLICATE_SHARE and recent:
            earlier = rng.choice(recent)
            category, district = earlier.category, earlier.district
            lat, lon = _near(rng, earlier.lat, earlier.lon, 5.0)
            address, located_by, repeats = None, "point", earlier.n
        elif roll < DUPLICATE_SHARE + UNLOCATABLE_SHARE:
            lat, lon = place.lat, place.lon
            address = f"{place.district_name} 근처 어딘가 {rng.randint(1, 99)}번째 골목"
            located_by = "unlocatable"
        elif rng.random() < ADDRESS_SHARE:
            lat, lon, address, located_by = place.lat, place.lon, place.address, "address"
        else:
            lat, lon = _near(rng, place.lat, place.lon, POINT_SPREAD_M)
            address, located_by = None, "point"
        mean = INSPECT_MINUTES.get(category, 12)
        outcome = rng.choices(
            ("resolved", "unresolved", "referred"), weights=OUTCOMES.get(category, DEFAULT_OUTCOMES)
        )[0]
        language = rng.choices([c for c, _ in LANGUAGES], weights=[w for _, w in LANGUAGES])[0]
        arrival = Arrival(
            n=n, at=at, category=category, district=district, lat=lat, lon=lon,
            address=address, located_by=located_by, repeats=repeats,
            description=f"{SIMULATED}{seed}-{n}] {category} 신고", phone=_phone(rng),
            language=language, inspect_minutes=round(mean * rng.uniform(0.6, 1.4), 1),
            outcome=outcome,
        )  # fmt: skip
        plan.arrivals.append(arrival)
        if located_by != "unlocatable":
            recent.append(arrival)
    plan.shifts = _shifts(plan, inspectors, by_district, start, zone)
    return plan


def _largest_remainder(total: int, weights: dict[str, float]) -> dict[str, int]:
    """`total` shared in proportion to `weights` (whole numbers adding up to it)."""
    mass = sum(weights.values()) or 1.0
    exact = {k: total * w / mass for k, w in weights.items()}
    counts = {k: math.floor(v) for k, v in exact.items()}
    rest = total - sum(counts.values())
    for key in sorted(exact, key=lambda k: (counts[k] - exact[k], k))[:rest]:
        counts[key] += 1
    return counts


def inspectors_per_district(plan: DayPlan, total: int) -> dict[str, int]:
    """The inspectors each district gets: by its share of the day's reports, at least one
    where there are reports (while there are inspectors to go round)."""
    load: dict[str, float] = {}
    for arrival in plan.arrivals:
        load[arrival.district] = load.get(arrival.district, 0.0) + 1.0
    if not load:
        return {}
    counts = _largest_remainder(total, load)
    for district in sorted(load, key=lambda d: -load[d]):
        if counts[district] == 0:
            donor = max(counts, key=lambda d: (counts[d], d))
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[district] = 1
    return counts


def _shifts(
    plan: DayPlan,
    total: int,
    by_district: dict[str, list[Place]],
    start: datetime,
    zone: ZoneInfo,
    counts: dict[str, int] | None = None,
) -> list[Shift]:
    counts = counts if counts is not None else inspectors_per_district(plan, total)
    midnight = start.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    covered = max(
        1, math.ceil((start + timedelta(hours=plan.hours) - midnight) / timedelta(days=1))
    )
    shifts = []
    n = 0
    for district in sorted(counts):
        # Each district draws its inspectors' homes from its own stream, so one district's
        # crew does not change another's (the what-if search varies them one by one).
        rng = random.Random(f"{plan.seed}:{district}")
        per_shift = _largest_remainder(counts[district], {s[0]: s[3] for s in SHIFTS})
        for name, first, last, _ in SHIFTS:
            for _ in range(per_shift[name]):
                n += 1
                home = rng.choice(by_district[district])
                # Every day the reports cover; a night inspector also works the end of the
                # night before (from midnight).
                days = range(-1 if last > 24 else 0, covered)
                for day in days:
                    shifts.append(
                        Shift(
                            n=n, district=district, name=name,
                            start=midnight + timedelta(days=day, hours=first),
                            end=midnight + timedelta(days=day, hours=last),
                            home_lat=home.lat, home_lon=home.lon,
                        )
                    )  # fmt: skip
    return shifts


def with_inspectors(
    plan: DayPlan, counts: dict[str, int], places: list[Place], zone: ZoneInfo
) -> DayPlan:
    """The same reports with other crews (the what-if search): `counts` per district."""
    by_district: dict[str, list[Place]] = {}
    for place in places:
        by_district.setdefault(place.district, []).append(place)
    shifts = _shifts(plan, sum(counts.values()), by_district, plan.start, zone, counts)
    return DayPlan(
        seed=plan.seed, start=plan.start, hours=plan.hours, arrivals=plan.arrivals,
        shifts=shifts,
    )  # fmt: skip
