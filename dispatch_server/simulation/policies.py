"""Dispatch policies: which on-duty inspector of the case's district gets a new case, and
in which order an inspector works their queue.

- `nearest`: the candidate the server ranks nearest (GET .../candidates, by distance),
  whatever their queue; queues are worked first come, first served.
- `territory`: each inspector owns the part of the district nearest their home point; a
  case goes to its territory's inspector on duty, wherever they are now; first come,
  first served.
- `sla-aware`: the inspector who would reach the case first, counting the work already in
  their queue; queues are worked by the arrive-on-site deadline, the earliest first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

EARTH_RADIUS_M = 6_371_008.8


class Policy(StrEnum):
    """The dispatch policies a simulation compares."""

    NEAREST = "nearest"
    TERRITORY = "territory"
    SLA_AWARE = "sla-aware"


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


class Worker(Protocol):
    """What a policy reads of an inspector."""

    n: int
    server_id: int
    home_lat: float
    home_lon: float

    def free_at(self, now: datetime, speed_m_per_min: float) -> tuple[datetime, float, float]:
        """When their queue is done (estimated) and where they will then be."""
        ...


def by_territory(workers: Sequence[Worker], lat: float, lon: float) -> Worker:
    """The worker whose home is nearest the point (ties: the lower number)."""
    return min(workers, key=lambda w: (metres(w.home_lat, w.home_lon, lat, lon), w.n))


def soonest(
    workers: Sequence[Worker], lat: float, lon: float, now: datetime, speed_m_per_min: float
) -> Worker:
    """The worker who would reach the point first, after the work already queued."""

    def arrival(worker: Worker) -> tuple[float, int]:
        free, at_lat, at_lon = worker.free_at(now, speed_m_per_min)
        wait = max(0.0, (free - now).total_seconds() / 60)
        return wait + metres(at_lat, at_lon, lat, lon) / speed_m_per_min, worker.n

    return min(workers, key=arrival)


def nearest_candidate(candidates: list[dict[str, Any]], allowed: set[int]) -> int | None:
    """The server's candidate nearest the case among `allowed` inspector ids."""
    eligible = [
        (float(c["distance_m"]), int(c["inspector_id"]))
        for c in candidates
        if c["inspector_id"] in allowed
    ]
    return min(eligible)[1] if eligible else None
