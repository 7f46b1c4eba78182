"""Business-calendar arithmetic without a query per day

`sla_add` and `sla_between` (migration 0009) asked the database twice for every day they
stepped through: is it a holiday, and what are its opening hours. A new case runs sla_add
nine times (three clocks: warning, due and escalation), most of them over a week or more of
days, so intake spent more time in these queries than in storing the case. They now read
the calendar's weekly hours and its holidays once per call, into arrays, and step through
the days in memory. The arithmetic is unchanged (tests/test_sla_calendar.py).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Both walk at most 1000 days, as before; the holidays read are those of the days walked.
SLA_ADD = """
CREATE OR REPLACE FUNCTION sla_add(calendar varchar, start timestamptz, amount interval)
RETURNS timestamptz LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    cal sla_calendar%ROWTYPE;
    left_ interval := make_interval(secs => greatest(extract(epoch FROM amount), 0));
    local_start timestamp;
    today date;
    dows integer[];
    opens time[];
    closes time[];
    off date[];
    dow integer;
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
    SELECT array_agg(h.isodow ORDER BY h.isodow, h.opens),
           array_agg(h.opens ORDER BY h.isodow, h.opens),
           array_agg(h.closes ORDER BY h.isodow, h.opens)
    INTO dows, opens, closes
    FROM sla_calendar_hours h WHERE h.calendar_code = calendar;
    SELECT coalesce(array_agg(h.day), '{}') INTO off
    FROM sla_holiday h
    WHERE h.calendar_code = calendar AND h.day >= today AND h.day < today + 1000;
    FOR i IN 1..1000 LOOP
        IF dows IS NOT NULL AND NOT today = ANY (off) THEN
            dow := extract(isodow FROM today);
            FOR j IN 1..array_length(dows, 1) LOOP
                CONTINUE WHEN dows[j] <> dow;
                w_start := greatest(today + opens[j], local_start) AT TIME ZONE cal.timezone;
                w_end := (today + closes[j]) AT TIME ZONE cal.timezone;
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

SLA_BETWEEN = """
CREATE OR REPLACE FUNCTION sla_between(calendar varchar, start timestamptz, finish timestamptz)
RETURNS interval LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    cal sla_calendar%ROWTYPE;
    total interval := interval '0';
    today date;
    last_day date;
    dows integer[];
    opens time[];
    closes time[];
    off date[];
    dow integer;
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
    SELECT array_agg(h.isodow ORDER BY h.isodow, h.opens),
           array_agg(h.opens ORDER BY h.isodow, h.opens),
           array_agg(h.closes ORDER BY h.isodow, h.opens)
    INTO dows, opens, closes
    FROM sla_calendar_hours h WHERE h.calendar_code = calendar;
    IF dows IS NULL THEN
        RETURN interval '0';
    END IF;
    SELECT coalesce(array_agg(h.day), '{}') INTO off
    FROM sla_holiday h
    WHERE h.calendar_code = calendar AND h.day >= today AND h.day <= last_day;
    WHILE today <= last_day LOOP
        IF NOT today = ANY (off) THEN
            dow := extract(isodow FROM today);
            FOR j IN 1..array_length(dows, 1) LOOP
                CONTINUE WHEN dows[j] <> dow;
                w_start := greatest((today + opens[j]) AT TIME ZONE cal.timezone, start);
                w_end := least((today + closes[j]) AT TIME ZONE cal.timezone, finish);
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


def upgrade() -> None:
    op.execute(SLA_ADD)
    op.execute(SLA_BETWEEN)


def downgrade() -> None:
    # 0009's versions, a query per day.
    path = Path(__file__).with_name("2026_11_25_0009_sla.py")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    first = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(first)
    for source in (first.SLA_ADD, first.SLA_BETWEEN):
        op.execute(source.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
