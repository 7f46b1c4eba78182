"""`dasan simulate`: the drawn day (pure), and simulated days end to end through a real
`dasan serve` on a copy of the seeded database. The report's numbers are checked against
what the run left in its database; the same seed gives the same report.json; `--policy
all` compares the three policies in the HTML report (drawn by headless Chromium); the
what-if search answers with the fewest inspectors its own rounds justify."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from dispatch_server import database
from dispatch_server.cli_simulate import _speed
from dispatch_server.clock import FileClock
from dispatch_server.config import Settings
from dispatch_server.main import clock_of
from dispatch_server.simulation import plan as plans
from dispatch_server.simulation.policies import metres
from dispatch_server.simulation.run import percentile
from dispatch_server.simulation.world import read_places
from tests.browser import chromium
from tests.conftest import TEST_URL
from tests.test_server import free_port, rows, running_server

SEOUL = ZoneInfo("Asia/Seoul")
START = datetime(2026, 11, 23, tzinfo=SEOUL)
JONGNO, JUNG = "11110", "11140"


# -- the drawn day (no server) -----------------------------------------------------------


@pytest.fixture(scope="module")
def places(template_database: str) -> list[plans.Place]:
    return read_places(template_database)


def draw(places: list[plans.Place], *, seed: int = 7, complaints: int = 2200,
         inspectors: int = 150, hours: float = 24) -> plans.DayPlan:  # fmt: skip
    return plans.draw_day(
        seed=seed, start=START, hours=hours, complaints=complaints, inspectors=inspectors,
        places=places, zone=SEOUL,
    )  # fmt: skip


def test_the_same_seed_draws_the_same_day_and_another_seed_another(places) -> None:
    first, again, other = draw(places), draw(places), draw(places, seed=8)
    assert first.arrivals == again.arrivals and first.shifts == again.shifts
    assert first.arrivals != other.arrivals


def test_a_day_has_a_quiet_night_peaks_and_parking_first(places) -> None:
    day = draw(places)
    assert len(day.arrivals) == 2200
    assert all(START <= a.at < START + timedelta(hours=24) for a in day.arrivals)
    by_hour = Counter(a.at.astimezone(SEOUL).hour for a in day.arrivals)
    night = sum(by_hour[h] for h in range(0, 6)) / 6
    morning = sum(by_hour[h] for h in range(9, 12)) / 3
    evening = sum(by_hour[h] for h in range(17, 20)) / 3
    assert night * 5 < morning and night * 5 < evening
    mix = Counter(a.category for a in day.arrivals)
    assert mix.most_common(1)[0][0] == "illegal_parking"
    assert 0.36 <= mix["illegal_parking"] / 2200 <= 0.44
    located = Counter(a.located_by for a in day.arrivals)
    assert 0.02 <= located["unlocatable"] / 2200 <= 0.045
    repeats = [a for a in day.arrivals if a.repeats is not None]
    assert 0.03 <= len(repeats) / 2200 <= 0.08
    by_n = {a.n: a for a in day.arrivals}
    for repeat in repeats:  # close by, soon after, the same thing
        earlier = by_n[repeat.repeats]
        assert earlier.at <= repeat.at <= earlier.at + plans.DUPLICATE_WITHIN
        assert earlier.category == repeat.category
        assert metres(earlier.lat, earlier.lon, repeat.lat, repeat.lon) < 10
    assert {a.outcome for a in day.arrivals} == {"resolved", "unresolved", "referred"}


def test_dense_districts_get_more_reports_and_more_inspectors(places) -> None:
    day = draw(places)
    addresses = Counter(p.district for p in places)
    reports = Counter(a.district for a in day.arrivals)
    densest, sparsest = addresses.most_common()[0][0], addresses.most_common()[-1][0]
    assert reports[densest] > reports[sparsest]
    crews = plans.inspectors_per_district(day, 150)
    assert sum(crews.values()) == 150 and min(crews.values()) >= 1
    assert crews[densest] > crews[sparsest]
    night = {s.n for s in day.shifts if s.name == "night"}
    assert night and all(sum(s.n == n for s in day.shifts) == 2 for n in night)


def test_one_districts_crew_does_not_change_anothers(places) -> None:
    day = draw(places, complaints=300, inspectors=20)
    crews = plans.inspectors_per_district(day, 20)
    more = {**crews, JONGNO: crews[JONGNO] + 3}

    def homes(plan: plans.DayPlan, district: str) -> list[tuple[float, float]]:
        return [(s.home_lat, s.home_lon) for s in plan.shifts if s.district == district]

    before = plans.with_inspectors(day, crews, places, SEOUL)
    after = plans.with_inspectors(day, more, places, SEOUL)
    assert homes(before, JUNG) == homes(after, JUNG)
    assert len({s.n for s in after.shifts if s.district == JONGNO}) == crews[JONGNO] + 3


def test_percentile_is_linear_like_postgresql() -> None:
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.9) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([10.0, 0.0, 20.0], 0.9) == pytest.approx(18.0)


def test_the_clock_file_is_shared_and_refused_in_production(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    at = datetime(2026, 11, 23, 9, 30, tzinfo=SEOUL)
    FileClock.write(path, at)
    clock = FileClock(path)
    assert clock.now() == at and clock.now().tzinfo == UTC
    for step in range(1, 50):  # every write is seen, however quick
        FileClock.write(path, at + timedelta(seconds=step))
        assert clock.now() == at + timedelta(seconds=step)
    with pytest.raises(ValueError):
        FileClock.write(path, datetime(2026, 11, 23, 9, 30))
    assert isinstance(clock_of(Settings(clock_file=path)), FileClock)
    with pytest.raises(SystemExit, match="DASAN_CLOCK_FILE"):
        clock_of(Settings(clock_file=path, production=True))


@pytest.mark.parametrize("given", ["0", "-5", "fast", "2000000"])
def test_a_speed_is_a_positive_number_or_max(given: str) -> None:
    assert _speed("max") is None and _speed("3600") == 3600.0
    with pytest.raises(typer.BadParameter):
        _speed(given)


# -- simulated days through a real server ------------------------------------------------


def simulate(city: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dasan simulate` on the city database `city` (copied per run), into `out`."""
    env = {**os.environ, "DASAN_DATABASE_URL": city}
    dasan = str(Path(sys.executable).with_name("dasan"))
    done = subprocess.run(
        [dasan, "simulate", "--city-database", city, "--out", str(out), *args],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def run_database(city: str, policy: str) -> str:
    name = f"{make_url(city).database}_run_{policy.replace('-', '_')}"
    return make_url(city).set(database=name).render_as_string(hide_password=False)


SMALL_DAY = ("--complaints", "200", "--inspectors", "10", "--hours", "24", "--seed", "11",
             "--district", JONGNO, "--district", JUNG, "--speed", "max")  # fmt: skip


@pytest.fixture(scope="module")
def small_day(
    make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, Any], str, str]]:
    """200 reports and 10 inspectors in two districts, the nearest policy, its database
    kept: (report.json, the report as printed, the run's database URL)."""
    city = make_database("simulation")
    out = tmp_path_factory.mktemp("small-day")
    done = simulate(city, out, *SMALL_DAY, "--keep")
    run = run_database(city, "nearest")
    try:
        yield json.loads((out / "report.json").read_text()), done.stdout, run
    finally:
        database.drop_database(run)


def test_the_small_day_went_through_the_server(small_day) -> None:
    report, printed, _ = small_day
    (run,) = report["runs"]
    assert report["complaints"] == 200 and report["inspectors"] == 10
    assert run["policy"] == "nearest" and run["reports"] == 200
    assert run["refused"] == {} and run["stuck"] == 0
    # Every kind of call the day needs was made through the HTTP API.
    for kind in ("intake", "candidates", "assign", "field_accepted", "field_en_route",
                 "field_on_site", "field_resolved", "field_unresolved", "field_referred",
                 "position", "duty"):  # fmt: skip
        assert run["calls"].get(kind, 0) > 0, kind
    assert run["messages"]["sent"] > 0 and run["sla_steps"] > 0
    # It stopped once the work was done, before the 6 hours it allows after the last report.
    assert datetime.fromisoformat(run["ended_at"]) < START + timedelta(hours=30)
    assert "SLA arrive compliance" in printed and "report.html" in printed


def test_the_reports_numbers_are_the_databases(small_day) -> None:
    report, _, url = small_day
    (run,) = report["runs"]
    statuses = dict(rows(url, "SELECT status, count(*) FROM complaint GROUP BY status"))
    assert run["logged"] == sum(statuses.values())
    assert run["duplicates"] == statuses.get("duplicate", 0) > 0
    assert run["unlocatable"] == 200 - run["logged"] > 0
    assert sum(run["unplaced"].values()) == run["unlocatable"]
    events = dict(rows(url, "SELECT type, count(DISTINCT complaint_id) FROM complaint_event"
                            " GROUP BY type"))  # fmt: skip
    assert run["visits"] == events["on_site"]
    for outcome in ("resolved", "unresolved", "referred"):
        assert run["results"][outcome] == events.get(outcome, 0), outcome
    codes = dict(rows(url, "SELECT result_code, count(*) FROM complaint"
                           " WHERE result_code IS NOT NULL GROUP BY 1"))  # fmt: skip
    assert run["result_codes"] == codes and "not_found" in codes
    # Arrive on site in time: each clock's due time against the inspector's on-site entry.
    (met, missed), = rows(url, """
        SELECT count(*) FILTER (WHERE v.at <= t.due_at),
               count(*) FILTER (WHERE v.at > t.due_at OR v.at IS NULL)
        FROM sla_timer t
        LEFT JOIN LATERAL (SELECT min(e.at) AS at FROM complaint_event e
                           WHERE e.complaint_id = t.complaint_id AND e.type = 'on_site') v ON true
        WHERE t.kind = 'arrive' AND t.state <> 'cancelled'""")  # fmt: skip
    arrive = run["sla"]["arrive"]
    assert (arrive["met"], arrive["missed"] + arrive["pending"]) == (met, missed)
    assert arrive["compliance"] == pytest.approx(met / (met + missed), abs=1e-3)
    # Received to on site, as the server's timeline has it.
    (median, p90), = rows(url, """
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY m), percentile_cont(0.9)
               WITHIN GROUP (ORDER BY m)
        FROM (SELECT extract(epoch FROM min(e.at) - c.created_at) / 60 AS m
              FROM complaint c JOIN complaint_event e ON e.complaint_id = c.id
              WHERE e.type = 'on_site' GROUP BY c.id, c.created_at) v""")  # fmt: skip
    assert run["time_to_site"]["median_minutes"] == round(median, 1)
    assert run["time_to_site"]["p90_minutes"] == round(p90, 1)
    assert sum(b["count"] for b in run["time_to_site"]["bins"]) == run["visits"]
    # Texts: what the outbox sent.
    ((sent,),) = rows(url, "SELECT count(*) FROM outbox_message WHERE status = 'sent'")
    assert run["messages"]["sent"] == sent
    # Load per district: the cases each district got.
    per_district = dict(rows(url, "SELECT district_code, count(*) FROM complaint GROUP BY 1"))
    assert {d["district"]: d["cases"] for d in run["districts"]} == per_district
    assert sum(d["inspectors"] for d in run["districts"]) == 10
    assert 0 < run["utilisation"]["overall"] <= 1
    # The day's work was finished: no case is left in an inspector's hands.
    assert rows(url, "SELECT count(*) FROM complaint WHERE status IN"
                     " ('assigned', 'accepted', 'en_route', 'on_site')")[0][0] == 0  # fmt: skip


def test_the_same_seed_gives_the_same_report_and_the_html_compares_policies(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    city = make_database("policies")
    tiny = ("--complaints", "50", "--inspectors", "4", "--hours", "10", "--seed", "5",
            "--district", JUNG, "--policy", "all")  # fmt: skip
    simulate(city, tmp_path / "one", *tiny)
    simulate(city, tmp_path / "two", *tiny)
    first = (tmp_path / "one" / "report.json").read_bytes()
    assert first == (tmp_path / "two" / "report.json").read_bytes()
    report = json.loads(first)
    assert [r["policy"] for r in report["runs"]] == ["nearest", "territory", "sla-aware"]
    assert all(r["reports"] == 50 and r["visits"] > 0 for r in report["runs"])
    page = tmp_path / "one" / "report.html"
    with chromium() as browser:
        tab = browser.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(page.as_uri())
        drawn = tab.evaluate(
            """() => [...document.querySelectorAll("canvas")].map((c) => {
                 const chart = Chart.getChart(c);
                 return chart ? chart.data.datasets.map((d) => d.label) : null; })"""
        )
        headers = tab.locator("table").first.locator("th").all_inner_texts()
    assert errors == []
    assert drawn and all(labels == ["nearest", "territory", "sla-aware"] for labels in drawn)
    assert headers[1:] == ["nearest", "territory", "sla-aware"]


def test_what_if_finds_the_fewest_inspectors_its_rounds_justify(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    city = make_database("policies")
    done = simulate(city, tmp_path, "--what-if", "--complaints", "60", "--inspectors", "6",
                    "--hours", "12", "--seed", "3", "--district", JUNG,
                    "--target", "0.8")  # fmt: skip
    answer = json.loads((tmp_path / "what-if.json").read_text())
    assert answer["settled"] and answer["target"] == 0.8
    fewest = answer["fewest"][JUNG]
    assert answer["total"] == fewest and f"{JUNG}: {fewest}" in done.stdout
    tried = {r["counts"][JUNG]: r["arrive_compliance"][JUNG] for r in answer["rounds"]}
    assert len(tried) >= 2 and all(value is not None for value in tried.values()), tried
    assert tried[fewest] is None or tried[fewest] >= 0.8
    if fewest > 1:
        assert tried[fewest - 1] is not None and tried[fewest - 1] < 0.8


def test_make_runs_server_plays_a_live_day_the_console_sees(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    """`dasan serve --simulation` (what `make run` starts): reports logged, dispatched and
    worked in real time by the city's inspectors, a person's inspector left alone."""
    url = make_database("live")
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        team = connection.execute(
            text("INSERT INTO team (district_code, name) VALUES (:d, 'live') RETURNING id"),
            {"d": JUNG},
        ).scalar_one()
        connection.execute(
            text("INSERT INTO routing_rule (district_code, category_code, team_id, updated_at)"
                 " VALUES (:d, NULL, :t, now())"), {"d": JUNG, "t": team},
        )  # fmt: skip
        inspectors = [
            connection.execute(
                text(
                    "INSERT INTO inspector (name, team_id, on_duty, position) VALUES (:n, :t,"
                    " false, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) RETURNING id"
                ),
                {"n": f"live {i}", "t": team, "lon": lon, "lat": 37.5620},
            ).scalar_one()
            for i, lon in enumerate((126.9975, 126.9800, 127.0150))
        ]
        connection.execute(
            text(
                "INSERT INTO user_account (username, display_name, role, districts,"
                " inspector_id, password_hash, active, created_at, password_changed_at)"
                " VALUES ('a-person', 'a person', 'inspector', '{}', :i, 'x', true, now(), now())"
            ),
            {"i": inspectors[0]},
        )
    env = {**os.environ, "DASAN_DATABASE_URL": url, "DASAN_PORT": str(free_port()),
           "DASAN_WORKERS": "1", "DASAN_SMS_FILE": str(tmp_path / "sms.jsonl"),
           "DASAN_LIVE_SIMULATION_LOG": str(tmp_path / "live.log")}  # fmt: skip
    # A dense day (thousands of reports in half an hour) so that 20 s show the city move.
    env["DASAN_LIVE_SIMULATION_ARGS"] = (
        "--complaints 3000 --hours 0.5 --dispatch-seconds 2 --district " + JUNG
    )
    with running_server(env, tmp_path / "serve.log", "--simulation"):
        # Both are waited for: two cases on their way can come before the fifth report.
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            (moved,) = rows(url, "SELECT count(*) FROM complaint_event WHERE type = 'en_route'")[0]
            (reported,) = rows(url, "SELECT count(*) FROM complaint WHERE description LIKE"
                                    " '[시뮬레이션 %'")[0]  # fmt: skip
            if moved >= 2 and reported >= 5:
                break
            time.sleep(0.5)
    logged = dict(rows(url, "SELECT status, count(*) FROM complaint WHERE description LIKE"
                            " '[시뮬레이션 %' GROUP BY status"))  # fmt: skip
    assert sum(logged.values()) >= 5, logged
    workers = dict(rows(url, "SELECT assignee_id, count(*) FROM complaint"
                             " WHERE assignee_id IS NOT NULL GROUP BY 1"))  # fmt: skip
    assert workers and inspectors[0] not in workers
    assert set(workers) <= set(inspectors[1:])
    (moved,) = rows(url, "SELECT count(*) FROM complaint_event WHERE type = 'en_route'")[0]
    assert moved >= 2  # cases on their way
    (positions,) = rows(url, "SELECT count(*) FROM inspector WHERE on_duty")[0]
    assert positions == 2  # the simulation's two; the person's inspector stays off duty
    engine.dispose()


def test_the_live_simulation_is_refused_in_production(tmp_path: Path) -> None:
    dasan = str(Path(sys.executable).with_name("dasan"))
    done = subprocess.run(
        [dasan, "serve", "--simulation"],
        env={**os.environ, "DASAN_DATABASE_URL": TEST_URL, "DASAN_PRODUCTION": "true"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "DASAN_PRODUCTION" in done.stderr


def test_bad_options_are_refused_before_anything_runs(tmp_path: Path) -> None:
    dasan = str(Path(sys.executable).with_name("dasan"))
    (tmp_path / "a-file").write_text("")
    for args, says in [
        (["--policy", "fastest"], "--policy"),
        (["--district", "jongno"], "five-digit"),
        (["--district", "99999", "--city-database", TEST_URL], "no such district"),
        (["--live", "--url", "http://127.0.0.1:9", "--policy", "all"], "real time"),
        (["--out", str(tmp_path / "a-file")], "is a file"),
        (["--speed", "0"], "max"),
        (["--day", "23/11/2026"], "YYYY-MM-DD"),
        (["--live"], "--url"),
        (["--complaints", "0"], "complaints"),
    ]:
        done = subprocess.run(
            [dasan, "simulate", *([] if "--out" in args else ["--out", str(tmp_path)]), *args],
            env={**os.environ, "DASAN_DATABASE_URL": TEST_URL, "COLUMNS": "200"},
            capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        said = " ".join(re.sub("[│╭╮╰╯─]", " ", done.stderr).split())  # out of rich's box
        assert says in said, (args, said)
    assert not (tmp_path / "report.json").exists()
