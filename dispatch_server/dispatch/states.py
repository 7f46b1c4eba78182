"""The case state machine: which moves exist and what each needs. Pure, no database."""

from __future__ import annotations

from dispatch_server.complaints.constants import Status

S = Status

# From each status, the statuses a case may move to. assigned -> assigned is a reassignment;
# assigned -> received takes the case back from its inspector.
# received -> referred: a dispatcher passes a case that is not the district's to the agency
# whose it is, without a visit.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.RECEIVED: frozenset({S.ASSIGNED, S.NEEDS_TRIAGE, S.DUPLICATE, S.CANCELLED, S.REFERRED}),
    S.NEEDS_TRIAGE: frozenset({S.RECEIVED, S.ASSIGNED, S.DUPLICATE, S.CANCELLED, S.REFERRED}),
    S.ASSIGNED: frozenset({S.ASSIGNED, S.ACCEPTED, S.RECEIVED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.EN_ROUTE, S.ON_SITE, S.ASSIGNED, S.CANCELLED}),
    S.EN_ROUTE: frozenset({S.ON_SITE, S.ASSIGNED, S.CANCELLED}),
    S.ON_SITE: frozenset({S.RESOLVED, S.UNRESOLVED, S.REFERRED}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.UNRESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.REFERRED: frozenset({S.CLOSED, S.REOPENED}),
    S.CLOSED: frozenset({S.REOPENED}),
    S.REOPENED: frozenset({S.ASSIGNED, S.NEEDS_TRIAGE, S.CANCELLED}),
    # Unmerged: back to received (dispatched like a new case), or reopened.
    S.DUPLICATE: frozenset({S.RECEIVED, S.REOPENED}),
    S.CANCELLED: frozenset(),
}

# The moves an inspector makes on their own case from the field app; the rest is the
# dispatchers'.
INSPECTOR_MOVES: frozenset[Status] = frozenset(
    {S.ACCEPTED, S.EN_ROUTE, S.ON_SITE, S.RESOLVED, S.UNRESOLVED, S.REFERRED}
)

# What a move to each status must carry.
REQUIRES: dict[Status, frozenset[str]] = {
    S.ASSIGNED: frozenset({"inspector_id"}),
    S.UNRESOLVED: frozenset({"result_code"}),
    S.REFERRED: frozenset({"referred_to"}),
    S.DUPLICATE: frozenset({"duplicate_of"}),
    S.CANCELLED: frozenset({"reason"}),
    S.REOPENED: frozenset({"reason"}),
    S.NEEDS_TRIAGE: frozenset({"reason"}),
}


def allowed_moves(current: Status) -> frozenset[Status]:
    """Where a case in `current` may go."""
    return TRANSITIONS[current]


def sources_of(target: Status) -> frozenset[Status]:
    """The statuses from which a case may move to `target`."""
    return frozenset(source for source, targets in TRANSITIONS.items() if target in targets)


def missing_fields(target: Status, given: set[str]) -> list[str]:
    """The fields a move to `target` needs that were not given."""
    return sorted(REQUIRES.get(target, frozenset()) - given)
