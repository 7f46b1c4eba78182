"""What happens when someone moves a case: the move, once per Idempotency-Key."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import bindparam, select

from dispatch_server import idempotency
from dispatch_server.access import EVERY_CASE, Scope
from dispatch_server.clock import Clock
from dispatch_server.complaints.constants import Status
from dispatch_server.complaints.flows import Intake
from dispatch_server.complaints.models import Complaint
from dispatch_server.complaints.schemas import ComplaintCreated, ComplaintRead
from dispatch_server.db import AsyncConnectable
from dispatch_server.dispatch import service
from dispatch_server.dispatch.exceptions import StaleVersion
from dispatch_server.dispatch.schemas import TransitionRequest


async def move_once(
    transaction: Callable[[], AsyncConnectable],
    clock: Clock,
    *,
    complaint_id: int,
    move: TransitionRequest,
    actor: str,
    within: Scope,
    key_scope: str,
    key: str | None,
    only_from: frozenset[Status] | None = None,
) -> idempotency.Replay:
    """Make the move in one transaction with its key's claim and answer; the answer's JSON.

    `within` is the mover's scope (a case outside it is not found); `key_scope` where the
    Idempotency-Key is unique (the route, and the inspector for the field app).
    """
    async with transaction() as connection:

        async def act() -> bytes:
            moved = await service.transition(
                connection,
                complaint_id=complaint_id,
                move=move,
                actor=actor,
                now=clock.now(),
                scope=within,
                only_from=only_from,
            )
            return moved.model_dump_json().encode()

        return await idempotency.once(
            connection,
            scope=key_scope,
            key=key,
            request_body=move.model_dump_json().encode(),
            now=clock.now(),
            action=act,
        )


_VERSION = select(Complaint.version).where(Complaint.id == bindparam("complaint_id"))


async def dispatch_received(
    transaction: Callable[[], AsyncConnectable], clock: Clock, intake: Intake
) -> ComplaintCreated:
    """What intake answers once the complaint is stored: as stored, or as auto-assigned when
    its category says so and an inspector is free (every channel's intake ends here)."""
    created = intake.created
    if not intake.received.auto_assign:
        return created
    # Stored and committed already: whatever happens now, the complaint is not lost.
    assigned = await auto_assign(transaction, clock, complaint_id=created.id)
    if assigned is None:
        return created
    return ComplaintCreated(
        **assigned.model_dump(), locating=created.locating, warnings=created.warnings
    )


async def auto_assign(
    transaction: Callable[[], AsyncConnectable], clock: Clock, *, complaint_id: int
) -> ComplaintRead | None:
    """Assign the case to its best-ranked candidate (for categories that auto-assign).

    None when no inspector is available (the case then waits for a dispatcher, as any
    other) or when someone moved it first.
    """
    async with transaction() as connection:
        version = (await connection.execute(_VERSION, {"complaint_id": complaint_id})).scalar()
        if version is None:
            return None
        ranking = await service.candidates(
            connection, complaint_id=complaint_id, scope=EVERY_CASE, limit=1
        )
        if not ranking.candidates:
            return None
        best = ranking.candidates[0]
        try:
            return await service.transition(
                connection,
                complaint_id=complaint_id,
                move=TransitionRequest(
                    to=Status.ASSIGNED,
                    version=version,
                    inspector_id=best.inspector_id,
                    note=f"auto-assigned: best of {len(ranking.candidates)} (score {best.score})",
                ),
                actor="auto-assign",
                now=clock.now(),
                scope=EVERY_CASE,
            )
        except StaleVersion:
            return None
