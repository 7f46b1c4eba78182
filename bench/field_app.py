"""Field app benchmark: its cold start, and the sync of 100 actions made offline.

Starts `dasan serve` on a database of its own (`<db>_bench`), an inspector account, and
assigned cases, then measures on this machine (Xvfb for the window):
  - cold start: from starting `python -m field_app` (a session kept from an earlier run, the
    queue in its cache) to its first screen drawn with the cases, against the same for a
    bare Kivy window that shows one label (the baseline: what Kivy itself costs);
  - sync: 100 actions made offline (25 cases x accepted, en route, on site, resolved) sent
    when the network is back, against the same 100 moves sent straight with httpx (the
    baseline: what the server itself costs), in interleaved rounds.

    .venv/bin/python bench/field_app.py [--rounds 5] [--no-write] [--keep-db]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from common import (
    DOC,
    ROOT,
    bench_url,
    free_port,
    fresh_database,
    machine,
    start_server,
    stop_server,
    write_doc,
)
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dispatch_server import database
from dispatch_server.accounts.credentials import Passwords
from dispatch_server.config import get_settings

PASSWORD = "bench field password"
_SPOTS = itertools.count()
CASES_PER_ROUND = 25
MOVES = ("accepted", "en_route", "on_site", "resolved")
BARE_KIVY = """
import os
os.environ["KIVY_NO_ARGS"] = "1"
from kivy.app import App
from kivy.clock import Clock
from kivy.uix.label import Label
class Bare(App):
    def build(self):
        return Label(text="hello")
    def on_start(self):
        Clock.schedule_once(lambda _: (print("first screen drawn", flush=True), self.stop()), 0)
Bare().run()
"""


def sql(url: str, statement: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        result = connection.execute(text(statement), params)
        rows = [tuple(r) for r in result] if result.returns_rows else []
    engine.dispose()
    return rows


def inspector_account(url: str) -> tuple[int, str]:
    """A Jongno team, an on-duty inspector, its account: (inspector id, username)."""
    team = sql(url, "INSERT INTO team (district_code, name) VALUES ('11110', :n) RETURNING id",
               n=f"bench {uuid.uuid4().hex[:6]}")[0][0]  # fmt: skip
    inspector = sql(
        url, "INSERT INTO inspector (name, team_id, on_duty, position) VALUES ('bench', :t, true,"
        " ST_SetSRID(ST_MakePoint(126.99, 37.57), 4326)) RETURNING id", t=team,
    )[0][0]  # fmt: skip
    username = f"bench-inspector-{inspector}"
    cheap = Passwords(time_cost=1, memory_kib=64, parallelism=1)
    sql(
        url, "INSERT INTO user_account (username, display_name, role, districts, inspector_id,"
        " password_hash, active, created_at, password_changed_at) VALUES (:u, :u, 'inspector',"
        " '{}', :i, :h, true, now(), now())", u=username, i=inspector, h=cheap.hash(PASSWORD),
    )  # fmt: skip
    return int(str(inspector)), username


def token(base: str, username: str, password: str) -> str:
    answer = httpx.post(f"{base}/api/v1/auth/token",
                        json={"username": username, "password": password}, timeout=30)  # fmt: skip
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def assigned_cases(base: str, agent: str, admin: str, inspector: int, count: int) -> list[int]:
    ids = []
    for _ in range(count):
        i = next(_SPOTS)  # every case at a spot of its own: none is another's duplicate
        # A grid inside Jongno-gu, 60 m apart (street lamps are each other's duplicates
        # within 30 m).
        point = {"lat": 37.5704 + 0.00054 * (i % 15), "lon": 126.992 - 0.00068 * (i // 15)}
        body = {"category": "street_lamp", "description": f"벤치마크 가로등 {i}",
                "location": point, "reporter": {"phone": "010-2345-6789"}}  # fmt: skip
        created = httpx.post(f"{base}/api/v1/complaints", json=body, timeout=10,
                             headers={"Authorization": f"Bearer {agent}"})  # fmt: skip
        created.raise_for_status()
        case = created.json()
        moved = httpx.post(
            f"{base}/api/v1/dispatch/complaints/{case['id']}/transitions", timeout=10,
            json={"to": "assigned", "version": case["version"], "inspector_id": inspector,
                  "reason": "benchmark"},
            headers={"Authorization": f"Bearer {admin}"},
        )  # fmt: skip
        if moved.status_code != 200:
            raise SystemExit(f"could not assign case {case['ticket']}: {moved.text}")
        ids.append(int(case["id"]))
    return ids


def app_sync(base: str, username: str, data: Path, ids: list[int]) -> float:
    """Seconds to send 100 actions queued offline, through the app's own sync."""
    from field_app.services.field import FieldService  # noqa: PLC0415
    from field_app.services.sync import Cases, Syncer  # noqa: PLC0415

    service = FieldService(data, live=False)
    service.start = lambda: None  # type: ignore[method-assign]  (the bench drives the pass)
    service.sign_in(base, username, PASSWORD)
    assert service.api is not None
    syncer = Syncer(service.api, service.outbox, Cases(service.store))
    syncer.pull()  # the cases on the phone, then the phone goes into a tunnel
    for case_id in ids:
        for move in MOVES:
            fields = {"result_code": "fixed_on_site"} if move == "resolved" else {}
            service.move(case_id, move, **fields)
    assert service.outbox.pending_count() == len(ids) * len(MOVES)
    started = time.perf_counter()
    dropped = syncer.push()  # out of the tunnel
    elapsed = time.perf_counter() - started
    assert not dropped and service.outbox.pending_count() == 0, dropped
    service.close()
    return elapsed


def direct_sync(base: str, inspector_token: str, ids: list[int]) -> float:
    """The same moves sent straight, one after another (what the server costs)."""
    headers = {"Authorization": f"Bearer {inspector_token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        versions = {i: client.get(f"/api/v1/field/complaints/{i}").json()["version"] for i in ids}
        started = time.perf_counter()
        for case_id in ids:
            for move in MOVES:
                body = {"to": move, "version": versions[case_id]}
                if move == "resolved":
                    body["result_code"] = "fixed_on_site"
                answer = client.post(f"/api/v1/field/complaints/{case_id}/transitions", json=body,
                                     headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
                answer.raise_for_status()
                versions[case_id] = answer.json()["version"]
        return time.perf_counter() - started


def time_start(command: list[str], env: dict[str, str]) -> float:
    """Seconds from starting a window program to its 'first screen drawn' line."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if "first screen drawn" in line:
            elapsed = time.perf_counter() - started
            break
    else:
        raise SystemExit(f"{command[:3]} never drew its first screen")
    process.wait(timeout=30)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise SystemExit("Xvfb is missing: run `bash scripts/system-deps.sh`")
    url = bench_url()
    fresh_database(url)
    inspector, username = inspector_account(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="dasan-bench-field-"))
    server = start_server(url, port, work / "serve.log")
    screen = subprocess.Popen([xvfb, ":77", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(1)
    env = {**os.environ, "DISPLAY": ":77", "KIVY_NO_CONSOLELOG": "1"}
    demo = get_settings().demo_password
    try:
        agent, admin = token(base, "agent1", demo), token(base, "admin", demo)
        inspector_token = token(base, username, PASSWORD)
        # A phone with a session and a queue of 10 cases in its cache.
        phone = work / "phone"
        assigned_cases(base, agent, admin, inspector, 10)
        from field_app.services.field import FieldService  # noqa: PLC0415

        warm = FieldService(phone, live=False)
        warm.start = lambda: None  # type: ignore[method-assign]
        warm.sign_in(base, username, PASSWORD)
        from field_app.services.sync import Cases, Syncer  # noqa: PLC0415

        assert warm.api is not None
        Syncer(warm.api, warm.outbox, Cases(warm.store)).pull()
        warm.close()
        app_start = [sys.executable, "-m", "field_app", "--data-dir", str(phone), "--server",
                     base, "--quit-after-start"]  # fmt: skip
        bare = work / "bare.py"  # (Kivy looks for a .kv beside an app's source file)
        bare.write_text(BARE_KIVY)
        bare_start = [sys.executable, str(bare)]
        starts: dict[str, list[float]] = {"app": [], "bare": []}
        syncs: dict[str, list[float]] = {"app": [], "direct": []}
        env_start = {**env, "KIVY_HOME": str(work / "kivy")}
        (work / "kivy").mkdir()
        for _ in range(args.rounds):
            starts["bare"].append(time_start(bare_start, env_start))
            starts["app"].append(time_start(app_start, env_start))
            ids = assigned_cases(base, agent, admin, inspector, CASES_PER_ROUND)
            syncs["app"].append(app_sync(base, username, work / f"sync-{uuid.uuid4().hex}", ids))
            ids = assigned_cases(base, agent, admin, inspector, CASES_PER_ROUND)
            syncs["direct"].append(direct_sync(base, inspector_token, ids))
    finally:
        screen.terminate()
        stop_server(server)
        if not args.keep_db:
            database.drop_database(url)
    runs = {**starts, **{f"sync_{kind}": times for kind, times in syncs.items()}}
    median = {kind: statistics.median(times) for kind, times in runs.items()}
    actions = CASES_PER_ROUND * len(MOVES)
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; Kivy 2.3.1 under "
        f"Xvfb (software GL); `dasan serve` on loopback; {args.rounds} interleaved rounds, "
        "medians (range).",
        "",
        "| what | field app | baseline | ratio |",
        "|---|---:|---:|---:|",
        f"| cold start to the queue drawn from the cache (s) | {median['app']:.2f} "
        f"({min(starts['app']):.2f}-{max(starts['app']):.2f}) | {median['bare']:.2f} "
        f"({min(starts['bare']):.2f}-{max(starts['bare']):.2f}): a bare Kivy window | "
        f"{median['app'] / median['bare']:.2f}x |",
        f"| sync of {actions} actions made offline (s) | {median['sync_app']:.2f} "
        f"({min(syncs['app']):.2f}-{max(syncs['app']):.2f}), "
        f"{actions / median['sync_app']:.0f} actions/s | {median['sync_direct']:.2f} "
        f"({min(syncs['direct']):.2f}-{max(syncs['direct']):.2f}): the same moves sent "
        f"straight | {median['sync_app'] / median['sync_direct']:.2f}x |",
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_doc(section, marker="field-app")
        print(f"written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
