"""What the benchmarks share: a fresh database, the server, wrk runs in rounds, the doc."""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dispatch_server import database  # noqa: E402
from dispatch_server.config import get_settings  # noqa: E402

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


def in_rounds(
    loads: dict[str, tuple[str, str | None]], *, rounds: int, seconds: int, connections: int
) -> dict[str, tuple[Result, float, float]]:
    """Each load for `seconds`, interleaved `rounds` times: median round and range per load."""
    results: dict[str, list[Result]] = {name: [] for name in loads}
    for round_number in range(1, rounds + 1):
        for name, (target_url, script) in loads.items():
            result = run_wrk(name, target_url, seconds, connections, script)
            results[name].append(result)
            print(f"round {round_number} {name}: {result.requests_per_s:,.0f}/s")
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DASAN_DATABASE_URL": url, "DASAN_PORT": str(port)}
    dasan = str(Path(sys.executable).with_name("dasan"))
    process = subprocess.Popen(
        [dasan, "serve"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    stop_server(process)
    raise SystemExit(f"server did not start; see {log}")


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
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


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
