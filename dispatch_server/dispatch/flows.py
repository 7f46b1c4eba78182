"""What happens when someone moves a case: the move, once per Idempotency-Key."""

from __future__ import annotations

from collections.abc import Callable

from dispatch_server import idempotency
from dispatch_server.clock import Clock
from dispatch_server.db import AsyncConnectable
from dispatch_server.dispatch import service
from dispatch_server.dispatch.schemas import TransitionRequest


async def move_once(
    transaction: Callable[[], AsyncConnectable],
    clock: Clock,
    *,
    complaint_id: int,
    move: TransitionRequest,
    actor: str,
    scope: str,
    key: str | None,
    as_inspector: int | None = None,
) -> idempotency.Replay:
    """Make the move in one transaction with its key's claim and answer; the answer's JSON."""
    async with transaction() as connection:

        async def act() -> bytes:
            moved = await service.transition(
                connection,
                complaint_id=complaint_id,
                move=move,
                actor=actor,
                now=clock.now(),
                as_inspector=as_inspector,
            )
            return moved.model_dump_json().encode()

        return await idempotency.once(
            connection,
            scope=scope,
            key=key,
            request_body=move.model_dump_json().encode(),
            now=clock.now(),
            action=act,
        )
