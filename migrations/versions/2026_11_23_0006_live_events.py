"""live events: what the consoles' and the app's streams carry, in commit order

Every timeline entry of a case and every duty or position change of an inspector adds a
row to `live_event`, written by a trigger in the same transaction (so no writer, present or
future, can forget it). Each row carries the transaction id that wrote it: streams read in
(tx_id, id) order and only below the oldest transaction still running, so a row that
commits late is never skipped by a reader that has already moved past its id.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_EVENT = """
CREATE TABLE live_event (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction: streams read in (tx_id, id) order.
    tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    kind varchar(20) NOT NULL CONSTRAINT ck_live_event_kind
        CHECK (kind IN ('complaint', 'inspector')),
    district_code varchar(20) NOT NULL,
    -- Whom it concerns: the case's inspector after the event and the one it left; for an
    -- inspector's own event, that inspector.
    inspector_id bigint,
    previous_inspector_id bigint,
    data jsonb NOT NULL,
    -- For the purge only (database time): events are kept a day or so.
    recorded_at timestamptz NOT NULL DEFAULT now()
)
"""
# The newest position purged so far: a reader resuming before it may have missed events.
LIVE_EVENT_PURGE = """
CREATE TABLE live_event_purge (
    singleton boolean PRIMARY KEY DEFAULT true CONSTRAINT ck_live_event_purge_singleton
        CHECK (singleton),
    tx_id xid8 NOT NULL,
    id bigint NOT NULL
)
"""

# Times as the API writes them: UTC, "Z", microseconds only when not zero.
API_TIME = """
CREATE FUNCTION api_time(moment timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN extract(microseconds FROM moment)::integer % 1000000 <> 0
                THEN to_char(moment AT TIME ZONE 'UTC', '.US') ELSE '' END
        || 'Z'
$$
"""

# A case's timeline entry, with the case as it stands after it (the list's fields: no
# reporter data). The previous inspector is told too: the case left their queue.
COMPLAINT_LIVE = """
CREATE FUNCTION live_event_of_complaint() RETURNS trigger
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
                   'assignee_id', c.assignee_id, 'result_code', c.result_code,
                   'version', c.version,
                   'created_at', api_time(c.created_at),
                   'updated_at', api_time(c.updated_at)))
    FROM complaint c JOIN district d ON d.code = c.district_code
    WHERE c.id = NEW.complaint_id;
    RETURN NULL;
END
$$
"""

INSPECTOR_LIVE = """
CREATE FUNCTION live_event_of_inspector() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_event (kind, district_code, inspector_id, data)
    SELECT 'inspector', t.district_code, NEW.id,
           jsonb_build_object('inspector', jsonb_build_object(
               'id', NEW.id, 'name', NEW.name, 'team_id', NEW.team_id,
               'on_duty', NEW.on_duty,
               'location', CASE WHEN NEW.position IS NULL THEN NULL ELSE
                   jsonb_build_object('lat', ST_Y(NEW.position), 'lon', ST_X(NEW.position))
                   END,
               'accuracy_m', NEW.position_accuracy_m,
               'position_at', api_time(NEW.position_at)))
    FROM team t
    WHERE t.id = NEW.team_id;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.execute(LIVE_EVENT)
    op.create_index("ix_live_event_position", "live_event", ["tx_id", "id"])
    op.create_index("ix_live_event_district", "live_event", ["district_code", "tx_id", "id"])
    op.create_index("ix_live_event_recorded", "live_event", ["recorded_at"])
    op.execute(LIVE_EVENT_PURGE)
    op.execute(API_TIME)
    op.execute(COMPLAINT_LIVE)
    op.execute(INSPECTOR_LIVE)
    op.execute(
        "CREATE TRIGGER complaint_event_live AFTER INSERT ON complaint_event"
        " FOR EACH ROW EXECUTE FUNCTION live_event_of_complaint()"
    )
    op.execute(
        "CREATE TRIGGER inspector_live AFTER UPDATE ON inspector FOR EACH ROW WHEN ("
        " OLD.on_duty IS DISTINCT FROM NEW.on_duty"
        " OR OLD.position_at IS DISTINCT FROM NEW.position_at"
        " OR OLD.team_id IS DISTINCT FROM NEW.team_id)"
        " EXECUTE FUNCTION live_event_of_inspector()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER inspector_live ON inspector")
    op.execute("DROP TRIGGER complaint_event_live ON complaint_event")
    op.execute("DROP FUNCTION live_event_of_inspector()")
    op.execute("DROP FUNCTION live_event_of_complaint()")
    op.drop_table("live_event_purge")
    op.drop_table("live_event")
    op.execute("DROP FUNCTION api_time(timestamptz)")
