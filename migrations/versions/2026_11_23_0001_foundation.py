"""foundation: districts, categories, complaints and their timeline

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = (
    "'accepted', 'assigned', 'cancelled', 'closed', 'duplicate', 'en_route', 'needs_triage', "
    "'on_site', 'received', 'referred', 'reopened', 'resolved', 'unresolved'"
)
CHANNELS = "'app', 'chat', 'open311', 'phone', 'sms', 'walk_in', 'web'"
PRIORITIES = "'high', 'low', 'normal', 'urgent'"
LANGUAGES = "'en', 'ja', 'ko', 'mn', 'vi', 'zh'"
# Statuses in which a case needs nothing more (complaints/constants.py FINAL_STATUSES).
FINAL_STATUSES = "'cancelled', 'closed', 'duplicate'"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    op.create_table(
        "district",
        sa.Column("code", sa.String(20), primary_key=True),
        sa.Column("name_ko", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100)),
        sa.Column(
            "geom",
            Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("code", name="pk_district"),
    )
    op.create_index("ix_district_geom", "district", ["geom"], postgresql_using="gist")

    op.create_table(
        "category",
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("name_ko", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
        sa.Column(
            "names", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("default_priority", sa.String(10), server_default="normal", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_category"),
        sa.CheckConstraint(f"default_priority IN ({PRIORITIES})", name="ck_category_priority"),
    )

    op.create_table(
        "complaint",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("ticket", sa.String(20), nullable=False),
        sa.Column("category_code", sa.String(50), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("reporter_phone", sa.String(20)),
        sa.Column("reporter_language", sa.String(5), server_default="ko", nullable=False),
        sa.Column("location", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("address", sa.Text()),
        sa.Column("district_code", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_complaint"),
        sa.UniqueConstraint("ticket", name="uq_complaint_ticket"),
        sa.ForeignKeyConstraint(
            ["category_code"], ["category.code"], name="fk_complaint_category_code_category"
        ),
        sa.ForeignKeyConstraint(
            ["district_code"], ["district.code"], name="fk_complaint_district_code_district"
        ),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_complaint_status"),
        sa.CheckConstraint(f"channel IN ({CHANNELS})", name="ck_complaint_channel"),
        sa.CheckConstraint(f"priority IN ({PRIORITIES})", name="ck_complaint_priority"),
        sa.CheckConstraint(f"reporter_language IN ({LANGUAGES})", name="ck_complaint_language"),
        sa.CheckConstraint(
            "char_length(description) BETWEEN 1 AND 4000", name="ck_complaint_description_length"
        ),
    )
    op.create_index("ix_complaint_location", "complaint", ["location"], postgresql_using="gist")
    op.create_index("ix_complaint_created", "complaint", ["created_at", "id"])
    op.create_index(
        "ix_complaint_district_created", "complaint", ["district_code", "created_at", "id"]
    )
    # The dispatchers' board: a district's open cases, newest first.
    op.create_index(
        "ix_complaint_open_district_created",
        "complaint",
        ["district_code", "created_at", "id"],
        postgresql_where=sa.text(f"status NOT IN ({FINAL_STATUSES})"),
    )

    op.create_table(
        "complaint_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("complaint_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "payload", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_complaint_event"),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaint.id"], name="fk_complaint_event_complaint_id_complaint"
        ),
    )
    op.create_index("ix_complaint_event_complaint", "complaint_event", ["complaint_id", "at", "id"])
    # The timeline is append-only: the database itself refuses to rewrite history.
    op.execute(
        """
        CREATE FUNCTION complaint_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'complaint_event is append-only (% refused)', TG_OP
                USING ERRCODE = 'restrict_violation';
        END $$;
        CREATE TRIGGER complaint_event_append_only
            BEFORE UPDATE OR DELETE ON complaint_event
            FOR EACH ROW EXECUTE FUNCTION complaint_event_append_only();
        """
    )


def downgrade() -> None:
    op.drop_table("complaint_event")
    op.execute("DROP FUNCTION complaint_event_append_only()")
    op.drop_table("complaint")
    op.drop_table("category")
    op.drop_table("district")
