"""photos: attachments of a case, described by their content

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachment",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("complaint_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(20), server_default="photo", nullable=False),
        sa.Column("content_type", sa.String(50), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        # sha256 of the bytes as uploaded (evidence); the stored keys of the three files.
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("original_key", sa.String(100), nullable=False),
        sa.Column("served_key", sa.String(100), nullable=False),
        sa.Column("thumbnail_key", sa.String(100), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True)),
        sa.Column("taken_lat", sa.Float()),
        sa.Column("taken_lon", sa.Float()),
        sa.Column("uploaded_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attachment"),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaint.id"], name="fk_attachment_complaint_id_complaint"
        ),
        # The same photo sent twice to a case is one attachment.
        sa.UniqueConstraint("complaint_id", "sha256", name="uq_attachment_complaint_id_sha256"),
        sa.CheckConstraint("kind IN ('photo')", name="ck_attachment_kind"),
    )


def downgrade() -> None:
    op.drop_table("attachment")
