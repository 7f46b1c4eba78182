"""accounts: users with roles and districts, hashed bearer tokens, sign-in throttling

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = "'admin', 'agent', 'dispatcher', 'inspector', 'supervisor'"


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        # Dispatchers and supervisors: the districts they see (at least one).
        sa.Column(
            "districts",
            postgresql.ARRAY(sa.String(20)),
            nullable=False,
            server_default=sa.text("'{}'"),
        ),
        # Inspectors: the field inspector this account signs in as.
        sa.Column("inspector_id", sa.BigInteger(), sa.ForeignKey("inspector.id")),
        # argon2id, in the PHC string format (parameters and salt included).
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"role IN ({ROLES})", name="ck_user_account_role"),
        sa.CheckConstraint(
            "(role = 'inspector') = (inspector_id IS NOT NULL)", name="ck_user_account_inspector"
        ),
        sa.CheckConstraint(
            "(role IN ('dispatcher', 'supervisor')) = (cardinality(districts) > 0)",
            name="ck_user_account_districts",
        ),
    )
    op.execute("CREATE UNIQUE INDEX uq_user_account_username ON user_account (lower(username))")
    op.create_index("uq_user_account_inspector", "user_account", ["inspector_id"], unique=True)
    op.create_table(
        "auth_token",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), sa.ForeignKey("user_account.id"), nullable=False),
        # The sign-in both tokens come from: signing out or a refresh token used twice
        # revokes the whole of it.
        sa.Column("session_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        # sha256 of the token: a stolen copy of this table signs nobody in.
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("kind IN ('access', 'refresh')", name="ck_auth_token_kind"),
    )
    op.create_index("ix_auth_token_user", "auth_token", ["user_id"])
    op.create_index("ix_auth_token_session", "auth_token", ["session_id"])
    op.create_index("ix_auth_token_expires", "auth_token", ["expires_at"])
    op.create_table(
        "signin_throttle",
        # `account:<lower username>` or `address:<client address>`.
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("signin_throttle")
    op.drop_table("auth_token")
    op.drop_table("user_account")
