"""privacy and client access: reporter name and e-mail, the personal-data access log, contact
erasure, photo erasure, Open311 API keys, shared rate-limit windows, console sessions

- complaint.reporter_name / reporter_email: contact data beside the phone (Open311 sends
  them); complaint.contact_erased_at: when the retention job erased the three.
- personal_data_access: one row per read of a reporter's contact data in full (who, when,
  which case, which fields, from where), written in the read's own transaction.
- attachment.erased_at: the photo's files were deleted by the retention job (the row stays
  for the statistics).
- outbox_message.recipient becomes nullable: an erased case's texts keep their history but
  no longer the number (their idempotency key, which named it, is rewritten too).
- api_client: Open311 client applications, each with a key (only its sha256 kept), a rate
  limit and a revocation time.
- rate_limit_window: request counts per key and fixed window, shared by every server
  process. UNLOGGED: a crash of the database may reset the counts, which only forgives.
- auth_token: kind 'session' (the consoles' cookie) with the sha256 of its CSRF token.
- complaint_event stays append-only, with one exception: the retention job, in a transaction
  that says so (SET LOCAL dasan.erasing_personal_data = 'on'), may rewrite an entry's
  payload (to blank contact data in its notes), and nothing else of it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Statuses after which a case is done for its reporter (its result is known, or it was
# cancelled or merged): contact data is erased a set time after the last of its moves.
KIND_CHECK = "ck_auth_token_ck_auth_token_kind"
APPEND_ONLY = """
CREATE OR REPLACE FUNCTION complaint_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND current_setting('dasan.erasing_personal_data', true) = 'on'
       AND (NEW.id, NEW.complaint_id, NEW.type, NEW.actor, NEW.at)
           IS NOT DISTINCT FROM (OLD.id, OLD.complaint_id, OLD.type, OLD.actor, OLD.at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'complaint_event is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
"""
# 0001's function, as it was.
STRICTLY_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION complaint_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'complaint_event is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
"""
DONE = "'resolved', 'unresolved', 'referred', 'closed', 'cancelled', 'duplicate'"


def upgrade() -> None:
    op.add_column("complaint", sa.Column("reporter_name", sa.String(100)))
    op.add_column("complaint", sa.Column("reporter_email", sa.String(254)))
    op.add_column("complaint", sa.Column("contact_erased_at", sa.DateTime(timezone=True)))
    # What the retention job looks for: done cases whose contact data is still there.
    op.create_index(
        "ix_complaint_contact_retention",
        "complaint",
        ["updated_at"],
        postgresql_where=sa.text(f"contact_erased_at IS NULL AND status IN ({DONE})"),
    )
    op.create_table(
        "personal_data_access",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.BigInteger(), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("complaint_id", sa.BigInteger(), sa.ForeignKey("complaint.id"), nullable=False),
        sa.Column("fields", postgresql.ARRAY(sa.String(20)), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("client_address", sa.String(64)),
    )
    op.create_index("ix_personal_data_access_complaint", "personal_data_access",
                    ["complaint_id", "at"])  # fmt: skip
    op.create_index("ix_personal_data_access_user", "personal_data_access", ["user_id", "at"])
    op.create_index("ix_personal_data_access_at", "personal_data_access", ["at"])
    op.add_column("attachment", sa.Column("erased_at", sa.DateTime(timezone=True)))
    op.alter_column("outbox_message", "recipient", nullable=True)
    op.create_table(
        "api_client",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        # The key's first characters, shown in listings so an operator can tell keys apart.
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("requests_per_minute", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("requests_per_minute BETWEEN 1 AND 1000000", name="rate"),
    )
    op.execute("CREATE UNIQUE INDEX uq_api_client_name ON api_client (lower(name))")
    op.execute(
        """
        CREATE UNLOGGED TABLE rate_limit_window (
            key varchar(200) NOT NULL,
            window_start timestamptz NOT NULL,
            hits integer NOT NULL,
            PRIMARY KEY (key, window_start)
        )
        """
    )
    # (0014's constraint got its name twice over from the naming convention.)
    op.execute(
        f"ALTER TABLE auth_token DROP CONSTRAINT {KIND_CHECK},"
        f" ADD CONSTRAINT {KIND_CHECK} CHECK (kind IN ('access', 'refresh', 'session'))"
    )
    op.add_column("auth_token", sa.Column("csrf_hash", sa.LargeBinary(32)))
    op.create_check_constraint("csrf", "auth_token", "(kind = 'session') = (csrf_hash IS NOT NULL)")
    op.execute(APPEND_ONLY)


def downgrade() -> None:
    op.execute(STRICTLY_APPEND_ONLY)
    op.execute("DELETE FROM auth_token WHERE kind = 'session'")
    op.drop_constraint("ck_auth_token_csrf", "auth_token")
    op.drop_column("auth_token", "csrf_hash")
    op.execute(
        f"ALTER TABLE auth_token DROP CONSTRAINT {KIND_CHECK},"
        f" ADD CONSTRAINT {KIND_CHECK} CHECK (kind IN ('access', 'refresh'))"
    )
    op.drop_table("rate_limit_window")
    op.drop_table("api_client")
    # Erased recipients cannot come back; their rows keep a marker instead of the number.
    op.execute("UPDATE outbox_message SET recipient = 'erased' WHERE recipient IS NULL")
    op.alter_column("outbox_message", "recipient", nullable=False)
    op.drop_column("attachment", "erased_at")
    op.drop_table("personal_data_access")
    op.drop_index("ix_complaint_contact_retention", "complaint")
    op.drop_column("complaint", "contact_erased_at")
    op.drop_column("complaint", "reporter_email")
    op.drop_column("complaint", "reporter_name")
