"""The field app's pure parts: view state, the outbox on its SQLite file, SSE parsing,
positions, the font. No server, no window."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from field_app.fonts import hangul_font
from field_app.models.action import Kind, State
from field_app.services.api import parse_events
from field_app.services.outbox import Outbox
from field_app.services.positions import FixedPosition, SimulatedWalk, parse_source
from field_app.services.store import Store
from field_app.viewmodels.cases import (
    countdown,
    effective_status,
    queue_cards,
    result_choices,
    whereabouts,
)
from field_app.viewmodels.i18n import notice_text

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def clock(
    kind: str = "arrive", *, due_in: float, warn_in: float, state: str = "running"
) -> dict[str, Any]:
    return {"kind": kind, "state": state,
            "due_at": (NOW + timedelta(minutes=due_in)).isoformat(),
            "warn_at": (NOW + timedelta(minutes=warn_in)).isoformat()}  # fmt: skip


@pytest.mark.parametrize(
    ("clock_", "language", "text", "state"),
    [
        (clock(due_in=30, warn_in=22.5), "ko", "도착 · 30:00 남음", "ok"),
        (clock(due_in=5, warn_in=-2.5), "ko", "도착 · 05:00 남음", "warning"),
        (clock("resolve", due_in=-75.5, warn_in=-100), "en", "resolve · 1:15:30 over", "breached"),
        (clock(due_in=10, warn_in=5, state="paused"), "en", "arrive · Paused", "paused"),
        (None, "ko", "기한 없음", "none"),
    ],
)
def test_the_countdown_says_how_long_and_how_urgent(
    clock_: dict[str, Any] | None, language: str, text: str, state: str
) -> None:
    assert countdown(clock_, NOW, language) == (text, state)


@pytest.mark.parametrize(
    ("d_lat", "d_lon", "expected"),
    [(0.001, 0, "111 m N"), (0, 0.002, "176 m E"), (-0.01, -0.01, "1.4 km SW")],
)
def test_where_the_case_is_from_the_inspector(d_lat: float, d_lon: float, expected: str) -> None:
    here = SimpleNamespace(lat=37.57, lon=126.99)
    there = {"lat": 37.57 + d_lat, "lon": 126.99 + d_lon}
    assert whereabouts(here, there, "en") == expected
    assert whereabouts(None, there, "en") == ""


def item(
    case_id: int, status: str = "assigned", priority: str = "normal", **extra: Any
) -> dict[str, Any]:
    return {"id": case_id, "ticket": f"T-{case_id}", "status": status, "priority": priority,
            "category": "illegal_parking", "address": "종로 100", "distance_m": 500.0 * case_id,
            "location": {"lat": 37.57, "lon": 126.99}, "clock": None, **extra}  # fmt: skip


def test_the_queue_puts_urgent_cases_first_and_finished_ones_last() -> None:
    queue = {"items": [item(1), item(2, priority="urgent"), item(3), item(4, status="on_site")]}
    waiting = {3: [{"to": "accepted"}], 4: [{"to": "resolved", "result_code": "ticket_issued"}]}
    cards = queue_cards(queue, waiting, None, None, NOW, "ko")
    assert [c.case_id for c in cards] == [2, 1, 3, 4]
    assert [c.status for c in cards] == ["배정됨", "배정됨", "수락함", "처리 완료"]
    assert [c.waiting for c in cards] == [0, 0, 1, 1]
    assert cards[1].distance == "500 m" and cards[0].distance == "1.0 km"
    assert cards[0].badge == "주차" and cards[0].colour[0] > 0.5
    # With a fix of its own, the phone measures the distance itself.
    here = SimpleNamespace(lat=37.57, lon=126.99)
    assert queue_cards(queue, {}, None, here, NOW, "en")[0].distance == "0 m"


def test_waiting_moves_decide_what_the_case_shows() -> None:
    assert effective_status("assigned", []) == "assigned"
    assert effective_status("assigned", [{"to": "accepted"}, {"to": "on_site"}]) == "on_site"


def test_reasons_are_the_servers_for_the_outcome_and_category() -> None:
    reference = {"result_codes": [
        {"code": "vehicle_gone", "outcome": "unresolved", "category": "illegal_parking",
         "name_ko": "차량 없음", "name_en": "Vehicle gone"},
        {"code": "not_found", "outcome": "unresolved", "category": None,
         "name_ko": "현장 확인 불가", "name_en": "Not found"},
        {"code": "lamp_replaced", "outcome": "resolved", "category": "street_lamp",
         "name_ko": "교체", "name_en": "Replaced"},
        {"code": "ticket_issued", "outcome": "resolved", "category": None,
         "name_ko": "과태료", "name_en": "Ticket issued"},
    ]}  # fmt: skip
    assert result_choices(reference, "illegal_parking", "unresolved", "en") == [
        ("vehicle_gone", "Vehicle gone"), ("not_found", "Not found")
    ]  # fmt: skip
    assert result_choices(reference, "illegal_parking", "resolved", "ko") == [
        ("ticket_issued", "과태료")
    ]


def test_server_sent_events_are_read_frame_by_frame() -> None:
    lines = ["retry: 2000", "", ": keep-alive", "", "id: 7:1", "event: complaint",
             'data: {"a":', "data: 1}", "", "id: 7:2", "event: reset", "data: {}", ""]  # fmt: skip
    assert list(parse_events(iter(lines))) == [
        ("7:1", "complaint", '{"a":\n1}'), ("7:2", "reset", "{}")
    ]  # fmt: skip


def test_notices_are_worded_in_the_inspectors_language() -> None:
    params = {"status": "cancelled", "move": "accepted"}
    assert notice_text("ko", "case_changed", params) == (
        "서버에서 민원 상태가 바뀌었습니다 (취소됨): '수락' 반영 안 됨"
    )
    assert notice_text("en", "not_yours", {}).startswith("This case is no longer yours")


def test_the_outbox_keeps_order_keys_versions_and_notices(tmp_path: Path) -> None:
    store = Store(tmp_path / "field.db")
    outbox = Outbox(store, tmp_path / "photos")
    photo = tmp_path / "camera.jpg"
    photo.write_bytes(b"\xff\xd8 not really a jpeg")
    first = outbox.record(Kind.MOVE, {"to": "accepted"}, case_id=7)
    second = outbox.add_photos(7, [photo])
    third = outbox.record(Kind.DUTY, {"on_duty": True})
    assert [a.seq for a in outbox.pending()] == [first.seq, second.seq, third.seq]
    assert len({a.key for a in outbox.pending()}) == 3  # a key each
    kept = Path(second.payload["files"][0])
    assert kept.read_bytes() == photo.read_bytes() and kept.parent == tmp_path / "photos"
    outbox.attempt(first, sent_version=4)
    outbox.attempt(first)  # a retry keeps the version it was first sent with
    assert outbox.get(first.seq).sent_version == 4 and outbox.get(first.seq).attempts == 2
    notice = outbox.drop(second, code="photos_refused", params={"reason": "not a photo"},
                         ticket="T-7")  # fmt: skip
    assert not kept.exists()  # the copy goes with the action
    assert outbox.get(second.seq).state is State.DROPPED
    assert [n.id for n in outbox.notices(unseen_only=True)] == [notice.id]
    outbox.seen([notice.id])
    assert outbox.notices(unseen_only=True) == []
    outbox.sent(first)
    assert [a.seq for a in outbox.pending()] == [third.seq]
    store.close()
    # Closed and opened again (the app restarted): the same waiting action.
    again = Outbox(Store(tmp_path / "field.db"), tmp_path / "photos")
    assert [(a.seq, a.key) for a in again.pending()] == [(third.seq, third.key)]


@pytest.mark.parametrize("text", ["nan,126.9", "37.5,inf", "91,0", "37.5,181", "walk:x,y", "37.5"])
def test_a_bad_position_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_source(text)


def test_positions_fixed_and_walked() -> None:
    fixed = parse_source("37.57,126.99")
    assert isinstance(fixed, FixedPosition) and fixed.fix().lat == 37.57
    walk = parse_source("walk:37.57,126.99")
    assert isinstance(walk, SimulatedWalk)
    steps = [walk.fix() for _ in range(10)]
    again = SimulatedWalk(37.57, 126.99)
    assert [again.fix() for _ in range(10)] == steps  # the same seed, the same walk
    start, end = steps[0], steps[-1]
    metres = math.dist(
        (start.lat * 111_320, start.lon * 88_000), (end.lat * 111_320, end.lon * 88_000)
    )
    assert 0 < metres <= 9 * 15 + 1  # about walking pace


def test_there_is_a_font_with_hangul() -> None:
    regular, bold = hangul_font()
    assert Path(regular).is_file() and Path(bold).is_file()
