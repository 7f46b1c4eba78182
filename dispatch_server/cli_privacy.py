"""`dasan privacy ...` and `dasan open311 ...`: personal data, client keys, the queue."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from dispatch_server.clock import SystemClock
from dispatch_server.config import get_settings

console = Console()
privacy_app = typer.Typer(
    help="Personal data: erase what is due (the retention job), read the access log.",
    no_args_is_help=True,
)
open311_app = typer.Typer(help="Open311 GeoReport v2 clients.", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys of Open311 client applications: create, list, revoke.", no_args_is_help=True
)
open311_app.add_typer(keys_app, name="keys")


def _run(work):  # type: ignore[no-untyped-def]
    from dispatch_server.cli import _in_transaction

    return _in_transaction(work)


@privacy_app.command("purge")
def privacy_purge(
    dry_run: Annotated[bool, typer.Option(help="count what is due, change nothing")] = False,
) -> None:
    """Erase contact data (DASAN_CONTACT_RETENTION_DAYS after a case is done) and photos
    (DASAN_PHOTO_RETENTION_DAYS) now; the server and the worker do it daily too."""
    import asyncio

    from dispatch_server.attachments.storage import DiskStore
    from dispatch_server.db import make_async_engine, transactions
    from dispatch_server.privacy import retention

    settings = get_settings()

    async def run() -> retention.Erasure:
        engine = make_async_engine(settings, pool_size=1)
        try:
            return await retention.erase_due(
                transactions(engine), now=SystemClock().now(), settings=settings,
                photos=DiskStore(settings.media_dir), dry_run=dry_run,
            )  # fmt: skip
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    if dry_run:
        console.print(f"due: contact data of {report.cases} cases, {report.photos} photos")
        return
    console.print(
        f"erased: contact data of {report.cases} cases ({report.texts_redacted} texts redacted,"
        f" {report.messages} messages emptied), {report.photos} photos"
        f" ({report.files_deleted} files deleted)"
    )
    for problem in report.file_errors:
        console.print(f"[yellow]not deleted:[/yellow] {problem}")


@privacy_app.command("access-log")
def privacy_access_log(
    ticket: Annotated[str | None, typer.Option(help="one case's reads")] = None,
    user: Annotated[str | None, typer.Option(help="one account's reads")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """Who read which reporter's contact data in full, newest first."""
    from dispatch_server.privacy import service

    page = _run(
        lambda c: service.access_log(
            c, ticket=ticket, username=user, since=None, until=None, before_id=None,
            limit=limit,
        )
    )  # fmt: skip
    for e in page.entries:
        console.print(
            f"{e.at:%Y-%m-%d %H:%M:%S%z}  {e.username:<20} {e.role:<10} {e.ticket:<15}"
            f" {','.join(e.fields):<16} {e.purpose}  {e.client_address or ''}"
        )
    console.print(f"{len(page.entries)} reads")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="the client application's name")],
    requests_per_minute: Annotated[
        int | None, typer.Option(help="its rate limit (default: DASAN_OPEN311_REQUESTS_PER_MINUTE)")
    ] = None,
) -> None:
    """Create a client and print its new key (shown this once; only its hash is kept)."""
    from dispatch_server.open311 import keys

    limit = requests_per_minute or get_settings().open311_requests_per_minute
    made = _run(
        lambda c: keys.create(c, name=name, requests_per_minute=limit, now=SystemClock().now())
    )
    console.print(f"client {made.client.name} (id {made.client.id}), {limit} requests a minute")
    # The key alone on the last line, for scripts: `dasan open311 keys create X | tail -1`.
    print(made.key)


@keys_app.command("list")
def keys_list() -> None:
    """Every client: name, key prefix, rate limit, revoked or not."""
    from dispatch_server.open311 import keys

    clients = _run(keys.listing)
    for k in clients:
        state = f"  revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else ""
        console.print(f"{k.name:<30} {k.key_prefix}…  {k.requests_per_minute:>7}/min{state}")
    console.print(f"{len(clients)} clients")


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="the client application's name")]) -> None:
    """Stop the client's key working at once."""
    from dispatch_server.open311 import keys

    client = _run(lambda c: keys.revoke(c, name=name, now=SystemClock().now()))
    console.print(f"{client.name}: key {client.key_prefix}… revoked")


@open311_app.command("queue")
def open311_queue(
    retry_failed: Annotated[
        bool, typer.Option(help="put the posts refused for good back in the queue")
    ] = False,
) -> None:
    """Posts queued for creation (answered with a token, made cases by the servers): how
    many wait, since when, and the ones the intake refused for good, with the reason."""
    from dispatch_server.open311 import queue

    if retry_failed:
        count = _run(queue.retry_failed)
        console.print(f"{count} failed posts queued again (the servers make them cases)")
    counts = _run(queue.counts)
    oldest = counts.oldest_waiting
    since = f", the oldest received {oldest.isoformat(timespec='seconds')}" if oldest else ""
    console.print(f"waiting: {counts.waiting}{since}")
    console.print(f"failed: {counts.failed}")
    for token, received_at, attempts, error in _run(queue.failed_rows):
        console.print(f"  {token}  {received_at:%Y-%m-%d %H:%M:%S}  {attempts} attempts  {error}")
