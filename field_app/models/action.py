"""An inspector's action as the outbox keeps it until the server has it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What an action does on the server."""

    MOVE = "move"  # a state move on a case (accept, on the way, arrived, a result)
    PHOTOS = "photos"  # photos added to a case
    DUTY = "duty"  # on or off duty


class State(StrEnum):
    PENDING = "pending"  # waiting to be sent (or being retried)
    SENT = "sent"  # the server has it
    DROPPED = "dropped"  # the server refused it for good (the reason is a notice)


@dataclass(frozen=True)
class Action:
    """One row of the outbox."""

    seq: int
    key: str
    kind: Kind
    case_id: int | None
    payload: dict[str, Any]
    device_time: str
    state: State
    attempts: int
    sent_version: int | None
    last_error: str | None

    @classmethod
    def of(cls, row: Any) -> Action:
        return cls(
            seq=row["seq"], key=row["key"], kind=Kind(row["kind"]), case_id=row["case_id"],
            payload=json.loads(row["payload"]), device_time=row["device_time"],
            state=State(row["state"]), attempts=row["attempts"],
            sent_version=row["sent_version"], last_error=row["last_error"],
        )  # fmt: skip


@dataclass(frozen=True)
class Notice:
    """Something the inspector must read: an action the server refused, and why (a code
    and its values, worded in the inspector's language when shown)."""

    id: int
    at: str
    case_id: int | None
    ticket: str | None
    code: str
    params: dict[str, Any]

    @classmethod
    def of(cls, row: Any) -> Notice:
        return cls(row["id"], row["at"], row["case_id"], row["ticket"], row["code"],
                   json.loads(row["params"]))  # fmt: skip
