"""Soak test (issue 11): a mixed workload at a fixed rate for a bounded time.

Starts `dasan serve` as `make run` does (workers = cores) on a database of its own
(`<db>_bench`, dropped afterwards) holding the demo city (Seoul's 25 districts, five teams
each with three on-duty inspectors) and 20,000 stored complaints, gives the inspectors of
each district's catch-all team an account, then for `--seconds` starts requests on a fixed
schedule, `--rate` a second in all (open loop: a slow answer does not delay the next send),
drawn by `--mix`:
  - intake  POST /api/v1/complaints as the demo agent (a random point of Seoul),
  - list    GET /api/v1/complaints?district=..&status=open&limit=50 as the admin,
  - detail  GET /api/v1/complaints/{ticket} of a recent case, as the agent,
  - field   the cases intake made, worked: assigned through the dispatch API, then the
            inspector's accepted, en_route, on_site and result through the field API, a
            few seconds apart (when no case is ready: the inspector's queue is read),
while `--listeners` dispatch consoles follow a district's live stream each. Latency counts
from the scheduled send time, so a stalled server shows as latency, not as a lower rate.
Errors: any unexpected status, timeouts, connection errors, sends skipped because too many
were in flight, live streams that ended or reset. Every 10 s the server's memory is read
(PSS summed over the `dasan serve` process group); after the warm-up, its growth and
least-squares slope decide whether it stayed flat. The summary goes to docs/benchmarks.md
between the soak markers; the exit status is 1 when a call failed or the memory grew.
`--url` soaks a server already running here instead (its database: the configured one, or
`--database-url`, where the inspectors' soak accounts are written; nothing is dropped).

    .venv/bin/python bench/soak.py [--seconds 600] [--rate 200] [--listeners 20]
        [--mix intake=15,list=45,detail=15,field=25] [--preload 20000] [--seed 7]
        [--url http://127.0.0.1:8000 [--database-url URL]] [--no-doc] [--keep-db]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import secrets
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvloop
from common import (
    DOC,
    ROOT,
    Answer,
    CpuUse,
    Http,
    StreamRefused,
    backend_pids,
    bench_url,
    free_port,
    fresh_database,
    group_pids,
    listening_group,
    machine,
    memory_bytes,
    percentile,
    preload_complaints,
    slope_per_minute,
    start_server,
    stop_server,
    write_doc,
)
from intake import CATEGORIES, sample_points, valid_phone
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from dispatch_server import database
from dispatch_server.accounts.credentials import Role
from dispatch_server.accounts.service import passwords_of
from dispatch_server.config import Settings, get_settings
from dispatch_server.simulation.api import Account, Api, ApiFailed
from dispatch_server.simulation.world import put_account, result_codes

MIX = {"intake": 15, "list": 45, "detail": 15, "field": 25}
FIELD_LABELS = ("assign", "accepted", "en_route", "on_site", "result", "queue")
CATCH_ALL_TEAM = "현장민원팀"  # the demo's team that works every category
WARM_UP_S = 30.0  # memory before this is start-up (caches, pools), not growth
SAMPLE_EVERY_S = 10.0
PROGRESS_EVERY_S = 30.0
TIMEOUT_S = 10.0  # a call's whole time; every call has ended this long after the load
CONNECTIONS = 64  # keep-alive connections of the load (streams have their own)
MAX_IN_FLIGHT = 400  # beyond this a send is skipped (an error), not piled up
STEP_PAUSE_S = 2.0  # an inspector's time between two moves of a case
NEXT_MOVE = {"received": "assigned", "assigned": "accepted", "accepted": "en_route",
             "en_route": "on_site"}  # fmt: skip
MIB = 1024 * 1024


# -- the city -------------------------------------------------------------------------


def prepare_database(url: str, preload: int) -> None:
    """A fresh bench database with the demo city and `preload` complaints (30 days, one in
    five closed), vacuumed so autovacuum does not run into the measurement.

    The stored cases get no timeline entries, so no SLA clocks (the timeline's trigger
    starts them): days-old clocks would all be overdue at once, and the sweep's catch-up
    (a one-off after an outage, not a city's steady state) would be the soak's first
    minutes. The cases intake makes during the soak get their clocks and are swept."""
    fresh_database(url)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        preload_complaints(connection, count=preload, days=30, closed_every=5)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE) complaint"))
    engine.dispose()


@dataclass(frozen=True)
class Inspector:
    """An on-duty inspector of a district's catch-all team, with the account they use."""

    id: int
    district: str
    account: Account


@dataclass(frozen=True)
class City:
    """What the load needs to know of the database it works on."""

    districts: list[str]
    inspectors: list[Inspector]
    tickets: list[str]  # stored cases, for the detail reads before intake has made any
    codes: dict[tuple[str, str], list[str]]
    points: list[tuple[float, float]]


def read_city(url: str, settings: Settings, *, points: int) -> City:
    """Accounts for the catch-all teams' on-duty inspectors (hashed as the server hashes,
    so signing in rehashes nothing), and the districts, tickets and points to use."""
    hasher = passwords_of(settings)
    password = secrets.token_urlsafe(16)
    hashed, now = hasher.hash(password), datetime.now(UTC)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        rows = connection.execute(
            text(
                "SELECT i.id, t.district_code FROM inspector i JOIN team t ON t.id = i.team_id"
                " WHERE t.name = :team AND i.on_duty AND NOT EXISTS (SELECT 1 FROM user_account"
                "  u WHERE u.inspector_id = i.id AND u.username <> 'soak-inspector-' || i.id)"
                " ORDER BY t.district_code, i.id"
            ),
            {"team": CATCH_ALL_TEAM},
        ).all()
        inspectors = []
        for inspector_id, district in rows:
            username = f"soak-inspector-{inspector_id}"
            put_account(connection, username, Role.INSPECTOR, hashed, inspector_id, now)
            inspectors.append(Inspector(inspector_id, district, Account(username, password)))
        districts = list(
            connection.execute(
                text("SELECT code FROM district WHERE retired_at IS NULL ORDER BY code")
            ).scalars()  # fmt: skip
        )
        tickets = list(
            connection.execute(text("SELECT ticket FROM complaint ORDER BY id DESC LIMIT 5000"))
            .scalars()
        )  # fmt: skip
    engine.dispose()
    if not inspectors:
        raise SystemExit(f"no on-duty inspector of a {CATCH_ALL_TEAM} team: is the demo seeded?")
    return City(districts, inspectors, tickets, result_codes(url), sample_points(url, points))


# -- the server's processes -----------------------------------------------------------


@dataclass
class Sample:
    """One reading of the memory: seconds into the load, server RSS and PSS, backends."""

    at: float
    rss: int
    pss: int
    pg_pss: int
    pg_backends: int


def sample(pgid: int | None, database_name: str, at: float) -> Sample:
    rss, pss = memory_bytes(group_pids(pgid)) if pgid is not None else (0, 0)
    backends = backend_pids(database_name)
    return Sample(at, rss, pss, memory_bytes(backends)[1], len(backends))


# -- the load ---------------------------------------------------------------------------


@dataclass
class Case:
    """A case intake made, as the field work follows it."""

    id: int
    district: str
    category: str
    version: int
    status: str = "received"
    inspector: Inspector | None = None
    ready_at: float = 0.0


@dataclass
class Call:
    """One request the schedule starts: what it counts as, how to send it, what it must
    answer, and what follows from the answer."""

    label: str
    send: Callable[[], Awaitable[Answer]]
    expect: int = 200
    then: Callable[[Any], None] | None = None


@dataclass
class Tally:
    """What the load measured."""

    latency: dict[str, list[float]] = field(default_factory=dict)  # label -> seconds
    errors: Counter[str] = field(default_factory=Counter)  # "label: reason"
    examples: dict[str, str] = field(default_factory=dict)
    window: list[float] = field(default_factory=list)  # latencies since the last progress
    lag: list[float] = field(default_factory=list)  # send time - scheduled time
    events: Counter[str] = field(default_factory=Counter)
    per_listener: Counter[int] = field(default_factory=Counter)
    reconnects: int = 0
    last_answer: float = 0.0

    def ok(self, label: str, seconds: float, now: float) -> None:
        self.latency.setdefault(label, []).append(seconds)
        self.window.append(seconds)
        self.last_answer = max(self.last_answer, now)

    def error(self, label: str, reason: str, example: str = "") -> None:
        self.errors[f"{label}: {reason}"] += 1
        if example:
            self.examples.setdefault(f"{label}: {reason}", example[:300])


class Soak:
    """The open-loop schedule, the case work behind the field calls, and the streams."""

    def __init__(self, api: Api, city: City, agent: Account, admin: Account, *,
                 mix: dict[str, int], seed: int) -> None:  # fmt: skip
        self.api, self.city, self.agent, self.admin = api, city, agent, admin
        self.mix = mix
        self.rng = random.Random(seed)
        self.phones = [valid_phone(self.rng) for _ in range(997)]  # checked once, not per call
        self.tally = Tally()
        self.in_flight = 0
        self.stopping = False
        self.by_district: dict[str, itertools.cycle[Inspector]] = {}
        for district, group in itertools.groupby(city.inspectors, key=lambda i: i.district):
            self.by_district[district] = itertools.cycle(list(group))
        self.list_districts = itertools.cycle(city.districts)
        self.waiting: deque[Case] = deque(maxlen=2000)  # received, not yet dispatched
        self.working: deque[Case] = deque()  # on their way through the field moves
        self.recent: deque[str] = deque(city.tickets, maxlen=5000)
        self.made = 0
        self.worked = 0
        self.answered_at: dict[int, float] = {}  # intake's answer, by case id
        self.streamed_at: dict[int, float] = {}  # its `received` event on a stream

    # -- the calls ------------------------------------------------------------------

    def intake(self) -> Call:
        lat, lon = self.city.points[self.made % len(self.city.points)]
        self.made += 1
        body = {
            "category": self.rng.choice(CATEGORIES),
            "description": f"소크 테스트 민원 {self.made}: 차량이 인도를 막고 있습니다",
            "location": {"lat": lat, "lon": lon},
            "reporter": {"phone": self.phones[self.made % len(self.phones)]},
            "channel": "phone",
        }
        return Call("intake", lambda: self.api.log_complaint(self.agent, body), 201, self._made)

    def _made(self, case: dict[str, Any]) -> None:
        self.answered_at[case["id"]] = time.monotonic()
        self.recent.append(case["ticket"])
        if case["status"] == "received" and not case["assignee_id"]:
            self.waiting.append(
                Case(case["id"], case["district"]["code"], case["category"], case["version"])
            )

    def list_page(self) -> Call:
        path = f"/api/v1/complaints?district={next(self.list_districts)}&status=open&limit=50"
        return Call("list", lambda: self.api.call(self.admin, "list", "GET", path))

    def detail(self) -> Call:
        if not self.recent:
            return self.list_page()
        path = f"/api/v1/complaints/{self.recent[self.rng.randrange(len(self.recent))]}"
        return Call("detail", lambda: self.api.call(self.agent, "detail", "GET", path))

    def field_work(self) -> Call:
        if self.working and self.working[0].ready_at <= time.monotonic():
            return self._move(self.working.popleft())
        while self.waiting and self.waiting[0].district not in self.by_district:
            self.waiting.popleft()  # nobody of ours works there (--url on another city)
        if self.waiting:
            case = self.waiting.popleft()
            case.inspector = chosen = next(self.by_district[case.district])
            return Call(
                "assign",
                lambda: self.api.assign(self.admin, case.id, inspector_id=chosen.id,
                                        version=case.version),
                then=lambda moved: self._moved(case, moved),
            )  # fmt: skip
        inspector = self.rng.choice(self.city.inspectors)
        return Call(
            "queue", lambda: self.api.call(inspector.account, "queue", "GET", "/api/v1/field/queue")
        )

    def _move(self, case: Case) -> Call:
        body: dict[str, Any] = {"to": NEXT_MOVE.get(case.status), "version": case.version}
        label = body["to"]
        if case.status == "on_site":  # the visit's result, mostly resolved
            outcome = self.rng.choices(("resolved", "unresolved", "referred"), (85, 10, 5))[0]
            codes = self.city.codes.get((case.category, outcome), []) + self.city.codes.get(
                ("*", outcome), []
            )
            body["to"], label = outcome, "result"
            if codes:
                body["result_code"] = self.rng.choice(codes)
            if outcome == "referred":
                body["referred_to"] = "관할 기관"
        account = case.inspector.account  # type: ignore[union-attr]
        return Call(label, lambda: self.api.move(account, case.id, body),
                    then=lambda moved: self._moved(case, moved))  # fmt: skip

    def _moved(self, case: Case, moved: dict[str, Any]) -> None:
        case.version, case.status = moved["version"], moved["status"]
        if case.status in NEXT_MOVE or case.status == "on_site":
            case.ready_at = time.monotonic() + STEP_PAUSE_S
            self.working.append(case)
        else:
            self.worked += 1

    # -- the schedule ---------------------------------------------------------------

    async def run_one(self, call: Call, due: float) -> None:
        self.in_flight += 1
        try:
            async with asyncio.timeout(TIMEOUT_S):
                answer = await call.send()
            if answer.status_code != call.expect:
                self.tally.error(call.label, f"HTTP {answer.status_code}", answer.text)
                return
            if call.then is not None:
                call.then(answer.json())
            now = time.monotonic()
            self.tally.ok(call.label, now - due, now)
        except TimeoutError:
            self.tally.error(call.label, f"no answer within {TIMEOUT_S:.0f} s")
        except (OSError, EOFError) as error:  # refused, reset, closed
            self.tally.error(call.label, type(error).__name__, str(error))
        except ApiFailed as error:
            self.tally.error(call.label, f"sign-in refused ({error.status_code})", error.body)
        except (ValueError, KeyError) as error:  # not the JSON it should be
            self.tally.error(call.label, "unexpected answer", repr(error))
        finally:
            self.in_flight -= 1

    async def drive(self, rate: float, seconds: float, started: float) -> None:
        """Start the calls on their schedule until `seconds`, then wait for the last ones."""
        kinds, weights = list(self.mix), list(self.mix.values())
        calls = {"intake": self.intake, "list": self.list_page, "detail": self.detail,
                 "field": self.field_work}  # fmt: skip
        tasks: set[asyncio.Task[None]] = set()
        for n in itertools.count():
            due = started + n / rate
            if due >= started + seconds:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.tally.lag.append(time.monotonic() - due)
            kind = self.rng.choices(kinds, weights)[0]
            if self.in_flight >= MAX_IN_FLIGHT:
                self.tally.error(kind, f"skipped: {MAX_IN_FLIGHT} calls in flight")
                continue
            task = asyncio.create_task(self.run_one(calls[kind](), due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:  # each ends within TIMEOUT_S by itself
            await asyncio.gather(*tasks)

    # -- the dispatch consoles' live streams --------------------------------------------

    async def listen(self, http: Http, n: int, district: str, connected: asyncio.Event,
                     silence_s: float) -> None:  # fmt: skip
        """Follow one district's stream until stopped; an end before that is an error
        (then it reconnects after its last event, as a browser does)."""
        last_id: str | None = None
        kind = None
        while not self.stopping:
            headers = {"Authorization": f"Bearer {self.admin.token}"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
                self.tally.reconnects += 1
            try:
                path = f"/api/v1/dispatch/stream?district={district}"
                async for line in http.lines(path, headers, silence_s=silence_s):
                    connected.set()
                    if line.startswith("id: "):
                        last_id = line[4:]
                    elif line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind is not None:
                        self._event(n, kind, line[6:])
                    elif not line:
                        kind = None
                self.tally.error("stream", "ended by the server")
            except StreamRefused as refused:
                answer = refused.answer
                self.tally.error("stream", f"HTTP {answer.status_code}", answer.text)
            except TimeoutError:
                self.tally.error("stream", f"silent for {silence_s:.0f} s")
            except (OSError, EOFError) as error:
                self.tally.error("stream", type(error).__name__, str(error))
            await asyncio.sleep(1.0)

    def _event(self, n: int, kind: str, data: str) -> None:
        self.tally.events[kind] += 1
        self.tally.per_listener[n] += 1
        if kind == "reset":
            self.tally.error("stream", "reset (events missed)")
        elif kind == "complaint":
            entry = json.loads(data)
            if entry["event"]["type"] == "received":
                self.streamed_at.setdefault(entry["complaint"]["id"], time.monotonic())

    def live_delays(self) -> list[float]:
        """From intake's answer to its `received` event on a stream (s; may be < 0)."""
        return [
            self.streamed_at[i] - at for i, at in self.answered_at.items() if i in self.streamed_at
        ]


# -- the run ----------------------------------------------------------------------------


@dataclass
class Run:
    """Everything the summary reports."""

    args: argparse.Namespace
    soak: Soak
    samples: list[Sample]
    seconds: float  # the load's time, from the first scheduled send to the last answer
    cpu: dict[str, float]  # cores busy on average during the load, by whom
    busy_before: float  # cores busy on average over the seconds before the load
    processes: tuple[int, int]  # the server's at the start, and how many of them at the end
    sign_ins: int
    resent: int


async def soak_run(args: argparse.Namespace, base: str, city: City, pgid: int | None,
                   database_name: str) -> Run:  # fmt: skip
    settings = get_settings()
    password = settings.demo_password
    agent, admin = Account("agent1", password), Account("admin", password)
    api = Api(base, timeout=TIMEOUT_S)
    await api.http.aclose()  # the simulation's own httpx client: too dear per call here
    http = Http(base, connections=CONNECTIONS)
    api.http = http  # the same calls, answered alike (status_code, text, json())
    soak = Soak(api, city, agent, admin, mix=args.mix, seed=args.seed)
    # Every account signs in before the clock starts (a sign-in is a deliberate ~0.1 s
    # of argon2): a first call each, four at a time.
    gate = asyncio.Semaphore(4)

    async def sign_in(account: Account) -> None:
        async with gate:
            answer = await api.call(account, "me", "GET", "/api/v1/auth/me")
            if answer.status_code != 200:
                raise SystemExit(f"{account.username} cannot sign in: {answer.status_code}")

    began = time.monotonic()
    await asyncio.gather(
        *(sign_in(a) for a in [agent, admin, *(i.account for i in city.inspectors)])
    )
    print(f"{2 + len(city.inspectors)} accounts signed in in {time.monotonic() - began:.1f} s")
    connected = [asyncio.Event() for _ in range(args.listeners)]
    silence_s = 3 * settings.stream_heartbeat_seconds
    listeners = [
        asyncio.create_task(
            soak.listen(http, n, city.districts[n % len(city.districts)], ev, silence_s)
        )
        for n, ev in enumerate(connected)
    ]
    async with asyncio.timeout(30):
        await asyncio.gather(*(ev.wait() for ev in connected))
    sign_ins_before, resent_before = api.calls.made.get("sign_in", 0), http.resent

    server_pids = group_pids(pgid) if pgid is not None else []
    quiet = CpuUse.now(server_pids, database_name)
    await asyncio.sleep(3.0)  # how busy the machine is without the load (streams open)
    cpu0 = CpuUse.now(server_pids, database_name)
    samples: list[Sample] = []
    started = time.monotonic()

    async def watch() -> None:
        """Memory every SAMPLE_EVERY_S, a progress line every PROGRESS_EVERY_S."""
        for k in itertools.count():
            at = min(k * SAMPLE_EVERY_S, args.seconds)
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            samples.append(await asyncio.to_thread(sample, pgid, database_name, at))
            if k and (at % PROGRESS_EVERY_S < 1e-6 or at >= args.seconds):
                progress(soak, samples[-1], at, cpu0)
            if at >= args.seconds:
                return

    watching = asyncio.create_task(watch())
    await soak.drive(args.rate, args.seconds, started)
    await watching
    seconds = max(soak.tally.last_answer, started + args.seconds) - started
    cpu = CpuUse.now(server_pids, database_name).since(cpu0)
    soak.stopping = True
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    sign_ins = api.calls.made.get("sign_in", 0) - sign_ins_before
    await api.aclose()
    processes = (len(server_pids), len(set(server_pids) & set(group_pids(pgid or 0))))
    busy_before = cpu0.since(quiet)["machine"]
    return Run(
        args,
        soak,
        samples,
        seconds,
        cpu,
        busy_before,
        processes,
        sign_ins,
        http.resent - resent_before,
    )


def progress(soak: Soak, last: Sample, at: float, cpu0: CpuUse) -> None:
    tally = soak.tally
    answered = sum(len(v) for v in tally.latency.values())
    cpu = CpuUse.now([], "-").since(cpu0)
    print(
        f"{at:5.0f} s: {answered:,} answered ({answered / max(at, 1e-9):.0f}/s), "
        f"{sum(tally.errors.values())} errors, p99 {percentile(tally.window, 0.99) * 1000:.0f} ms"
        f" (last {PROGRESS_EVERY_S:.0f} s), {soak.in_flight} in flight, "
        f"{sum(tally.events.values()):,} stream events, server PSS {last.pss / MIB:.1f} MiB, "
        f"load generator {cpu['load generator']:.2f} cores, machine {cpu['machine']:.2f}",
        flush=True,
    )
    tally.window.clear()


# -- the summary ----------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    """The server's memory over the run, and the verdict of the flat rule."""

    start: float
    end: float
    peak: float
    slope: float  # bytes a minute
    span_min: float
    allowed: float
    flat: bool | None  # None: not judged


def judge(samples: list[Sample]) -> Memory:
    """Flat: after the warm-up, end - start and the fitted growth over the same span are
    both at most max(5 % of start, 10 MiB)."""
    kept = [s for s in samples if s.at >= WARM_UP_S]
    if len(kept) < 3 or kept[0].pss == 0:  # too short to say, or no server process found
        return Memory(0, 0, 0, 0, 0, 0, None)
    start, end = kept[0].pss, kept[-1].pss
    slope = slope_per_minute([(s.at, s.pss) for s in kept])
    span = (kept[-1].at - kept[0].at) / 60
    allowed = max(0.05 * start, 10 * MIB)
    flat = end - start <= allowed and slope * span <= allowed
    return Memory(start, end, max(s.pss for s in kept), slope, span, allowed, flat)


def latency_row(name: str, values: list[float], errors: int, total: int) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"| {name} | {len(values) + errors:,} | {(len(values) + errors) / max(total, 1):.0%} | "
        f"{percentile(ms, 0.5):.1f} | {percentile(ms, 0.99):.1f} | {max(ms, default=0):.1f} | "
        f"{errors} |"
    )


def summary(run: Run) -> tuple[str, bool]:
    """The section for docs/benchmarks.md, and whether the run was clean (no error, memory
    not found growing)."""
    args, tally = run.args, run.soak.tally
    errors_of = Counter[str]()
    for key, count in tally.errors.items():
        errors_of[key.split(":", 1)[0]] += count
    answered = sum(len(v) for v in tally.latency.values())
    requests = answered + sum(c for k, c in errors_of.items() if k != "stream")
    errors = sum(tally.errors.values())
    rate = answered / run.seconds
    memory = judge(run.samples)
    mix = ", ".join(f"{k} {v / sum(args.mix.values()):.0%}" for k, v in args.mix.items())
    server = (
        f"the server at {args.url}"
        if args.url
        else f"`dasan serve` with "
        f"{get_settings().workers} workers, {args.preload:,} complaints stored beforehand"
    )
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; {server}; "
        f"{args.seconds:.0f} s at {args.rate:g} requests/s, open loop (latency from the "
        f"scheduled send), mix {mix}; {args.listeners} dispatch consoles on the live stream.",
        "",
        "| calls | requests | share | p50 ms | p99 ms | max ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    groups = {"intake": ["intake"], "list": ["list"], "detail": ["detail"],
              "field": list(FIELD_LABELS)}  # fmt: skip
    for kind, labels in groups.items():
        values = [v for label in labels for v in tally.latency.get(label, [])]
        lines.append(
            latency_row(kind, values, sum(errors_of[x] for x in {*labels, kind}), requests)
        )
        if kind == "field":
            for label in labels:
                lines.append(
                    latency_row(f"  field: {label}", tally.latency.get(label, []),
                                errors_of[label], requests)
                )  # fmt: skip
    every = [v for values in tally.latency.values() for v in values]
    lines.append(latency_row("**all**", every, errors - errors_of["stream"], requests))
    delays = run.soak.live_delays()
    lines += [
        "",
        "| figure | value |",
        "|---|---|",
        f"| answered | {answered:,} in {run.seconds:.1f} s: {rate:.1f}/s of {args.rate:g}/s "
        f"asked ({rate / args.rate:.3f}x) |",
        f"| errors | {errors}" + (f": {dict(tally.errors)}" if errors else "") + " |",
        f"| cases made by intake, worked to their result | {run.soak.made:,}, "
        f"{run.soak.worked:,} |",
        f"| live stream events received (per console: min-max) | "
        f"{sum(tally.events.values()):,} ({dict(tally.events)}; "
        f"{min(tally.per_listener.values(), default=0):,}-"
        f"{max(tally.per_listener.values(), default=0):,}); {tally.reconnects} reconnects |",
        f"| intake answer to its event on a console, p50 / p99 | "
        f"{percentile(delays, 0.5) * 1000:.0f} / {percentile(delays, 0.99) * 1000:.0f} ms "
        f"({len(delays):,} cases) |",
        f"| send lag behind the schedule, p99 / max | {percentile(tally.lag, 0.99) * 1000:.1f}"
        f" / {max(tally.lag, default=0) * 1000:.1f} ms |",
        f"| sign-ins during the load; calls sent again on a connection the server had closed "
        f"while idle | {run.sign_ins}; {run.resent} |",
    ]
    if memory.flat is None:
        found = run.samples and run.samples[-1].pss
        why = f"fewer than 3 samples after the {WARM_UP_S:.0f} s warm-up" if found else (
            "no server process found")  # fmt: skip
        lines.append(f"| server memory | not judged: {why} |")
    else:
        first, last = run.samples[0], run.samples[-1]
        growth = (memory.end - memory.start) / MIB
        kept = len([s for s in run.samples if s.at >= WARM_UP_S])
        lines += [
            f"| server PSS ({run.processes[0]} processes), at 0 s / {WARM_UP_S:.0f} s (start) / "
            f"end / max | {first.pss / MIB:.1f} / {memory.start / MIB:.1f} / "
            f"{memory.end / MIB:.1f} / {memory.peak / MIB:.1f} MiB (RSS at the end "
            f"{last.rss / MIB:.1f} MiB) |",
            f"| server memory growth after the warm-up; slope | {growth:+.1f} MiB; "
            f"{memory.slope / MIB:+.2f} MiB/min over {memory.span_min:.1f} min ({kept} samples) |",
            f"| flat (growth and slope x span ≤ max(5 % of start, 10 MiB) = "
            f"{memory.allowed / MIB:.1f} MiB) | {'yes' if memory.flat else '**no**'} |",
            "| server PSS every minute, MiB | "
            + ", ".join(f"{s.pss / MIB:.0f}" for s in run.samples if s.at % 60 < 1e-6)
            + " |",
            f"| PostgreSQL backends of the database, PSS at 0 s / end | {first.pg_pss / MIB:.1f}"
            f" MiB ({first.pg_backends}) / {last.pg_pss / MIB:.1f} MiB ({last.pg_backends}) |",
        ]
    lines += [
        f"| server processes at the start, still there at the end | {run.processes[0]}, "
        f"{run.processes[1]} |",
        f"| cores busy on average (of {os.cpu_count()}): "
        + " / ".join(name for name in run.cpu if name != "machine")
        + " | "
        + " / ".join(f"{v:.2f}" for k, v in run.cpu.items() if k != "machine")
        + f"; the machine {run.cpu['machine']:.2f} (before the load: {run.busy_before:.2f}) |",
    ]
    met = (args.seconds >= 600 and args.rate >= 200 and errors == 0 and bool(memory.flat)
           and rate >= 0.99 * args.rate and run.processes[0] == run.processes[1])  # fmt: skip
    verdict = "met" if met else "**not met**"
    if args.seconds < 600 or args.rate < 200:
        verdict = "not tried: it takes `--seconds 600 --rate 200`"
    lines.append(f"| target (issue 11): 10 min at 200/s, zero errors, flat memory | {verdict} |")
    return "\n".join(lines), errors == 0 and memory.flat is not False


# -- the command ----------------------------------------------------------------------


def parse_mix(value: str) -> dict[str, int]:
    mix = dict(MIX)
    for part in value.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in MIX or not weight.strip().isdigit():
            raise argparse.ArgumentTypeError(f"expected kind=weight with kinds {', '.join(MIX)}")
        mix[name.strip()] = int(weight)
    if not sum(mix.values()):
        raise argparse.ArgumentTypeError("the weights add up to nothing")
    return {k: v for k, v in mix.items() if v}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s in all")
    parser.add_argument("--listeners", type=int, default=20, help="live-stream consoles")
    parser.add_argument("--mix", type=parse_mix, default=dict(MIX),
                        help="weights, e.g. intake=15,list=45,detail=15,field=25")  # fmt: skip
    parser.add_argument("--preload", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--url", help="a server already running on 127.0.0.1 instead")
    parser.add_argument("--database-url", help="with --url: its database (default: configured)")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    settings = get_settings()
    # Tokens are signed in once, before the load: the run must end before they do.
    longest = settings.access_token_minutes * 60 - 300
    if not 0 < args.seconds <= longest or args.rate <= 0 or args.listeners < 0:
        raise SystemExit(f"--seconds must be in (0, {longest:.0f}], --rate > 0, --listeners >= 0")
    if args.url and urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("load tests target this machine only (127.0.0.1)")

    points = min(50000, max(2000, int(args.rate * args.seconds * 0.2)))
    # Without --url the database is the benchmarks' own, dropped at the end (never another).
    url = (args.database_url or settings.database_url) if args.url else bench_url()
    server = None
    try:
        if args.url:
            base = args.url.rstrip("/")
            city = read_city(url, settings, points=points)
            pgid = listening_group(urlsplit(base).port or 80)
        else:
            port = free_port()
            prepare_database(url, args.preload)
            city = read_city(url, settings, points=points)
            base, folder = f"http://127.0.0.1:{port}", Path(tempfile.mkdtemp(prefix="dasan-soak-"))
            # The citizens' texts of this run go to a file of its own, not the project's.
            sms = {"DASAN_SMS_FILE": str(folder / "sms.jsonl")}
            server = start_server(url, port, folder / "serve.log", env=sms)
            pgid = server.pid
            print(f"server on {base} (log {folder / 'serve.log'})")
        print(f"{len(city.inspectors)} inspectors with accounts in {len(city.districts)} "
              f"districts; {args.seconds:.0f} s at {args.rate:g}/s, mix {args.mix}")  # fmt: skip
        # uvloop, as the server uses: the load generator shares the machine's cores.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            run = runner.run(soak_run(args, base, city, pgid, str(make_url(url).database)))
    finally:
        if server is not None:
            stop_server(server)
        if not args.url and not args.keep_db:
            database.drop_database(url)
    section, clean = summary(run)
    print(section)
    for key, example in run.soak.tally.examples.items():
        print(f"example of {key}: {example}")
    if not args.no_doc:
        write_doc(section, marker="soak")
        print(f"written to {DOC.relative_to(ROOT)}")
    sys.exit(0 if clean else 1)  # errors, or memory that grew


if __name__ == "__main__":
    main()
