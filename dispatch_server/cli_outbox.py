"""`dasan outbox ...` (deliver now, list, re-drive dead letters) and `dasan worker`."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from dispatch_server.clock import SystemClock
from dispatch_server.config import get_settings
from dispatch_server.main import clock_of
from dispatch_server.observability import configure_process_logging

console = Console()
outbox_app = typer.Typer(
    help="The notification outbox: deliver what is due, list messages, re-drive dead letters.",
    no_args_is_help=True,
)


def _run(work):  # type: ignore[no-untyped-def]
    from dispatch_server.cli import _in_transaction

    return _in_transaction(work)


@outbox_app.command("deliver")
def outbox_deliver() -> None:
    """Send every message that is due now, once, through the configured channels."""
    from dispatch_server.db import make_async_engine, transactions
    from notifications.runner import Delivery
    from notifications.templates import load

    settings = get_settings()

    async def run():  # type: ignore[no-untyped-def]
        engine = make_async_engine(settings, pool_size=1)
        delivery = Delivery(
            transactions(engine), clock=SystemClock(), settings=settings,
            templates=load(settings.templates_dir),
        )  # fmt: skip
        try:
            return await delivery.run()
        finally:
            await delivery.aclose()
            await engine.dispose()

    report = asyncio.run(run())
    console.print(
        f"{report.sent} sent, {report.retried} to retry, {report.dead} dead,"
        f" {report.skipped} skipped, {report.deferred} waiting for the end of quiet hours"
    )


@outbox_app.command("list")
def outbox_list(
    status: Annotated[
        str | None, typer.Option(help="pending, sent, delivered, failed, dead, skipped")
    ] = "dead",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List messages (by default the dead letters), oldest first."""
    from notifications import service

    rows = _run(
        lambda c: service.list_messages(
            c, status=status, complaint_id=None, after_id=0, limit=limit
        )
    )
    for r in rows:
        console.print(
            f"{r['id']:>8} {r['status']:<9} {r['channel']:<4} {r['template']:<18}"
            f" {r['recipient'] or '(erased)':<22} attempts {r['attempts']}  {r['last_error'] or ''}"
        )
    if not rows:
        console.print("none")


@outbox_app.command("redrive")
def outbox_redrive(
    ids: Annotated[
        list[int] | None, typer.Argument(help="message ids (none: every dead letter)")
    ] = None,
) -> None:
    """Put dead letters back in the queue, attempts from zero."""
    from notifications import service

    moved = _run(lambda c: service.redrive(c, ids=ids or None, now=SystemClock().now()))
    console.print(f"{len(moved)} dead letters back in the queue")


def worker(
    once: Annotated[
        bool, typer.Option(help="sweep and deliver once until nothing is due, then exit")
    ] = False,
) -> None:
    """Run the background jobs until stopped: the SLA sweep (every DASAN_SLA_SWEEP_SECONDS),
    the outbox delivery (every DASAN_OUTBOX_POLL_SECONDS) and the personal-data retention
    job (daily at DASAN_RETENTION_RUN_AT); with DASAN_WORKER_METRICS_PORT, its metrics."""
    import signal

    from dispatch_server.attachments.storage import DiskStore
    from dispatch_server.cli_sla import _sweep_once
    from dispatch_server.db import make_async_engine, transactions
    from dispatch_server.privacy import retention
    from notifications.runner import Delivery, add_job
    from notifications.templates import load
    from sla.scheduler import make_scheduler
    from sla.scheduler import stop as stop_scheduler

    if once:
        _sweep_once()
        outbox_deliver()
        return
    settings = get_settings()
    configure_process_logging(settings.log_format)
    templates = load(settings.templates_dir)

    async def run() -> None:
        engine = make_async_engine(settings, pool_size=settings.sla_sweep_lanes + 2)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        clock = clock_of(settings)  # the real one, or a simulation's (DASAN_CLOCK_FILE)
        scheduler = make_scheduler(transactions(engine), clock=clock, settings=settings)
        delivery = Delivery(
            transactions(engine), clock=clock, settings=settings, templates=templates
        )
        add_job(scheduler, delivery)
        retention.add_job(
            scheduler, transactions(engine), clock=clock, settings=settings,
            photos=DiskStore(settings.media_dir),
        )  # fmt: skip
        if settings.worker_metrics_port:
            from dispatch_server.metrics import serve_for_worker

            serve_for_worker(settings.worker_metrics_host, settings.worker_metrics_port)
            where = f"{settings.worker_metrics_host}:{settings.worker_metrics_port}"
            console.print(f"worker: metrics on {where}", soft_wrap=True)
        scheduler.start()
        console.print(
            f"worker: SLA sweep every {settings.sla_sweep_seconds:g} s, outbox every"
            f" {settings.outbox_poll_seconds:g} s via {settings.sms_gateway}, retention daily at"
            f" {settings.retention_run_at} (Ctrl-C stops)"
        )
        await stop.wait()
        await stop_scheduler(scheduler)
        await delivery.aclose()
        await engine.dispose()

    asyncio.run(run())
