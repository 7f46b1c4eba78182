"""Builders of request bodies for the complaint API."""

from __future__ import annotations

import itertools
from typing import Any

# A point in Jongno-gu (near Jongno 3-ga).
JONGNO = {"lat": 37.5704, "lon": 126.9920}
# A point in Gangnam-gu (COEX, Samseong-dong).
GANGNAM = {"lat": 37.5116, "lon": 127.0595}


# Default locations: a 10 x 10 grid of points 60 m apart, north-west of JONGNO (Jongno 1-3ga,
# Insa-dong: all in Jongno-gu), so that two default complaints are never each other's
# duplicates (the widest default radius is 50 m). tests/test_duplicates.py checks the grid.
GRID_STEP_LAT, GRID_STEP_LON = 0.00054, 0.00068
GRID = [
    {"lat": round(JONGNO["lat"] + row * GRID_STEP_LAT, 6),
     "lon": round(JONGNO["lon"] - col * GRID_STEP_LON, 6)}
    for row in range(10) for col in range(10)
]  # fmt: skip
_next_point = itertools.cycle(GRID)


def spread_point() -> dict[str, float]:
    """The next point of the grid (it starts over after 100)."""
    return dict(next(_next_point))


def complaint_body(**overrides: Any) -> dict[str, Any]:
    """A valid complaint body (at the next grid point); keyword arguments replace fields."""
    body: dict[str, Any] = {
        "category": "illegal_parking",
        "description": "소화전 앞에 승용차가 주차되어 있습니다",
        "location": spread_point(),
        "reporter": {"phone": "010-1234-5678", "language": "ko"},
        "channel": "phone",
    }
    body.update(overrides)
    return body


def spread(point: dict[str, float], i: int) -> dict[str, float]:
    """The i-th of points 100 m apart, northwards from `point` (never each other's duplicates)."""
    return {"lat": round(point["lat"] + i * 0.0009, 6), "lon": point["lon"]}
