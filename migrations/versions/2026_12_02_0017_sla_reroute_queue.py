"""SLA re-routes out of the stepping transaction: a queue of the cases to re-route

A breach whose policy re-routes its case used to re-route it inside the sweep batch's
transaction, one case at a time; a batch with many of them held its transaction open for
as long, and the live streams (which send only what is older than the oldest running write
transaction) stood still meanwhile. The batch now queues the case here, in its own
statement; the sweep then re-routes each queued case in a short transaction of its own.
A crash between the two leaves the case queued for the next sweep.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_reroute",
        sa.Column(
            "complaint_id", sa.BigInteger(), sa.ForeignKey("complaint.id"), primary_key=True
        ),  # fmt: skip
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sla_reroute")
