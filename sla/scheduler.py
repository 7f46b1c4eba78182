"""The sweep on a timer: an APScheduler (3.x) job, in `dasan serve` and in `dasan worker`.

Every process may run it: the sweep's claim (`FOR UPDATE SKIP LOCKED`) shares the due
clocks out, so a step is taken once however many processes sweep. The job starts at once
(catching up whatever fell due while nothing ran), then every `sla_sweep_seconds`; a
sweep still running when the next is due is not started twice (max_instances=1), and runs
missed while the process was busy collapse into one (coalesce).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from dispatch_server.clock import Clock
from dispatch_server.config import Settings
from dispatch_server.db import AsyncConnectable
from sla.sweep import SweepReport, sweep

logger = logging.getLogger(__name__)

JOB_ID = "sla-sweep"


async def sweep_now(
    transaction: Callable[[], AsyncConnectable], *, clock: Clock, settings: Settings
) -> SweepReport | None:
    """One sweep at the clock's time; a failure is logged and retried by the next run."""
    from dispatch_server.metrics import observe_sweep

    began = time.perf_counter()
    try:
        report = await sweep(
            transaction,
            now=clock.now(),
            batch=settings.sla_sweep_batch,
            lanes=settings.sla_sweep_lanes,
        )
    except Exception:
        logger.exception("SLA sweep failed; the next run retries")
        return None
    finally:
        observe_sweep(time.perf_counter() - began)
    if report.steps:
        logger.info(
            "SLA sweep: %d steps on %d clocks, %d messages, %d re-routed",
            report.steps, report.claimed, report.messages, len(report.rerouted),
        )  # fmt: skip
    return report


def make_scheduler(
    transaction: Callable[[], AsyncConnectable],
    *,
    clock: Clock,
    settings: Settings,
    sweep: bool = True,
) -> AsyncIOScheduler:
    """A scheduler (not yet started), with the sweep job unless `sweep` is false; start it
    inside a running loop."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    if not sweep:
        return scheduler
    scheduler.add_job(
        sweep_now,
        "interval",
        seconds=settings.sla_sweep_seconds,
        kwargs={"transaction": transaction, "clock": clock, "settings": settings},
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=clock.now(),
    )
    return scheduler


async def stop(scheduler: AsyncIOScheduler, *, seconds: float = 10.0) -> None:
    """Stop the jobs as an operator's SIGTERM asks: none starts any more, those running
    (a sweep, a delivery, each in its transaction) finish within `seconds`, then the
    scheduler shuts down. Cut short, a job's transaction is rolled back and done again by
    the next run; a stop need not cost that, nor a traceback in the log."""
    scheduler.pause()
    # APScheduler 3 gives no public handle on the jobs running in its asyncio executor.
    running = [
        future
        for executor in scheduler._executors.values()
        for future in getattr(executor, "_pending_futures", ())
        if not future.done()
    ]
    if running:
        await asyncio.wait(running, timeout=seconds)
    scheduler.shutdown(wait=False)
