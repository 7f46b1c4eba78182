"""dispatch: teams, inspectors, result codes; complaint team and assignee

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("district_code", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        # The categories the team works; NULL: all of them.
        sa.Column("categories", postgresql.ARRAY(sa.String(50))),
        sa.PrimaryKeyConstraint("id", name="pk_team"),
        sa.ForeignKeyConstraint(
            ["district_code"], ["district.code"], name="fk_team_district_code_district"
        ),
        sa.UniqueConstraint("district_code", "name", name="uq_team_district_code_name"),
    )
    op.create_table(
        "inspector",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("team_id", sa.BigInteger(), nullable=False),
        sa.Column("on_duty", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        # Shift hours in the city's zone (informative; duty is what the inspector says).
        sa.Column("shift_start", sa.Time()),
        sa.Column("shift_end", sa.Time()),
        sa.Column("position", Geometry("POINT", srid=4326, spatial_index=False)),
        sa.Column("position_at", sa.DateTime(timezone=True)),
        sa.Column("position_accuracy_m", sa.Float()),
        sa.PrimaryKeyConstraint("id", name="pk_inspector"),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name="fk_inspector_team_id_team"),
        sa.CheckConstraint(
            "position_accuracy_m IS NULL OR position_accuracy_m >= 0", name="ck_inspector_accuracy"
        ),
    )
    # KNN (`<->`) over the on-duty inspectors' last positions.
    op.create_index(
        "ix_inspector_position_on_duty",
        "inspector",
        ["position"],
        postgresql_using="gist",
        postgresql_where=sa.text("on_duty"),
    )
    op.create_index("ix_inspector_team", "inspector", ["team_id"])
    op.create_table(
        "result_code",
        sa.Column("code", sa.String(50), nullable=False),
        # NULL: offered for every category.
        sa.Column("category_code", sa.String(50)),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("name_ko", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_result_code"),
        sa.ForeignKeyConstraint(
            ["category_code"], ["category.code"], name="fk_result_code_category_code_category"
        ),
        sa.CheckConstraint(
            "outcome IN ('resolved', 'unresolved', 'referred')", name="ck_result_code_outcome"
        ),
    )
    op.add_column("complaint", sa.Column("team_id", sa.BigInteger()))
    op.add_column("complaint", sa.Column("assignee_id", sa.BigInteger()))
    op.add_column("complaint", sa.Column("result_code", sa.String(50)))
    op.add_column("complaint", sa.Column("duplicate_of", sa.BigInteger()))
    op.create_foreign_key(
        "fk_complaint_duplicate_of_complaint", "complaint", "complaint", ["duplicate_of"], ["id"]
    )
    op.create_foreign_key("fk_complaint_team_id_team", "complaint", "team", ["team_id"], ["id"])
    op.create_foreign_key(
        "fk_complaint_assignee_id_inspector", "complaint", "inspector", ["assignee_id"], ["id"]
    )
    op.create_foreign_key(
        "fk_complaint_result_code_result_code",
        "complaint",
        "result_code",
        ["result_code"],
        ["code"],
    )
    # An inspector's open cases (their queue, and the load in the candidate ranking).
    op.create_index(
        "ix_complaint_open_assignee",
        "complaint",
        ["assignee_id"],
        postgresql_where=sa.text("status NOT IN ('cancelled', 'closed', 'duplicate')"),
    )


def downgrade() -> None:
    op.drop_index("ix_complaint_open_assignee", table_name="complaint")
    op.drop_constraint("fk_complaint_result_code_result_code", "complaint", type_="foreignkey")
    op.drop_constraint("fk_complaint_assignee_id_inspector", "complaint", type_="foreignkey")
    op.drop_constraint("fk_complaint_team_id_team", "complaint", type_="foreignkey")
    op.drop_constraint("fk_complaint_duplicate_of_complaint", "complaint", type_="foreignkey")
    op.drop_column("complaint", "duplicate_of")
    op.drop_column("complaint", "result_code")
    op.drop_column("complaint", "assignee_id")
    op.drop_column("complaint", "team_id")
    op.drop_table("result_code")
    op.drop_table("inspector")
    op.drop_table("team")
