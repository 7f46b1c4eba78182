"""Open311 GeoReport v2: what a category says about itself, its questions, request tokens

- category.descriptions / group_names: texts by language ({"ko": ..., "en": ...}) for the
  service list; category.keywords: search words for client apps (any language).
- service_attribute: a category's questions (GeoReport v2 "attributes"): a code, a datatype
  (string, number, datetime, text, singlevaluelist, multivaluelist), required or not,
  whether the client asks it at all (`variable`; false: a notice shown to the citizen),
  its order, its texts by language and, for lists, its values (key and names).
- An index on the token an Open311 request got when it was made (kept in its "received"
  event, written by the intake statement itself), for GET tokens/{token}.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
EMPTY_OBJECT = sa.text("'{}'::jsonb")


def upgrade() -> None:
    op.add_column(
        "category",
        sa.Column("descriptions", postgresql.JSONB(), server_default=EMPTY_OBJECT, nullable=False),
    )
    op.add_column(
        "category",
        sa.Column("group_names", postgresql.JSONB(), server_default=EMPTY_OBJECT, nullable=False),
    )
    op.add_column(
        "category",
        sa.Column(
            "keywords",
            postgresql.ARRAY(sa.String(50)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.create_table(
        "service_attribute",
        sa.Column("category_code", sa.String(50), sa.ForeignKey("category.code"), nullable=False),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("datatype", sa.String(20), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("variable", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("descriptions", postgresql.JSONB(), server_default=EMPTY_OBJECT, nullable=False),
        sa.Column(
            "datatype_descriptions",
            postgresql.JSONB(),
            server_default=EMPTY_OBJECT,
            nullable=False,
        ),
        # [{"key": "car", "names": {"ko": "승용차", "en": "Car"}}, ...]: lists only.
        sa.Column(
            "values", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.PrimaryKeyConstraint("category_code", "code"),
        sa.CheckConstraint(
            "datatype IN (" + ", ".join(f"'{d}'" for d in DATATYPES) + ")", name="datatype"
        ),
        sa.CheckConstraint("code ~ '^[A-Za-z0-9_]+$'", name="code"),
        sa.CheckConstraint("position >= 1", name="position"),
        sa.CheckConstraint(
            "(datatype IN ('singlevaluelist', 'multivaluelist'))"
            " = (jsonb_array_length(values) > 0)",
            name="values",
        ),
        sa.CheckConstraint("variable OR NOT required", name="required_variable"),
    )
    op.execute(
        "CREATE UNIQUE INDEX ix_complaint_event_open311_token ON complaint_event "
        "((payload #>> '{open311,token}')) "
        "WHERE type = 'received' AND payload ? 'open311'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_complaint_event_open311_token")
    op.drop_table("service_attribute")
    op.drop_column("category", "keywords")
    op.drop_column("category", "group_names")
    op.drop_column("category", "descriptions")
