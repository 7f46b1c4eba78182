"""Re-routing a case whose assign or arrive clock breached: to the next candidate inspector."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.access import EVERY_CASE
from dispatch_server.complaints.constants import Status
from dispatch_server.complaints.models import Complaint
from dispatch_server.dispatch import service as dispatch
from dispatch_server.dispatch.schemas import TransitionRequest
from dispatch_server.errors import DomainError

ACTOR = "system:sla"
# A case is re-routed only before anyone is on site: after that, a new inspector helps nobody.
REROUTABLE = frozenset({Status.RECEIVED, Status.ASSIGNED, Status.ACCEPTED, Status.EN_ROUTE})

_CASE = select(Complaint.status, Complaint.version, Complaint.assignee_id).where(
    Complaint.id == bindparam("complaint_id")
)


async def reroute(connection: AsyncConnection, complaint_id: int, now: datetime) -> bool:
    """Give the case to its best-ranked candidate other than its inspector; whether it moved.

    Runs in the sweep's transaction: the move and its timeline entry land with the breach.
    Nothing happens when the case is past its visit or nobody else is available.
    """
    case = (await connection.execute(_CASE, {"complaint_id": complaint_id})).first()
    if case is None or Status(case.status) not in REROUTABLE:
        return False
    ranking = await dispatch.candidates(
        connection, complaint_id=complaint_id, scope=EVERY_CASE, limit=5
    )
    others = [c for c in ranking.candidates if c.inspector_id != case.assignee_id]
    if not others:
        return False
    try:
        await dispatch.transition(
            connection,
            complaint_id=complaint_id,
            move=TransitionRequest(
                to=Status.ASSIGNED,
                version=case.version,
                inspector_id=others[0].inspector_id,
                reason="SLA breached: re-routed to the next candidate inspector",
            ),
            actor=ACTOR,
            now=now,
            scope=EVERY_CASE,
        )
    except DomainError:
        return False  # moved meanwhile, or the candidate went off duty: the dispatcher decides
    return True
