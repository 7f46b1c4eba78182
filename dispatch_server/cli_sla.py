"""`dasan sla ...`: policies, calendars, holidays, a sweep now."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dispatch_server.clock import SystemClock
from dispatch_server.config import get_settings

console = Console()
sla_app = typer.Typer(
    help="SLA policies (per category, priority and stage), business calendars and holidays.",
    no_args_is_help=True,
)
KINDS = ("assign", "arrive", "resolve")


def _run(work):  # type: ignore[no-untyped-def]
    from dispatch_server.cli import _in_transaction

    return _in_transaction(work)


@sla_app.command("policies")
def sla_policies(
    category: Annotated[str | None, typer.Option(help="one category's code")] = None,
) -> None:
    """List the policies."""
    from sla import policies

    found = _run(lambda c: policies.list_policies(c, category=category))
    for p in found:
        extra = "  re-route on breach" if p.reroute_on_breach else ""
        console.print(
            f"{p.category:<20} {p.priority or '*':<7} {p.kind:<8} {p.target_minutes:>8g} min"
            f"  {p.calendar:<8} warn at {p.warn_share:.0%}, supervisor +"
            f"{p.supervisor_after_minutes:g} min{extra}"
        )
    console.print(f"{len(found)} policies")


@sla_app.command("set")
def sla_set(
    category: Annotated[str, typer.Argument(help="category code")],
    kind: Annotated[str, typer.Argument(help="assign, arrive or resolve")],
    minutes: Annotated[float, typer.Option(help="target, in working minutes of the calendar")],
    calendar: Annotated[str, typer.Option(help="calendar code (see `dasan sla calendars`)")],
    priority: Annotated[str | None, typer.Option(help="only for this priority")] = None,
    warn_share: Annotated[float, typer.Option(help="warn when this share has passed")] = 0.75,
    supervisor_after: Annotated[
        float, typer.Option(help="working minutes after the breach before the supervisor")
    ] = 60,
    reroute: Annotated[bool, typer.Option(help="re-route the case at the breach")] = False,
) -> None:
    """Set a stage's target for a category (new clocks use it)."""
    from pydantic import ValidationError

    from dispatch_server.complaints.constants import Priority
    from sla import policies
    from sla.schemas import Kind, PolicySet

    if kind not in KINDS:
        raise typer.BadParameter(f"kind must be one of {', '.join(KINDS)}")
    try:
        spec = PolicySet(
            target_minutes=minutes, calendar=calendar, warn_share=warn_share,
            supervisor_after_minutes=supervisor_after, reroute_on_breach=reroute,
        )  # fmt: skip
        level = Priority(priority) if priority else None
    except (ValidationError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    stored = _run(
        lambda c: policies.set_policy(
            c, category=category, priority=level, kind=Kind(kind), policy=spec,
            now=SystemClock().now(),
        )
    )  # fmt: skip
    console.print(
        f"{stored.category} {stored.priority or '*'} {stored.kind}: {stored.target_minutes:g}"
        f" min in {stored.calendar}"
    )


@sla_app.command("unset")
def sla_unset(
    category: Annotated[str, typer.Argument(help="category code")],
    kind: Annotated[str, typer.Argument(help="assign, arrive or resolve")],
    priority: Annotated[str | None, typer.Option(help="the policy of this priority")] = None,
) -> None:
    """Remove a policy."""
    from dispatch_server.complaints.constants import Priority
    from sla import policies
    from sla.schemas import Kind

    if kind not in KINDS:
        raise typer.BadParameter(f"kind must be one of {', '.join(KINDS)}")
    level = Priority(priority) if priority else None
    _run(lambda c: policies.remove_policy(c, category=category, priority=level, kind=Kind(kind)))
    console.print(f"{category} {priority or '*'} {kind}: policy removed")


@sla_app.command("calendars")
def sla_calendars() -> None:
    """List the business calendars."""
    from sla import policies

    for cal in _run(lambda c: policies.list_calendars(c)):
        if cal.always_open:
            hours = "around the clock"
        else:
            hours = ", ".join(f"{w.isodow}:{w.opens:%H:%M}-{w.closes:%H:%M}" for w in cal.hours)
        console.print(
            f"{cal.code:<10} {cal.timezone:<12} {hours}; {cal.holidays} holidays  ({cal.name})"
        )


@sla_app.command("holidays")
def sla_holidays(
    calendar: Annotated[str, typer.Option(help="calendar code")] = "office",
    country: Annotated[
        str | None, typer.Option(help="load this country's public holidays (e.g. KR)")
    ] = None,
    years: Annotated[
        str | None, typer.Option(help="with --country: years, e.g. 2026,2027 (default: this)")
    ] = None,
    file: Annotated[
        Path | None, typer.Option(help="or a CSV file of date,name lines", exists=True)
    ] = None,
) -> None:
    """Load holidays into a calendar (from a country's data or a file), or list them."""
    from sla import policies

    if country and file:
        raise typer.BadParameter("give --country or --file, not both")
    if country:
        try:
            wanted = [int(y) for y in years.split(",")] if years else [date.today().year]
        except ValueError as exc:
            raise typer.BadParameter(f"years must be numbers: {years!r}") from exc
        found = policies.country_holidays(country, wanted)
    elif file:
        from dispatch_server.errors import DomainError

        try:
            found = policies.file_holidays(file)
        except DomainError as exc:
            raise typer.BadParameter(exc.message) from exc
    else:
        for holiday in _run(lambda c: policies.list_holidays(c, code=calendar)):
            console.print(f"{holiday.day}  {holiday.name}")
        return
    count = _run(lambda c: policies.add_holidays(c, code=calendar, holidays=found))
    console.print(f"{count} holidays loaded into {calendar}")


@sla_app.command("sweep")
def sla_sweep() -> None:
    """Take every escalation step that is due now, once (the server and workers do it too)."""
    _sweep_once()


def _sweep_once() -> None:
    import asyncio

    from dispatch_server.db import make_async_engine, transactions
    from sla.sweep import sweep

    async def run():  # type: ignore[no-untyped-def]
        settings = get_settings()
        engine = make_async_engine(settings, pool_size=settings.sla_sweep_lanes)
        try:
            return await sweep(
                transactions(engine),
                now=SystemClock().now(),
                batch=settings.sla_sweep_batch,
                lanes=settings.sla_sweep_lanes,
            )
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    console.print(
        f"{report.steps} steps on {report.claimed} clocks, {report.messages} messages,"
        f" {len(report.rerouted)} cases re-routed"
    )
