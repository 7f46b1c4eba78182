"""routing rules (district, category) -> team; per-category duplicate radius and window

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROUTING_RULE = """
CREATE TABLE routing_rule (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    district_code varchar(20) NOT NULL
        CONSTRAINT fk_routing_rule_district_code_district REFERENCES district (code),
    -- NULL: the district's fallback, for every category without a rule of its own.
    category_code varchar(50)
        CONSTRAINT fk_routing_rule_category_code_category REFERENCES category (code),
    team_id bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    -- The team must be one of the district's own.
    CONSTRAINT fk_routing_rule_team_district FOREIGN KEY (team_id, district_code)
        REFERENCES team (id, district_code),
    CONSTRAINT uq_routing_rule_district_code_category_code
        UNIQUE NULLS NOT DISTINCT (district_code, category_code)
)
"""

# The case JSON of the live events gains the list's two new fields (team_id, duplicate_of).
COMPLAINT_LIVE = """
CREATE OR REPLACE FUNCTION live_event_of_complaint() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_event (kind, district_code, inspector_id, previous_inspector_id, data)
    SELECT 'complaint', c.district_code, c.assignee_id,
           (NEW.payload ->> 'previous_inspector_id')::bigint,
           jsonb_build_object(
               'event', jsonb_build_object(
                   'id', NEW.id, 'type', NEW.type, 'actor', NEW.actor,
                   'at', api_time(NEW.at), 'payload', NEW.payload),
               'complaint', jsonb_build_object(
                   'id', c.id, 'ticket', c.ticket, 'status', c.status,
                   'category', c.category_code, 'priority', c.priority,
                   'channel', c.channel, 'description', c.description,
                   'address', c.address,
                   'district', jsonb_build_object(
                       'code', d.code, 'name_ko', d.name_ko, 'name_en', d.name_en),
                   'location', jsonb_build_object(
                       'lat', ST_Y(c.location), 'lon', ST_X(c.location)),
                   'team_id', c.team_id,
                   'assignee_id', c.assignee_id, 'result_code', c.result_code,
                   'duplicate_of', (SELECT o.ticket FROM complaint o WHERE o.id = c.duplicate_of),
                   'version', c.version,
                   'created_at', api_time(c.created_at),
                   'updated_at', api_time(c.updated_at)))
    FROM complaint c JOIN district d ON d.code = c.district_code
    WHERE c.id = NEW.complaint_id;
    RETURN NULL;
END
$$
"""


def _live_events_migration():  # type: ignore[no-untyped-def]
    path = Path(__file__).with_name("2026_11_23_0006_live_events.py")
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute(
        "ALTER TABLE team ADD CONSTRAINT uq_team_id_district_code UNIQUE (id, district_code)"
    )
    op.execute(ROUTING_RULE)
    op.execute("CREATE INDEX ix_routing_rule_team ON routing_rule (team_id)")
    # 0 m: the category is never deduplicated (the seed sets each category's figures).
    op.execute(
        "ALTER TABLE category"
        " ADD COLUMN dedup_radius_m real NOT NULL DEFAULT 0"
        " CONSTRAINT ck_category_dedup_radius CHECK (dedup_radius_m BETWEEN 0 AND 1000),"
        " ADD COLUMN dedup_window interval NOT NULL DEFAULT '0'"
        " CONSTRAINT ck_category_dedup_window"
        " CHECK (dedup_window BETWEEN interval '0' AND interval '90 days')"
    )
    # Duplicates are found among the cases still waiting for their visit, by category.
    op.execute(
        "CREATE INDEX ix_complaint_pending_location ON complaint USING gist (location)"
        " WHERE status IN ('received', 'needs_triage', 'assigned', 'accepted', 'en_route',"
        " 'on_site', 'reopened')"
    )
    op.execute("CREATE INDEX ix_complaint_duplicate_of ON complaint (duplicate_of)")
    op.execute(COMPLAINT_LIVE)


def downgrade() -> None:
    op.execute(_live_events_migration().COMPLAINT_LIVE.replace("CREATE ", "CREATE OR REPLACE ", 1))
    op.execute("DROP INDEX ix_complaint_duplicate_of")
    op.execute("DROP INDEX ix_complaint_pending_location")
    op.execute("ALTER TABLE category DROP COLUMN dedup_window, DROP COLUMN dedup_radius_m")
    op.execute("DROP TABLE routing_rule")
    op.execute("ALTER TABLE team DROP CONSTRAINT uq_team_id_district_code")
