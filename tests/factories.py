"""Builders of request bodies for the complaint API."""

from __future__ import annotations

from typing import Any

# A point in Jongno-gu (near Jongno 3-ga).
JONGNO = {"lat": 37.5704, "lon": 126.9920}
# A point in Gangnam-gu (COEX, Samseong-dong).
GANGNAM = {"lat": 37.5116, "lon": 127.0595}


def complaint_body(**overrides: Any) -> dict[str, Any]:
    """A valid complaint body; keyword arguments replace top-level fields."""
    body: dict[str, Any] = {
        "category": "illegal_parking",
        "description": "소화전 앞에 승용차가 주차되어 있습니다",
        "location": dict(JONGNO),
        "address": "서울특별시 종로구 종로 100",
        "reporter": {"phone": "010-1234-5678", "language": "ko"},
        "channel": "phone",
    }
    body.update(overrides)
    return body
