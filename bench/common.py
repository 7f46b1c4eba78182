"""What the benchmarks share: a fresh database, the server, wrk runs in rounds, the doc."""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dispatch_server import database  # noqa: E402
from dispatch_server.config import get_settings  # noqa: E402

# free_port is the benchmarks' too (they import it from here).
from dispatch_server.simulation.world import free_port as free_port  # noqa: E402
from dispatch_server.simulation.world import start_serve, stop_group  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"


def bench_url() -> str:
    """The benchmarks' own database, beside the configured one (`<db>_bench`)."""
    url = make_url(get_settings().database_url)
    return url.set(database=f"{url.database}_bench").render_as_string(hide_password=False)


def fresh_database(url: str) -> None:
    """Drop and create the database, migrate it and load the demo (Seoul, categories)."""
    env = {**os.environ, "DASAN_DATABASE_URL": url}
    database.drop_database(url)
    database.create_database(url)
    database.upgrade(url)
    dasan = str(Path(sys.executable).with_name("dasan"))
    subprocess.run([dasan, "seed-demo"], env=env, check=True, capture_output=True)


def preload_complaints(
    connection: Connection, *, count: int, days: int, closed_every: int = 0, seed: int = 7
) -> None:
    """`count` complaints at random points of the districts, in proportion to their area.

    Created over the last `days`; every `closed_every`-th one closed (0: none), the rest
    `received`; one in ten urgent; categories in turn.
    """
    connection.execute(
        text(
            """
            WITH shares AS (
                SELECT code, geom,
                       ceil(:n * ST_Area(geom) / sum(ST_Area(geom)) OVER ())::int AS k
                FROM district
            ), points AS (
                SELECT code, (ST_Dump(ST_GeneratePoints(geom, k, :seed))).geom AS location
                FROM shares
            ), numbered AS (
                SELECT code, location, nextval('complaint_id_seq') AS id,
                       now() - random() * make_interval(days => :days) AS created_at
                FROM points LIMIT :n
            )
            INSERT INTO complaint (id, ticket, category_code, description, channel,
                reporter_phone, reporter_language, location, district_code, status,
                priority, created_at, updated_at)
            SELECT id,
                   to_char(created_at AT TIME ZONE 'Asia/Seoul', 'YYMMDD') || '-'
                       || lpad(id::text, greatest(6, length(id::text)), '0'),
                   (ARRAY['illegal_parking', 'vehicle_idling', 'garbage_uncollected',
                          'illegal_dumping', 'street_lamp', 'road_damage',
                          'facility_damage'])[1 + (id % 7)],
                   'preloaded complaint ' || id, 'phone', '+821012345678', 'ko',
                   location, code,
                   CASE WHEN :closed_every > 0 AND id % :closed_every = 0 THEN 'closed'
                        ELSE 'received' END,
                   CASE WHEN id % 10 = 0 THEN 'urgent' ELSE 'normal' END,
                   created_at, created_at
            FROM numbered
            """
        ),
        {"n": count, "days": days, "closed_every": closed_every, "seed": seed},
    )


def start_history_clocks(connection: Connection) -> int:
    """Every stored complaint's "received" entry (the timeline's trigger starts its SLA
    clocks), then `settle_history`: how many clocks it settled."""
    connection.execute(
        text(
            "INSERT INTO complaint_event (complaint_id, type, actor, at, payload)"
            " SELECT id, 'received', 'bench', created_at, '{}' FROM complaint"
        )
    )
    return settle_history(connection)


def settle_history(connection: Connection) -> int:
    """The SLA steps of the preloaded history, taken already: every clock whose last step
    is past is left at the top level (nothing due then: `next_step_at` follows the level),
    as the sweep would have left it in a city that has run all along. (Left due, the
    server's sweep works through the whole backlog, re-routing cases, during the measured
    rounds.) How many clocks it settled."""
    return connection.execute(
        text(
            "UPDATE sla_timer SET level = 3,"
            " warned_at = coalesce(warned_at, warn_at), breached_at = coalesce(breached_at,"
            " due_at), escalated_at = coalesce(escalated_at, escalate_at)"
            " WHERE next_step_at IS NOT NULL AND escalate_at <= now()"
        )
    ).rowcount


def in_rounds(
    loads: dict[str, tuple[str, str | None]], *, rounds: int, seconds: int, connections: int,
    before: Callable[[str], None] | None = None, after: Callable[[str, Result], None] | None = None,
) -> dict[str, tuple[Result, float, float]]:  # fmt: skip
    """Each load for `seconds`, interleaved `rounds` times: median round and range per load.
    `before` and `after` (the load's name; and its result) run around each run."""
    results: dict[str, list[Result]] = {name: [] for name in loads}
    for round_number in range(1, rounds + 1):
        for name, (target_url, script) in loads.items():
            if before is not None:
                before(name)
            result = run_wrk(name, target_url, seconds, connections, script)
            results[name].append(result)
            print(f"round {round_number} {name}: {result.requests_per_s:,.0f}/s")
            if after is not None:
                after(name, result)
    return {name: median_of(name, runs) for name, runs in results.items()}


@dataclass
class Result:
    """What wrk measured for one endpoint."""

    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


def median_of(name: str, rounds: list[Result]) -> tuple[Result, float, float]:
    """The round with the median requests/s, and the lowest and highest requests/s."""
    ordered = sorted(rounds, key=lambda r: r.requests_per_s)
    middle = ordered[len(ordered) // 2]
    total_errors = sum(r.non_2xx + r.socket_errors for r in rounds)
    median = Result(
        name=name,
        requests_per_s=middle.requests_per_s,
        p50_ms=middle.p50_ms,
        p99_ms=max(r.p99_ms for r in rounds),
        requests=sum(r.requests for r in rounds),
        non_2xx=total_errors,
        socket_errors=0,
    )
    return median, ordered[0].requests_per_s, ordered[-1].requests_per_s


def start_server(
    url: str, port: int, log: Path, *, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`dasan serve` as `make run` starts it, on `url` and `port` (`env`: settings added)."""
    env = {**os.environ, **(env or {}), "DASAN_DATABASE_URL": url, "DASAN_PORT": str(port)}
    try:
        return start_serve(env, log)
    except RuntimeError as error:
        raise SystemExit(str(error)) from None


def sign_in(base: str, username: str) -> str:
    """The wrk line that sends an access token of the demo account `username` (seeded by
    `fresh_database`, password DASAN_DEMO_PASSWORD), signed in once through the API."""
    body = json.dumps({"username": username, "password": get_settings().demo_password})
    request = urllib.request.Request(
        f"{base}/api/v1/auth/token", data=body.encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        token = json.loads(answer.read())["access_token"]
    return f'wrk.headers["Authorization"] = "Bearer {token}"\n'


def stop_server(process: subprocess.Popen[bytes]) -> None:
    stop_group(process)


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(name: str, url: str, seconds: int, connections: int, script: str | None) -> Result:
    command = [
        "wrk",
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        if script:
            lua.write(script)
    if script:
        command += ["-s", lua.name]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    os.unlink(lua.name)
    latency = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", output, re.M))
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return Result(
        name=name,
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(latency["50"]),
        p99_ms=_ms(latency["99"]),
        requests=requests,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def write_doc(section: str, *, marker: str) -> None:
    """Write `section` into docs/benchmarks.md between the `bench:<marker>` markers."""
    start, end = f"<!-- bench:{marker}:start -->", f"<!-- bench:{marker}:end -->"
    content = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    block = f"{start}\n{section}\n{end}"
    if start in content and end in content:
        before, rest = content.split(start, 1)
        content = before + block + rest.split(end, 1)[1]
    else:
        content = content.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(content, encoding="utf-8")


# -- processes: what a server (or PostgreSQL) holds and spends, from /proc ------------------


def group_pids(pgid: int) -> list[int]:
    """The live processes of a process group (a server started in its own session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def backend_pids(database_name: str) -> list[int]:
    """PostgreSQL's backends serving one database (their process titles name it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            parts = title.split()
            if len(parts) >= 3 and parts[0] == "postgres:" and parts[2] == database_name:
                pids.append(int(entry.name))
    return pids


def memory_bytes(pids: list[int]) -> tuple[int, int]:
    """RSS and PSS summed over the processes (from smaps_rollup; PSS shares the pages
    several processes map between them, so it adds up without counting them twice)."""
    rss = pss = 0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("Rss:"):
                rss += int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss += int(line.split()[1]) * 1024
    return rss, pss


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have spent so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """The machine's busy and total CPU time so far, all cores (in clock ticks)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return float(sum(values) - values[3] - values[4]), float(sum(values))


def listening_group(port: int) -> int | None:
    """The process group of whatever listens on TCP `port` here (None: not found)."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            parts = row.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                sockets.add(f"socket:[{parts[9]}]")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if any(os.readlink(fd) in sockets for fd in (entry / "fd").iterdir()):
                    return os.getpgid(int(entry.name))
            except OSError:
                continue
    return None


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds spent so far by this process, the server and its database's backends;
    the machine's busy and total clock ticks; when."""

    client: float
    server: float
    postgres: float
    busy: float
    total: float
    at: float

    @classmethod
    def now(cls, server_pids: list[int], database_name: str) -> CpuUse:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        postgres = cpu_seconds(backend_pids(database_name))
        return cls(usage.ru_utime + usage.ru_stime, cpu_seconds(server_pids), postgres,
                   *machine_cpu(), time.monotonic())  # fmt: skip

    def since(self, earlier: CpuUse) -> dict[str, float]:
        """Cores busy on average in between, by whom (the rest: whatever else ran)."""
        wall = max(1e-9, self.at - earlier.at)
        shares = {
            "load generator": (self.client - earlier.client) / wall,
            "server": (self.server - earlier.server) / wall,
            "its PostgreSQL backends": (self.postgres - earlier.postgres) / wall,
        }
        ticks = max(1.0, self.total - earlier.total)
        machine = (self.busy - earlier.busy) / ticks * (os.cpu_count() or 1)
        return shares | {"everything else": machine - sum(shares.values()), "machine": machine}


# -- a light HTTP/1.1 client for loads from Python ---------------------------------------

KEEP_ALIVE_S = 4.0  # uvicorn closes a connection idle for 5 s: reuse only younger ones


class Answer:
    """An answer read whole: the part of httpx's Response the simulation's client reads."""

    __slots__ = ("status_code", "content")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code, self.content = status_code, content

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class StreamRefused(Exception):
    """A live stream answered something else than 200."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(f"HTTP {answer.status_code}")
        self.answer = answer


def _head(raw: bytes) -> tuple[int, int, bool, bool]:
    """Status, Content-Length, chunked, Connection: close."""
    lines = raw.decode("latin-1").split("\r\n")
    status, length, chunked, close = int(lines[0].split(" ", 2)[1]), 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value
        elif name == "connection":
            close = value == "close"
    return status, length, chunked, close


async def _chunk(reader: asyncio.StreamReader) -> bytes:
    """One chunk of a chunked body (b"" at its end)."""
    size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
    return (await reader.readexactly(size + 2))[:-2]


class Http:
    """HTTP/1.1 on asyncio streams over keep-alive connections, for loopback loads: the part
    of httpx.AsyncClient that `simulation.api.Api` calls (`request`, `post`, `aclose`),
    and `lines` for a streamed answer. httpx spent ~2.6 ms of CPU a call on this machine
    (2 cores, shared with the server), this ~0.3 ms."""

    def __init__(self, base: str, *, connections: int) -> None:
        parts = urlsplit(base)
        self.host, self.port = str(parts.hostname), parts.port or 80
        self.idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = deque()
        self.slots = asyncio.Semaphore(connections)  # calls beyond it wait for a connection
        self.resent = 0  # calls sent again: their kept-alive connection had been closed

    def _request(self, method: str, path: str, headers: dict[str, str] | None,
                 body: Any, params: dict[str, Any] | None) -> bytes:  # fmt: skip
        if params:
            path += "?" + urlencode(params)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        content = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        if body is not None:
            lines.append("Content-Type: application/json")
        if body is not None or method == "POST":
            lines.append(f"Content-Length: {len(content)}")
        return "\r\n".join(lines).encode() + b"\r\n\r\n" + content

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        now = time.monotonic()
        while self.idle and now - self.idle[0][2] > KEEP_ALIVE_S:  # the server's gone
            self.idle.popleft()[1].close()
        while self.idle:
            reader, writer, _ = self.idle.pop()
            if not reader.at_eof():
                return reader, writer, True
            writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return reader, writer, False

    async def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                      json: Any = None, params: dict[str, Any] | None = None,
                      ) -> Answer:  # fmt: skip
        async with self.slots:
            return await self._exchange(self._request(method, path, headers, json, params))

    async def _exchange(self, data: bytes) -> Answer:
        for attempt in (1, 2):
            reader, writer, reused = await self._connection()
            try:
                writer.write(data)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (ConnectionResetError, asyncio.IncompleteReadError) as error:
                    partial = getattr(error, "partial", b"")
                    if reused and attempt == 1 and not partial:  # closed as it sat idle,
                        writer.close()  # before a byte of an answer: send it again, once
                        self.resent += 1
                        continue
                    raise
                status, length, chunked, close = _head(head)
                if chunked:
                    parts = [chunk async for chunk in _chunks(reader)]
                    content = b"".join(parts)
                else:
                    content = await reader.readexactly(length)
            except BaseException:
                writer.close()
                raise
            if close:
                writer.close()
            else:
                self.idle.append((reader, writer, time.monotonic()))
            return Answer(status, content)
        raise AssertionError("unreachable")

    async def post(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("POST", path, **kwargs)

    async def lines(self, path: str, headers: dict[str, str], *, silence_s: float
                    ) -> AsyncIterator[str]:  # fmt: skip
        """A streamed answer's lines, on a connection of its own; TimeoutError when
        nothing comes for `silence_s`; StreamRefused when it is not a 200."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(self._request("GET", path, headers, None, None))
            status, length, chunked, _ = _head(await reader.readuntil(b"\r\n\r\n"))
            if status != 200:
                body = b"".join([c async for c in _chunks(reader)]) if chunked else (
                    await reader.readexactly(length))  # fmt: skip
                raise StreamRefused(Answer(status, body))
            rest = b""
            while True:
                async with asyncio.timeout(silence_s):
                    chunk = await _chunk(reader)
                if not chunk:
                    return
                *complete, rest = (rest + chunk).split(b"\n")
                for line in complete:
                    yield line.decode()
        finally:
            writer.close()

    async def aclose(self) -> None:
        while self.idle:
            self.idle.pop()[1].close()


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while chunk := await _chunk(reader):
        yield chunk


# -- figures ------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))]


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread if spread else 0.0
