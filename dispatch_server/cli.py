"""The `dasan` command: database, districts, demo data and the server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from dispatch_server import database
from dispatch_server.cli_outbox import outbox_app, worker
from dispatch_server.cli_privacy import open311_app, privacy_app
from dispatch_server.cli_simulate import simulate
from dispatch_server.cli_sla import sla_app
from dispatch_server.cli_users import users_app
from dispatch_server.clock import SystemClock
from dispatch_server.config import PROJECT_ROOT, Settings, get_settings
from dispatch_server.errors import DomainError

app = typer.Typer(
    help="Dasan Field: field complaint dispatch. Settings come from DASAN_* variables.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Create and migrate the database.", no_args_is_help=True)
districts_app = typer.Typer(help="Load and list district boundaries.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(districts_app, name="districts")
gazetteer_app = typer.Typer(
    help="Load the gazetteer (known addresses, dongs) used for geocoding.", no_args_is_help=True
)
app.add_typer(gazetteer_app, name="gazetteer")
routing_app = typer.Typer(
    help="Routing rules: which team of a district takes a category's cases. CATEGORY `*` is "
    "the district's fallback, for categories without a rule of their own.",
    no_args_is_help=True,
)
app.add_typer(routing_app, name="routing")
app.add_typer(sla_app, name="sla")
app.add_typer(users_app, name="users")
app.add_typer(outbox_app, name="outbox")
app.add_typer(privacy_app, name="privacy")
app.add_typer(open311_app, name="open311")
app.command("worker")(worker)
app.command("simulate")(simulate)
console = Console()


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


@db_app.command("create")
def db_create() -> None:
    """Create the database named by DASAN_DATABASE_URL, with postgis and pg_trgm, if missing."""
    url = get_settings().database_url
    created = database.create_database(url)
    name = get_settings().database_name
    console.print(f"database {name} {'created' if created else 'already exists'}; extensions ok")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply the migrations (to the newest by default)."""
    url = get_settings().database_url
    database.upgrade(url, revision)
    console.print(f"database at revision {database.current_revision(url)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="target revision or base")]) -> None:
    """Undo migrations down to a revision."""
    url = get_settings().database_url
    database.downgrade(url, revision)
    console.print(f"database at revision {database.current_revision(url)}")


@db_app.command("current")
def db_current() -> None:
    """Print the revision the database is at."""
    console.print(database.current_revision(get_settings().database_url) or "empty")


def _load_boundaries(
    path: Path,
    *,
    code_field: str,
    name_field: str,
    name_en_field: str | None,
    replace: bool,
) -> None:
    from dispatch_server.db import get_sessionmaker
    from geo.boundaries import read_districts
    from geo.districts import load_districts

    try:
        shapes = read_districts(
            path, code_field=code_field, name_field=name_field, name_en_field=name_en_field
        )
    except DomainError as exc:
        _fail(exc.message)
        return
    with (
        get_sessionmaker()() as session,
        Progress(
            TextColumn("loading districts"), BarColumn(), MofNCompleteColumn(), console=console
        ) as progress,
    ):
        task = progress.add_task("load", total=len(shapes))
        report = load_districts(
            session,
            shapes,
            now=SystemClock().now(),
            replace=replace,
            on_each=lambda _shape: progress.advance(task),
        )
        session.commit()
    console.print(f"loaded {report.loaded} districts from {path.name}")
    repaired = report.repaired
    noun = "geometry" if len(repaired) == 1 else "geometries"
    console.print(
        f"repaired {len(repaired)} invalid {noun}"
        + (f": {', '.join(repaired)}" if repaired else "")
    )
    if replace:
        console.print(
            f"removed {len(report.removed)}, retired {len(report.retired)} "
            "(retired: still referenced by complaints, no longer routed to)"
        )


@districts_app.command("load")
def districts_load(
    file: Annotated[Path, typer.Argument(help="GeoJSON FeatureCollection in WGS84 lon/lat")],
    code_field: Annotated[str, typer.Option(help="property holding the district code")],
    name_field: Annotated[str, typer.Option(help="property holding the local name")],
    name_en_field: Annotated[
        str | None, typer.Option(help="property holding the English name")
    ] = None,
    replace: Annotated[bool, typer.Option(help="drop districts that are not in this file")] = False,
) -> None:
    """Load (insert or update) a city's districts from any GeoJSON with named fields."""
    _load_boundaries(
        file,
        code_field=code_field,
        name_field=name_field,
        name_en_field=name_en_field,
        replace=replace,
    )


@districts_app.command("list")
def districts_list() -> None:
    """List the districts complaints are routed to."""
    from dispatch_server.db import get_sessionmaker
    from geo.districts import list_districts

    with get_sessionmaker()() as session:
        districts = list_districts(session)
    for district in districts:
        console.print(f"{district.code}  {district.name_ko}  {district.name_en or ''}")
    console.print(f"{len(districts)} districts")


@app.command("seed-demo")
def seed_demo(
    categories_only: Annotated[
        bool, typer.Option(help="only the categories (for a city other than Seoul)")
    ] = False,
) -> None:
    """Load the demo categories and Seoul's 25 districts (idempotent)."""
    from dispatch_server.db import get_sessionmaker
    from dispatch_server.seed import (
        DEMO_TEAMS,
        SEOUL_DISTRICTS,
        read_categories,
        seed_demo_teams,
        seed_sla,
        upsert_categories,
        upsert_result_codes,
    )

    with get_sessionmaker()() as session:
        count = upsert_categories(session, read_categories())
        codes = upsert_result_codes(session)
        session.commit()
    console.print(f"{count} categories and {codes} result codes ready")
    if categories_only:
        return
    source = SEOUL_DISTRICTS
    path = get_settings().shared_dir / "data" / source.filename
    if not path.exists():
        _fail(f"Seoul's boundary file is missing: {path} (set DASAN_SHARED_DIR)")
    _load_boundaries(
        path,
        code_field=source.code_field,
        name_field=source.name_field,
        name_en_field=source.name_en_field,
        replace=False,
    )
    with get_sessionmaker()() as session:
        added = seed_demo_teams(session)
        session.commit()
    console.print(
        f"{len(DEMO_TEAMS)} teams and their routing rules in every district;"
        f" {added} demo inspectors added"
    )
    load_seoul_gazetteer()
    with get_sessionmaker()() as session:
        sla = seed_sla(session, timezone=get_settings().timezone, now=SystemClock().now())
        session.commit()
    console.print(
        f"SLA: {sla.calendars} calendars and {sla.policies} policies added,"
        f" {sla.holidays} public holidays loaded"
    )
    seed_demo_users()


def seed_demo_users() -> None:
    """The demo accounts (one per role), unless this is a production deployment."""
    from dispatch_server.accounts import users
    from dispatch_server.accounts.service import passwords_of

    settings = get_settings()
    if settings.production:
        console.print("production mode: no demo accounts")
        return
    created = _in_transaction(
        lambda c: users.ensure_demo_users(
            c, passwords=passwords_of(settings), password=settings.demo_password,
            now=SystemClock().now(),
        )
    )  # fmt: skip
    console.print(f"demo accounts ({len(created)} new), password {settings.demo_password!r}:")
    for name, role in users.DEMO_USERS:
        console.print(f"  {name:<22} {role}")


def load_seoul_gazetteer() -> None:
    """Read Seoul's gazetteer files from the shared folder and load them (replacing)."""
    from dispatch_server.db import get_sessionmaker
    from geo.gazetteer import (
        SEOUL_GAZETTEER,
        GazetteerReport,
        load_gazetteer,
        read_addresses,
        read_dongs,
    )

    shared = get_settings().shared_dir / "data"
    files = SEOUL_GAZETTEER
    for name in (files.addresses, files.admin_dongs, files.legal_dongs, files.admin_dong_names_en):
        if not (shared / name).exists():
            _fail(f"a gazetteer file is missing: {shared / name} (set DASAN_SHARED_DIR)")
    report = GazetteerReport()
    with console.status("reading the gazetteer files"):
        addresses = read_addresses(shared / files.addresses, report)
        dongs = read_dongs(files, shared, report)
    with console.status("loading"), get_sessionmaker()() as session:
        load_gazetteer(session, addresses, dongs, report)
        session.commit()
    console.print(
        f"gazetteer: {report.addresses:,} addresses on {report.roads:,} roads (from "
        f"{report.rows:,} rows, {len(report.skipped)} skipped), {report.admin_dongs} 행정동,"
        f" {report.legal_dongs} 법정동"
        + (f", {len(report.repaired)} dong geometries repaired" if report.repaired else "")
    )


@gazetteer_app.command("load")
def gazetteer_load() -> None:
    """Load Seoul's known addresses and its 행정동 and 법정동 boundaries (replaces them)."""
    load_seoul_gazetteer()


def _in_transaction(work):  # type: ignore[no-untyped-def]
    """Run `work(connection)` in one transaction of a short-lived async engine."""
    import asyncio

    from dispatch_server.db import make_async_engine, transactions

    async def run():  # type: ignore[no-untyped-def]
        engine = make_async_engine(get_settings(), pool_size=1)
        try:
            async with transactions(engine)() as connection:
                return await work(connection)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except DomainError as exc:
        _fail(exc.message)


@routing_app.command("list")
def routing_list(
    district: Annotated[str | None, typer.Option(help="one district's code")] = None,
) -> None:
    """List the rules (each district's fallback last)."""
    from geo import routing

    rules = _in_transaction(lambda c: routing.list_rules(c, district=district))
    for rule in rules:
        category = rule.category_code or routing.FALLBACK
        console.print(f"{rule.district_code}  {category:<22} -> {rule.team_id}  {rule.team_name}")
    console.print(f"{len(rules)} rules")


@routing_app.command("teams")
def routing_teams(
    district: Annotated[str | None, typer.Option(help="one district's code")] = None,
) -> None:
    """List the teams rules can point at (id, district, name, categories, inspectors)."""
    from dispatch_server.admin import service

    teams = _in_transaction(lambda c: service.list_teams(c, district=district))
    for team in teams:
        works = ", ".join(team.categories) if team.categories is not None else "all categories"
        console.print(
            f"{team.id:>5}  {team.district}  {team.name}  ({works}; {team.inspectors} inspectors,"
            f" {team.on_duty} on duty)"
        )


@routing_app.command("set")
def routing_set(
    district: Annotated[str, typer.Argument(help="district code, e.g. 11110")],
    category: Annotated[str, typer.Argument(help="category code, or * for the fallback")],
    team_id: Annotated[int, typer.Argument(help="a team of that district (see `routing teams`)")],
) -> None:
    """Send the district's cases of a category to a team (replaces the rule)."""
    from geo import routing

    rule = _in_transaction(
        lambda c: routing.set_rule(
            c, district=district, category=routing.category_of(category), team_id=team_id,
            now=SystemClock().now(),
        )
    )  # fmt: skip
    console.print(f"{rule.district_code}  {category} -> {rule.team_id}  {rule.team_name}")


@routing_app.command("unset")
def routing_unset(
    district: Annotated[str, typer.Argument(help="district code")],
    category: Annotated[str, typer.Argument(help="category code, or * for the fallback")],
) -> None:
    """Remove a rule (the category then follows the fallback)."""
    from geo import routing

    _in_transaction(
        lambda c: routing.remove_rule(c, district=district, category=routing.category_of(category))
    )
    console.print(f"{district}  {category}: rule removed")


@routing_app.command("route")
def routing_route(
    district: Annotated[str, typer.Argument(help="district code")],
    category: Annotated[str, typer.Argument(help="category code")],
) -> None:
    """Which team a new case of the district and category would go to, and by which rule."""
    from geo import routing

    found = _in_transaction(lambda c: routing.resolve(c, district=district, category=category))
    if found.team_id is None:
        console.print(f"{district} {category}: no rule (dispatchers route it by hand)")
    else:
        console.print(
            f"{district} {category} -> {found.team_id} {found.team_name} "
            f"(by the {found.matched_by} rule)"
        )


@app.command("housekeeping")
def housekeeping_once() -> None:
    """Delete expired live events, Idempotency-Key answers, tokens and counters, and Open311
    posts refused for good past the contact retention, now (the server does it too)."""
    import asyncio

    from dispatch_server import housekeeping
    from dispatch_server.db import make_async_engine, transactions

    settings = get_settings()

    async def run() -> housekeeping.Purged | None:
        engine = make_async_engine(settings, pool_size=1)
        try:
            return await housekeeping.run_once(
                transactions(engine), settings=settings, clock=SystemClock()
            )
        finally:
            await engine.dispose()

    purged = asyncio.run(run())
    if purged is None:
        console.print("a server process is doing it right now; nothing done")
    else:
        console.print(
            f"deleted: {purged.live_events} live events, {purged.idempotency_keys} idempotency"
            f" keys, {purged.tokens} expired tokens, {purged.counters} stale counters,"
            f" {purged.failed_posts} Open311 posts refused for good"
        )


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="default: DASAN_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: DASAN_PORT")] = None,
    workers: Annotated[int | None, typer.Option(help="default: DASAN_WORKERS (the cores)")] = None,
    simulation: Annotated[
        bool,
        typer.Option(
            help="also play a live simulated day against it (`dasan simulate --live`), so the "
            "console shows the city move; not with DASAN_PRODUCTION=true"
        ),
    ] = False,
) -> None:
    """Serve the API (OpenAPI at /docs)."""
    import uvicorn

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    if simulation and settings.production:
        raise typer.BadParameter("not with DASAN_PRODUCTION=true", param_hint="--simulation")
    _say(settings, f"Dasan Field API on http://{host}:{port} (docs: /docs), {workers} worker(s)")
    # The workers' metrics go to a folder of their own, read together at /metrics.
    import tempfile

    from dispatch_server.metrics import prepare_processes

    cleanup = prepare_processes(tempfile.mkdtemp(prefix="dasan-metrics-"))
    try:
        with live_simulation(f"http://{host}:{port}", settings) if simulation else nullcontext():
            _serve(uvicorn, host, port, workers, settings)
    finally:
        cleanup()


def _say(settings: Settings, text: str) -> None:
    """A line of `dasan serve`'s own: printed, or a JSON log line with DASAN_LOG_FORMAT=json."""
    if settings.log_format != "json":
        console.print(text)
        return
    import logging
    import sys

    from dispatch_server.observability import JsonFormatter

    record = logging.makeLogRecord({"name": "dispatch_server.serve", "levelname": "INFO",
                                    "levelno": logging.INFO, "msg": text})  # fmt: skip
    sys.stderr.write(JsonFormatter().format(record) + "\n")
    sys.stderr.flush()


@contextmanager
def live_simulation(url: str, settings: Settings) -> Iterator[None]:
    """`dasan simulate --live` against the server being started, in its own process group
    (it waits for the server), until the block ends; its output in .data/simulation/."""
    import os
    import subprocess
    import sys
    import time

    default = PROJECT_ROOT / ".data" / "simulation" / "live.log"
    log_path = Path(os.environ.get("DASAN_LIVE_SIMULATION_LOG", default))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    dasan = str(Path(sys.executable).with_name("dasan"))
    # A day of the city from now (another seed each start); DASAN_LIVE_SIMULATION_ARGS
    # gives other `dasan simulate` options (e.g. "--complaints 600 --district 11110").
    day = os.environ.get("DASAN_LIVE_SIMULATION_ARGS", "--complaints 2200 --hours 24").split()
    command = [
        dasan, "simulate", "--live", "--url", url, "--seed", str(int(time.time())), *day,
    ]  # fmt: skip
    with log_path.open("a") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    _say(settings, f"a live simulated day plays against it (log: {log_path}; "
                   "`make run SIMULATION=0` or no --simulation for none)")  # fmt: skip
    try:
        yield
    finally:
        from dispatch_server.simulation.world import stop_group

        stop_group(process, seconds=10)


def _serve(uvicorn: Any, host: str, port: int, workers: int, settings: Settings) -> None:
    from dispatch_server.observability import log_config

    uvicorn.run(
        "dispatch_server.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # With JSON logs the access lines are the server's own (with the request's id).
        access_log=settings.access_log and settings.log_format != "json",
        log_config=log_config(settings.log_format),
        # Behind a reverse proxy: the client's address and scheme as it reports them.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level="info",
        loop="uvloop",
        http="httptools",
        # Live streams never end by themselves: on shutdown they get this long, then close.
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    app()
