"""The simulated day, event by event, through the real server's public API.

A discrete-event loop: reports arrive (the agent logs them), the dispatcher assigns them
by the policy, inspectors come on and go off duty, accept, travel in straight lines at the
city speed, inspect, and record results; on its own server the simulation moves the
server's clock (a clock file) to each event's time and runs the SLA sweep and the outbox
delivery on it every simulated minute, so the same seed gives the same day. Against a
server on the real clock it waits for each event's time instead (a live demo).

Everything the server is told goes through HTTP; what the engine keeps is its own
knowledge of the world (where inspectors are, what they will do next), corrected from the
server when the two disagree (an SLA re-route, a dispatcher's move in the console).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dispatch_server.clock import FileClock
from dispatch_server.simulation import policies
from dispatch_server.simulation.api import Account, Api, ApiFailed
from dispatch_server.simulation.plan import Arrival, DayPlan
from dispatch_server.simulation.policies import Policy, metres

log = logging.getLogger(__name__)

DISPATCH_DELAY = timedelta(minutes=1)  # a dispatcher reads a new case before assigning it
PING_EVERY = timedelta(minutes=5)  # positions while travelling
TICK = timedelta(minutes=1)  # the SLA sweep and the outbox, on the simulated clock
MAX_REFUSALS = 6  # a case whose assignment was refused this often is left to a person
TAIL = timedelta(hours=6)  # after the last report: time for the work to finish
FINAL = ("resolved", "unresolved", "referred", "closed", "cancelled", "duplicate")


@dataclass
class Case:
    """A case the simulation logged, as it knows it."""

    id: int
    ticket: str
    arrival: Arrival
    version: int
    status: str
    created_at: datetime
    due: datetime  # when the visit is due (the arrive clock, else the resolve clock)
    # Where the server put it (an address is geocoded; a point near a boundary may fall
    # in the next district): the district that works it and the point inspectors go to.
    district: str = ""
    lat: float = 0.0
    lon: float = 0.0
    refusals: int = 0  # assignments the server refused (see MAX_REFUSALS)
    inspector: int | None = None  # the simulated inspector's number
    epoch: int = 0  # bumped when the case is taken away: events of an older epoch are void
    on_site_at: datetime | None = None
    outcome: str | None = None
    result_code: str | None = None


@dataclass
class Inspector:
    """A simulated inspector: their shifts, where they are, what they do."""

    n: int
    server_id: int
    district: str
    account: Account
    home_lat: float
    home_lon: float
    shifts: list[tuple[datetime, datetime]]
    lat: float = 0.0
    lon: float = 0.0
    on_duty: bool = False
    leaving: bool = False
    queue: list[Case] = field(default_factory=list)
    current: Case | None = None
    busy_since: datetime | None = None
    busy_seconds: float = 0.0
    duty_since: datetime | None = None
    duty_seconds: float = 0.0

    def free_at(self, now: datetime, speed_m_per_min: float) -> tuple[datetime, float, float]:
        """When the queue is done, by the plan's times (estimated), and where."""
        at, lat, lon = now, self.lat, self.lon
        work = ([self.current] if self.current else []) + self.queue
        for case in work:
            at += timedelta(minutes=metres(lat, lon, case.lat, case.lon) / speed_m_per_min)
            at += timedelta(minutes=case.arrival.inspect_minutes)
            lat, lon = case.lat, case.lon
        return at, lat, lon


@dataclass
class TickReport:
    """What one tick of the server's background work did (on the simulated clock)."""

    sla_steps: int = 0
    rerouted: list[int] = field(default_factory=list)
    messages: dict[str, int] = field(default_factory=dict)


@dataclass
class Outcomes:
    """What the day did, as the simulation saw it."""

    reports: int = 0
    logged: int = 0
    duplicates: int = 0
    unlocatable: int = 0
    # Why each unplaced report was refused: "<how it was given>:<the error code>".
    unplaced: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    sweeps: int = 0
    sla_steps: int = 0
    rerouted: int = 0
    # Cases the server put in a district nobody simulated works (with --district), and
    # cases left after MAX_REFUSALS refused assignments or a move refused twice.
    elsewhere: int = 0
    stuck: int = 0
    ended_at: datetime | None = None


class Engine:
    """One simulated day on one server."""

    def __init__(
        self,
        *,
        plan: DayPlan,
        api: Api,
        policy: Policy,
        agent: Account,
        dispatcher: Account,
        inspectors: list[Inspector],
        result_codes: dict[tuple[str, str], list[str]],
        speed: float | None,
        city_speed_m_per_min: float,
        clock_file: Path | None,
        tick: Callable[[datetime], Awaitable[TickReport]] | None,
        progress: Callable[[int, int], None] | None = None,
        ping_every: timedelta = PING_EVERY,
        dispatch_delay: timedelta = DISPATCH_DELAY,
    ) -> None:
        self.plan = plan
        self.api = api
        self.policy = policy
        self.agent = agent
        self.dispatcher = dispatcher
        self.inspectors = {i.n: i for i in inspectors}
        self.by_server_id = {i.server_id: i for i in inspectors}
        self.districts = {i.district for i in inspectors}
        self.result_codes = result_codes
        self.speed = speed  # simulated seconds per real second; None: as fast as it goes
        self.city_speed = city_speed_m_per_min
        self.clock_file = clock_file
        self.tick = tick
        self.progress = progress
        self.ping_every = ping_every
        self.dispatch_delay = dispatch_delay
        self.now = plan.start
        self.cases: dict[int, Case] = {}
        self.by_arrival: dict[int, Case] = {}
        self.backlog: dict[str, list[Case]] = {}
        self.left: set[int] = set()  # cases the simulation gave up on (elsewhere, stuck)
        self.outcomes = Outcomes()
        self._events: list[tuple[datetime, int, Callable[..., Awaitable[None]], tuple[Any, ...]]]
        self._events = []
        self._seq = itertools.count()
        self._real_start = time.monotonic()
        self._done_reports = 0
        # Real seconds spent in each kind of event (for the benchmark; not in the report,
        # which holds no wall-clock figure).
        self.wall: dict[str, float] = {}

    # -- the loop ----------------------------------------------------------------------

    def at(self, when: datetime, action: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Do `action(*args)` at `when` (events at one time run in the order scheduled)."""
        heapq.heappush(self._events, (when, next(self._seq), action, args))

    async def _advance(self, when: datetime) -> None:
        if when <= self.now:
            return
        if self.speed is not None:
            due = self._real_start + (when - self.plan.start).total_seconds() / self.speed
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        self.now = when
        if self.clock_file is not None:
            FileClock.write(self.clock_file, when)

    def _idle(self) -> bool:
        """Every report in, every case done, nobody working."""
        if self._done_reports < len(self.plan.arrivals):
            return False
        if any(i.current or i.queue for i in self.inspectors.values()):
            return False
        return not any(
            case.status not in FINAL and case.inspector is None and case.id not in self.left
            for case in self.cases.values()
        )

    async def run(self) -> Outcomes:
        """The whole day; the outcomes (the report reads the rest from the server)."""
        end_of_reports = self.plan.start + timedelta(hours=self.plan.hours)
        deadline = end_of_reports + TAIL
        if self.clock_file is not None:
            FileClock.write(self.clock_file, self.plan.start)
        for arrival in self.plan.arrivals:
            self.at(arrival.at, self._arrive, arrival)
        for inspector in self.inspectors.values():
            for start, end in inspector.shifts:
                if end <= self.plan.start or start >= deadline:
                    continue
                self.at(max(start, self.plan.start), self._shift_starts, inspector, end)
                self.at(end, self._shift_ends, inspector)
        if self.tick is not None:
            when = self.plan.start + TICK
            while when <= deadline:
                self.at(when, self._tick)
                when += TICK
        while self._events:
            when, _, action, args = heapq.heappop(self._events)
            if when > deadline:
                break
            if when > end_of_reports and action == self._tick and self._idle():
                break  # the day's work is done: nothing later changes the figures
            await self._advance(when)
            began = time.perf_counter()
            await action(*args)
            name = action.__name__.lstrip("_")
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - began
        self.outcomes.ended_at = self.now
        if self.tick is not None:
            await self._tick()  # the last sweep, at the end
        for inspector in self.inspectors.values():
            self._stop_duty_clock(inspector)
            self._stop_busy_clock(inspector)
        return self.outcomes

    async def _tick(self) -> None:
        assert self.tick is not None
        done = await self.tick(self.now)
        self.outcomes.sweeps += 1
        self.outcomes.sla_steps += done.sla_steps
        for key, count in done.messages.items():
            self.outcomes.messages[key] = self.outcomes.messages.get(key, 0) + count
        for complaint_id in done.rerouted:
            case = self.cases.get(complaint_id)
            if case is not None:
                self.outcomes.rerouted += 1
                await self._reconcile(case)

    def adopt(self, case: Case) -> None:
        """A case open on the server before the run (a live demo started again): read at
        the start and worked like the day's own."""
        self.cases[case.id] = case
        # A moment in: its inspector is on duty by then.
        self.at(self.plan.start + timedelta(seconds=1), self._reconcile, case)

    async def _wrap_up(self, inspector: Inspector, case: Case, epoch: int) -> None:
        """An adopted case already on site: its result."""
        if case.epoch == epoch and case.inspector == inspector.n and case.status == "on_site":
            if await self._move(inspector, case, self._result(case)):
                case.outcome = case.arrival.outcome

    # -- reports and dispatch ----------------------------------------------------------

    def _body(self, arrival: Arrival) -> dict[str, Any]:
        body: dict[str, Any] = {
            "category": arrival.category,
            "description": arrival.description,
            "reporter": {"phone": arrival.phone, "language": arrival.language},
            "channel": "phone",
        }
        if arrival.located_by == "point":
            body["location"] = {"lat": arrival.lat, "lon": arrival.lon}
        else:
            body["address"] = arrival.address
        return body

    async def _arrive(self, arrival: Arrival) -> None:
        self.outcomes.reports += 1
        answer = await self.api.log_complaint(self.agent, self._body(arrival))
        self._done_reports += 1
        if self.progress is not None:
            self.progress(self._done_reports, len(self.plan.arrivals))
        if answer.status_code == 422:
            self.outcomes.unlocatable += 1
            code = answer.json()["error"]["code"]
            key = f"{arrival.located_by}:{code}"
            self.outcomes.unplaced[key] = self.outcomes.unplaced.get(key, 0) + 1
            return
        if answer.status_code != 201:
            code = str(answer.status_code)
            self.outcomes.refused[code] = self.outcomes.refused.get(code, 0) + 1
            log.warning("a report was refused: %s %s", answer.status_code, answer.text[:200])
            return
        created = answer.json()
        self.outcomes.logged += 1
        case = Case(
            id=created["id"], ticket=created["ticket"], arrival=arrival,
            version=created["version"], status=created["status"], created_at=self.now,
            due=self.now + timedelta(hours=2), district=created["district"]["code"],
            lat=created["location"]["lat"], lon=created["location"]["lon"],
        )  # fmt: skip
        self.cases[case.id] = case
        self.by_arrival[arrival.n] = case
        if case.status == "duplicate":
            self.outcomes.duplicates += 1
            return
        if self.policy is Policy.SLA_AWARE:
            case.due = await self._visit_due(case)
        if created.get("assignee_id"):  # auto-assigned by its category
            await self._reconcile(case)
            return
        self.at(self.now + self.dispatch_delay, self._dispatch, case)

    async def _visit_due(self, case: Case) -> datetime:
        answer = await self.api.call(
            self.dispatcher, "sla", "GET", f"/api/v1/complaints/{case.ticket}/sla"
        )
        if answer.status_code != 200:
            return case.due
        timers = {t["kind"]: t for t in answer.json().get("timers", [])}
        for kind in ("arrive", "resolve"):
            if kind in timers and timers[kind].get("due_at"):
                return datetime.fromisoformat(timers[kind]["due_at"])
        return case.due

    def _on_duty(self, district: str) -> list[Inspector]:
        return sorted(
            (i for i in self.inspectors.values()
             if i.district == district and i.on_duty and not i.leaving),
            key=lambda i: i.n,
        )  # fmt: skip

    async def _choose(self, case: Case, workers: list[Inspector]) -> Inspector | None:
        if self.policy is Policy.TERRITORY:
            return policies.by_territory(workers, case.lat, case.lon)  # type: ignore[return-value]
        if self.policy is Policy.SLA_AWARE:
            return policies.soonest(workers, case.lat, case.lon, self.now, self.city_speed)  # type: ignore[return-value]
        ranked = await self.api.candidates(self.dispatcher, case.id)
        chosen = policies.nearest_candidate(ranked, {w.server_id for w in workers})
        if chosen is None:
            return workers[0] if workers else None
        return self.by_server_id[chosen]

    async def _dispatch(self, case: Case) -> None:
        if case.status in FINAL or case.inspector is not None or case.id in self.left:
            return
        if case.district not in self.districts:
            self.outcomes.elsewhere += 1
            self.left.add(case.id)
            return
        workers = self._on_duty(case.district)
        if not workers:
            self.backlog.setdefault(case.district, []).append(case)
            return
        inspector = await self._choose(case, workers)
        if inspector is None:
            self.backlog.setdefault(case.district, []).append(case)
            return
        answer = await self.api.assign(
            self.dispatcher, case.id, inspector_id=inspector.server_id, version=case.version,
            reason=None if case.status == "received" else f"{self.policy} dispatch",
        )  # fmt: skip
        if answer.status_code != 200:
            log.warning("%s: assigning refused (%s %s)", case.ticket, answer.status_code,
                        answer.text[:300])  # fmt: skip
            case.refusals += 1
            if case.refusals >= MAX_REFUSALS:
                self._give_up(case, f"{MAX_REFUSALS} assignments refused")
                return
            await self._reconcile(case)
            return
        self._assigned(case, inspector, answer.json())
        await self._start_next(inspector)

    def _give_up(self, case: Case, why: str) -> None:
        """Leave the case to the people (counted as stuck; the day goes on without it)."""
        if case.id not in self.left:
            self.outcomes.stuck += 1
            self.left.add(case.id)
            log.warning("%s: left to the dispatchers (%s)", case.ticket, why)

    def _assigned(self, case: Case, inspector: Inspector, body: dict[str, Any]) -> None:
        case.version, case.status = body["version"], body["status"]
        case.inspector = inspector.n
        inspector.queue.append(case)

    # -- inspectors --------------------------------------------------------------------

    def _stop_busy_clock(self, inspector: Inspector) -> None:
        if inspector.busy_since is not None:
            inspector.busy_seconds += (self.now - inspector.busy_since).total_seconds()
            inspector.busy_since = None

    def _stop_duty_clock(self, inspector: Inspector) -> None:
        if inspector.duty_since is not None:
            inspector.duty_seconds += (self.now - inspector.duty_since).total_seconds()
            inspector.duty_since = None

    async def _shift_starts(self, inspector: Inspector, end: datetime) -> None:
        if inspector.on_duty:
            inspector.leaving = False
            return
        await self.api.duty(inspector.account, True)
        inspector.on_duty, inspector.leaving = True, False
        inspector.duty_since = self.now
        if inspector.lat == 0.0:
            inspector.lat, inspector.lon = inspector.home_lat, inspector.home_lon
        await self.api.position(inspector.account, inspector.lat, inspector.lon, self.now)
        # The waiting cases go once everyone starting this minute is on duty (their shift
        # starts were scheduled first), not all to whoever came first.
        if self.backlog.get(inspector.district):
            self.at(self.now, self._dispatch_backlog, inspector.district)

    async def _dispatch_backlog(self, district: str) -> None:
        for case in self.backlog.pop(district, []):
            await self._dispatch(case)

    async def _shift_ends(self, inspector: Inspector) -> None:
        if not inspector.on_duty:
            return
        if any(start <= self.now < end for start, end in inspector.shifts):
            return  # the next shift starts as this one ends
        inspector.leaving = True
        if inspector.current is None:
            await self._go_home(inspector)

    async def _go_home(self, inspector: Inspector) -> None:
        await self.api.duty(inspector.account, False)
        inspector.on_duty = inspector.leaving = False
        self._stop_duty_clock(inspector)
        handed_back, inspector.queue = inspector.queue, []
        for case in handed_back:
            case.inspector = None
            await self._dispatch_again(case)

    async def _dispatch_again(self, case: Case) -> None:
        """A case its inspector left: to another of the district, or back to waiting."""
        workers = self._on_duty(case.district)
        if workers:
            await self._dispatch(case)
            return
        answer = await self.api.call(
            self.dispatcher, "take_back", "POST",
            f"/api/v1/dispatch/complaints/{case.id}/transitions",
            json={"to": "received", "version": case.version, "reason": "shift ended"},
        )  # fmt: skip
        if answer.status_code == 200:
            case.version, case.status = answer.json()["version"], answer.json()["status"]
            self.backlog.setdefault(case.district, []).append(case)
        else:
            await self._reconcile(case)

    def _next_case(self, inspector: Inspector) -> Case:
        if self.policy is Policy.SLA_AWARE:
            chosen = min(inspector.queue, key=lambda c: (c.due, c.id))
        else:
            chosen = inspector.queue[0]
        inspector.queue.remove(chosen)
        return chosen

    async def _move(self, inspector: Inspector, case: Case, body: dict[str, Any]) -> bool:
        """The inspector's move; on a refusal the case is read again, and the move tried
        once more if the case is still theirs (its version had moved on)."""
        answer = None
        for _ in range(2):
            answer = await self.api.move(
                inspector.account, case.id, {**body, "version": case.version}
            )
            if answer.status_code == 200:
                moved = answer.json()
                case.version, case.status = moved["version"], moved["status"]
                return True
            await self._reconcile(case)
            if case.status == body["to"]:
                return True  # it was made (an answer lost on the way)
            if case.inspector != inspector.n or case.status in FINAL:
                return False
        assert answer is not None
        self._give_up(case, f"{body['to']} refused twice: {answer.status_code} {answer.text[:200]}")
        return False

    async def _begin(self, inspector: Inspector, case: Case) -> bool:
        """Accept the case and set off (the moves not made yet)."""
        if case.status == "assigned" and not await self._move(inspector, case, {"to": "accepted"}):
            return False
        if case.status == "accepted" and not await self._move(inspector, case, {"to": "en_route"}):
            return False
        return case.status == "en_route"

    async def _start_next(self, inspector: Inspector) -> None:
        while inspector.current is None and inspector.queue and not inspector.leaving:
            case = self._next_case(inspector)
            inspector.current = case
            if inspector.busy_since is None:
                inspector.busy_since = self.now
            epoch = case.epoch
            if not await self._begin(inspector, case):
                if inspector.current is case:
                    inspector.current = None
                continue
            minutes = metres(inspector.lat, inspector.lon, case.lat, case.lon) / self.city_speed
            arrive = self.now + timedelta(minutes=minutes)
            ping = self.now + self.ping_every
            start = (inspector.lat, inspector.lon, self.now)
            while ping < arrive:
                self.at(ping, self._ping, inspector, case, epoch, start, arrive)
                ping += self.ping_every
            self.at(arrive, self._on_site, inspector, case, epoch)
        if inspector.current is None:
            if not inspector.queue:
                self._stop_busy_clock(inspector)
            if inspector.leaving and inspector.on_duty:
                self._stop_busy_clock(inspector)
                await self._go_home(inspector)

    async def _ping(
        self, inspector: Inspector, case: Case, epoch: int,
        start: tuple[float, float, datetime], arrive: datetime,
    ) -> None:  # fmt: skip
        if case.epoch != epoch or inspector.current is not case:
            return
        lat0, lon0, t0 = start
        share = (self.now - t0) / (arrive - t0)
        lat = lat0 + (case.lat - lat0) * share
        lon = lon0 + (case.lon - lon0) * share
        inspector.lat, inspector.lon = lat, lon
        await self.api.position(inspector.account, lat, lon, self.now)

    async def _on_site(self, inspector: Inspector, case: Case, epoch: int) -> None:
        if case.epoch != epoch or inspector.current is not case:
            return
        inspector.lat, inspector.lon = case.lat, case.lon
        await self.api.position(inspector.account, inspector.lat, inspector.lon, self.now)
        if not await self._move(inspector, case, {"to": "on_site"}):
            if inspector.current is case:
                inspector.current = None
            await self._start_next(inspector)
            return
        case.on_site_at = self.now
        finish = self.now + timedelta(minutes=case.arrival.inspect_minutes)
        self.at(finish, self._finish, inspector, case, epoch)

    def _result(self, case: Case) -> dict[str, Any]:
        outcome = case.arrival.outcome
        # One of the codes that fit (the category's own, and those of every category),
        # the same for the same report on every run.
        codes = self.result_codes.get((case.arrival.category, outcome), []) + self.result_codes.get(
            ("*", outcome), []
        )
        code = codes[case.arrival.n % len(codes)] if codes else None
        case.result_code = code
        body: dict[str, Any] = {"to": outcome}
        if code:
            body["result_code"] = code
        if outcome == "referred":
            body["referred_to"] = "관할 기관"
        return body

    async def _finish(self, inspector: Inspector, case: Case, epoch: int) -> None:
        if case.epoch != epoch or inspector.current is not case:
            return
        if await self._move(inspector, case, self._result(case)):
            case.outcome = case.arrival.outcome
        if inspector.current is case:
            inspector.current = None
        await self._start_next(inspector)

    # -- when the server knows better --------------------------------------------------

    async def _reconcile(self, case: Case) -> None:
        """Read the case from the server and follow it: whose it is now, where it stands."""
        answer = await self.api.call(
            self.dispatcher, "read", "GET", f"/api/v1/complaints/{case.ticket}"
        )
        if answer.status_code != 200:
            raise ApiFailed(f"reading {case.ticket}", answer)
        body = answer.json()
        case.version, case.status = body["version"], body["status"]
        owner = self.by_server_id.get(body["assignee_id"]) if body["assignee_id"] else None
        holder = self.inspectors.get(case.inspector) if case.inspector else None
        if owner is not None and owner is not holder and (not owner.on_duty or owner.leaving):
            owner = None  # given to someone off duty or going home (an SLA re-route)
        if holder is not None and holder is not owner:
            case.epoch += 1  # its pending travel and visit are void
            if holder.current is case:
                holder.current = None
            if case in holder.queue:
                holder.queue.remove(case)
            case.inspector = None
            await self._start_next(holder)
        if case.status in FINAL:
            return
        if owner is not None and case.inspector is None:
            case.inspector = owner.n
            if case.status in ("assigned", "accepted", "en_route"):
                owner.queue.append(case)
                await self._start_next(owner)
            elif case.status == "on_site":
                finish = self.now + timedelta(minutes=case.arrival.inspect_minutes)
                self.at(finish, self._wrap_up, owner, case, case.epoch)
        elif owner is None and case.status in (
            "received", "needs_triage", "reopened", "assigned", "accepted", "en_route",
        ):  # fmt: skip
            self.at(self.now + self.dispatch_delay, self._dispatch, case)
