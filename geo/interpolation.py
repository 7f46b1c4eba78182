"""Placing a building number on its road from the road's known numbers. Pure.

Korean road-name building numbers grow with the distance along the road (a number about
every 10 m, so 1 km from the start is number ~100 or ~101), odd numbers on the left and
even on the right. A number between two known ones lies between them in proportion; one
beyond the known ones is extrapolated along the nearest two, at their own spacing (kept
between 2 and 40 m per number, so a bad pair cannot throw it across the city).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

METRES_PER_DEGREE = 111_320.0
MIN_SPACING_M, MAX_SPACING_M, NOMINAL_SPACING_M = 2.0, 40.0, 10.0


@dataclass(frozen=True)
class KnownNumber:
    """A building number of the road with its position."""

    number: int
    lat: float
    lon: float


@dataclass(frozen=True)
class Placement:
    """Where the number was placed, how, and how sure that is (0..1)."""

    lat: float
    lon: float
    method: str  # "between", "beyond" or "nearest"
    confidence: float
    gap: int  # numbers between the target and the known number(s) used


def _metres(a: KnownNumber, b: KnownNumber) -> tuple[float, float]:
    scale = math.cos(math.radians((a.lat + b.lat) / 2))
    return (b.lon - a.lon) * METRES_PER_DEGREE * scale, (b.lat - a.lat) * METRES_PER_DEGREE


def place(known: Sequence[KnownNumber], target: int) -> Placement | None:
    """The position of `target` on a road with these known numbers (None: none known)."""
    if not known:
        return None
    by_number: dict[int, KnownNumber] = {}
    for item in sorted(known, key=lambda k: k.number):
        by_number.setdefault(item.number, item)
    same_side = [k for n, k in by_number.items() if n % 2 == target % 2]
    pool = same_side if len(same_side) >= 2 else list(by_number.values())
    pool.sort(key=lambda k: k.number)
    if len(pool) == 1:
        only = pool[0]
        gap = abs(target - only.number)
        return Placement(only.lat, only.lon, "nearest", max(0.2, 0.5 - gap / 200), gap)
    below = [k for k in pool if k.number <= target]
    above = [k for k in pool if k.number >= target]
    if below and above:
        low, high = below[-1], above[0]
        if low.number == high.number:
            return Placement(low.lat, low.lon, "between", 0.95, 0)
        share = (target - low.number) / (high.number - low.number)
        span = high.number - low.number
        return Placement(
            low.lat + share * (high.lat - low.lat),
            low.lon + share * (high.lon - low.lon),
            "between",
            round(0.9 - 0.4 * min(1.0, span / 200), 3),
            min(target - low.number, high.number - target),
        )
    # Beyond the known numbers: along the nearest two, at their spacing.
    near, far = (pool[0], pool[1]) if not below else (pool[-1], pool[-2])
    dx, dy = _metres(far, near)
    per_number = math.hypot(dx, dy) / abs(near.number - far.number)
    if per_number == 0:
        return Placement(near.lat, near.lon, "nearest", 0.3, abs(target - near.number))
    spacing = min(MAX_SPACING_M, max(MIN_SPACING_M, per_number))
    steps = target - near.number
    # Direction of growing numbers, from `far` to `near` when near is the larger.
    sign = 1 if near.number > far.number else -1
    ux, uy = (
        dx / (per_number * abs(near.number - far.number)),
        dy / (per_number * abs(near.number - far.number)),
    )
    east = sign * ux * spacing * steps
    north = sign * uy * spacing * steps
    scale = math.cos(math.radians(near.lat))
    gap = abs(steps)
    return Placement(
        near.lat + north / METRES_PER_DEGREE,
        near.lon + east / (METRES_PER_DEGREE * scale),
        "beyond",
        round(max(0.3, 0.75 - gap / 200), 3),
        gap,
    )
