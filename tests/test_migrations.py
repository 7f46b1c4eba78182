"""Every migration applies and reverses cleanly."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from dispatch_server import database

TABLES = {
    "district", "category", "complaint", "complaint_event", "team", "inspector", "result_code",
    "idempotency_key", "attachment", "live_event", "live_event_purge", "sla_calendar",
    "sla_calendar_hours", "sla_holiday", "sla_policy", "sla_timer", "outbox_message", "device",
    "sms_opt_out", "user_account", "auth_token", "signin_throttle",
}  # fmt: skip


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names()) & TABLES
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(make_database: Callable[[str], str]) -> None:
    url = make_database("migrations")
    assert _tables(url) == TABLES
    database.downgrade(url, "base")
    assert _tables(url) == set()
    assert database.current_revision(url) is None
    database.upgrade(url, "0001")
    assert _tables(url) == {"district", "category", "complaint", "complaint_event"}
    database.upgrade(url)
    assert _tables(url) == TABLES
    assert database.current_revision(url) == database.head_revision()
