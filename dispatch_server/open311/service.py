"""Open311's view of the domain: categories as services, their questions as attributes,
cases as service requests. Reads only; new requests go through complaints.flows like every
other channel's (see open311/intake.py).

A request's Open311 status is the citizen's: `open` while the case waits for or gets its
visit, `closed` once the visit has a result (resolved, unresolved, referred, closed) or the
case was cancelled. A duplicate has its original's status, notes and expected time.
Nothing here reads the reporter's personal data; descriptions are redacted (phones,
e-mail addresses, number plates) before they leave.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.complaints.constants import AWAITING_VISIT, Status
from dispatch_server.db import DriverStatement, driver_rows
from dispatch_server.errors import NotFound
from dispatch_server.open311 import texts
from dispatch_server.open311.formats import iso_time, iso_time_sql
from dispatch_server.open311.params import Params, refuse
from dispatch_server.privacy.redact import MARK, MAY_HOLD_SQL, redact, redact_case_text
from dispatch_server.public.service import STAGE_OF, public_steps
from geo.districts import degrees_per_metre

# Open311's two statuses, by the case's (of the original, for a duplicate).
OPEN = sorted(str(s) for s in AWAITING_VISIT)
CLOSED = sorted(str(s) for s in Status if s not in AWAITING_VISIT and s is not Status.DUPLICATE)
STATUS_SETS = {"open": OPEN, "closed": CLOSED}
# The default and the longest window of a list, and its longest page.
WINDOW = timedelta(days=90)
MAX_PAGE = 1000
MAX_IDS = 1000
# A window that ends "now" ends a little later: what was stored this second is in it, even
# when another server's clock is a little ahead.
CLOCK_SLACK = timedelta(minutes=1)
MAX_RADIUS_M = 10_000.0
DEFAULT_RADIUS_M = 1_000.0
SPEC_URL = "http://wiki.open311.org/GeoReport_v2"


class ServiceNotFound(NotFound):
    """No active category has this service code."""

    code = "service_not_found"


class RequestNotFound(NotFound):
    """No case has this service_request_id (or this token)."""

    code = "request_not_found"


def category_names(row: Any) -> dict[str, str]:
    """A category's names in every language it has."""
    return {"ko": row.name_ko, "en": row.name_en, **(row.names or {})}


# -- services --------------------------------------------------------------------------

_SERVICES = text(
    """
    SELECT k.code, k.name_ko, k.name_en, k.names, k.descriptions, k.group_names, k.keywords,
           EXISTS (SELECT 1 FROM service_attribute a WHERE a.category_code = k.code) AS metadata
    FROM category k WHERE k.active ORDER BY k.code
    """
)
_ACTIVE_CODES = text("SELECT code FROM category WHERE active")
_QUESTIONS = text(
    """
    SELECT k.name_ko, a.code, a.position, a.datatype, a.required, a.variable,
           a.descriptions, a.datatype_descriptions, a.values
    FROM category k LEFT JOIN service_attribute a ON a.category_code = k.code
    WHERE k.code = :code AND k.active
    ORDER BY a.position
    """
)


async def services(connection: AsyncConnection, *, language: str) -> list[dict[str, Any]]:
    """Every active category as a GeoReport service."""
    rows = await connection.execute(_SERVICES)
    return [
        {
            "service_code": row.code,
            "service_name": texts.pick(category_names(row), language),
            "description": texts.pick(row.descriptions, language),
            "metadata": bool(row.metadata),
            "type": "realtime",
            "keywords": ", ".join(row.keywords) or None,
            "group": texts.pick(row.group_names, language),
        }
        for row in rows
    ]


@dataclass(frozen=True)
class Question:
    """One attribute of a service definition."""

    code: str
    order: int
    datatype: str
    required: bool
    variable: bool
    descriptions: dict[str, str]
    datatype_descriptions: dict[str, str]
    values: list[dict[str, Any]]

    @property
    def keys(self) -> list[str]:
        """The keys a list answer may take, in order."""
        return [str(value["key"]) for value in self.values]

    def document(self, language: str) -> dict[str, Any]:
        """As GeoReport's service definition writes it."""
        return {
            "variable": self.variable,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": texts.pick(self.datatype_descriptions, language),
            "order": self.order,
            "description": texts.pick(self.descriptions, language) or self.code,
            "values": [
                {"key": str(v["key"]), "name": texts.pick(v.get("names", {}), language) or v["key"]}
                for v in self.values
            ],
        }


@dataclass(frozen=True)
class Definition:
    """A service's Korean name (the default description of its requests) and questions."""

    name_ko: str
    questions: list[Question]


async def questions(connection: AsyncConnection, *, code: str) -> Definition | None:
    """The service's attributes in order; None when no active category has the code."""
    rows = (await connection.execute(_QUESTIONS, {"code": code})).all()
    if not rows:
        return None
    found = [
        Question(
            code=row.code, order=row.position, datatype=row.datatype, required=row.required,
            variable=row.variable, descriptions=row.descriptions,
            datatype_descriptions=row.datatype_descriptions, values=row.values,
        )
        for row in rows
        if row.code is not None
    ]  # fmt: skip
    return Definition(name_ko=rows[0].name_ko, questions=found)


class Definitions:
    """Service definitions as posts check them, read again at most every `ttl` seconds per
    server process: an admin's change to a category's questions reaches posts within that
    (reads of the definition, GET services/{code}, always go to the database)."""

    MAX_ENTRIES = 500

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Definition]] = {}

    async def get(self, connection: AsyncConnection, code: str) -> Definition | None:
        """The definition of `code` (None when no active category has it: never cached)."""
        now = time.monotonic()
        entry = self._entries.get(code)
        if entry is not None and entry[0] > now:
            return entry[1]
        found = await questions(connection, code=code)
        if found is not None and (code in self._entries or len(self._entries) < self.MAX_ENTRIES):
            self._entries[code] = (now + self.ttl, found)
        return found


async def definition(connection: AsyncConnection, *, code: str, language: str) -> dict[str, Any]:
    """The service definition of a service code (404 when none)."""
    found = await questions(connection, code=code)
    if found is None:
        raise ServiceNotFound(f"no service has the code {code[:50]!r}")
    return {"service_code": code, "attributes": [q.document(language) for q in found.questions]}


MAX_STRING = 200
MAX_TEXT = 4000


def _answer(question: Question, values: list[str], params: Params, zone: ZoneInfo) -> Any:
    name = f"attribute[{question.code}]"
    if question.datatype != "multivaluelist" and len(values) > 1:
        params.problem(f"{name}: give one value (it has {len(values)})")
        return None
    value = values[0]
    if question.datatype in ("singlevaluelist", "multivaluelist"):
        keys = question.keys
        wrong = [v for v in values if v not in keys]
        if wrong:
            params.problem(f"{name}: {wrong[0][:50]!r} is not one of {', '.join(keys)}")
            return None
        if question.datatype == "singlevaluelist":
            return value
        return [key for key in keys if key in values]  # the definition's order, once each
    if question.datatype == "number":
        number = params.parse_number(name, value, -1e9, 1e9)
        if number is None:
            return None
        return int(number) if number.is_integer() else number
    if question.datatype == "datetime":
        moment = params.parse_moment(name, value, zone)
        return None if moment is None else moment.isoformat()
    limit = MAX_STRING if question.datatype == "string" else MAX_TEXT
    if len(value) > limit:
        params.problem(f"{name}: at most {limit:,} characters (it has {len(value):,})")
        return None
    return value


def check_answers(
    service_code: str,
    found: list[Question],
    given: dict[str, list[str]],
    params: Params,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """The attributes given, checked against the service definition (problems noted in
    `params`), as stored: list keys, numbers, ISO times, texts."""
    by_code = {q.code: q for q in found}
    answers: dict[str, Any] = {}
    for code, values in given.items():
        question = by_code.get(code)
        if question is None:
            known = ", ".join(q.code for q in found if q.variable) or "none"
            params.problem(
                f"attribute[{code[:50]}]: service {service_code} has no such attribute "
                f"(it has: {known})"
            )
        elif not question.variable:
            params.problem(f"attribute[{code}]: a notice for the citizen; it takes no answer")
        else:
            answer = _answer(question, values, params, zone)
            if answer is not None:
                answers[code] = answer
    for question in found:
        if question.required and question.code not in given:
            params.problem(
                f"attribute[{question.code}] is required: "
                f"{texts.pick(question.descriptions, 'en') or question.code}"
            )
    return answers


def answers_note(found: list[Question], answers: dict[str, Any]) -> str | None:
    """The answers as staff read them on the case's timeline (in Korean, the office's
    language): each question, then its answer (list keys by their names)."""
    parts = []
    for question in found:
        if question.code not in answers:
            continue
        value = answers[question.code]
        names = {str(v["key"]): texts.pick(v.get("names", {}), "ko") for v in question.values}
        values = value if isinstance(value, list) else [value]
        shown = ", ".join(str(names.get(str(v)) or v) for v in values)
        parts.append(f"{texts.pick(question.descriptions, 'ko') or question.code} {shown}")
    return " / ".join(parts) or None


# -- requests --------------------------------------------------------------------------

_SUBJECT = "coalesce(o.id, c.id)"
_MATCHES = """
    FROM complaint c
    LEFT JOIN complaint o ON o.id = c.duplicate_of AND c.status = 'duplicate'
    WHERE {where}
"""
# The page first (its ids, read from the index alone), then what each of its requests
# shows; every match is counted apart (a count of index entries, where counting in the
# page's query would first gather every match).
_READ = """
WITH page AS (
    SELECT c.id, c.created_at
    {matches}
    ORDER BY c.created_at DESC, c.id DESC
    {limit}
)
SELECT c.ticket, coalesce(o.status, c.status) AS status, c.category_code,
       CASE :language WHEN 'ko' THEN k.name_ko WHEN 'en' THEN k.name_en
            ELSE coalesce(k.names ->> :language, k.name_en) END AS service_name,
       c.description, c.reporter_name, c.address,
       ST_Y(c.location) AS lat, ST_X(c.location) AS lon,
       {created} AS requested, {updated} AS updated,
       CASE :language WHEN 'ko' THEN d.name_ko
            ELSE coalesce(d.name_en, d.name_ko) END AS district_name,
       t.name AS team, o.ticket AS original_ticket,
       CASE :note_language WHEN 'ko' THEN r.name_ko ELSE r.name_en END AS result_name,
       {expected} AS expected,
       CASE coalesce(o.status, c.status) WHEN 'referred' THEN
           (SELECT e.payload ->> 'referred_to' FROM complaint_event e
             WHERE e.complaint_id = {subject} AND e.type = 'referred'
             ORDER BY e.id DESC LIMIT 1) END AS referred_to,
       CASE WHEN c.channel = 'open311' THEN
           (SELECT ARRAY[e.payload #>> '{{open311,media_url}}',
                         e.payload #>> '{{open311,address_id}}']
              FROM complaint_event e
             WHERE e.complaint_id = c.id AND e.type = 'received' ORDER BY e.at, e.id LIMIT 1)
       END AS own,
       (SELECT count(*) {matches}) AS total, page.created_at AS sort_at, page.id AS sort_id
       {extended}
FROM page
JOIN complaint c ON c.id = page.id
JOIN category k ON k.code = c.category_code
JOIN district d ON d.code = c.district_code
LEFT JOIN team t ON t.id = c.team_id
LEFT JOIN complaint o ON o.id = c.duplicate_of AND c.status = 'duplicate'
LEFT JOIN result_code r ON r.code = CASE WHEN o.id IS NULL THEN c.result_code
                                         ELSE o.result_code END
LEFT JOIN LATERAL (
    SELECT s.due_at FROM sla_timer s WHERE s.complaint_id = {subject} AND s.kind = 'resolve'
      AND s.state IN ('running', 'paused')
) resolve ON true
ORDER BY page.created_at DESC, page.id DESC
"""
_EXTENDED = f"""
       , c.channel, c.district_code,
       (SELECT count(*) FROM attachment a
         WHERE a.complaint_id = {_SUBJECT} AND a.erased_at IS NULL) AS photos,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(e.type, e.at) ORDER BY e.id), '[]')
          FROM complaint_event e
         WHERE e.complaint_id = {_SUBJECT} AND e.type = ANY(:public_types)) AS steps
"""
_FILTERS = {
    "tickets": "c.ticket = ANY(:tickets)",
    "codes": "c.category_code = ANY(:codes)",
    "created": "c.created_at >= :start AND c.created_at < :end",
    "updated_after": "c.updated_at >= :updated_after",
    "updated_before": "c.updated_at < :updated_before",
    "statuses": "coalesce(o.status, c.status) = ANY(:statuses)",
    "near": (
        "c.location && ST_Expand(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :degrees) "
        "AND ST_DWithin(c.location::geography, "
        "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :radius)"
    ),
    "bbox": "c.location && ST_MakeEnvelope(:west, :south, :east, :north, 4326)",
}
_PUBLIC_TYPES = [str(s) for s in Status]


def _one_line(sql: str) -> str:
    """The statement without its line breaks and indentation (there are no comments in
    these, nor line breaks in their literals): under 4,096 characters, psycopg keeps a
    statement's parsed form instead of parsing it again for every execution."""
    return re.sub(r"\n\s*", " ", sql).strip()


def _matches(filters: frozenset[str]) -> str:
    """The FROM and WHERE of the requests the filters match (the page's and the count's)."""
    return _MATCHES.format(where=" AND ".join(_FILTERS[name] for name in sorted(filters)) or "true")


@lru_cache(maxsize=256)
def _statement(filters: frozenset[str], *, extended: bool, paged: bool) -> TextClause:
    sql = _READ.format(
        subject=_SUBJECT, matches=_matches(filters),
        extended=_EXTENDED if extended else "",
        created=iso_time_sql("c.created_at"), updated=iso_time_sql("c.updated_at"),
        expected=iso_time_sql("resolve.due_at"),
        limit="LIMIT :limit OFFSET :offset" if paged else "",
    )  # fmt: skip
    return text(_one_line(sql))


@lru_cache(maxsize=64)
def _count(filters: frozenset[str]) -> TextClause:
    return text(_one_line("SELECT count(*) " + _matches(filters)))


@dataclass
class RequestQuery:
    """What GET requests asks for, checked."""

    values: dict[str, Any]
    filters: frozenset[str]
    page: int
    page_size: int
    extensions: bool


def read_query(params: Params, *, zone: ZoneInfo, now: datetime) -> RequestQuery:
    """The list's parameters (the spec's and this API's extensions); problems are noted in
    `params` (the caller finishes it)."""
    values: dict[str, Any] = {}
    filters: set[str] = set()
    tickets = params.listed("service_request_id")
    codes = params.listed("service_code")
    statuses = params.listed("status")
    start = params.moment("start_date", zone)
    end = params.moment("end_date", zone, end_of_day=True)
    updated_after = params.moment("updated_after", zone)
    updated_before = params.moment("updated_before", zone, end_of_day=True)
    point_given = params.given("lat"), params.given("long")
    radius_given = params.given("radius")
    lat = params.number("lat", low=-90, high=90)
    lon = params.number("long", low=-180, high=180)
    radius = params.number("radius", low=1, high=MAX_RADIUS_M)
    bbox = params.listed("bbox")
    page = params.number("page", low=1, high=1_000_000, integer=True)
    page_size = params.number("page_size", low=1, high=MAX_PAGE, integer=True)
    extensions = params.flag("extensions")
    if tickets is not None:
        # The spec: a list of ids overrides every other filter.
        if len(tickets) > MAX_IDS:
            params.problem(f"service_request_id: at most {MAX_IDS} ids")
        values["tickets"] = tickets[:MAX_IDS]
        filters.add("tickets")
        return RequestQuery(values, frozenset(filters), int(page or 1),
                            int(page_size or MAX_PAGE), extensions)  # fmt: skip
    if codes is not None:
        values["codes"] = codes
        filters.add("codes")
    if statuses is not None:
        wrong = [s for s in statuses if s not in STATUS_SETS]
        if wrong:
            params.problem(f"status: {wrong[0][:20]!r} is not open or closed")
        values["statuses"] = sorted({x for s in statuses for x in STATUS_SETS.get(s, [])})
        filters.add("statuses")
    if start is not None and end is not None and start >= end:
        params.problem("start_date must be before end_date")
    if updated_after is not None and updated_before is not None and updated_after >= updated_before:
        params.problem("updated_after must be before updated_before")
    by_update = start is None and end is None and (updated_after or updated_before) is not None
    if by_update:
        # Polling for changes: the 90-day window is on the last change instead.
        low, high = updated_after, updated_before
    else:
        low, high = start, end
    if low is None and high is None:
        high = now + CLOCK_SLACK
    if low is None:
        low = (high or now) - WINDOW
    if high is None:
        high = low + WINDOW
    if high - low > WINDOW:
        params.problem(
            "the date range may span at most 90 days "
            + ("(updated_after to updated_before)" if by_update else "(start_date to end_date)")
        )
    if by_update:
        values.update(updated_after=low, updated_before=high)
        filters.update({"updated_after", "updated_before"})
    else:
        values.update(start=low, end=high)
        filters.add("created")
        if updated_after is not None:
            values["updated_after"] = updated_after
            filters.add("updated_after")
        if updated_before is not None:
            values["updated_before"] = updated_before
            filters.add("updated_before")
    if point_given[0] != point_given[1]:
        params.problem("lat and long go together: give both, or neither")
    elif lat is not None and lon is not None:
        values.update(lat=lat, lon=lon, radius=radius or DEFAULT_RADIUS_M)
        values["degrees"] = values["radius"] * degrees_per_metre(lat) * 1.01
        filters.add("near")
    elif radius_given and not any(point_given):
        params.problem("radius needs lat and long")
    if bbox is not None:
        box = _bbox(bbox, params)
        if box is not None:
            values.update(west=box[0], south=box[1], east=box[2], north=box[3])
            filters.add("bbox")
    return RequestQuery(values, frozenset(filters), int(page or 1),
                        int(page_size or MAX_PAGE), extensions)  # fmt: skip


def _bbox(parts: list[str], params: Params) -> tuple[float, float, float, float] | None:
    if len(parts) != 4:
        params.problem("bbox: four numbers, min_long,min_lat,max_long,max_lat")
        return None
    limits = ((-180, 180), (-90, 90), (-180, 180), (-90, 90))
    numbers = [
        params.parse_number("bbox", part, low, high)
        for part, (low, high) in zip(parts, limits, strict=True)
    ]
    if any(n is None for n in numbers):
        return None
    west, south, east, north = (float(n) for n in numbers if n is not None)
    if west >= east or south >= north:
        params.problem("bbox: min_long must be below max_long and min_lat below max_lat")
        return None
    return west, south, east, north


def _document(row: Any, *, language: str, zone: ZoneInfo, extended: bool) -> dict[str, Any]:
    # Runs for every row of every page: the row unpacked by position (a Row's attribute
    # access costs ten times as much), lookups, no parsing. The order is _READ's.
    (
        ticket, status, service_code, service_name, description, reporter_name, address, lat,
        lon, requested, updated, district_name, team, original, result_name, expected,
        referred_to, own, _total, _sort_at, _sort_id, *more,
    ) = row  # fmt: skip
    stage = STAGE_OF[status]
    open_or_closed = "open" if status in _OPEN else "closed"
    media_url, address_id = own or (None, None)
    document = {
        "service_request_id": ticket,
        "status": open_or_closed,
        "status_notes": texts.status_notes(
            stage, language, result=result_name, referred_to=referred_to
        ),
        "service_name": service_name,
        "service_code": service_code,
        "description": redact_case_text(description, reporter_name),
        "agency_responsible": texts.agency(district_name, team, language),
        "service_notice": texts.merged_notice(original, language) if original else None,
        "requested_datetime": requested,
        "updated_datetime": updated,
        "expected_datetime": expected if open_or_closed == "open" else None,
        "address": None if address is None else redact_case_text(address, reporter_name),
        "address_id": address_id,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": media_url,
    }
    if extended:
        channel, district_code, photos, steps = more
        document["extended_attributes"] = {
            "channel": channel,
            "district": district_code,
            "district_name": district_name,
            "duplicate_of": original,
            "photos": photos,
            "status_history": [
                {
                    "status": "open" if step.stage in _OPEN_STAGES else "closed",
                    "status_notes": texts.status_notes(step.stage, language),
                    "datetime": iso_time(step.at, zone),
                }
                for step in public_steps(steps)
            ],
        }
    return document


_OPEN = frozenset(OPEN)
_OPEN_STAGES = {STAGE_OF[Status(s)] for s in OPEN}


@dataclass
class Found:
    """A page of requests and the count of all that match."""

    documents: list[dict[str, Any]]
    total: int


async def _check_codes(connection: AsyncConnection, query: RequestQuery) -> None:
    if "codes" in query.filters:
        known = set((await connection.execute(_ACTIVE_CODES)).scalars())
        unknown = [code for code in query.values["codes"] if code not in known]
        if unknown:
            raise refuse(f"service_code: no service has the code {unknown[0][:50]!r}")


async def _total(connection: AsyncConnection, query: RequestQuery, rows: list[Any]) -> int:
    """Every match counted: by the page's rows, or (a page past the end) by a query."""
    if rows:
        return int(rows[0].total)
    if query.page > 1:
        return int((await connection.execute(_count(query.filters), query.values)).scalar_one())
    return 0


def _page_values(query: RequestQuery, *, language: str, zone: ZoneInfo) -> dict[str, Any]:
    """The page statement's parameters: the query's, its page, the reader's language."""
    return dict(
        query.values, limit=query.page_size, offset=(query.page - 1) * query.page_size,
        language=language, note_language=texts.note_language(language), zone=zone.key,
    )  # fmt: skip


async def find(
    connection: AsyncConnection, query: RequestQuery, *, language: str, zone: ZoneInfo
) -> Found:
    """The requests the query matches, newest first, one page."""
    await _check_codes(connection, query)
    statement = _statement(query.filters, extended=query.extensions, paged=True)
    values = _page_values(query, language=language, zone=zone)
    if query.extensions:
        values["public_types"] = _PUBLIC_TYPES
    rows = (await connection.execute(statement, values)).all()
    total = await _total(connection, query, rows)
    documents = [
        _document(row, language=language, zone=zone, extended=query.extensions) for row in rows
    ]
    return Found(documents, total)


# The page as JSON written by PostgreSQL, a request a row (what `_document` writes, in its
# order: tests hold the two together). Rows whose text may hold contact data (an @, six
# digits, or letters other than ASCII and Hangul, where `redact`'s patterns might find
# what SQL's would not) come with their texts, for Python to redact.
_AS_JSON = """
SELECT json_build_object(
    'service_request_id', r.ticket,
    'status', CASE WHEN r.status = ANY(:open_statuses) THEN 'open' ELSE 'closed' END,
    'status_notes', concat_ws(' ',
        CAST(:notes AS jsonb) ->> r.status,
        replace(:result_words, '{{}}', nullif(r.result_name, '')),
        CASE WHEN r.status = 'referred'
             THEN replace(:referred_words, '{{}}', nullif(r.referred_to, '')) END),
    'service_name', r.service_name,
    'service_code', r.category_code,
    'description', r.named_description,
    'agency_responsible', CASE WHEN r.team <> '' THEN r.district_name || ' ' || r.team
                               ELSE replace(:office_words, '{{}}', r.district_name) END,
    'service_notice', CASE WHEN r.original_ticket <> ''
                           THEN replace(:merged_words, '{{}}', r.original_ticket) END,
    'requested_datetime', r.requested,
    'updated_datetime', r.updated,
    'expected_datetime', CASE WHEN r.status = ANY(:open_statuses) THEN r.expected END,
    'address', r.named_address,
    'address_id', r.own[2],
    'zipcode', NULL,
    'lat', r.lat,
    'long', r.lon,
    'media_url', r.own[1])::text AS document,
    r.total,
    CASE WHEN r.named_description ~ :may_hold OR r.named_address ~ :may_hold
         THEN ARRAY[r.named_description, r.named_address] END AS texts,
    r.sort_at, r.sort_id
FROM (
    SELECT p.*,
           CASE WHEN char_length(p.reporter_name) >= 2
                THEN replace(p.description, p.reporter_name, :mark) ELSE p.description END
               AS named_description,
           CASE WHEN char_length(p.reporter_name) >= 2
                THEN replace(p.address, p.reporter_name, :mark) ELSE p.address END
               AS named_address
    FROM ({page}) p
) r
"""
# The whole page as one value (one row to send and to read, not a hundred): the documents
# in order, joined by commas, where each one Python must redact is a chr(1) (which JSON
# written by PostgreSQL never holds: it escapes control characters), those documents
# and their texts beside, in the same order.
_PAGE_AS_JSON = """
SELECT string_agg(CASE WHEN j.texts IS NULL THEN j.document ELSE chr(1) END, ','
                  ORDER BY j.sort_at DESC, j.sort_id DESC) AS body,
       max(j.total) AS total,
       array_agg(ARRAY[j.document, j.texts[1], j.texts[2]]
                 ORDER BY j.sort_at DESC, j.sort_id DESC) FILTER (WHERE j.texts IS NOT NULL)
           AS redact
FROM ({rows}) j
"""


@lru_cache(maxsize=256)
def _json_statement(filters: frozenset[str]) -> DriverStatement:
    page = str(_statement(filters, extended=False, paged=True))
    rows = _AS_JSON.format(page=page)
    return DriverStatement(text(_one_line(_PAGE_AS_JSON.format(rows=rows))))


@lru_cache(maxsize=16)
def _json_values(language: str) -> dict[str, Any]:
    said = texts.templates(language)
    # Each status's note as status_notes writes it (the result and the agency added in SQL).
    notes = {str(s): texts.status_notes(STAGE_OF[s], language) for s in Status}
    return {
        "open_statuses": sorted(_OPEN), "mark": MARK, "may_hold": MAY_HOLD_SQL,
        "notes": json.dumps(notes),
        "result_words": said["result"], "referred_words": said["referred_to"],
        "office_words": said["office"], "merged_words": said["merged"],
    }  # fmt: skip


async def find_json(
    connection: AsyncConnection, query: RequestQuery, *, language: str, zone: ZoneInfo
) -> tuple[bytes, int]:
    """`find` without extensions, as the JSON body of the page (and the count of all that
    match): PostgreSQL writes the documents, Python only redacts the texts that need it."""
    assert not query.extensions, "extended attributes are find's"
    await _check_codes(connection, query)
    values = _page_values(query, language=language, zone=zone) | _json_values(language)
    statement = _json_statement(query.filters)
    [(body, total, to_redact)] = await driver_rows(connection, statement, values)
    if body is None:  # no request on this page
        return b"[]", await _total(connection, query, [])
    if to_redact:
        written = body.split("\x01")
        parts = [written[0]]
        for (document, description, address), after in zip(to_redact, written[1:], strict=True):
            found = orjson.loads(document)
            found["description"] = redact(description)
            found["address"] = None if address is None else redact(address)
            parts += [orjson.dumps(found).decode(), after]
        body = "".join(parts)
    return b"[" + body.encode() + b"]", int(total)


async def one(
    connection: AsyncConnection, *, ticket: str, language: str, zone: ZoneInfo, extended: bool
) -> dict[str, Any]:
    """One request by its id (404 when none)."""
    statement = _statement(frozenset({"tickets"}), extended=extended, paged=False)
    values: dict[str, Any] = {
        "tickets": [ticket], "language": language, "note_language": texts.note_language(language),
        "zone": zone.key,
    }  # fmt: skip
    if extended:
        values["public_types"] = _PUBLIC_TYPES
    row = (await connection.execute(statement, values)).first()
    if row is None:
        raise RequestNotFound(f"no service request has the id {ticket[:40]!r}")
    return _document(row, language=language, zone=zone, extended=extended)


_BY_TOKEN = text(
    """
    SELECT c.ticket FROM complaint_event e JOIN complaint c ON c.id = e.complaint_id
    WHERE e.type = 'received' AND e.payload ? 'open311'
      AND e.payload #>> '{open311,token}' = :token
    """
)


async def by_token(connection: AsyncConnection, *, token: str) -> str:
    """The service_request_id a token stands for (404 when none)."""
    ticket = (await connection.execute(_BY_TOKEN, {"token": token})).scalar()
    if ticket is None:
        raise RequestNotFound(f"no service request has the token {token[:40]!r}")
    return str(ticket)
