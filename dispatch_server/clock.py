"""The one place that reads the wall clock; everything else is given the time."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    """Something that says what time it is (UTC, aware)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Now, in UTC."""
        return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until told to move (tests, simulation)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._at = at

    def now(self) -> datetime:
        """The frozen time."""
        return self._at

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self._at += delta

    def set(self, at: datetime) -> None:
        """Jump to a given time."""
        self._at = at


class FileClock:
    """The time written in a file, as one ISO 8601 line: a simulation's clock, shared by
    every process that reads the file (the server's workers, the simulator). It stands
    still between writes; a writer replaces the file atomically (write, then rename).

    Never for production: the time is whatever the file says.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        """The file's time, read each time: a cache keyed on the file's mtime and inode
        could miss a change (coarse mtimes, inodes reused), and the read costs microseconds."""
        at = datetime.fromisoformat(self.path.read_text(encoding="ascii").strip())
        if at.tzinfo is None:
            raise ValueError(f"{self.path} holds a time without its zone")
        return at.astimezone(UTC)

    @staticmethod
    def write(path: Path, at: datetime) -> None:
        """Set the time every reader of `path` sees (atomically: readers never see half)."""
        if at.tzinfo is None:
            raise ValueError("the clock file needs an aware datetime")
        partial = path.with_name(path.name + ".partial")
        partial.write_text(at.astimezone(UTC).isoformat() + "\n", encoding="ascii")
        os.replace(partial, path)
