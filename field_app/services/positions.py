"""Where the inspector is: a source of fixes, and fixes kept until they are sent.

On a phone the source is its GPS (plyer, `PhoneGps`); on a desktop it is a fixed point or a
simulated walk (`--position`). Fixes are written to the store first and sent in batches by the sync
worker, so a tunnel loses none of them (the server takes late batches without moving the
inspector back in time).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from field_app.services.store import Store


@dataclass(frozen=True)
class Fix:
    lat: float
    lon: float
    accuracy_m: float


class PositionSource(Protocol):
    def fix(self) -> Fix | None:
        """The position now, or None when there is none yet."""
        ...


class FixedPosition:
    """Always the same point (a desktop at the office)."""

    def __init__(self, lat: float, lon: float) -> None:
        self._fix = Fix(lat, lon, 5.0)

    def fix(self) -> Fix:
        return self._fix


class SimulatedWalk:
    """A walk from a start point at about walking pace, with a seed (for demos and tests)."""

    def __init__(self, lat: float, lon: float, *, seed: int = 7, step_m: float = 15.0) -> None:
        self.lat, self.lon = lat, lon
        self._random = random.Random(seed)
        self._heading = self._random.uniform(0, 2 * math.pi)
        self.step_m = step_m

    def fix(self) -> Fix:
        self._heading += self._random.uniform(-0.6, 0.6)
        metres_per_degree = 111_320.0
        self.lat += self.step_m * math.cos(self._heading) / metres_per_degree
        self.lon += (
            self.step_m * math.sin(self._heading)
            / (metres_per_degree * math.cos(math.radians(self.lat)))
        )  # fmt: skip
        return Fix(self.lat, self.lon, 8.0)


class PhoneGps:
    """The phone's GPS through plyer (a phone build only; not run in the tests)."""

    def __init__(self, min_seconds: float = 10.0) -> None:
        from plyer import gps  # noqa: PLC0415 (there is no plyer GPS on a desktop)

        self._fix: Fix | None = None
        gps.configure(on_location=self._located)
        gps.start(minTime=int(min_seconds * 1000), minDistance=5)

    def _located(self, **fix: float) -> None:
        self._fix = Fix(fix["lat"], fix["lon"], float(fix.get("accuracy", 50.0)))

    def fix(self) -> Fix | None:
        return self._fix


def parse_source(text: str) -> PositionSource:
    """`LAT,LON` (fixed) or `walk:LAT,LON` (simulated), as given on the command line."""
    walk = text.startswith("walk:")
    lat_text, lon_text = text.removeprefix("walk:").split(",", 1)
    lat, lon = float(lat_text), float(lon_text)
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"not a position: {text!r}")
    return SimulatedWalk(lat, lon) if walk else FixedPosition(lat, lon)


def record_fix(store: Store, fix: Fix, *, at: datetime | None = None) -> None:
    """Keep a fix until the sync worker sends it; it is the position the screens use."""
    moment = (at or datetime.now(UTC)).isoformat(timespec="seconds")
    with store.transaction() as db:
        db.execute(
            "INSERT INTO fix (lat, lon, accuracy_m, at) VALUES (?, ?, ?, ?)",
            (fix.lat, fix.lon, fix.accuracy_m, moment),
        )
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('last_fix', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (f"{fix.lat},{fix.lon},{fix.accuracy_m}",),
        )


def last_fix(store: Store) -> Fix | None:
    """The newest fix taken (sent or not): where distances on the screens count from."""
    value = store.get("last_fix")
    if value is None:
        return None
    lat, lon, accuracy = (float(part) for part in value.split(","))
    return Fix(lat, lon, accuracy)
