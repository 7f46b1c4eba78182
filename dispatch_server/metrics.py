"""Prometheus metrics at `GET /metrics` (text exposition format).

- `dasan_http_request_duration_seconds{method,route,status}`: a histogram per route
  template (`/api/v1/complaints/{ticket}`, never the ticket itself), `unmatched` for paths
  no route takes.
- `dasan_sla_sweep_duration_seconds`: a histogram of the sweeps this server ran. `dasan
  worker` serves it too, alone, at `DASAN_WORKER_METRICS_HOST:DASAN_WORKER_METRICS_PORT`.
- Read from the database at each scrape (the same for every process): the outbox's pending
  messages and the age of the oldest, its dead letters, SLA clocks running past their due
  time, the breaches so far, and the Open311 posts queued for creation (how many, the age
  of the oldest, the ones refused for good).

`dasan serve` runs several worker processes: it points `PROMETHEUS_MULTIPROC_DIR` at a
fresh folder before any of them starts, each writes its figures there, and a scrape of any
one of them adds up all. prometheus_client is imported only once that is set (it decides
how to keep values when it is first imported), so this module imports it lazily.

Only the addresses in `DASAN_METRICS_ALLOW_IPS` (loopback by default) may scrape; to
anyone else /metrics does not exist (404).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import text
from starlette.types import Scope

ENV = "PROMETHEUS_MULTIPROC_DIR"
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SWEEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_FROM_DATABASE = text(
    "SELECT"
    " (SELECT count(*) FROM outbox_message WHERE status = 'pending') AS pending,"
    " (SELECT min(created_at) FROM outbox_message WHERE status = 'pending') AS oldest,"
    " (SELECT count(*) FROM outbox_message WHERE status = 'dead') AS dead,"
    " (SELECT count(*) FROM sla_timer WHERE state = 'running' AND due_at <= :now) AS overdue,"
    " (SELECT count(*) FROM sla_timer WHERE breached_at IS NOT NULL) AS breaches,"
    " (SELECT count(*) FROM open311_queue WHERE failed_at IS NULL) AS queued,"
    " (SELECT min(received_at) FROM open311_queue WHERE failed_at IS NULL) AS oldest_queued,"
    " (SELECT count(*) FROM open311_queue WHERE failed_at IS NOT NULL) AS queue_failed"
)


@cache
def _metrics() -> dict[str, Any]:
    """The process's metrics (made once, after PROMETHEUS_MULTIPROC_DIR is known)."""
    from prometheus_client import CollectorRegistry, Histogram

    registry = CollectorRegistry(auto_describe=True)
    return {
        "registry": registry,
        "requests": Histogram(
            "dasan_http_request_duration_seconds", "Time to answer an HTTP request.",
            ["method", "route", "status"], buckets=REQUEST_BUCKETS, registry=registry,
        ),
        "sweeps": Histogram(
            "dasan_sla_sweep_duration_seconds", "Time an SLA sweep took.",
            buckets=SWEEP_BUCKETS, registry=registry,
        ),
    }  # fmt: skip


def observe_sweep(seconds: float) -> None:
    _metrics()["sweeps"].observe(seconds)


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    """A request's time, by method, route template (once routed) and status."""
    template = getattr(scope.get("route"), "path", None) or "unmatched"
    _metrics()["requests"].labels(scope["method"], template, str(status)).observe(seconds)


async def exposition(connection: Any, now: datetime) -> tuple[bytes, str]:
    """The scrape: this process's (or every worker's) metrics and the database's figures."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.multiprocess import MultiProcessCollector

    if os.environ.get(ENV):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)
    else:
        processes = _metrics()["registry"]
    row = (await connection.execute(_FROM_DATABASE, {"now": now})).one()
    age = (now - row.oldest).total_seconds() if row.oldest is not None else 0.0
    queued_age = (now - row.oldest_queued).total_seconds() if row.oldest_queued else 0.0
    families = [
        GaugeMetricFamily("dasan_outbox_pending_messages", "Messages waiting to be sent.",
                          value=row.pending),
        GaugeMetricFamily("dasan_outbox_oldest_pending_age_seconds",
                          "Age of the oldest message waiting (0: none).", value=max(age, 0.0)),
        GaugeMetricFamily("dasan_outbox_dead_messages", "Messages given up on (dead letters).",
                          value=row.dead),
        GaugeMetricFamily("dasan_sla_overdue_clocks", "SLA clocks running past their due time.",
                          value=row.overdue),
        CounterMetricFamily("dasan_sla_breaches", "SLA clocks that have breached, ever.",
                            value=row.breaches),
        GaugeMetricFamily("dasan_open311_queued_posts",
                          "Open311 posts queued, not yet made cases.", value=row.queued),
        GaugeMetricFamily("dasan_open311_oldest_queued_age_seconds",
                          "Age of the oldest queued Open311 post (0: none).",
                          value=max(queued_age, 0.0)),
        GaugeMetricFamily("dasan_open311_failed_posts",
                          "Queued Open311 posts the intake refused for good.",
                          value=row.queue_failed),
    ]  # fmt: skip

    class FromDatabase:
        def collect(self) -> list[Any]:
            return families

    database = CollectorRegistry(auto_describe=False)
    database.register(FromDatabase())  # type: ignore[arg-type]
    return generate_latest(processes) + generate_latest(database), CONTENT_TYPE_LATEST


def serve_for_worker(host: str, port: int) -> None:
    """`dasan worker`'s metrics (its sweeps' times) at http://host:port/metrics, served by
    prometheus_client in a thread of its own. The database's figures are the API's to
    give."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=_metrics()["registry"])


def prepare_processes(folder: str) -> Callable[[], None]:
    """Before `dasan serve` starts its workers: their shared folder (emptied); returns
    what removes it afterwards."""
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)
    os.environ[ENV] = folder
    return lambda: shutil.rmtree(folder, ignore_errors=True)
