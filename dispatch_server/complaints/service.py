"""Reading and writing complaints. Takes a session and plain values; raises domain errors."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, select, tuple_
from sqlalchemy.orm import Session

from dispatch_server.complaints.constants import EventType, Language, Status
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
    ComplaintPage,
    ComplaintRead,
    DistrictRead,
    Location,
    ReporterRead,
)
from dispatch_server.complaints.tickets import looks_like_ticket, make_ticket
from dispatch_server.phones import PhoneRejected, mask_phone, normalize_phone
from geo.districts import DistrictRef
from geo.models import District

_READ_COLUMNS = (
    Complaint.id,
    Complaint.ticket,
    Complaint.status,
    Complaint.category_code,
    Complaint.priority,
    Complaint.channel,
    Complaint.description,
    Complaint.address,
    Complaint.reporter_phone,
    Complaint.reporter_language,
    Complaint.version,
    Complaint.created_at,
    Complaint.updated_at,
    func.ST_Y(Complaint.location).label("lat"),
    func.ST_X(Complaint.location).label("lon"),
    District.code.label("district_code"),
    District.name_ko.label("district_name_ko"),
    District.name_en.label("district_name_en"),
)


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


_category = Category.__table__
_complaint = Complaint.__table__
_event = ComplaintEvent.__table__

# Built once: intake runs these for every complaint (see docs/benchmarks.md for why).
_RESERVE = select(_category.c.default_priority, func.nextval("complaint_id_seq")).where(
    _category.c.code == bindparam("category"), _category.c.active
)
_KNOWN_CATEGORIES = select(_category.c.code).where(_category.c.active).order_by(_category.c.code)
_INSERT_COMPLAINT = insert(_complaint).values(
    {
        column: bindparam(f"c_{column}")
        for column in (
            "id",
            "ticket",
            "category_code",
            "description",
            "channel",
            "reporter_phone",
            "reporter_language",
            "address",
            "district_code",
            "status",
            "priority",
            "version",
            "created_at",
            "updated_at",
        )
    }
    | {"location": func.ST_SetSRID(func.ST_MakePoint(bindparam("c_lon"), bindparam("c_lat")), 4326)}
)
# The complaint and its first timeline entry go in one statement (one round trip): the
# complaint insert rides along as a data-modifying CTE.
_INSERT_RECEIVED = (
    insert(_event)
    .values(
        complaint_id=bindparam("c_id"),
        type=bindparam("e_type"),
        actor=bindparam("e_actor"),
        at=bindparam("c_created_at"),
        payload=bindparam("e_payload", type_=_event.c.payload.type),
    )
    .add_cte(_INSERT_COMPLAINT.cte("new_complaint"))
)


def _reserve_id_for(session: Session, category: str) -> tuple[str, int]:
    """The category's default priority and a fresh complaint id, in one round trip."""
    connection = session.connection()
    row = connection.execute(_RESERVE, {"category": category}).first()
    if row is None:
        known = connection.execute(_KNOWN_CATEGORIES).scalars().all()
        raise UnknownCategory(
            f"unknown category {category!r}", details={"category": category, "known": known}
        )
    return row[0], row[1]


def create(
    session: Session,
    *,
    data: ComplaintCreate,
    district: DistrictRef,
    reporter_phone: str | None,
    actor: str,
    now: datetime,
    timezone: str,
) -> ComplaintRead:
    """Store a new complaint and its first timeline entry (the caller commits both at once)."""
    default_priority, complaint_id = _reserve_id_for(session, data.category)
    priority = data.priority or default_priority
    ticket = make_ticket(complaint_id, now, timezone=timezone)
    language = data.reporter.language if data.reporter else Language.KO
    address = data.address or None
    session.connection().execute(
        _INSERT_RECEIVED,
        {
            "c_id": complaint_id,
            "c_ticket": ticket,
            "c_category_code": data.category,
            "c_description": data.description,
            "c_channel": data.channel,
            "c_reporter_phone": reporter_phone,
            "c_reporter_language": language,
            "c_address": address,
            "c_district_code": district.code,
            "c_status": Status.RECEIVED,
            "c_priority": priority,
            "c_version": 1,
            "c_created_at": now,
            "c_updated_at": now,
            "c_lat": data.location.lat,
            "c_lon": data.location.lon,
            "e_type": EventType.RECEIVED,
            "e_actor": actor,
            "e_payload": {
                "channel": str(data.channel),
                "category": data.category,
                "district": district.code,
            },
        },
    )
    return ComplaintRead(
        id=complaint_id,
        ticket=ticket,
        status=Status.RECEIVED,
        category=data.category,
        priority=priority,
        channel=data.channel,
        description=data.description,
        address=address,
        district=DistrictRead(
            code=district.code, name_ko=district.name_ko, name_en=district.name_en
        ),
        location=data.location,
        reporter=ReporterRead(phone_masked=mask_phone(reporter_phone), language=language),
        version=1,
        created_at=now,
        updated_at=now,
    )


def _to_read(row: Row[Any]) -> ComplaintRead:
    return ComplaintRead(
        id=row.id,
        ticket=row.ticket,
        status=row.status,
        category=row.category_code,
        priority=row.priority,
        channel=row.channel,
        description=row.description,
        address=row.address,
        district=DistrictRead(
            code=row.district_code, name_ko=row.district_name_ko, name_en=row.district_name_en
        ),
        location=Location(lat=row.lat, lon=row.lon),
        reporter=ReporterRead(
            phone_masked=mask_phone(row.reporter_phone), language=row.reporter_language
        ),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _base_query():  # type: ignore[no-untyped-def]
    return select(*_READ_COLUMNS).join(District, District.code == Complaint.district_code)


def get_by_ticket(session: Session, *, ticket: str) -> ComplaintRead:
    """The complaint with this public ticket number."""
    row = None
    if looks_like_ticket(ticket):
        row = session.execute(_base_query().where(Complaint.ticket == ticket)).first()
    if row is None:
        raise ComplaintNotFound(f"no complaint has ticket {ticket!r}", details={"ticket": ticket})
    return _to_read(row)


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


def list_page(session: Session, *, filters: ComplaintFilter) -> ComplaintPage:
    """One page of complaints, newest first, after the filter's cursor."""
    query = _base_query()
    if filters.districts:
        query = query.where(Complaint.district_code.in_(filters.districts))
    if filters.categories:
        query = query.where(Complaint.category_code.in_(filters.categories))
    statuses = filters.statuses()
    if statuses:
        query = query.where(Complaint.status.in_([str(s) for s in statuses]))
    if filters.created_from is not None:
        query = query.where(Complaint.created_at >= filters.created_from)
    if filters.created_to is not None:
        query = query.where(Complaint.created_at < filters.created_to)
    box = filters.bounding_box()
    if box is not None:
        query = query.where(Complaint.location.op("&&")(func.ST_MakeEnvelope(*box, 4326)))
    if filters.cursor:
        after_created, after_id = decode_cursor(filters.cursor)
        query = query.where(
            tuple_(Complaint.created_at, Complaint.id) < tuple_(after_created, after_id)
        )
    query = query.order_by(Complaint.created_at.desc(), Complaint.id.desc()).limit(
        filters.limit + 1
    )
    rows = session.execute(query).all()
    items = [_to_read(row) for row in rows[: filters.limit]]
    next_cursor = None
    if len(rows) > filters.limit:
        last = items[-1]
        next_cursor = encode_cursor(last.created_at, last.id)
    return ComplaintPage(items=items, next_cursor=next_cursor)
