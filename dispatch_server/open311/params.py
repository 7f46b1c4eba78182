"""Reading GeoReport v2 parameters: the query string, form bodies (url-encoded or multipart)
and JSON bodies, into one list of names and values.

Every problem is collected and refused together with one 400 that names them all; a name
this API does not know is a problem too (a client's `order=` or `sort=` must not be
silently ignored). An empty value counts as not given (many clients send `email=`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import unquote_to_bytes
from zoneinfo import ZoneInfo

from dispatch_server.open311.formats import Open311Error
from dispatch_server.text import TextRejected, clean_text

MAX_PAIRS = 300
MAX_NAME = 100
# Any one value, in characters (the description, the longest, has its own 4,000).
MAX_VALUE = 10_000
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$")
# Attribute codes are letters, digits and _ (the database's rule for them).
_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_]{1,50})\](\[\])?$")
_DATE_ONLY = re.compile(r"^\d{4}-?\d{2}-?\d{2}$")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def refuse(*problems: str) -> Open311Error:
    """A 400 naming the problems."""
    return Open311Error(400, problems)


def _decode(part: bytes) -> str:
    return unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")


def parse_pairs(raw: bytes) -> list[tuple[str, str]]:
    """`a=1&b=2` (percent-encoded UTF-8, `+` for space) as (name, value) pairs in order."""
    pairs: list[tuple[str, str]] = []
    for chunk in raw.split(b"&"):
        if not chunk:
            continue
        name, _, value = chunk.partition(b"=")
        try:
            pairs.append((_decode(name), _decode(value)))
        except UnicodeDecodeError:
            raise refuse("the parameters are not valid UTF-8: percent-encode UTF-8 bytes") from None
        if len(pairs) > MAX_PAIRS:
            raise refuse(f"more than {MAX_PAIRS} parameters")
    return pairs


def _json_value(name: str, value: Any) -> Iterable[tuple[str, str]]:
    if value is None:
        return
    if isinstance(value, bool):
        yield name, "true" if value else "false"
    elif isinstance(value, int | float | str):
        yield name, str(value)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, list | dict):
                raise refuse(f"{name}: a list of lists or objects is not a value")
            yield from _json_value(name, item)
    else:
        raise refuse(f"{name}: an object is not a value here")


def _no_constant(token: str) -> Any:
    raise refuse(f"{token} is not a number (JSON has no NaN or Infinity)")


def json_pairs(raw: bytes) -> list[tuple[str, str]]:
    """A JSON object body as pairs: `"attribute": {"code": "v" or ["a", "b"]}` becomes
    `attribute[code]` pairs (one per value), the rest name for name."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        raise refuse("the body is not valid UTF-8 JSON") from None
    except RecursionError:
        raise refuse("the body is nested too deeply") from None
    if not isinstance(body, dict):
        raise refuse("the JSON body must be an object of parameters")
    pairs: list[tuple[str, str]] = []
    for name, value in body.items():
        if name in ("attribute", "attributes") and isinstance(value, dict):
            for code, answer in value.items():
                pairs.extend(_json_value(f"attribute[{code}]", answer))
        else:
            pairs.extend(_json_value(name, value))
    if len(pairs) > MAX_PAIRS:
        raise refuse(f"more than {MAX_PAIRS} parameters")
    return pairs


class Params:
    """The parameters of one request, taken one by one; `finish` refuses what is left."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.values: dict[str, list[str]] = {}
        self.problems: list[str] = []
        for name, value in pairs:
            if len(name) > MAX_NAME:
                self.problems.append(f"a parameter name is longer than {MAX_NAME} characters")
                continue
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                self.problems.append("a parameter name is not valid Unicode (a lone surrogate)")
                continue
            self.values.setdefault(name, []).append(value)

    def given(self, name: str) -> bool:
        """Whether the request has a non-empty value for `name` (not taken yet)."""
        return any(value.strip() for value in self.values.get(name, ()))

    def problem(self, text: str) -> None:
        """Note a problem (refused at `finish`)."""
        self.problems.append(text)

    def _clean(self, name: str, value: str) -> str | None:
        if len(value) > MAX_VALUE:
            self.problem(f"{name}: longer than {MAX_VALUE:,} characters")
            return None
        try:
            return clean_text(value)
        except TextRejected as exc:
            self.problem(f"{name}: {exc}")
            return None

    def text(self, name: str, *, max_length: int | None = None) -> str | None:
        """The one value of `name`, cleaned; None when not given (or empty)."""
        values = self.values.pop(name, None)
        if not values:
            return None
        if len(values) > 1:
            self.problem(f"{name}: given {len(values)} times; give it once")
            return None
        value = self._clean(name, values[0])
        if not value:
            return None
        if max_length is not None and len(value) > max_length:
            self.problem(f"{name}: at most {max_length:,} characters (it has {len(value):,})")
            return None
        return value

    def listed(self, name: str) -> list[str] | None:
        """A comma-separated value (or the name given several times) as its items."""
        values = self.values.pop(name, None)
        if not values:
            return None
        items: list[str] = []
        for value in values:
            cleaned = self._clean(name, value)
            if cleaned:
                items.extend(item.strip() for item in cleaned.split(",") if item.strip())
        return items or None

    def number(self, name: str, *, low: float, high: float, integer: bool = False) -> float | None:
        """A finite number within [low, high]; NaN, infinity and words are refused."""
        value = self.text(name, max_length=40)
        return None if value is None else self.parse_number(name, value, low, high, integer)

    def parse_number(
        self, name: str, value: str, low: float, high: float, integer: bool = False
    ) -> float | None:
        """`value` as a number within [low, high], or a problem noted and None."""
        if not _NUMBER.match(value):
            self.problem(f"{name}: {value[:40]!r} is not a number")
            return None
        number = float(value)
        if not math.isfinite(number) or not low <= number <= high:
            self.problem(f"{name}: {value[:40]} is outside {low:g} to {high:g}")
            return None
        if integer and not number.is_integer():
            self.problem(f"{name}: {value[:40]} is not a whole number")
            return None
        return number

    def flag(self, name: str) -> bool:
        """true/false (absent: false)."""
        value = self.text(name, max_length=10)
        if value is None:
            return False
        if value.lower() in ("true", "1"):
            return True
        if value.lower() not in ("false", "0"):
            self.problem(f"{name}: {value!r} is not true or false")
        return False

    def moment(self, name: str, zone: ZoneInfo, *, end_of_day: bool = False) -> datetime | None:
        """An ISO 8601 date or date and time (no offset: the city's time). A date alone is
        its midnight, or with `end_of_day` the next midnight (the whole day included)."""
        value = self.text(name, max_length=40)
        return None if value is None else self.parse_moment(name, value, zone, end_of_day)

    def parse_moment(
        self, name: str, value: str, zone: ZoneInfo, end_of_day: bool = False
    ) -> datetime | None:
        """`value` as an aware datetime, or a problem noted and None."""
        try:
            if _DATE_ONLY.match(value):
                day = date.fromisoformat(value)
                moment = datetime.combine(day, time(), zone)
                if end_of_day:
                    moment += timedelta(days=1)
            else:
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=zone)
        except OverflowError:
            self.problem(f"{name}: {value[:40]} is not between 2000 and 2100")
            return None
        except ValueError:
            self.problem(
                f"{name}: {value[:40]!r} is not an ISO 8601 date or time "
                "(2026-11-23 or 2026-11-23T10:00:00+09:00)"
            )
            return None
        if not EARLIEST <= moment <= LATEST:
            self.problem(f"{name}: {value[:40]} is not between 2000 and 2100")
            return None
        return moment

    def attributes(self) -> dict[str, list[str]]:
        """Every `attribute[code]` (or `attribute[code][]`) with its values, cleaned."""
        found: dict[str, list[str]] = {}
        for name in [n for n in self.values if n.startswith("attribute")]:
            match = _ATTRIBUTE.match(name)
            if match is None:
                continue  # left for finish: not a name this API knows
            code = match.group(1)
            for value in self.values.pop(name):
                cleaned = self._clean(name, value)
                if cleaned:
                    found.setdefault(code, []).append(cleaned)
        return found

    def finish(self) -> None:
        """Refuse, with every problem found, a request that has any (names not taken
        included)."""
        for name in self.values:
            self.problem(f"{name[:MAX_NAME]!r} is not a parameter of this endpoint")
        if self.problems:
            raise refuse(*self.problems)
