"""SLA steps reach the live streams as one `sla` event per district and inspector

Each SLA step (sla_warning, sla_breached, sla_escalated) had a live event of its own,
carrying the whole case, although a step changes nothing of the case. A sweep after an
outage writes thousands of steps in one statement: that was the largest single cost of a
sweep (a live row with four index entries per step, 250-450 ms of a 5,000-step batch) and
would have sent a console thousands of frames at once. The steps of one statement now
become one live event per (district, assigned inspector), kind `sla`:
`{"steps": [{"event_id", "type", "at", "kind", "level", "complaint_id", "ticket"}, ...]}` in
timeline order (the whole entry is on the case's timeline). Every other entry keeps its own
`complaint` event.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLA_STEPS = "('sla_warning', 'sla_breached', 'sla_escalated')"

# 0010's function, as it was: one `complaint` event per entry, with the case after it.
PER_ENTRY = """
    INSERT INTO live_event (kind, district_code, inspector_id, previous_inspector_id, data)
    SELECT 'complaint', c.district_code, c.assignee_id,
           (n.payload ->> 'previous_inspector_id')::bigint,
           jsonb_build_object(
               'event', jsonb_build_object(
                   'id', n.id, 'type', n.type, 'actor', n.actor,
                   'at', api_time(n.at), 'payload', n.payload),
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
    FROM new_events n
    JOIN complaint c ON c.id = n.complaint_id
    JOIN district d ON d.code = c.district_code{where}
    ORDER BY n.id;"""

GROUPED_SLA_STEPS = f"""
    INSERT INTO live_event (kind, district_code, inspector_id, data)
    SELECT 'sla', c.district_code, c.assignee_id,
           jsonb_build_object('steps', jsonb_agg(
               jsonb_build_object(
                   'event_id', n.id, 'type', n.type, 'at', api_time(n.at),
                   'kind', n.payload -> 'kind', 'level', n.payload -> 'level',
                   'complaint_id', c.id, 'ticket', c.ticket)
               ORDER BY n.id))
    FROM new_events n
    JOIN complaint c ON c.id = n.complaint_id
    WHERE n.type IN {SLA_STEPS}
    GROUP BY c.district_code, c.assignee_id
    ORDER BY min(n.id);"""


def _function(body: str) -> str:
    return (
        "CREATE OR REPLACE FUNCTION live_events_of_complaint_events() RETURNS trigger\n"
        f"LANGUAGE plpgsql AS $$\nBEGIN{body}\n    RETURN NULL;\nEND\n$$"
    )


def upgrade() -> None:
    op.execute("ALTER TABLE live_event DROP CONSTRAINT ck_live_event_kind")
    op.execute(
        "ALTER TABLE live_event ADD CONSTRAINT ck_live_event_kind"
        " CHECK (kind IN ('complaint', 'inspector', 'sla'))"
    )
    per_entry = PER_ENTRY.replace("{where}", f"\n    WHERE n.type NOT IN {SLA_STEPS}")
    op.execute(_function(per_entry + GROUPED_SLA_STEPS))


def downgrade() -> None:
    op.execute(_function(PER_ENTRY.replace("{where}", "")))
    op.execute("DELETE FROM live_event WHERE kind = 'sla'")
    op.execute("ALTER TABLE live_event DROP CONSTRAINT ck_live_event_kind")
    op.execute(
        "ALTER TABLE live_event ADD CONSTRAINT ck_live_event_kind"
        " CHECK (kind IN ('complaint', 'inspector'))"
    )
