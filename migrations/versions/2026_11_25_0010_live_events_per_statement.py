"""live events per statement: one set-based insert for all of a statement's timeline entries

The live event of each timeline entry was written by a row-level trigger: one plpgsql call,
one case lookup and one insert per entry, 113 us each, which made 10,000 SLA steps cost
1.1 s in triggers alone. A statement-level trigger over the transition table writes the
same rows (same JSON, same order: by event id) in one INSERT ... SELECT. Row-level AFTER
triggers fire at the end of the statement too, so what the rows show of the case is as before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _migration(filename: str):  # type: ignore[no-untyped-def]
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _per_statement(row_function: str) -> str:
    """0008's row-level function rewritten over the transition table `new_events`."""
    rewrites = [
        (
            "CREATE OR REPLACE FUNCTION live_event_of_complaint()",
            "CREATE FUNCTION live_events_of_complaint_events()",
        ),
        (
            "    FROM complaint c JOIN district d ON d.code = c.district_code\n"
            "    WHERE c.id = NEW.complaint_id;",
            "    FROM new_events n\n"
            "    JOIN complaint c ON c.id = n.complaint_id\n"
            "    JOIN district d ON d.code = c.district_code\n"
            "    ORDER BY n.id;",
        ),
    ]
    function = row_function
    for old, new in rewrites:
        assert function.count(old) == 1, f"0008's function changed: {old!r}"
        function = function.replace(old, new)
    assert "NEW." in function
    return function.replace("NEW.", "n.")


def upgrade() -> None:
    op.execute(
        _per_statement(_migration("2026_11_23_0008_routing_and_duplicates.py").COMPLAINT_LIVE)
    )
    op.execute("DROP TRIGGER complaint_event_live ON complaint_event")
    op.execute(
        "CREATE TRIGGER complaint_event_live AFTER INSERT ON complaint_event"
        " REFERENCING NEW TABLE AS new_events"
        " FOR EACH STATEMENT EXECUTE FUNCTION live_events_of_complaint_events()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER complaint_event_live ON complaint_event")
    op.execute(
        "CREATE TRIGGER complaint_event_live AFTER INSERT ON complaint_event"
        " FOR EACH ROW EXECUTE FUNCTION live_event_of_complaint()"
    )
    op.execute("DROP FUNCTION live_events_of_complaint_events()")
