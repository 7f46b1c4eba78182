"""Open311 posts queued for creation: deferred creation, answered with a token

A checked POST requests may be stored here (committed before it is answered) and made a
case a moment later by the queue's drain in every server process
(dispatch_server/open311/queue.py). A row is claimed with a lease, so a crashed process's
rows are taken again once their lease ends; it is deleted once its case exists. A row the
intake refuses for good stays, with `failed_at` and the reason, for GET tokens/{token}.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "open311_queue",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("token", sa.String(24), nullable=False, unique=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.BigInteger(), sa.ForeignKey("api_client.id"), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("request", postgresql.JSONB(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("leased_until", sa.DateTime(timezone=True)),
        sa.Column("failed_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text()),
    )
    op.create_index(
        "ix_open311_queue_waiting", "open311_queue", ["id"],
        postgresql_where=sa.text("failed_at IS NULL"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("open311_queue")
