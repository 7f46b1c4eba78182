"""The delivery worker on a timer: an APScheduler job in `dasan serve` and `dasan worker`."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from dispatch_server.clock import Clock
from dispatch_server.config import Settings
from dispatch_server.db import AsyncConnectable
from notifications import service
from notifications.templates import Templates
from notifications.worker import DeliveryReport, deliver

logger = logging.getLogger(__name__)

JOB_ID = "outbox-delivery"


class Delivery:
    """The channels the settings name, opened once, and one delivery run at a time."""

    def __init__(
        self,
        transaction: Callable[[], AsyncConnectable],
        *,
        clock: Clock,
        settings: Settings,
        templates: Templates,
    ) -> None:
        self.transaction = transaction
        self.clock = clock
        self.settings = settings
        self.templates = templates
        self.sms = service.sms_gateway(settings)
        self.push = service.push_sender(settings)
        self.policy = service.policy(settings)
        self.rng = random.Random()

    async def run(self) -> DeliveryReport:
        """Deliver until nothing is due; errors propagate."""
        return await deliver(
            self.transaction, now=self.clock.now, templates=self.templates, sms=self.sms,
            push=self.push, policy=self.policy, batch=self.settings.outbox_batch, rng=self.rng,
        )  # fmt: skip

    async def run_logged(self) -> DeliveryReport | None:
        """One run for the scheduler: a failure is logged and the next run retries."""
        try:
            report = await self.run()
        except Exception:
            logger.exception("outbox delivery failed; the next run retries")
            return None
        if report.claimed:
            logger.info(
                "outbox: %d sent, %d retried, %d dead, %d skipped, %d waiting (quiet hours)",
                report.sent, report.retried, report.dead, report.skipped, report.deferred,
            )  # fmt: skip
        return report

    async def aclose(self) -> None:
        await self.sms.aclose()
        if self.push is not None:
            await self.push.aclose()


def add_job(scheduler: AsyncIOScheduler, delivery: Delivery) -> None:
    """Every `outbox_poll_seconds`, starting now; never two runs of one process at once."""
    scheduler.add_job(
        delivery.run_logged,
        "interval",
        seconds=delivery.settings.outbox_poll_seconds,
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=delivery.clock.now(),
    )
