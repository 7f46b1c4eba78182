"""Reading a reporter's contact data in full, and the log of every such read.

A full read and its log row are one statement: the read cannot happen without its row.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import phonenumbers
from sqlalchemy import Select, String, Text, bindparam, case, func, insert, literal, null, select
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.access import Caller, scope_condition
from dispatch_server.complaints.exceptions import ComplaintNotFound
from dispatch_server.complaints.models import Complaint
from dispatch_server.privacy.models import PersonalDataAccess
from dispatch_server.privacy.schemas import AccessLogEntry, AccessLogPage, ContactRead

_complaint = Complaint.__table__
_access = PersonalDataAccess.__table__


def national_format(e164: str | None) -> str | None:
    """The number as its own country writes it (`010-1234-5678`), for dialling."""
    if e164 is None:
        return None
    number = phonenumbers.parse(e164)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


@lru_cache(maxsize=8)
def _contact_statement(scope_kind: str) -> Select[Any]:
    """The case's contact data in the caller's scope, and a log row, written when any of it
    is there to reveal (a case with none, or erased, reveals nothing)."""
    c = _complaint.c
    found = (
        select(
            c.id, c.ticket, c.reporter_phone, c.reporter_name, c.reporter_email,
            c.reporter_language, c.contact_erased_at,
        )
        .where(c.ticket == bindparam("ticket"), scope_condition(scope_kind, _complaint))
        .cte("found")
    )  # fmt: skip
    # The names of the fields that hold something.
    revealed = func.array_remove(
        array(
            [
                case((column.is_not(None), literal(name, String)))
                for column, name in (
                    (found.c.reporter_phone, "phone"),
                    (found.c.reporter_name, "name"),
                    (found.c.reporter_email, "email"),
                )
            ],
            type_=String,
        ),
        null(),
    )
    logged = (
        insert(_access)
        .from_select(
            ["at", "user_id", "username", "role", "complaint_id", "fields", "purpose",
             "client_address"],
            select(
                bindparam("now"), bindparam("user_id"), bindparam("username", type_=Text),
                bindparam("role", type_=Text), found.c.id, revealed,
                bindparam("purpose", type_=Text), bindparam("client_address", type_=Text),
            ).where(func.cardinality(revealed) > 0),
        )
        .returning(_access.c.id)
        .cte("logged")
    )  # fmt: skip
    return select(
        found.c.ticket, found.c.reporter_phone, found.c.reporter_name, found.c.reporter_email,
        found.c.reporter_language, found.c.contact_erased_at,
        select(func.max(logged.c.id)).scalar_subquery().label("log_id"),
    )  # fmt: skip


async def read_contact(
    connection: AsyncConnection,
    *,
    ticket: str,
    caller: Caller,
    purpose: str,
    client_address: str | None,
    now: datetime,
) -> ContactRead:
    """The reporter's phone, name and e-mail in full, logged as read by `caller` (404 when
    the case is not in the caller's scope)."""
    principal = caller.principal
    row = (
        await connection.execute(
            _contact_statement(caller.scope.kind),
            {
                "ticket": ticket, **caller.scope.params(), "now": now,
                "user_id": principal.user_id, "username": principal.username,
                "role": str(principal.role), "purpose": purpose,
                "client_address": client_address,
            },
        )
    ).first()  # fmt: skip
    if row is None:
        raise ComplaintNotFound(f"no complaint has ticket {ticket!r}", details={"ticket": ticket})
    return ContactRead(
        ticket=row.ticket,
        phone=row.reporter_phone,
        phone_national=national_format(row.reporter_phone),
        name=row.reporter_name,
        email=row.reporter_email,
        language=row.reporter_language,
        erased_at=row.contact_erased_at,
        access_log_id=row.log_id,
    )


async def access_log(
    connection: AsyncConnection,
    *,
    ticket: str | None,
    username: str | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> AccessLogPage:
    """Full reads of contact data, newest first, filtered; `next_before_id` pages on."""
    a = _access.c
    statement = (
        select(
            a.id, a.at, a.username, a.role, _complaint.c.ticket, a.fields, a.purpose,
            a.client_address,
        )
        .join(_complaint, _complaint.c.id == a.complaint_id)
        .order_by(a.id.desc())
        .limit(limit + 1)
    )  # fmt: skip
    if ticket is not None:
        statement = statement.where(_complaint.c.ticket == ticket)
    if username is not None:
        statement = statement.where(func.lower(a.username) == username.lower())
    if since is not None:
        statement = statement.where(a.at >= since)
    if until is not None:
        statement = statement.where(a.at < until)
    if before_id is not None:
        statement = statement.where(a.id < before_id)
    rows = (await connection.execute(statement)).all()
    entries = [AccessLogEntry.model_validate(row, from_attributes=True) for row in rows[:limit]]
    more = len(rows) > limit
    return AccessLogPage(entries=entries, next_before_id=entries[-1].id if more else None)
