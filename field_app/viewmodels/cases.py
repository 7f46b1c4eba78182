"""What the screens show of cases, worked out from the cache, the outbox and the clock.

Pure functions of plain values: the screens only lay the results out. A case is shown as
the inspector's own waiting actions make it (an action taken offline shows at once, marked
as waiting), on top of what the server last said.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from field_app.viewmodels.i18n import event_name, status_name, t

# Colour (RGBA, strong enough for sunlight) and a short label per category.
CATEGORY_STYLE: dict[str, tuple[tuple[float, float, float, float], str, str]] = {
    "illegal_parking": ((0.80, 0.10, 0.10, 1), "주차", "Park"),
    "vehicle_idling": ((0.85, 0.35, 0.00, 1), "공회전", "Idle"),
    "garbage_uncollected": ((0.10, 0.45, 0.15, 1), "쓰레기", "Trash"),
    "illegal_dumping": ((0.35, 0.25, 0.10, 1), "투기", "Dump"),
    "street_lamp": ((0.75, 0.60, 0.00, 1), "가로등", "Lamp"),
    "road_damage": ((0.20, 0.20, 0.55, 1), "도로", "Road"),
    "facility_damage": ((0.40, 0.15, 0.50, 1), "시설", "Fix"),
}
DEFAULT_STYLE = ((0.25, 0.25, 0.25, 1), "민원", "Case")
URGENCY = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
# Moves an inspector makes from each status (the server's state machine, the field part).
NEXT_MOVES: dict[str, list[str]] = {
    "assigned": ["accepted"],
    "accepted": ["en_route", "on_site"],
    "en_route": ["on_site"],
    "on_site": ["result"],
}
WORKING = frozenset(NEXT_MOVES)
# The button of each move (a key of viewmodels.i18n).
ACTION_LABELS = {
    "accepted": "accept",
    "en_route": "en_route",
    "on_site": "arrived",
    "result": "record_result",
}


@dataclass(frozen=True)
class Card:
    """One case in the queue."""

    case_id: int
    ticket: str
    category: str
    badge: str
    colour: tuple[float, float, float, float]
    address: str
    distance: str
    countdown: str
    clock_state: str  # ok, warning, breached, paused, none
    status: str
    priority: str
    waiting: int  # actions on it not yet sent


@dataclass(frozen=True)
class CaseState:
    """One case as the case screen shows it."""

    case_id: int
    ticket: str
    category_code: str
    category: str
    colour: tuple[float, float, float, float]
    status: str  # the effective status (with waiting moves)
    status_text: str
    priority: str
    description: str
    address: str
    phone: str
    whereabouts: str  # distance and bearing from the inspector
    countdown: str
    clock_state: str
    timeline: list[tuple[str, str]]
    photos: list[dict[str, Any]]
    actions: list[str]
    waiting: int
    notes: list[str] = field(default_factory=list)


def category_name(reference: dict[str, Any] | None, code: str, language: str) -> str:
    for category in (reference or {}).get("categories", []):
        if category["code"] == code:
            return str(category[f"name_{language}"] if language in ("ko", "en") else code)
    return code


def _style(code: str, language: str) -> tuple[tuple[float, float, float, float], str]:
    colour, ko, en = CATEGORY_STYLE.get(code, DEFAULT_STYLE)
    return colour, ko if language == "ko" else en


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def countdown(clock: dict[str, Any] | None, now: datetime, language: str) -> tuple[str, str]:
    """The deadline as the card counts it down, and its state for the colour."""
    if clock is None:
        return t(language, "no_clock"), "none"
    kind = t(language, f"{clock['kind']}_clock")
    if clock["state"] == "paused":
        return f"{kind} · {t(language, 'paused')}", "paused"
    due, warn = parse_time(clock["due_at"]), parse_time(clock["warn_at"])
    seconds = int((due - now).total_seconds())
    left = _duration(abs(seconds))
    if seconds < 0:
        return f"{kind} · {t(language, 'overdue', left=left)}", "breached"
    state = "warning" if now >= warn else "ok"
    return f"{kind} · {t(language, 'due_in', left=left)}", state


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes:02d}:{seconds:02d}"


def metres_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Degrees clockwise from north, from the first point to the second."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360) % 360


_COMPASS = {
    "ko": ["북", "북동", "동", "남동", "남", "남서", "서", "북서"],
    "en": ["N", "NE", "E", "SE", "S", "SW", "W", "NW"],
}


def distance_text(metres: float | None) -> str:
    if metres is None:
        return ""
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"


def whereabouts(position: Any, location: dict[str, float], language: str) -> str:
    """`350 m NE` from where the inspector is (nothing without a position)."""
    if position is None:
        return ""
    metres = metres_between(position.lat, position.lon, location["lat"], location["lon"])
    sector = int((bearing(position.lat, position.lon, location["lat"], location["lon"]) + 22.5)
                 // 45) % 8  # fmt: skip
    return f"{distance_text(metres)} {_COMPASS.get(language, _COMPASS['en'])[sector]}"


def effective_status(status: str, waiting_moves: list[dict[str, Any]]) -> str:
    """The status the inspector's waiting moves lead to (the last one wins)."""
    return str(waiting_moves[-1]["to"]) if waiting_moves else status


def queue_cards(
    queue: dict[str, Any] | None,
    waiting: dict[int, list[dict[str, Any]]],
    reference: dict[str, Any] | None,
    position: Any,
    now: datetime,
    language: str,
) -> list[Card]:
    """The queue's cards: still to work first (most urgent, then nearest), then those
    finished on the phone whose result waits to be sent."""
    working: list[Card] = []
    finished: list[Card] = []
    for item in (queue or {}).get("items", []):
        moves = waiting.get(item["id"], [])
        status = effective_status(item["status"], moves)
        colour, badge = _style(item["category"], language)
        text, state = countdown(item.get("clock"), now, language)
        metres = item.get("distance_m")
        if position is not None:
            location = item["location"]
            metres = metres_between(position.lat, position.lon, location["lat"], location["lon"])
        (working if status in WORKING else finished).append(
            Card(
                case_id=item["id"], ticket=item["ticket"],
                category=category_name(reference, item["category"], language), badge=badge,
                colour=colour, address=item.get("address") or "", distance=distance_text(metres),
                countdown=text, clock_state=state, status=status_name(language, status),
                priority=item["priority"], waiting=len(moves),
            )
        )  # fmt: skip
    working.sort(key=lambda c: URGENCY.get(c.priority, 9))  # stable: the server's nearest-first
    return working + finished


def _event_text(event: dict[str, Any], reference: dict[str, Any] | None, language: str) -> str:
    payload = event.get("payload") or {}
    words = event_name(language, event["type"])
    names = {code["code"]: code[f"name_{language}"] if language in ("ko", "en") else code["code"]
             for code in (reference or {}).get("result_codes", [])}  # fmt: skip
    for name in ("result_code", "referred_to", "reason", "note"):
        if payload.get(name):
            value = (
                names.get(payload[name], payload[name]) if name == "result_code" else payload[name]
            )
            words += f" · {value}"
    return words


def case_state(
    case: dict[str, Any],
    waiting_moves: list[dict[str, Any]],
    waiting_count: int,
    reference: dict[str, Any] | None,
    position: Any,
    now: datetime,
    zone: tzinfo,
    language: str,
) -> CaseState:
    """The case screen's state."""
    status = effective_status(case["status"], waiting_moves)
    clock = _first_clock(case)
    text, state = countdown(clock, now, language)
    colour, _ = _style(case["category"], language)
    timeline = [
        (
            parse_time(e["at"]).astimezone(zone).strftime("%m-%d %H:%M"),
            _event_text(e, reference, language),
        )  # fmt: skip
        for e in case.get("timeline", [])
    ]
    for move in waiting_moves:  # what the phone did, not yet on the server
        timeline.append(
            ("…", f"{status_name(language, move['to'])} ({t(language, 'pending_badge')})")
        )
    reporter = case.get("reporter") or {}
    return CaseState(
        case_id=case["id"], ticket=case["ticket"], category_code=case["category"],
        category=category_name(reference, case["category"], language), colour=colour,
        status=status, status_text=status_name(language, status), priority=case["priority"],
        description=case.get("description", ""), address=case.get("address") or "",
        phone=reporter.get("phone_masked") or "",
        whereabouts=whereabouts(position, case["location"], language), countdown=text,
        clock_state=state, timeline=timeline, photos=list(case.get("photos", [])),
        actions=NEXT_MOVES.get(status, []), waiting=waiting_count,
    )  # fmt: skip


def _first_clock(case: dict[str, Any]) -> dict[str, Any] | None:
    """The running (or paused) clock that runs out first, from the case's clocks."""
    timers = [
        timer for timer in (case.get("sla") or {}).get("timers", [])
        if timer["state"] in ("running", "paused")
    ]  # fmt: skip
    if not timers:
        return None
    first = min(timers, key=lambda timer: timer["due_at"])
    return {"kind": first["kind"], "state": first["state"], "warn_at": first["warn_at"],
            "due_at": first["due_at"]}  # fmt: skip


def result_choices(
    reference: dict[str, Any] | None, category: str, outcome: str, language: str
) -> list[tuple[str, str]]:
    """The result codes the server offers for this outcome and category: (code, name)."""
    choices = []
    for code in (reference or {}).get("result_codes", []):
        if code["outcome"] == outcome and code["category"] in (None, category):
            choices.append((code["code"], code[f"name_{language}"] if language in ("ko", "en")
                            else code["name_en"]))  # fmt: skip
    return choices
