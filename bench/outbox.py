"""Outbox benchmark: delivered texts per second through a local Kannel.

Builds `<db>_bench` (migrations, Seoul, the demo), writes N pending citizen texts (the
"received" template, Korean, a valid mobile number each), starts Kannel from Debian
(bearerbox, smsbox, the test SMS centre fakesmsc; tests/kannel.py) on loopback ports, and
times the delivery worker as the server runs it (`notifications.worker.deliver`: claims of
DASAN_OUTBOX_BATCH with SKIP LOCKED, DASAN_OUTBOX_CONCURRENCY texts in flight, a transaction
per batch) until fakesmsc has received every text. Kannel asks for every delivery report
(dlr-mask 31); they go to a small HTTP sink in this process, not to a server (the receipt
endpoint's cost is not in the figure). Target (issue 12): at least 500 delivered texts/s.

    .venv/bin/python bench/outbox.py [--messages 5000] [--rounds 3] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from common import bench_url, fresh_database, machine, write_doc
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dispatch_server import database  # noqa: E402
from dispatch_server.config import get_settings  # noqa: E402
from dispatch_server.db import make_async_engine, transactions  # noqa: E402
from notifications.sms import HttpGateway, kannel  # noqa: E402
from notifications.templates import load  # noqa: E402
from notifications.worker import Policy, deliver  # noqa: E402
from tests.kannel import PASSWORD, USERNAME, Kannel  # noqa: E402

TARGET = 500.0


class _Sink(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        return None


def receipt_sink() -> ThreadingHTTPServer:
    ThreadingHTTPServer.request_queue_size = 1024  # Kannel reports in bursts
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def enqueue(url: str, count: int, round_: int) -> list[str]:
    phones = [f"+82105{round_:01d}{i:06d}" for i in range(count)]
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox_message (channel, recipient, template, language, payload,"
                " idempotency_key, urgent, next_attempt_at, created_at)"
                " SELECT 'sms', p, 'received', 'ko',"
                " jsonb_build_object('ticket', '261125-' || lpad(n::text, 6, '0'),"
                "                    'category_name', '불법 주정차'),"
                " 'bench:' || :round || ':' || n, true, now(), now()"
                " FROM unnest(CAST(:phones AS text[])) WITH ORDINALITY AS u(p, n)"
            ),
            {"phones": phones, "round": round_},
        )
    engine.dispose()
    return phones


async def timed_delivery(url: str, gateway: Kannel, sink: str, phones: set[str]) -> float:
    settings = get_settings().model_copy(update={"database_url": url})
    engine = make_async_engine(settings, pool_size=2)
    sms = HttpGateway(
        kannel(
            sendsms_url=gateway.sendsms_url, username=USERNAME, password=PASSWORD,
            sender="120", receipt_base=sink,
        ),
        pool_size=settings.outbox_concurrency,
    )  # fmt: skip
    policy = Policy(concurrency=settings.outbox_concurrency, quiet=None)
    try:
        started = time.perf_counter()
        report = await deliver(
            transactions(engine), now=lambda: datetime.now(UTC), templates=load(),
            sms=sms, push=None, policy=policy, batch=settings.outbox_batch,
        )  # fmt: skip
        assert report.sent == len(phones), f"sent {report.sent} of {len(phones)}"
        handed = time.perf_counter() - started
        deadline = time.monotonic() + 120
        while len({r.to for r in gateway.received()} & phones) < len(phones):
            if time.monotonic() > deadline:
                raise AssertionError("not every text reached the operator")
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        print(f"  handed to Kannel in {handed:.2f} s, at the operator after {elapsed:.2f} s")
    finally:
        await sms.aclose()
        await engine.dispose()
    counts: dict[str, int] = {}
    for r in gateway.received():
        if r.to in phones:
            counts[r.to] = counts.get(r.to, 0) + 1
    assert set(counts.values()) == {1}, "a text reached the operator twice"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()
    settings = get_settings()
    url = bench_url()
    print("building the benchmark database ...", flush=True)
    fresh_database(url)
    sink = receipt_sink()
    gateway = Kannel(Path(tempfile.mkdtemp(prefix="dasan-bench-kannel-"))).start()
    rates = []
    try:
        for round_ in range(1, args.rounds + 1):
            phones = enqueue(url, args.messages, round_)
            elapsed = asyncio.run(
                timed_delivery(
                    url, gateway, f"http://127.0.0.1:{sink.server_address[1]}", set(phones)
                )
            )
            rates.append(args.messages / elapsed)
            print(
                f"round {round_}: {args.messages:,} texts delivered in {elapsed:.2f} s:"
                f" {rates[-1]:,.0f}/s",
                flush=True,
            )
    finally:
        gateway.stop()
        sink.shutdown()
        database.drop_database(url)
    median = statistics.median(rates)
    verdict = "met" if min(rates) >= TARGET else "NOT met"
    print(
        f"median {median:,.0f} texts/s (range {min(rates):,.0f}-{max(rates):,.0f}):"
        f" {median / TARGET:.2f}x the 500/s target ({verdict} in every round)"
    )
    if not args.no_write:
        write_doc(
            "\n".join(
                [
                    f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}: {args.messages:,}"
                    f" Korean texts (LMS: the link makes them longer than 90 bytes) per round,"
                    f" batches of {settings.outbox_batch}, {settings.outbox_concurrency} in"
                    f" flight, Kannel 1.4.5 with dlr-mask 31, {args.rounds} rounds.",
                    "",
                    "| figure | result | target |",
                    "|---|---|---|",
                    f"| delivered texts/s (outbox to fakesmsc) | median {median:,.0f} (range"
                    f" {min(rates):,.0f}-{max(rates):,.0f}), {median / TARGET:.2f}x the target"
                    f" | >= 500/s: {verdict} |",
                ]
            ),
            marker="outbox",
        )


if __name__ == "__main__":
    main()
