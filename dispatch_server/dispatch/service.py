"""Moving cases through the state machine, and ranking inspectors for a case."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Text, bindparam, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.access import EVERY_CASE, Scope
from dispatch_server.complaints import service as complaints
from dispatch_server.complaints.constants import FINAL_STATUSES, EventType, Priority, Status
from dispatch_server.complaints.exceptions import ComplaintNotFound
from dispatch_server.complaints.models import Complaint, ComplaintEvent
from dispatch_server.complaints.schemas import ComplaintRead
from dispatch_server.dispatch import states
from dispatch_server.dispatch.exceptions import (
    InspectorUnavailable,
    InvalidDuplicate,
    InvalidTransition,
    MissingFields,
    StaleVersion,
    UnknownResultCode,
)
from dispatch_server.dispatch.models import Inspector, ResultCode, Team
from dispatch_server.dispatch.schemas import (
    Candidate,
    CandidateList,
    CandidateScope,
    PriorityChange,
    TransitionRequest,
)

_complaint = Complaint.__table__
_event = ComplaintEvent.__table__
_inspector = Inspector.__table__
_team = Team.__table__
_result_code = ResultCode.__table__

# Outcomes a result code may have, per result status.
_OUTCOME_OF = {
    Status.RESOLVED: "resolved",
    Status.UNRESOLVED: "unresolved",
    Status.REFERRED: "referred",
}
# Moves that take the case away from its inspector.
_UNASSIGNING = {Status.RECEIVED, Status.REOPENED, Status.NEEDS_TRIAGE, Status.CANCELLED}

_CURRENT = select(
    _complaint.c.status,
    _complaint.c.version,
    _complaint.c.category_code,
    _complaint.c.district_code,
    _complaint.c.priority,
    _complaint.c.assignee_id,
    _complaint.c.team_id,
    _complaint.c.result_code,
    _complaint.c.duplicate_of,
    _complaint.c.updated_at,
).where(_complaint.c.id == bindparam("complaint_id"))
# How far back a move may say it happened (a phone that was offline, or whose clock is off).
OCCURRED_WINDOW = timedelta(hours=24)

# The move and its timeline entry in one statement: the UPDATE only happens at the version
# the caller saw and from a status the move is allowed from; the event rides on its RETURNING.
_moved = (
    update(_complaint)
    .where(
        _complaint.c.id == bindparam("complaint_id"),
        _complaint.c.version == bindparam("expected_version"),
        _complaint.c.status == func.any(bindparam("sources", type_=ARRAY(Text))),
    )
    .values(
        status=bindparam("to_status"),
        version=_complaint.c.version + 1,
        updated_at=bindparam("now"),
        assignee_id=bindparam("new_assignee_id"),
        team_id=bindparam("new_team_id"),
        result_code=bindparam("new_result_code"),
        duplicate_of=bindparam("new_duplicate_of"),
    )
    .returning(_complaint.c.id)
    .cte("moved")
)
_MOVE = complaints.timeline_entry(
    _moved.c.id, "to_status", bindparam("payload", type_=_event.c.payload.type)
).returning(_event.c.complaint_id)

_INSPECTOR = (
    select(
        _inspector.c.id,
        _inspector.c.on_duty,
        _inspector.c.team_id,
        _team.c.district_code,
        _team.c.categories,
    )
    .join(_team, _team.c.id == _inspector.c.team_id)
    .where(_inspector.c.id == bindparam("inspector_id"))
)
_RESULT_CODE = select(_result_code.c.outcome, _result_code.c.category_code).where(
    _result_code.c.code == bindparam("code")
)
_original_of = _complaint.alias("original_of")
_ORIGINAL = (
    select(_complaint.c.id, _complaint.c.status, _original_of.c.ticket.label("original_ticket"))
    .outerjoin(_original_of, _original_of.c.id == _complaint.c.duplicate_of)
    .where(_complaint.c.ticket == bindparam("ticket"))
)
# An event on the original about one of its duplicates (linked or unlinked).
_NOTE_ON_ORIGINAL = insert(_event).from_select(
    ["complaint_id", "type", "actor", "at", "payload"],
    select(
        bindparam("original_id", type_=BigInteger),
        bindparam("type", type_=Text),
        bindparam("actor", type_=Text),
        bindparam("now", type_=_event.c.at.type),
        func.jsonb_strip_nulls(
            func.jsonb_build_object(
                "duplicate_id", _complaint.c.id, "duplicate_ticket", _complaint.c.ticket,
                "reason", bindparam("reason", type_=Text),
            )
        ),
    ).where(_complaint.c.id == bindparam("complaint_id")),
)  # fmt: skip
# A merged case's own duplicates follow it to its original (no chains of duplicates).
_FOLLOWERS = (
    update(_complaint)
    .where(_complaint.c.duplicate_of == bindparam("merged_id"))
    .values(
        duplicate_of=bindparam("original_id"),
        version=_complaint.c.version + 1,
        updated_at=bindparam("now"),
    )
    .returning(_complaint.c.id)
    .cte("followers")
)
_RELINK = (
    insert(_event)
    .from_select(
        ["complaint_id", "type", "actor", "at", "payload"],
        select(
            _FOLLOWERS.c.id,
            literal(str(EventType.DUPLICATE_RELINKED)),
            bindparam("actor", type_=Text),
            bindparam("now", type_=_event.c.at.type),
            func.jsonb_build_object(
                "from",
                bindparam("merged_id", type_=BigInteger),
                "duplicate_of",
                bindparam("original_id", type_=BigInteger),
            ),
        ),
    )
    .returning(_event.c.complaint_id)
)


async def _linked(
    connection: AsyncConnection, complaint_id: int, original_id: int, *, actor: str, now: datetime
) -> None:
    """After a merge: the original hears of it, and the merged case's duplicates follow."""
    followers = (
        (
            await connection.execute(
                _RELINK,
                {"merged_id": complaint_id, "original_id": original_id, "actor": actor, "now": now},
            )
        )
        .scalars()
        .all()
    )
    for follower in (complaint_id, *sorted(followers)):
        await connection.execute(
            _NOTE_ON_ORIGINAL,
            {
                "original_id": original_id, "type": str(EventType.DUPLICATE_LINKED),
                "actor": actor, "now": now, "complaint_id": follower, "reason": None,
            },
        )  # fmt: skip


async def _check_inspector(
    connection: AsyncConnection, inspector_id: int, *, district: str, category: str
) -> int:
    """The team of an inspector who can take a case of this district and category."""
    row = (await connection.execute(_INSPECTOR, {"inspector_id": inspector_id})).first()
    details = {"inspector_id": inspector_id}
    if row is None:
        raise InspectorUnavailable(f"no inspector has id {inspector_id}", details=details)
    if not row.on_duty:
        raise InspectorUnavailable(f"inspector {inspector_id} is off duty", details=details)
    if row.district_code != district:
        raise InspectorUnavailable(
            f"inspector {inspector_id} works district {row.district_code}, not {district}",
            details=details,
        )
    if row.categories is not None and category not in row.categories:
        raise InspectorUnavailable(
            f"inspector {inspector_id}'s team does not work {category!r} cases", details=details
        )
    return int(row.team_id)


async def _check_result_code(
    connection: AsyncConnection, code: str, *, to: Status, category: str
) -> None:
    row = (await connection.execute(_RESULT_CODE, {"code": code})).first()
    wanted = _OUTCOME_OF.get(to)
    if (
        row is None
        or wanted is None
        or row.outcome != wanted
        or row.category_code
        not in (
            None,
            category,
        )
    ):
        raise UnknownResultCode(
            f"{code!r} is not a result code for a {to} {category!r} case",
            details={"result_code": code, "status": str(to), "category": category},
        )


async def transition(
    connection: AsyncConnection,
    *,
    complaint_id: int,
    move: TransitionRequest,
    actor: str,
    now: datetime,
    scope: Scope,
    only_from: frozenset[Status] | None = None,
) -> ComplaintRead:
    """Move a case to another status, with its event, if the move is allowed at that version.

    409 invalid_transition (with the allowed moves) or stale_version (with the current
    version); 422 when a field the move needs is missing or wrong. Nothing is written then.
    The case must be in the mover's scope (else 404, so nothing leaks); an inspector's scope
    allows only the inspectors' moves. With `only_from`, the case must be in one of those
    statuses (else 409 invalid_transition).

    With `move.occurred_at` (a move made offline), the move counts from then: its event and
    the clocks it stops take that time, brought within [the case's last change, now] and at
    most OCCURRED_WINDOW back; the event's payload keeps what the device said.
    """
    statement = _CURRENT.where(scope.cases(_complaint))
    params = {"complaint_id": complaint_id, **scope.params()}
    current = (await connection.execute(statement, params)).first()
    if current is None:
        raise ComplaintNotFound(
            f"no complaint has id {complaint_id}", details={"complaint_id": complaint_id}
        )
    status = Status(current.status)
    received_at = now
    if move.occurred_at is not None:
        now = min(max(move.occurred_at, current.updated_at, received_at - OCCURRED_WINDOW),
                  received_at)  # fmt: skip
    if current.version != move.version:
        raise StaleVersion(
            f"the case is at version {current.version}, not {move.version}: read it again",
            details={"current_version": current.version, "status": str(status)},
        )
    allowed = states.allowed_moves(status)
    if only_from is not None and status not in only_from:
        allowed = frozenset()  # e.g. unmerge: only a duplicate can be unmerged
    if scope.inspector_id is not None:
        allowed &= states.INSPECTOR_MOVES
    if move.to not in allowed:
        raise InvalidTransition(
            f"a case that is {status} cannot become {move.to}",
            details={"status": str(status), "allowed": sorted(str(s) for s in allowed)},
        )
    given = {name for name, value in move.model_dump().items() if value is not None}
    required = set(states.missing_fields(move.to, given))
    if move.to is Status.ASSIGNED and status is not Status.RECEIVED and move.reason is None:
        required.add("reason")  # a reassignment says why
    if required:
        raise MissingFields(
            f"moving to {move.to} needs: {', '.join(sorted(required))}",
            details={"missing": sorted(required)},
        )

    assignee, team, result_code, duplicate_of = (
        current.assignee_id,
        current.team_id,
        current.result_code,
        current.duplicate_of,
    )
    payload: dict[str, Any] = {"from": str(status)}
    if move.to is Status.ASSIGNED:
        assert move.inspector_id is not None
        team = await _check_inspector(
            connection, move.inspector_id, district=current.district_code,
            category=current.category_code,
        )  # fmt: skip
        payload["previous_inspector_id"] = assignee
        assignee = move.inspector_id
        payload["inspector_id"] = assignee
    elif move.to in _UNASSIGNING:
        if assignee is not None:  # the inspector's app is told the case left them
            payload["previous_inspector_id"] = assignee
        assignee = None
    if move.to in _OUTCOME_OF and move.result_code is not None:
        await _check_result_code(
            connection, move.result_code, to=move.to, category=current.category_code
        )
        result_code = move.result_code
    if move.to is Status.REOPENED:
        result_code = None
    unlinked_from = None
    if move.to is Status.DUPLICATE:
        # The original must be in the mover's scope too: another district's ticket is unknown.
        original = (
            await connection.execute(
                _ORIGINAL.where(scope.cases(_complaint)),
                {"ticket": move.duplicate_of, **scope.params()},
            )
        ).first()
        if original is None or original.id == complaint_id:
            raise InvalidDuplicate(
                f"{move.duplicate_of!r} is not another complaint's ticket",
                details={"duplicate_of": move.duplicate_of},
            )
        if original.status in (Status.DUPLICATE, Status.CANCELLED):
            hint = (
                f": merge into its original {original.original_ticket} instead"
                if original.status == Status.DUPLICATE
                else ""
            )
            raise InvalidDuplicate(
                f"{move.duplicate_of} is itself {original.status}{hint}",
                details={
                    "duplicate_of": move.duplicate_of,
                    "status": original.status,
                    "original": original.original_ticket,
                },
            )
        duplicate_of = original.id
        payload["duplicate_of"] = original.id
        payload["original_ticket"] = move.duplicate_of
    elif status is Status.DUPLICATE:
        # Unmerged: the case stands on its own again.
        unlinked_from = duplicate_of
        payload["unlinked_from"] = duplicate_of
        duplicate_of = None
    for field in ("result_code", "referred_to", "reason", "note"):
        value = getattr(move, field)
        if value is not None:
            payload[field] = value
    if move.occurred_at is not None:
        payload["device_time"] = move.occurred_at.isoformat()
        payload["received_at"] = received_at.isoformat()

    moved = await connection.execute(
        _MOVE,
        {
            "complaint_id": complaint_id,
            "expected_version": move.version,
            "sources": [str(s) for s in states.sources_of(move.to)],
            "to_status": str(move.to),
            "now": now,
            "new_assignee_id": assignee,
            "new_team_id": team,
            "new_result_code": result_code,
            "new_duplicate_of": duplicate_of,
            "actor": actor,
            "payload": payload,
        },
    )
    if moved.first() is None:
        # Another writer moved the case between our read and our write.
        latest = (await connection.execute(_CURRENT, {"complaint_id": complaint_id})).one()
        raise StaleVersion(
            f"the case changed meanwhile (now version {latest.version}): read it again",
            details={"current_version": latest.version, "status": latest.status},
        )
    if move.to is Status.DUPLICATE and duplicate_of is not None:
        await _linked(connection, complaint_id, duplicate_of, actor=actor, now=now)
    if unlinked_from is not None:
        await connection.execute(
            _NOTE_ON_ORIGINAL,
            {
                "original_id": unlinked_from, "type": str(EventType.DUPLICATE_UNLINKED),
                "actor": actor, "now": now, "complaint_id": complaint_id,
                "reason": move.reason,
            },
        )  # fmt: skip
    # Read back whole: the mover had the case in scope when moving it.
    return await complaints.get_by_id(connection, complaint_id=complaint_id, scope=EVERY_CASE)


# A priority change and its timeline entry, in one statement, at the version the caller saw.
_prioritized = (
    update(_complaint)
    .where(
        _complaint.c.id == bindparam("complaint_id"),
        _complaint.c.version == bindparam("expected_version"),
        _complaint.c.status.not_in([str(s) for s in sorted(FINAL_STATUSES)]),
    )
    .values(
        priority=bindparam("priority"),
        version=_complaint.c.version + 1,
        updated_at=bindparam("now"),
    )  # fmt: skip
    .returning(_complaint.c.id)
    .cte("prioritized")
)
_PRIORITIZE = complaints.timeline_entry(
    _prioritized.c.id, "event_type", bindparam("payload", type_=_event.c.payload.type)
).returning(_event.c.complaint_id)


async def change_priority(
    connection: AsyncConnection,
    *,
    complaint_id: int,
    change: PriorityChange,
    actor: str,
    now: datetime,
    scope: Scope,
) -> ComplaintRead:
    """Make an open case more or less urgent (its queue order, the dispatchers' board);
    409 stale_version or invalid_transition (a closed case), 404 outside the scope."""
    current = (
        await connection.execute(
            _CURRENT.where(scope.cases(_complaint)),
            {"complaint_id": complaint_id, **scope.params()},
        )
    ).first()
    if current is None:
        raise ComplaintNotFound(
            f"no complaint has id {complaint_id}", details={"complaint_id": complaint_id}
        )
    if current.version != change.version:
        raise StaleVersion(
            f"the case is at version {current.version}, not {change.version}: read it again",
            details={"current_version": current.version, "status": current.status},
        )
    if Status(current.status) in FINAL_STATUSES:
        raise InvalidTransition(
            f"a case that is {current.status} has no priority to change",
            details={"status": current.status, "allowed": []},
        )
    payload: dict[str, Any] = {"from": current.priority, "to": str(change.priority)}
    if change.reason:
        payload["reason"] = change.reason
    changed = await connection.execute(
        _PRIORITIZE,
        {
            "complaint_id": complaint_id, "expected_version": change.version,
            "priority": str(change.priority), "now": now, "actor": actor,
            "event_type": str(EventType.PRIORITY_CHANGED), "payload": payload,
        },
    )  # fmt: skip
    if changed.first() is None:
        raise StaleVersion("the case changed meanwhile: read it again",
                           details={"complaint_id": complaint_id})  # fmt: skip
    return await complaints.get_by_id(connection, complaint_id=complaint_id, scope=EVERY_CASE)


# Ranking: minutes to reach the case at the city speed, plus minutes of work already queued.
SPEED_M_PER_MIN = 250.0  # 15 km/h: city traffic, parking, walking to the spot
MINUTES_PER_OPEN_CASE = 20.0
# Urgent cases weigh the queue less: the nearest goes, even if busy.
LOAD_WEIGHT = {Priority.URGENT: 0.25, Priority.HIGH: 0.5, Priority.NORMAL: 1.0, Priority.LOW: 1.0}
NEAREST_CONSIDERED = 20


def _of_the_case(column: Any) -> Any:
    # A scalar subquery is a constant for the query (an InitPlan), which is what lets the
    # KNN `<->` below walk the GIST index nearest-first.
    return select(column).where(_complaint.c.id == bindparam("complaint_id")).scalar_subquery()


_case_location = _of_the_case(_complaint.c.location)
_open_cases = (
    select(func.count())
    .where(
        _complaint.c.assignee_id == _inspector.c.id,
        _complaint.c.status.not_in([str(s) for s in sorted(FINAL_STATUSES)]),
    )
    .scalar_subquery()
)
# Nearest first by KNN on the on-duty positions' GIST index, then the exact distance.
_NEAREST = (
    select(
        _inspector.c.id,
        _inspector.c.name,
        _inspector.c.team_id,
        _inspector.c.position_at,
        func.ST_Distance(
            func.geography(_inspector.c.position), func.geography(_case_location)
        ).label("distance_m"),
        _open_cases.label("open_cases"),
    )
    .select_from(_inspector.join(_team, _team.c.id == _inspector.c.team_id))
    .where(
        _inspector.c.on_duty,
        _inspector.c.position.is_not(None),
        _team.c.district_code == _of_the_case(_complaint.c.district_code),
        (_team.c.categories.is_(None))
        | (_of_the_case(_complaint.c.category_code) == func.any(_team.c.categories)),
        # The case's own team (the routing rules' choice) when given; else any that fits.
        bindparam("team", type_=BigInteger).is_(None)
        | (_inspector.c.team_id == bindparam("team", type_=BigInteger)),
    )
    .order_by(_inspector.c.position.op("<->")(_case_location))
    .limit(bindparam("nearest"))
)
_PRIORITY = select(_complaint.c.priority, _complaint.c.team_id).where(
    _complaint.c.id == bindparam("complaint_id")
)


async def candidates(
    connection: AsyncConnection, *, complaint_id: int, scope: Scope, limit: int = 10
) -> CandidateList:
    """On-duty inspectors who can take the case, best first.

    Those of the case's team (routed at intake) when it has one and any of them is on duty
    with a known position; else those of every team of the district that works the
    category (`scope` says which).
    """
    case = (
        await connection.execute(
            _PRIORITY.where(scope.cases(_complaint)),
            {"complaint_id": complaint_id, **scope.params()},
        )
    ).first()
    if case is None:
        raise ComplaintNotFound(
            f"no complaint has id {complaint_id}", details={"complaint_id": complaint_id}
        )
    priority, team = case
    weight = LOAD_WEIGHT[Priority(priority)]
    params = {"complaint_id": complaint_id, "nearest": NEAREST_CONSIDERED, "team": team}
    rows = (await connection.execute(_NEAREST, params)).all()
    among = CandidateScope.TEAM if team is not None else CandidateScope.DISTRICT
    if not rows and team is not None:
        among = CandidateScope.DISTRICT
        rows = (await connection.execute(_NEAREST, params | {"team": None})).all()
    ranked = []
    for row in rows:
        eta = row.distance_m / SPEED_M_PER_MIN
        score = eta + weight * row.open_cases * MINUTES_PER_OPEN_CASE
        ranked.append(
            Candidate(
                inspector_id=row.id,
                name=row.name,
                team_id=row.team_id,
                distance_m=round(row.distance_m, 1),
                eta_min=round(eta, 1),
                open_cases=row.open_cases,
                score=round(score, 1),
                position_at=row.position_at,
            )
        )
    ranked.sort(key=lambda c: (c.score, c.distance_m, c.inspector_id))
    return CandidateList(
        complaint_id=complaint_id,
        priority=Priority(priority),
        team_id=team,
        scope=among,
        speed_m_per_min=SPEED_M_PER_MIN,
        minutes_per_open_case=MINUTES_PER_OPEN_CASE,
        load_weight=weight,
        candidates=ranked[:limit],
    )
