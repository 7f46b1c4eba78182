"""The fixed vocabularies of a complaint: statuses, channels, priorities, languages."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Lifecycle status of a case (its moves arrive with the dispatch state machine)."""

    RECEIVED = "received"
    NEEDS_TRIAGE = "needs_triage"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"
    REFERRED = "referred"
    CLOSED = "closed"
    DUPLICATE = "duplicate"
    CANCELLED = "cancelled"
    REOPENED = "reopened"


# Statuses in which nobody needs to do anything more; everything else is "open".
FINAL_STATUSES: frozenset[Status] = frozenset({Status.CLOSED, Status.CANCELLED, Status.DUPLICATE})
OPEN_STATUSES: frozenset[Status] = frozenset(Status) - FINAL_STATUSES
# Statuses of a case still waiting for its visit: a new report of the same thing close by
# is its duplicate. Once the visit has a result, a new report is a new case.
AWAITING_VISIT: frozenset[Status] = frozenset(
    {
        Status.RECEIVED, Status.NEEDS_TRIAGE, Status.ASSIGNED, Status.ACCEPTED,
        Status.EN_ROUTE, Status.ON_SITE, Status.REOPENED,
    }
)  # fmt: skip


class Channel(StrEnum):
    """How the complaint reached us."""

    PHONE = "phone"
    SMS = "sms"
    APP = "app"
    WEB = "web"
    CHAT = "chat"
    OPEN311 = "open311"
    WALK_IN = "walk_in"


class Priority(StrEnum):
    """How urgent the case is; a category gives the default."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Language(StrEnum):
    """Languages the citizen can be answered in (those of the call centre)."""

    KO = "ko"
    EN = "en"
    ZH = "zh"
    JA = "ja"
    VI = "vi"
    MN = "mn"


class EventType(StrEnum):
    """Kinds of entries on a case's timeline."""

    RECEIVED = "received"
    # On the original when a case is linked to it as a duplicate, or unlinked from it.
    DUPLICATE_LINKED = "duplicate_linked"
    DUPLICATE_UNLINKED = "duplicate_unlinked"
    # On a duplicate whose original was merged into another case: it follows.
    DUPLICATE_RELINKED = "duplicate_relinked"
    # A dispatcher made an open case more or less urgent.
    PRIORITY_CHANGED = "priority_changed"


def sql_in(values: frozenset[str] | type[StrEnum]) -> str:
    """A CHECK-constraint list of the given values: 'a', 'b', ..."""
    return ", ".join(f"'{v}'" for v in sorted(str(v) for v in values))
