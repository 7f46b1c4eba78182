"""iso_local(moment, zone): a timestamptz as ISO 8601 in a zone, with its offset

Open311 pages have PostgreSQL write their times (three a request, a hundred requests a
page); the expression spelled out in every statement made them too long for the driver's
statement cache. The function is what `dispatch_server.open311.formats.iso_time` writes
(tests/test_open311.py holds the two together); PostgreSQL inlines it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ISO_LOCAL = """
CREATE FUNCTION iso_local(moment timestamptz, zone text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN to_char(moment AT TIME ZONE zone, 'YYYY-MM-DD"T"HH24:MI:SS')
    || CASE WHEN (moment AT TIME ZONE zone) < (moment AT TIME ZONE 'UTC')
            THEN '-' || to_char((moment AT TIME ZONE 'UTC') - (moment AT TIME ZONE zone), 'HH24:MI')
            ELSE '+' || to_char((moment AT TIME ZONE zone) - (moment AT TIME ZONE 'UTC'), 'HH24:MI')
       END
"""


def upgrade() -> None:
    op.execute(ISO_LOCAL)


def downgrade() -> None:
    op.execute("DROP FUNCTION iso_local(timestamptz, text)")
