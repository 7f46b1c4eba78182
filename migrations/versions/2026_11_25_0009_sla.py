"""SLA engine: business calendars, policies, timers kept by the timeline, the outbox

Timers are rows, started, stopped, paused and resumed by a trigger on `complaint_event`
in the transaction that writes the event: intake (one statement), dispatcher and inspector
moves, merges, and the SLA's own pause/resume events. As with the live events, no writer
can forget a clock. The calendar arithmetic the trigger needs is two SQL functions that
take every time as an argument (`sla_add`, `sla_between`); none reads `now()`.

`outbox_message` is the contract between the writers of messages (the SLA sweep now, the
notifications later) and their delivery: a row per message, written in the same transaction
as its cause.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = """
CREATE TABLE sla_calendar (
    code varchar(30) PRIMARY KEY
        CONSTRAINT ck_sla_calendar_code CHECK (code ~ '^[a-z0-9][a-z0-9_-]*$'),
    name varchar(100) NOT NULL,
    -- An IANA zone: the hours and the holidays are local times and dates in it.
    timezone varchar(60) NOT NULL,
    -- Open around the clock (hours and holidays are ignored).
    always_open boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL
);
CREATE TABLE sla_calendar_hours (
    calendar_code varchar(30) NOT NULL
        CONSTRAINT fk_sla_calendar_hours_calendar_code_sla_calendar
        REFERENCES sla_calendar (code) ON DELETE CASCADE,
    -- ISO day of the week: 1 Monday ... 7 Sunday.
    isodow smallint NOT NULL CONSTRAINT ck_sla_calendar_hours_isodow CHECK (isodow BETWEEN 1 AND 7),
    opens time NOT NULL,
    closes time NOT NULL,
    CONSTRAINT ck_sla_calendar_hours_window CHECK (closes > opens),
    CONSTRAINT pk_sla_calendar_hours PRIMARY KEY (calendar_code, isodow, opens)
);
CREATE TABLE sla_holiday (
    calendar_code varchar(30) NOT NULL
        CONSTRAINT fk_sla_holiday_calendar_code_sla_calendar
        REFERENCES sla_calendar (code) ON DELETE CASCADE,
    day date NOT NULL,
    name varchar(100) NOT NULL,
    CONSTRAINT pk_sla_holiday PRIMARY KEY (calendar_code, day)
);
CREATE TABLE sla_policy (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    category_code varchar(50) NOT NULL
        CONSTRAINT fk_sla_policy_category_code_category REFERENCES category (code),
    -- NULL: every priority without a policy of its own.
    priority varchar(10)
        CONSTRAINT ck_sla_policy_priority CHECK (priority IN ('high', 'low', 'normal', 'urgent')),
    kind varchar(10) NOT NULL
        CONSTRAINT ck_sla_policy_kind CHECK (kind IN ('arrive', 'assign', 'resolve')),
    -- Working time in the calendar (an office day of 09:00-18:00 is 9 hours).
    target interval NOT NULL
        CONSTRAINT ck_sla_policy_target
        CHECK (target > interval '0' AND target <= interval '90 days'),
    calendar_code varchar(30) NOT NULL
        CONSTRAINT fk_sla_policy_calendar_code_sla_calendar REFERENCES sla_calendar (code),
    -- The assignee is warned when this share of the target has passed.
    warn_share real NOT NULL DEFAULT 0.75
        CONSTRAINT ck_sla_policy_warn_share CHECK (warn_share > 0 AND warn_share < 1),
    -- After the breach, this much more working time before the supervisor is told.
    supervisor_after interval NOT NULL DEFAULT interval '1 hour'
        CONSTRAINT ck_sla_policy_supervisor_after
        CHECK (supervisor_after >= interval '0' AND supervisor_after <= interval '30 days'),
    -- At the breach, give the case to the next candidate inspector (assign and arrive only).
    reroute_on_breach boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL,
    CONSTRAINT ck_sla_policy_reroute CHECK (NOT reroute_on_breach OR kind <> 'resolve'),
    CONSTRAINT uq_sla_policy_category_code_priority_kind
        UNIQUE NULLS NOT DISTINCT (category_code, priority, kind)
);
CREATE TABLE sla_timer (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    complaint_id bigint NOT NULL
        CONSTRAINT fk_sla_timer_complaint_id_complaint REFERENCES complaint (id),
    kind varchar(10) NOT NULL
        CONSTRAINT ck_sla_timer_kind CHECK (kind IN ('arrive', 'assign', 'resolve')),
    -- The policy as it was when the clock started: editing a policy changes new clocks only.
    calendar_code varchar(30) NOT NULL
        CONSTRAINT fk_sla_timer_calendar_code_sla_calendar REFERENCES sla_calendar (code),
    target interval NOT NULL,
    warn_share real NOT NULL,
    supervisor_after interval NOT NULL,
    reroute_on_breach boolean NOT NULL,
    -- running: counting; paused: waiting for the citizen or another agency; stopped: the
    -- stage is done; cancelled: the case no longer needs it (cancelled, a duplicate).
    state varchar(10) NOT NULL
        CONSTRAINT ck_sla_timer_state
        CHECK (state IN ('cancelled', 'paused', 'running', 'stopped')),
    -- Escalation steps fired: 0 none, 1 warned, 2 breached, 3 supervisor told.
    level smallint NOT NULL DEFAULT 0 CONSTRAINT ck_sla_timer_level CHECK (level BETWEEN 0 AND 3),
    -- Restarts (a reopened case) count up: each cycle's steps are distinct messages.
    cycle integer NOT NULL DEFAULT 1,
    started_at timestamptz NOT NULL,
    warn_at timestamptz NOT NULL,
    due_at timestamptz NOT NULL,
    escalate_at timestamptz NOT NULL,
    -- While paused: since when, and the working time that was left to the warning and the
    -- due time (NULL: already passed, it stays where it was).
    paused_at timestamptz,
    warn_left interval,
    due_left interval,
    pauses tstzmultirange NOT NULL DEFAULT '{}',
    stopped_at timestamptz,
    warned_at timestamptz,
    breached_at timestamptz,
    escalated_at timestamptz,
    -- When the sweep must take the next step: the one column its index needs.
    next_step_at timestamptz GENERATED ALWAYS AS (
        CASE WHEN state = 'running' THEN
            CASE level WHEN 0 THEN warn_at WHEN 1 THEN due_at WHEN 2 THEN escalate_at END
        END) STORED,
    CONSTRAINT uq_sla_timer_complaint_id_kind UNIQUE (complaint_id, kind),
    CONSTRAINT ck_sla_timer_paused CHECK ((state = 'paused') = (paused_at IS NOT NULL))
);
CREATE INDEX ix_sla_timer_next_step ON sla_timer (next_step_at) WHERE next_step_at IS NOT NULL;
CREATE TABLE outbox_message (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    complaint_id bigint
        CONSTRAINT fk_outbox_message_complaint_id_complaint REFERENCES complaint (id),
    -- The timeline entry that caused it.
    event_id bigint,
    channel varchar(10) NOT NULL
        CONSTRAINT ck_outbox_message_channel CHECK (channel IN ('push', 'sms')),
    -- A phone (E.164) for SMS; for push `inspector:<id>`, `dispatchers:<district>` or
    -- `supervisors:<district>`.
    recipient varchar(100) NOT NULL,
    template varchar(50) NOT NULL,
    language varchar(5) NOT NULL,
    -- The template's values; the text is rendered at delivery.
    payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    body text,
    idempotency_key varchar(200) NOT NULL,
    status varchar(15) NOT NULL DEFAULT 'pending' CONSTRAINT ck_outbox_message_status
        CHECK (status IN ('dead', 'delivered', 'failed', 'pending', 'sent')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    sent_at timestamptz,
    provider_id varchar(200),
    last_error text,
    CONSTRAINT uq_outbox_message_idempotency_key UNIQUE (idempotency_key)
);
CREATE INDEX ix_outbox_message_pending ON outbox_message (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX ix_outbox_message_complaint ON outbox_message (complaint_id);
"""

# `amount` of working time after `start`, in the calendar. Intervals are taken as their
# seconds (a "day" is 24 hours, never a calendar day that DST could stretch); windows are
# converted to absolute times in the calendar's zone, so a DST change inside a window counts
# its real length.
SLA_ADD = """
CREATE FUNCTION sla_add(calendar varchar, start timestamptz, amount interval)
RETURNS timestamptz LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    cal sla_calendar%ROWTYPE;
    left_ interval := make_interval(secs => greatest(extract(epoch FROM amount), 0));
    local_start timestamp;
    today date;
    w record;
    w_start timestamptz;
    w_end timestamptz;
BEGIN
    SELECT * INTO cal FROM sla_calendar WHERE code = calendar;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown SLA calendar %', calendar;
    END IF;
    IF cal.always_open OR left_ = interval '0' THEN
        RETURN start + left_;
    END IF;
    local_start := start AT TIME ZONE cal.timezone;
    today := local_start::date;
    FOR i IN 1..1000 LOOP
        IF NOT EXISTS (SELECT 1 FROM sla_holiday h
                       WHERE h.calendar_code = calendar AND h.day = today) THEN
            FOR w IN SELECT opens, closes FROM sla_calendar_hours
                     WHERE calendar_code = calendar AND isodow = extract(isodow FROM today)
                     ORDER BY opens LOOP
                w_start := greatest(today + w.opens, local_start) AT TIME ZONE cal.timezone;
                w_end := (today + w.closes) AT TIME ZONE cal.timezone;
                IF w_end > w_start THEN
                    IF w_end - w_start >= left_ THEN
                        RETURN w_start + left_;
                    END IF;
                    left_ := left_ - (w_end - w_start);
                END IF;
            END LOOP;
        END IF;
        today := today + 1;
    END LOOP;
    RAISE EXCEPTION 'SLA calendar % has no working time in 1000 days', calendar;
END
$$
"""

# Working time between two moments in the calendar (0 when `finish` is not after `start`).
SLA_BETWEEN = """
CREATE FUNCTION sla_between(calendar varchar, start timestamptz, finish timestamptz)
RETURNS interval LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    cal sla_calendar%ROWTYPE;
    total interval := interval '0';
    today date;
    last_day date;
    w record;
    w_start timestamptz;
    w_end timestamptz;
BEGIN
    SELECT * INTO cal FROM sla_calendar WHERE code = calendar;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown SLA calendar %', calendar;
    END IF;
    IF finish <= start THEN
        RETURN interval '0';
    END IF;
    IF cal.always_open THEN
        RETURN make_interval(secs => extract(epoch FROM finish - start));
    END IF;
    today := (start AT TIME ZONE cal.timezone)::date;
    last_day := (finish AT TIME ZONE cal.timezone)::date;
    WHILE today <= last_day LOOP
        IF NOT EXISTS (SELECT 1 FROM sla_holiday h
                       WHERE h.calendar_code = calendar AND h.day = today) THEN
            FOR w IN SELECT opens, closes FROM sla_calendar_hours
                     WHERE calendar_code = calendar AND isodow = extract(isodow FROM today) LOOP
                w_start := greatest((today + w.opens) AT TIME ZONE cal.timezone, start);
                w_end := least((today + w.closes) AT TIME ZONE cal.timezone, finish);
                IF w_end > w_start THEN
                    total := total + (w_end - w_start);
                END IF;
            END LOOP;
        END IF;
        today := today + 1;
    END LOOP;
    RETURN make_interval(secs => extract(epoch FROM total));
END
$$
"""

# Start (or restart) the case's clocks of the given kinds at `at`, by its category's and
# priority's policies (a policy for the priority wins over the category's general one).
SLA_START = """
CREATE FUNCTION sla_start(case_id bigint, kinds text[], moment timestamptz)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO sla_timer AS t (
        complaint_id, kind, calendar_code, target, warn_share, supervisor_after,
        reroute_on_breach, state, level, started_at, warn_at, due_at, escalate_at)
    SELECT c.id, p.kind, p.calendar_code, p.target, p.warn_share, p.supervisor_after,
           p.reroute_on_breach, 'running', 0, moment,
           sla_add(p.calendar_code, moment, p.target * p.warn_share), d.due_at,
           sla_add(p.calendar_code, d.due_at, p.supervisor_after)
    FROM complaint c
    CROSS JOIN LATERAL (
        SELECT DISTINCT ON (sp.kind) sp.*
        FROM sla_policy sp
        WHERE sp.category_code = c.category_code
          AND (sp.priority = c.priority OR sp.priority IS NULL)
          AND sp.kind = ANY (kinds)
        ORDER BY sp.kind, sp.priority NULLS LAST) p
    CROSS JOIN LATERAL (SELECT sla_add(p.calendar_code, moment, p.target) AS due_at) d
    WHERE c.id = case_id
    ON CONFLICT (complaint_id, kind) DO UPDATE SET
        calendar_code = EXCLUDED.calendar_code, target = EXCLUDED.target,
        warn_share = EXCLUDED.warn_share, supervisor_after = EXCLUDED.supervisor_after,
        reroute_on_breach = EXCLUDED.reroute_on_breach, state = 'running', level = 0,
        cycle = t.cycle + 1, started_at = EXCLUDED.started_at, warn_at = EXCLUDED.warn_at,
        due_at = EXCLUDED.due_at, escalate_at = EXCLUDED.escalate_at, paused_at = NULL,
        warn_left = NULL, due_left = NULL, pauses = '{}', stopped_at = NULL,
        warned_at = NULL, breached_at = NULL, escalated_at = NULL
$$
"""

# End the clocks of these kinds that still count (or wait): stopped (done) or cancelled.
SLA_FINISH = """
CREATE FUNCTION sla_finish(case_id bigint, kinds text[], new_state text, moment timestamptz)
RETURNS void LANGUAGE sql AS $$
    UPDATE sla_timer SET
        state = new_state, stopped_at = moment,
        pauses = CASE WHEN state = 'paused'
                      THEN pauses + tstzmultirange(tstzrange(paused_at, moment)) ELSE pauses END,
        paused_at = NULL, warn_left = NULL, due_left = NULL
    WHERE complaint_id = case_id AND kind = ANY (kinds) AND state IN ('running', 'paused')
$$
"""

SLA_PAUSE = """
CREATE FUNCTION sla_pause(case_id bigint, moment timestamptz)
RETURNS void LANGUAGE sql AS $$
    UPDATE sla_timer SET
        state = 'paused', paused_at = moment,
        warn_left = CASE WHEN warn_at > moment THEN sla_between(calendar_code, moment, warn_at) END,
        due_left = CASE WHEN due_at > moment THEN sla_between(calendar_code, moment, due_at) END
    WHERE complaint_id = case_id AND state = 'running'
$$
"""

# The working time that was left is counted again from `at`; a step already passed stays.
SLA_RESUME = """
CREATE FUNCTION sla_resume(case_id bigint, moment timestamptz)
RETURNS void LANGUAGE sql AS $$
    UPDATE sla_timer t SET
        state = 'running',
        pauses = t.pauses + tstzmultirange(tstzrange(t.paused_at, moment)),
        warn_at = coalesce(sla_add(t.calendar_code, moment, t.warn_left), t.warn_at),
        due_at = n.due_at,
        escalate_at = CASE WHEN t.due_left IS NULL THEN t.escalate_at
                           ELSE sla_add(t.calendar_code, n.due_at, t.supervisor_after) END,
        paused_at = NULL, warn_left = NULL, due_left = NULL
    FROM (SELECT id, coalesce(sla_add(calendar_code, moment, due_left), due_at) AS due_at
          FROM sla_timer WHERE complaint_id = case_id AND state = 'paused') n
    WHERE t.id = n.id
$$
"""

# What each timeline entry does to the clocks. The entry's type is a status for a move
# (with the status it came from in payload.from) or an event type.
SLA_OF_EVENT = """
CREATE FUNCTION sla_timers_of_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    came_from text := NEW.payload ->> 'from';
    all_kinds text[] := ARRAY['assign', 'arrive', 'resolve'];
BEGIN
    CASE NEW.type
    WHEN 'received' THEN
        IF came_from IS NULL OR came_from = 'duplicate' THEN
            -- A new case, or a duplicate unmerged into a case of its own: clocks start.
            PERFORM sla_start(NEW.complaint_id, all_kinds, NEW.at);
        ELSE
            -- Taken back from its inspector: the assign clock counts on, from where it was.
            UPDATE sla_timer SET state = 'running', stopped_at = NULL
            WHERE complaint_id = NEW.complaint_id AND kind = 'assign' AND state = 'stopped';
        END IF;
    WHEN 'reopened' THEN
        PERFORM sla_start(NEW.complaint_id, all_kinds, NEW.at);
    WHEN 'assigned' THEN
        PERFORM sla_finish(NEW.complaint_id, ARRAY['assign'], 'stopped', NEW.at);
    WHEN 'on_site' THEN
        PERFORM sla_finish(NEW.complaint_id, ARRAY['assign', 'arrive'], 'stopped', NEW.at);
    WHEN 'resolved', 'unresolved', 'referred' THEN
        PERFORM sla_finish(NEW.complaint_id, all_kinds, 'stopped', NEW.at);
    WHEN 'cancelled', 'duplicate', 'closed' THEN
        PERFORM sla_finish(NEW.complaint_id, all_kinds, 'cancelled', NEW.at);
    WHEN 'sla_paused' THEN
        PERFORM sla_pause(NEW.complaint_id, NEW.at);
    WHEN 'sla_resumed' THEN
        PERFORM sla_resume(NEW.complaint_id, NEW.at);
    END CASE;
    RETURN NULL;
END
$$
"""
CLOCK_EVENTS = (
    "received", "reopened", "assigned", "on_site", "resolved", "unresolved", "referred",
    "cancelled", "duplicate", "closed", "sla_paused", "sla_resumed",
)  # fmt: skip
SLA_TRIGGER = f"""
CREATE TRIGGER sla_timers_of_event AFTER INSERT ON complaint_event
FOR EACH ROW WHEN (NEW.type IN ({", ".join(f"'{t}'" for t in CLOCK_EVENTS)}))
EXECUTE FUNCTION sla_timers_of_event()
"""


def upgrade() -> None:
    op.execute(TABLES)
    for function in (
        SLA_ADD, SLA_BETWEEN, SLA_START, SLA_FINISH, SLA_PAUSE, SLA_RESUME, SLA_OF_EVENT,
    ):  # fmt: skip
        op.execute(function)
    op.execute(SLA_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER sla_timers_of_event ON complaint_event")
    op.execute("DROP FUNCTION sla_timers_of_event()")
    op.execute("DROP FUNCTION sla_resume(bigint, timestamptz)")
    op.execute("DROP FUNCTION sla_pause(bigint, timestamptz)")
    op.execute("DROP FUNCTION sla_finish(bigint, text[], text, timestamptz)")
    op.execute("DROP FUNCTION sla_start(bigint, text[], timestamptz)")
    op.execute("DROP FUNCTION sla_between(varchar, timestamptz, timestamptz)")
    op.execute("DROP FUNCTION sla_add(varchar, timestamptz, interval)")
    op.execute(
        "DROP TABLE outbox_message, sla_timer, sla_policy, sla_holiday, sla_calendar_hours,"
        " sla_calendar"
    )
