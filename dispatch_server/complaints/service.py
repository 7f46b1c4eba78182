"""Reading and writing complaints. Takes a connection and plain values; raises domain errors."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    Numeric,
    Row,
    Select,
    Text,
    any_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal_column,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from dispatch_server.access import Scope, scope_condition
from dispatch_server.complaints.constants import (
    AWAITING_VISIT,
    FINAL_STATUSES,
    OPEN_STATUSES,
    EventType,
    Status,
    sql_in,
)
from dispatch_server.complaints.exceptions import (
    ComplaintNotFound,
    InvalidCursor,
    InvalidPhone,
    UnknownCategory,
)
from dispatch_server.complaints.models import Category, Complaint, ComplaintEvent
from dispatch_server.complaints.schemas import (
    ComplaintCreate,
    ComplaintFilter,
    ComplaintRead,
    DistrictRead,
    Location,
    ReporterIn,
    ReporterRead,
    Timeline,
)
from dispatch_server.complaints.tickets import looks_like_ticket, ticket_prefix
from dispatch_server.phones import PhoneRejected, mask_phone, normalize_phone
from geo.districts import COVERING_DISTRICT, DISTRICT_BY_CODE, degrees_per_metre
from geo.models import District
from geo.routing import routed_team

_category = Category.__table__
_complaint = Complaint.__table__
_event = ComplaintEvent.__table__
_district = District.__table__
_original = _complaint.alias("original_case")
# Who links a new complaint to the open case it repeats.
DEDUP_ACTOR = "system:dedup"
_DEDUP_ACTOR_SQL = literal_column(f"'{DEDUP_ACTOR}'", type_=Text)

READ_COLUMNS = (
    _complaint.c.id,
    _complaint.c.ticket,
    _complaint.c.status,
    _complaint.c.category_code,
    _complaint.c.priority,
    _complaint.c.channel,
    _complaint.c.description,
    _complaint.c.address,
    _complaint.c.reporter_phone,
    _complaint.c.reporter_language,
    _complaint.c.team_id,
    _complaint.c.assignee_id,
    _complaint.c.result_code,
    # Looked up only for duplicates (a CASE branch's subquery runs only when taken).
    case(
        (
            _complaint.c.duplicate_of.is_not(None),
            select(_original.c.ticket)
            .where(_original.c.id == _complaint.c.duplicate_of)
            .scalar_subquery(),
        )
    ).label("duplicate_of"),
    _complaint.c.version,
    _complaint.c.created_at,
    _complaint.c.updated_at,
    func.ST_Y(_complaint.c.location).label("lat"),
    func.ST_X(_complaint.c.location).label("lon"),
    _district.c.code.label("district_code"),
    _district.c.name_ko.label("district_name_ko"),
    _district.c.name_en.label("district_name_en"),
)
READ_FROM = _complaint.join(_district, _district.c.code == _complaint.c.district_code)
_BY_TICKET = (
    select(*READ_COLUMNS).select_from(READ_FROM).where(_complaint.c.ticket == bindparam("ticket"))
)
_BY_ID = (
    select(*READ_COLUMNS).select_from(READ_FROM).where(_complaint.c.id == bindparam("complaint_id"))
)


@dataclass(frozen=True)
class Received:
    """A complaint just stored, and whether its category sends it straight to an inspector."""

    complaint: ComplaintRead
    auto_assign: bool
    # When it was stored as another case's duplicate: how far from that case.
    duplicate_distance_m: float | None = None


@dataclass(frozen=True)
class Place:
    """Where a new complaint is: the point it is stored at and its address text."""

    lat: float
    lon: float
    address: str | None


def normalized_phone(raw: str | None, *, region: str) -> str | None:
    """The reporter's phone in E.164, or InvalidPhone."""
    if raw is None or not raw.strip():
        return None
    try:
        return normalize_phone(raw, region=region)
    except PhoneRejected as exc:
        raise InvalidPhone(
            f"the reporter's phone number {raw!r} is not valid: {exc}", details={"phone": raw}
        ) from exc


def timeline_entry(
    complaint_id: ColumnElement[Any], event_type: str, payload: ColumnElement[Any]
) -> Insert:
    """An INSERT of one event per row of `complaint_id`'s statement (actor, now: bound).

    The writes that move a case carry their timeline entry this way, in the same statement.
    """
    return insert(_event).from_select(
        ["complaint_id", "type", "actor", "at", "payload"],
        select(
            complaint_id,
            bindparam(event_type, type_=Text),
            bindparam("actor", type_=Text),
            bindparam("now"),
            payload,
        ),
    )


def _const(value: str | int) -> ColumnElement[Any]:
    """A constant written into the SQL (names and numbers of ours, never user input).

    Bound parameters would each add a name and a cast to the statement's text, and the
    intake statement must stay short: see INTAKE_SQL_LIMIT.
    """
    if isinstance(value, int):
        return literal_column(str(value), type_=Integer)
    assert value.replace("_", "").isalnum(), value
    return literal_column(f"'{value}'", type_=Text)


def _json(*pairs: Any) -> ColumnElement[Any]:
    """jsonb_build_object(key, value, ...) with the keys written as constants."""
    args: list[Any] = []
    for key, value in zip(pairs[::2], pairs[1::2], strict=True):
        args += [_const(key), value]
    return func.jsonb_build_object(*args)


_POINT = func.ST_SetSRID(func.ST_MakePoint(bindparam("lon"), bindparam("lat")), _const(4326))


def _duplicate_candidates(category: Any, *, chosen: bool = False) -> Select[Any]:
    """The case a new complaint duplicates, if any: same category, within the category's
    radius and window, still waiting for its visit; the nearest (then the oldest) wins.

    Point (:lat, :lon), time :now and :dedup (false: the caller asked for a new case) bound.
    `chosen`: the case is the one the agent chose (:link_to, a ticket), if it is of the
    category and still waiting for its visit, however far or old.
    """
    c = _complaint.c
    if chosen:
        distance = func.ST_Distance(func.geography(c.location), func.geography(_POINT))
        return select(
            c.id, c.ticket, func.round(cast(distance, Numeric), _const(1)).label("m")
        ).where(
            bindparam("dedup", type_=Boolean),
            c.ticket == bindparam("link_to", type_=Text),
            c.category_code == bindparam("category"),
            text(f"complaint.status IN ({sql_in(AWAITING_VISIT)})"),
        )
    # In degrees, generous at any latitude: lets the partial GIST index find the few near.
    # :degrees_per_m (from Python: degrees_per_metre) keeps the statement's text short.
    degrees = category.c.dedup_radius_m * bindparam("degrees_per_m")
    near = (
        select(
            c.id,
            c.ticket,
            c.created_at,
            category.c.dedup_radius_m.label("radius"),
            func.ST_Distance(func.geography(c.location), func.geography(_POINT)).label("d"),
        )
        .select_from(_complaint.join(category, true()))
        .where(
            bindparam("dedup", type_=Boolean),
            category.c.dedup_radius_m > _const(0),
            c.category_code == bindparam("category"),
            # The partial index's own predicate, written the same way.
            text(f"complaint.status IN ({sql_in(AWAITING_VISIT)})"),
            c.created_at >= bindparam("now") - category.c.dedup_window,
            func.ST_DWithin(c.location, _POINT, degrees),
        )
        .subquery("near")
    )
    return (
        select(near.c.id, near.c.ticket, func.round(cast(near.c.d, Numeric), _const(1)).label("m"))
        .where(near.c.d <= near.c.radius)
        .order_by(near.c.d, near.c.created_at, near.c.id)
        .limit(1)
    )


def _intake_statement(district_query: Select[Any], *, chosen: bool = False) -> Select[Any]:
    """One statement that routes, deduplicates, numbers and stores a complaint with its events.

    `district_query` gives the district (code, name_ko, name_en). The statement answers one
    row: the district (NULL when none), the category's default priority (NULL when the
    category is unknown) and the new complaint as stored (NULL when nothing was stored
    because one of the two was missing), with the original it duplicates, if any.

    The team comes from the routing rules (geo.routing); a complaint close to an open one
    of its category is stored as its duplicate, with a `duplicate` event on it and a
    `duplicate_linked` event on the original. One statement is one round trip and atomic by
    itself: the complaint never exists without its events.
    """
    district = district_query.cte("d")
    category = (
        select(
            _category.c.default_priority,
            _category.c.auto_assign,
            _category.c.dedup_radius_m,
            _category.c.dedup_window,
        )
        .where(_category.c.code == bindparam("category"), _category.c.active)
        .cte("k")
    )
    original = _duplicate_candidates(category, chosen=chosen).cte("o")
    numbered = (
        select(
            func.nextval(_const("complaint_id_seq")).label("id"),
            district.c.code,
            category.c.default_priority,
            routed_team(district.c.code, bindparam("category")).label("team_id"),
            original.c.id.label("original_id"),
        )
        .select_from(district.join(category, true()).outerjoin(original, true()))
        .cte("n")
    )
    id_text = cast(numbered.c.id, Text)
    now = bindparam("now")  # untyped: a timestamptz as psycopg sends it, no cast in the text
    columns = {
        "id": numbered.c.id,
        # YYMMDD- (the day in the city's zone, from Python) + the id, at least six digits.
        "ticket": bindparam("ticket_prefix", type_=Text)
        + func.lpad(id_text, func.greatest(_const(6), func.length(id_text)), _const("0")),
        "category_code": bindparam("category"),
        "description": bindparam("description"),
        "channel": bindparam("channel"),
        "reporter_phone": bindparam("reporter_phone"),
        "reporter_language": bindparam("reporter_language"),
        "reporter_name": bindparam("reporter_name"),
        "reporter_email": bindparam("reporter_email"),
        "location": _POINT,
        "address": bindparam("address"),
        "district_code": numbered.c.code,
        "team_id": numbered.c.team_id,
        "duplicate_of": numbered.c.original_id,
        "status": case(
            (numbered.c.original_id.is_(None), _const(str(Status.RECEIVED))),
            else_=_const(str(Status.DUPLICATE)),
        ),
        "priority": func.coalesce(bindparam("priority"), numbered.c.default_priority),
        "version": _const(1),
        "created_at": now,
        "updated_at": now,
    }
    stored = (
        insert(_complaint)
        .from_select(list(columns), select(*columns.values()).select_from(numbered))
        .returning(
            _complaint.c.id,
            _complaint.c.ticket,
            _complaint.c.priority,
            _complaint.c.district_code,
            _complaint.c.status,
            _complaint.c.team_id,
        )  # fmt: skip
        .cte("s")
    )
    received = _json(
        "channel", bindparam("channel", type_=Text), "category", bindparam("category", type_=Text),
        "district", stored.c.district_code,
    ).op("||")(bindparam("received_details", type_=JSONB))  # fmt: skip
    linked = stored.join(original, true())
    entries = union_all(
        select(
            _const(1).label("n"), stored.c.id.label("complaint_id"),
            _const(str(EventType.RECEIVED)).label("type"),
            bindparam("actor", type_=Text).label("actor"), received.label("payload"),
        ),
        # The new case becomes the original's duplicate (the dedup's own move).
        select(
            _const(2), stored.c.id, _const(str(Status.DUPLICATE)), _DEDUP_ACTOR_SQL,
            _json(
                "from", _const(str(Status.RECEIVED)), "duplicate_of", original.c.id,
                "original_ticket", original.c.ticket, "distance_m", original.c.m,
            ),
        ).select_from(linked),
        # The original hears of it: its reporter count and the console's map change.
        select(
            _const(3), original.c.id, _const(str(EventType.DUPLICATE_LINKED)),
            _DEDUP_ACTOR_SQL,
            _json(
                "duplicate_id", stored.c.id, "duplicate_ticket", stored.c.ticket,
                "distance_m", original.c.m,
            ),
        ).select_from(linked),
    ).subquery("e")  # fmt: skip
    events = (
        insert(_event)
        .from_select(
            ["complaint_id", "type", "actor", "at", "payload"],
            select(
                entries.c.complaint_id, entries.c.type, entries.c.actor, now, entries.c.payload
            ).order_by(entries.c.n),  # ids in this order: received, then duplicate
        )
        .cte("ev")
    )
    return (
        select(
            district.c.code,
            district.c.name_ko,
            district.c.name_en,
            category.c.default_priority,
            stored.c.id,
            stored.c.ticket,
            stored.c.priority,
            category.c.auto_assign,
            stored.c.status,
            stored.c.team_id,
            original.c.ticket,
            original.c.m,
        )
        .select_from(
            select(_const(1).label("one"))
            .subquery("r")
            .outerjoin(district, true())
            .outerjoin(category, true())
            .outerjoin(stored, true())
            .outerjoin(original, stored.c.status == _const(str(Status.DUPLICATE)))
        )
        .add_cte(events)
    )


# psycopg converts a query's %(name)s placeholders once per distinct text, but only for texts
# up to this length (psycopg._queries.MAX_CACHED_STATEMENT_LENGTH); past it, every execution
# parses the text again: ~1 ms of CPU for the intake statement, a third of a POST's.
# tests/test_intake_api.py keeps the intake statements under it.
INTAKE_SQL_LIMIT = 4096

# Built once (intake runs them for every complaint): by the point, and by a district code
# for the points that only the boundary tolerance places.
_INTAKE_AT_POINT = _intake_statement(COVERING_DISTRICT)
_INTAKE_IN_DISTRICT = _intake_statement(DISTRICT_BY_CODE)
# The same when the agent chose the open case a complaint repeats (rare: over the limit).
_INTAKE_LINKED = {
    False: _intake_statement(COVERING_DISTRICT, chosen=True),
    True: _intake_statement(DISTRICT_BY_CODE, chosen=True),
}
_KNOWN_CATEGORIES = select(_category.c.code).where(_category.c.active).order_by(_category.c.code)


async def create(
    connection: AsyncConnection,
    *,
    data: ComplaintCreate,
    place: Place,
    reporter_phone: str | None,
    actor: str,
    now: datetime,
    timezone: str,
    district_code: str | None = None,
    details: dict[str, Any] | None = None,
) -> Received | None:
    """Store a new complaint at `place` with its timeline entries; the caller commits.

    The district is the one covering the point, or `district_code` when given. None when
    no district covers the point (nothing is stored); UnknownCategory when the category is
    not an active one. `details` join the "received" event's payload (how it was located).
    """
    reporter = data.reporter or ReporterIn()
    language = reporter.language
    if data.link_to is not None:
        statement = _INTAKE_LINKED[district_code is not None]
    else:
        statement = _INTAKE_AT_POINT if district_code is None else _INTAKE_IN_DISTRICT
    result = await connection.execute(
        statement,
        {
            "lat": place.lat,
            "lon": place.lon,
            "district_code": district_code,
            "category": data.category,
            "ticket_prefix": ticket_prefix(now, timezone=timezone),
            "description": data.description,
            "channel": str(data.channel),
            "reporter_phone": reporter_phone,
            "reporter_language": str(language),
            "reporter_name": reporter.name or None,
            "reporter_email": reporter.email,
            "address": place.address,
            "priority": str(data.priority) if data.priority else None,
            "now": now,
            "actor": actor,
            "dedup": data.link_duplicates,
            "link_to": data.link_to,
            "degrees_per_m": degrees_per_metre(place.lat),
            "received_details": details or {},
        },
    )
    (
        code, name_ko, name_en, default_priority, complaint_id, ticket, priority, auto,
        status, team_id, original_ticket, distance_m,
    ) = result.one()  # fmt: skip
    if default_priority is None:
        known = (await connection.execute(_KNOWN_CATEGORIES)).scalars().all()
        raise UnknownCategory(
            f"unknown category {data.category!r}",
            details={"category": data.category, "known": known},
        )
    if code is None:
        return None
    complaint = ComplaintRead(
        id=complaint_id,
        ticket=ticket,
        status=Status(status),
        category=data.category,
        priority=priority,
        channel=data.channel,
        description=data.description,
        address=place.address,
        district=DistrictRead(code=code, name_ko=name_ko, name_en=name_en),
        location=Location(lat=place.lat, lon=place.lon),
        reporter=ReporterRead(phone_masked=mask_phone(reporter_phone), language=language),
        team_id=team_id,
        assignee_id=None,
        result_code=None,
        duplicate_of=original_ticket,
        version=1,
        created_at=now,
        updated_at=now,
    )
    return Received(
        complaint=complaint,
        auto_assign=bool(auto) and original_ticket is None,
        duplicate_distance_m=None if distance_m is None else float(distance_m),
    )


def row_as_dict(row: Row[Any]) -> dict[str, Any]:
    """A complaint row in the shape of ComplaintRead (validated once, per page)."""
    # Unpacked by position: lists build this for every row, and a Row's attribute access
    # costs ten times its tuple access. The order is that of READ_COLUMNS.
    (
        complaint_id, ticket, status, category, priority, channel, description, address,
        phone, language, team_id, assignee_id, result_code, duplicate_of, version, created_at,
        updated_at, lat, lon, district_code, district_name_ko, district_name_en,
    ) = row  # fmt: skip
    return {
        "id": complaint_id,
        "ticket": ticket,
        "status": status,
        "category": category,
        "priority": priority,
        "channel": channel,
        "description": description,
        "address": address,
        "district": {
            "code": district_code,
            "name_ko": district_name_ko,
            "name_en": district_name_en,
        },
        "location": {"lat": lat, "lon": lon},
        "reporter": {"phone_masked": mask_phone(phone), "language": language},
        "team_id": team_id,
        "assignee_id": assignee_id,
        "result_code": result_code,
        "duplicate_of": duplicate_of,
        "version": version,
        "created_at": created_at,
        "updated_at": updated_at,
    }


async def get_by_ticket(connection: AsyncConnection, *, ticket: str, scope: Scope) -> ComplaintRead:
    """The complaint with this public ticket number (404 outside the scope)."""
    row = None
    if looks_like_ticket(ticket):
        statement = _BY_TICKET.where(scope.cases(_complaint))
        row = (await connection.execute(statement, {"ticket": ticket, **scope.params()})).first()
    if row is None:
        raise ComplaintNotFound(f"no complaint has ticket {ticket!r}", details={"ticket": ticket})
    return ComplaintRead.model_validate(row_as_dict(row))


_TIMELINE = (
    select(_event.c.id, _event.c.type, _event.c.actor, _event.c.at, _event.c.payload)
    .join(_complaint, _complaint.c.id == _event.c.complaint_id)
    .where(_complaint.c.ticket == bindparam("ticket"))
    .order_by(_event.c.id)
)


async def timeline(connection: AsyncConnection, *, ticket: str, scope: Scope) -> Timeline:
    """The case's events, oldest first (404 for an unknown ticket, or one outside the scope)."""
    statement = _TIMELINE.where(scope.cases(_complaint))
    rows = (await connection.execute(statement, {"ticket": ticket, **scope.params()})).all()
    if not rows:  # every stored complaint has at least its "received" event
        raise ComplaintNotFound(f"no complaint has ticket {ticket!r}", details={"ticket": ticket})
    return Timeline.model_validate(
        {"ticket": ticket, "events": [dict(row._mapping) for row in rows]}
    )


async def get_by_id(
    connection: AsyncConnection, *, complaint_id: int, scope: Scope
) -> ComplaintRead:
    """The complaint with this id (staff APIs address cases by id); 404 outside the scope."""
    statement = _BY_ID.where(scope.cases(_complaint))
    params = {"complaint_id": complaint_id, **scope.params()}
    row = (await connection.execute(statement, params)).first()
    if row is None:
        raise ComplaintNotFound(
            f"no complaint has id {complaint_id}", details={"complaint_id": complaint_id}
        )
    return ComplaintRead.model_validate(row_as_dict(row))


def encode_cursor(created_at: datetime, complaint_id: int) -> str:
    """An opaque cursor pointing after the given row."""
    raw = json.dumps([created_at.isoformat(), complaint_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (created_at, id) a cursor points after."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, complaint_id = json.loads(base64.urlsafe_b64decode(padded))
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None or not isinstance(complaint_id, int):
            raise ValueError("bad cursor")
        return moment, complaint_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this server gave out") from exc


def _utc_text(column: ColumnElement[Any]) -> ColumnElement[str]:
    """A timestamptz as the API writes times (UTC, `Z`, microseconds only when not zero).

    `api_time()` is defined once, in the database (migration 0006): the live events'
    trigger writes times with it too.
    """
    return func.api_time(column, type_=Text)


def _summary_json(row: Any) -> ColumnElement[Any]:
    """A ComplaintSummary built by the database (lists render their JSON in one go)."""
    return func.json_build_object(
        "id", row.c.id, "ticket", row.c.ticket, "status", row.c.status,
        "category", row.c.category_code, "priority", row.c.priority, "channel", row.c.channel,
        "description", row.c.description, "address", row.c.address,
        "district", func.json_build_object(
            "code", row.c.district_code, "name_ko", row.c.district_name_ko,
            "name_en", row.c.district_name_en,
        ),
        "location", func.json_build_object("lat", row.c.lat, "lon", row.c.lon),
        "team_id", row.c.team_id,
        "assignee_id", row.c.assignee_id, "result_code", row.c.result_code,
        "duplicate_of", row.c.duplicate_of, "version", row.c.version,
        "created_at", _utc_text(row.c.created_at), "updated_at", _utc_text(row.c.updated_at),
    )  # fmt: skip


@lru_cache(maxsize=256)
def _page_statement(filters_given: frozenset[str], scope_kind: str) -> Select[Any]:
    """The list statement for one combination of filters and a scope kind, values as bind
    parameters.

    Built once per combination: the statement is large (the page's JSON is rendered in it)
    and building it costs more than running it.
    """
    c = _complaint.c
    conditions = {
        # One district by equality: PostgreSQL 15 orders by the (district, created_at) index
        # only then, not for `= ANY(array)`.
        "district": c.district_code == bindparam("district", type_=Text),
        "districts": c.district_code == any_(bindparam("districts", type_=ARRAY(Text))),
        "categories": c.category_code == any_(bindparam("categories", type_=ARRAY(Text))),
        "statuses": c.status == any_(bindparam("statuses", type_=ARRAY(Text))),
        # Written as the partial index's own predicate, so the board of open cases uses it.
        "open": c.status.not_in([str(status) for status in sorted(FINAL_STATUSES)]),
        "created_from": c.created_at >= bindparam("created_from", type_=c.created_at.type),
        "created_to": c.created_at < bindparam("created_to", type_=c.created_at.type),
        "bbox": c.location.op("&&")(
            func.ST_MakeEnvelope(
                bindparam("min_lon"), bindparam("min_lat"), bindparam("max_lon"),
                bindparam("max_lat"), 4326,
            )
        ),
        "cursor": tuple_(c.created_at, c.id)
        < tuple_(
            bindparam("after_created", type_=c.created_at.type),
            bindparam("after_id", type_=c.id.type),
        ),
    }  # fmt: skip
    newest_first = (c.created_at.desc(), c.id.desc())
    page_size = bindparam("page_size", type_=Integer)
    # One row more than the page tells whether there is a next page.
    matched = (
        select(*READ_COLUMNS)
        .select_from(READ_FROM)
        .where(*(conditions[name] for name in sorted(filters_given)))
        .where(scope_condition(scope_kind, _complaint))
        .add_columns(func.row_number().over(order_by=newest_first).label("position"))
        .order_by(*newest_first)
        .limit(page_size + 1)
        .subquery("matched")
    )
    on_page = matched.c.position <= page_size
    last = matched.c.position == page_size
    items = func.json_agg(aggregate_order_by(_summary_json(matched), matched.c.position))
    return select(
        cast(func.coalesce(items.filter(on_page), text("'[]'::json")), Text),
        func.count() > page_size,
        func.max(matched.c.created_at).filter(last),
        func.max(matched.c.id).filter(last),
    )


async def list_page(
    connection: AsyncConnection, *, filters: ComplaintFilter, scope: Scope
) -> bytes:
    """One page of the scope's complaints, newest first, after the filter's cursor, as
    ComplaintPage JSON.

    PostgreSQL renders the items' JSON: a page is up to 200 rows, and shaping them in Python
    cost more than the query (docs/benchmarks.md). tests/test_intake_api.py holds the list
    items to the detail endpoint's rendering, field by field.
    """
    districts, statuses = filters.districts, set(filters.statuses())
    values: dict[str, Any] = {
        "district": districts[0] if len(districts) == 1 else None,
        "districts": districts if len(districts) > 1 else None,
        "categories": filters.categories or None,
        "open": True if statuses == OPEN_STATUSES else None,
        "statuses": sorted(statuses) if statuses and statuses != OPEN_STATUSES else None,
        "created_from": filters.created_from,
        "created_to": filters.created_to,
    }
    box = filters.bounding_box()
    if box is not None:
        values["bbox"] = True
        values["min_lon"], values["min_lat"], values["max_lon"], values["max_lat"] = box
    if filters.cursor:
        values["cursor"] = True
        values["after_created"], values["after_id"] = decode_cursor(filters.cursor)
    given = frozenset(name for name in _FILTERS if values.get(name) is not None)
    values["page_size"] = filters.limit
    values.update(scope.params())
    result = await connection.execute(_page_statement(given, scope.kind), values)
    items, more, last_created, last_id = result.one()
    next_cursor = encode_cursor(last_created, last_id) if more else None
    return b'{"items":%s,"next_cursor":%s}' % (items.encode(), json.dumps(next_cursor).encode())


_FILTERS = (
    "district", "districts", "categories", "open", "statuses", "created_from", "created_to",
    "bbox", "cursor",
)  # fmt: skip


NEARBY_DEFAULT_RADIUS_M = 100.0
NEARBY_LIMIT = 20
_near_distance = func.ST_Distance(func.geography(_complaint.c.location), func.geography(_POINT))
_NEARBY = (
    select(*READ_COLUMNS, _near_distance.label("distance_m"))
    .select_from(READ_FROM)
    .where(
        _complaint.c.status.not_in([str(s) for s in sorted(FINAL_STATUSES)]),
        func.ST_DWithin(_complaint.c.location, _POINT, bindparam("degrees")),
        _near_distance <= bindparam("radius_m"),
    )
    .order_by(_near_distance, _complaint.c.created_at, _complaint.c.id)
    .limit(NEARBY_LIMIT)
)
_NEARBY_OF_CATEGORY = _NEARBY.where(_complaint.c.category_code == bindparam("category"))
_DEDUP_OF = select(_category.c.dedup_radius_m, _category.c.dedup_window).where(
    _category.c.code == bindparam("category")
)
# The case intake would link a new complaint of :category at the point to: intake's own rule.
_WOULD_LINK = _duplicate_candidates(_DEDUP_OF.cte("k"))


async def nearby(
    connection: AsyncConnection,
    *,
    lat: float,
    lon: float,
    category: str | None,
    radius_m: float | None,
    now: datetime,
    scope: Scope,
) -> dict[str, Any]:
    """Open cases near a point, nearest first, for the agent to see before logging a new one.
    Only those in the scope are listed (a district's dispatcher sees their district's).

    With a category: only its cases, within its duplicate radius unless `radius_m` is given,
    and the case a new complaint here would be linked to is marked `would_link`.
    """
    rule = None
    if category is not None:
        rule = (await connection.execute(_DEDUP_OF, {"category": category})).first()
        if rule is None:
            known = (await connection.execute(_KNOWN_CATEGORIES)).scalars().all()
            raise UnknownCategory(
                f"unknown category {category!r}", details={"category": category, "known": known}
            )
    radius = radius_m
    if radius is None:
        radius = float(rule.dedup_radius_m) if rule and rule.dedup_radius_m > 0 else None
        radius = radius or NEARBY_DEFAULT_RADIUS_M
    params = {
        "lat": lat, "lon": lon, "category": category, "now": now, "dedup": True,
        "degrees_per_m": degrees_per_metre(lat), "degrees": radius * degrees_per_metre(lat),
        "radius_m": radius, **scope.params(),
    }  # fmt: skip
    linked_id = None
    if category is not None:
        linked_id = (await connection.execute(_WOULD_LINK, params)).scalar()
    statement = (_NEARBY if category is None else _NEARBY_OF_CATEGORY).where(
        scope.cases(_complaint)
    )
    cases: list[dict[str, Any]] = []
    for row in await connection.execute(statement, params):
        item = row_as_dict(row[: len(READ_COLUMNS)])
        del item["reporter"]
        item["distance_m"] = round(float(row.distance_m), 1)
        item["would_link"] = item["id"] == linked_id
        cases.append(item)
    return {"radius_m": radius, "category": category, "cases": cases}
