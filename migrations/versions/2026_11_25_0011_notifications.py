"""notifications: the messages a case's timeline causes, devices, opt-outs, receipts

Messages are written by a statement-level trigger on `complaint_event`, like the live
events (0010): every writer of a timeline entry (intake, moves, merges, the field app)
writes its citizen texts and staff pushes in its own transaction, and none can forget one.
What each entry causes:

- citizen SMS, to the case's reporter: `received` (not when the same statement made it a
  duplicate: then `duplicate` alone), `duplicate`, `assigned` (a first assignment) and
  `en_route` when the category asks for them (`category.citizen_updates`), `resolved`,
  `unresolved`, `referred`; a result also goes to the reporter of every duplicate linked
  to the case (with the duplicate's own ticket);
- inspector push: `assigned_to_you` (new), `reassigned_to_you` (the case came from a
  colleague), `taken_from_you` (to the inspector it left).

The SLA sweep writes its escalation pushes itself (0009). A message's idempotency key is
(case, event, recipient, channel): a timeline entry never causes the same message twice.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEVICE = """
CREATE TABLE device (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inspector_id bigint NOT NULL
        CONSTRAINT fk_device_inspector_id_inspector REFERENCES inspector (id),
    -- The FCM registration token (a phone reinstalling the app gets a new one).
    token varchar(4096) NOT NULL CONSTRAINT uq_device_token UNIQUE,
    platform varchar(10) NOT NULL CONSTRAINT ck_device_platform
        CHECK (platform IN ('android', 'ios', 'web')),
    registered_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
CREATE INDEX ix_device_inspector ON device (inspector_id);
"""

SMS_OPT_OUT = """
CREATE TABLE sms_opt_out (
    phone varchar(20) PRIMARY KEY,
    -- 'sms' (the citizen texted STOP), 'agent' or 'admin'.
    source varchar(10) NOT NULL CONSTRAINT ck_sms_opt_out_source
        CHECK (source IN ('admin', 'agent', 'sms')),
    opted_out_at timestamptz NOT NULL
);
"""

OUTBOX = """
ALTER TABLE outbox_message
    -- Sent at once even in quiet hours (a receipt the caller waits for, staff pushes).
    ADD COLUMN urgent boolean NOT NULL DEFAULT false,
    -- sms or lms, chosen by the length rule at delivery.
    ADD COLUMN kind varchar(5),
    ADD COLUMN delivered_at timestamptz,
    DROP CONSTRAINT ck_outbox_message_status,
    -- skipped: nothing to send to (opted out, no registered device); never retried.
    ADD CONSTRAINT ck_outbox_message_status
        CHECK (status IN ('dead', 'delivered', 'failed', 'pending', 'sent', 'skipped'));
CREATE INDEX ix_outbox_message_dead ON outbox_message (created_at, id) WHERE status = 'dead';
"""

CATEGORY = """
ALTER TABLE category
    ADD COLUMN citizen_updates varchar(20)[] NOT NULL DEFAULT '{}'
        CONSTRAINT ck_category_citizen_updates
        CHECK (citizen_updates <@ ARRAY['assigned', 'en_route']::varchar(20)[]);
"""

OUTBOX_OF_EVENTS = """
CREATE FUNCTION outbox_of_complaint_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_message (complaint_id, event_id, channel, recipient, template, language,
                                payload, idempotency_key, urgent, next_attempt_at, created_at)
    SELECT m.complaint_id, m.event_id, m.channel, m.recipient, m.template, m.language,
           m.payload,
           format('%s:%s:%s:%s', m.complaint_id, m.event_id, m.recipient, m.channel),
           m.urgent, m.at, m.at
    FROM (
        -- The case's own reporter.
        SELECT c.id AS complaint_id, n.id AS event_id, 'sms' AS channel,
               c.reporter_phone AS recipient, t.template, c.reporter_language AS language,
               t.template IN ('received', 'duplicate') AS urgent, n.at,
               jsonb_build_object(
                   'ticket', c.ticket, 'category', c.category_code,
                   'category_name', coalesce(cat.names ->> c.reporter_language,
                       CASE c.reporter_language WHEN 'ko' THEN cat.name_ko
                                                 ELSE cat.name_en END),
                   'original_ticket', n.payload ->> 'original_ticket',
                   'result_code', n.payload ->> 'result_code',
                   'result_name', CASE c.reporter_language WHEN 'ko' THEN r.name_ko
                                                            ELSE r.name_en END,
                   'reason', n.payload ->> 'reason',
                   'referred_to', n.payload ->> 'referred_to') AS payload
        FROM new_events n
        JOIN complaint c ON c.id = n.complaint_id
        JOIN category cat ON cat.code = c.category_code
        LEFT JOIN result_code r ON r.code = n.payload ->> 'result_code'
        CROSS JOIN LATERAL (
            SELECT CASE
                WHEN n.type = 'received' AND NOT EXISTS (
                    SELECT FROM new_events d
                    WHERE d.complaint_id = n.complaint_id AND d.type = 'duplicate')
                    THEN 'received'
                WHEN n.type = 'duplicate' THEN 'duplicate'
                WHEN n.type = 'assigned' AND n.payload ->> 'previous_inspector_id' IS NULL
                     AND 'assigned' = ANY (cat.citizen_updates) THEN 'assigned'
                WHEN n.type = 'en_route' AND 'en_route' = ANY (cat.citizen_updates)
                    THEN 'en_route'
                WHEN n.type IN ('resolved', 'unresolved', 'referred') THEN n.type
            END AS template
        ) t
        WHERE c.reporter_phone IS NOT NULL AND t.template IS NOT NULL
        UNION ALL
        -- The reporters of its duplicates hear its result, with their own ticket.
        SELECT d.id, n.id, 'sms', d.reporter_phone, n.type, d.reporter_language, false, n.at,
               jsonb_build_object(
                   'ticket', d.ticket, 'category', c.category_code,
                   'category_name', coalesce(cat.names ->> d.reporter_language,
                       CASE d.reporter_language WHEN 'ko' THEN cat.name_ko
                                                 ELSE cat.name_en END),
                   'original_ticket', c.ticket,
                   'result_code', n.payload ->> 'result_code',
                   'result_name', CASE d.reporter_language WHEN 'ko' THEN r.name_ko
                                                            ELSE r.name_en END,
                   'reason', n.payload ->> 'reason',
                   'referred_to', n.payload ->> 'referred_to')
        FROM new_events n
        JOIN complaint c ON c.id = n.complaint_id
        JOIN category cat ON cat.code = c.category_code
        JOIN complaint d ON d.duplicate_of = c.id AND d.status = 'duplicate'
        LEFT JOIN result_code r ON r.code = n.payload ->> 'result_code'
        WHERE n.type IN ('resolved', 'unresolved', 'referred') AND d.reporter_phone IS NOT NULL
        UNION ALL
        -- The inspector who gets the case, and the one it left.
        SELECT c.id, n.id, 'push', 'inspector:' || p.inspector_id, p.template, 'ko', true, n.at,
               jsonb_build_object(
                   'ticket', c.ticket, 'complaint_id', c.id, 'category', c.category_code,
                   'category_name', cat.name_ko, 'priority', c.priority,
                   'address', c.address)
        FROM new_events n
        JOIN complaint c ON c.id = n.complaint_id
        JOIN category cat ON cat.code = c.category_code
        CROSS JOIN LATERAL (
            VALUES ((n.payload ->> 'inspector_id')::bigint,
                    CASE WHEN n.payload ->> 'previous_inspector_id' IS NULL
                         THEN 'assigned_to_you' ELSE 'reassigned_to_you' END),
                   ((n.payload ->> 'previous_inspector_id')::bigint, 'taken_from_you')
        ) AS p(inspector_id, template)
        WHERE n.type = 'assigned' AND p.inspector_id IS NOT NULL
          AND NOT (p.template = 'taken_from_you'
                   AND p.inspector_id = (n.payload ->> 'inspector_id')::bigint)
    ) m
    ORDER BY m.event_id, m.channel, m.recipient
    ON CONFLICT (idempotency_key) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER complaint_event_outbox AFTER INSERT ON complaint_event
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_of_complaint_events();
"""


def upgrade() -> None:
    op.execute(DEVICE)
    op.execute(SMS_OPT_OUT)
    op.execute(OUTBOX)
    op.execute(CATEGORY)
    op.execute(OUTBOX_OF_EVENTS)


def downgrade() -> None:
    op.execute("DROP TRIGGER complaint_event_outbox ON complaint_event")
    op.execute("DROP FUNCTION outbox_of_complaint_events()")
    op.execute("ALTER TABLE category DROP COLUMN citizen_updates")
    op.execute("DROP INDEX ix_outbox_message_dead")
    op.execute("UPDATE outbox_message SET status = 'dead' WHERE status = 'skipped'")
    op.execute(
        "ALTER TABLE outbox_message DROP CONSTRAINT ck_outbox_message_status,"
        " DROP COLUMN delivered_at, DROP COLUMN kind, DROP COLUMN urgent,"
        " ADD CONSTRAINT ck_outbox_message_status"
        " CHECK (status IN ('dead', 'delivered', 'failed', 'pending', 'sent'))"
    )
    op.execute("DROP TABLE sms_opt_out")
    op.execute("DROP TABLE device")
