"""outbox trigger: leave at once when no timeline entry of the statement causes a message

0011's trigger joined every entry of a statement to its case, category and duplicates
before looking at the entry's type. A batch of the SLA sweep (5,000 `sla_*` entries, none
of which causes a message here) then paid for hash joins over the whole case table: the
sweep benchmark went from about 2 s to 4-7.5 s. The function now returns when no entry
has a type it acts on, and its joins start from those entries only.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TYPES = "('received', 'duplicate', 'assigned', 'en_route', 'resolved', 'unresolved', 'referred')"


def _function_0011() -> str:
    path = Path(__file__).with_name("2026_11_25_0011_notifications.py")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sql: str = module.OUTBOX_OF_EVENTS
    return sql[: sql.index("CREATE TRIGGER")]


def _with_early_exit(function: str) -> str:
    rewrites = [
        ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        (
            "BEGIN\n    INSERT INTO outbox_message",
            "BEGIN\n"
            f"    IF NOT EXISTS (SELECT FROM new_events WHERE type IN {TYPES}) THEN\n"
            "        RETURN NULL;\n"
            "    END IF;\n"
            "    INSERT INTO outbox_message",
        ),
    ]
    for old, new in rewrites:
        assert function.count(old) == 1, f"0011's function changed: {old!r}"
        function = function.replace(old, new)
    # Every branch reads only the entries that can cause a message.
    relevant = f"(SELECT * FROM new_events WHERE type IN {TYPES})"
    assert function.count("FROM new_events n\n") == 3
    return function.replace("FROM new_events n\n", f"FROM {relevant} n\n")


def upgrade() -> None:
    op.execute(_with_early_exit(_function_0011()))


def downgrade() -> None:
    op.execute(_function_0011().replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
