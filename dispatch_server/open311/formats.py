"""GeoReport v2 documents as JSON and XML, and the spec's error format.

A document is plain data (dicts in field order, lists, strings, numbers, booleans, None).
JSON writes it as it is; XML names the root, writes a dict's keys as elements, a list's
items as elements named for the singular of the list (`services` -> `service`), None as an
empty element and booleans as true/false, as the spec's examples do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import Response

from dispatch_server.errors import DomainError


class Format(StrEnum):
    """The response formats of every endpoint (the path's extension)."""

    JSON = "json"
    XML = "xml"


MEDIA_TYPES = {Format.JSON: "application/json", Format.XML: "text/xml; charset=utf-8"}
# Each list's items, by the list's name.
ITEM_OF = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "status_history": "entry",
}
# Characters XML 1.0 cannot carry at all (stored text never has them: text.clean_text).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


class Open311Error(DomainError):
    """A request Open311 refuses: the HTTP status and one description per problem."""

    def __init__(self, status: int, descriptions: Iterable[str]) -> None:
        self.descriptions = list(descriptions)
        super().__init__("; ".join(self.descriptions), code=str(status))
        self.status = status


def format_of(path: str) -> Format:
    """The format a path asks for: XML for `.xml`, JSON for anything else (errors too)."""
    return Format.XML if path.endswith(".xml") else Format.JSON


def parse_format(value: str) -> Format:
    """The path's extension as a Format, or a 404 (the spec has no other)."""
    try:
        return Format(value)
    except ValueError:
        raise Open311Error(404, [f"no such format {value[:20]!r}: use .json or .xml"]) from None


def iso_time(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """ISO 8601 with the city's offset, to the second: 2026-11-23T10:00:00+09:00."""
    if moment is None:
        return None
    return moment.astimezone(zone).isoformat(timespec="seconds")


def iso_time_sql(moment: str) -> str:
    """SQL that writes the timestamptz expression `moment` as `iso_time` does, in the zone
    named by the parameter :zone (a page's times cost less formatted by PostgreSQL; the
    function is migration 0019's). NULL stays NULL."""
    return f"iso_local({moment}, :zone)"


def _scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _NOT_XML.sub("", value).translate(_ESCAPES)
    return str(value)


def _write(name: str, value: Any, out: list[str]) -> None:
    if value is None:
        out.append(f"<{name}/>")
    elif isinstance(value, dict):
        out.append(f"<{name}>")
        for key, item in value.items():
            _write(key, item, out)
        out.append(f"</{name}>")
    elif isinstance(value, list):
        item_name = ITEM_OF.get(name, "item")
        out.append(f"<{name}>")
        for item in value:
            _write(item_name, item, out)
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{_scalar(value)}</{name}>")


def to_xml(root: str, document: Any) -> bytes:
    """The document as an XML file whose root element is `root`."""
    out = ['<?xml version="1.0" encoding="utf-8"?>']
    _write(root, document, out)
    # "replace": a lone surrogate that reached a message becomes "?", never a failure.
    return "".join(out).encode("utf-8", "replace")


def to_json(document: Any) -> bytes:
    """The document as compact JSON (UTF-8, not escaped)."""
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        # A lone surrogate (an error message quoting bad input) is not UTF-8: "?" instead.
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8", "replace")


def render(
    fmt: Format,
    root: str,
    document: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The document in the format asked for."""
    body = to_xml(root, document) if fmt is Format.XML else to_json(document)
    return Response(body, status_code=status, media_type=MEDIA_TYPES[fmt], headers=headers)


# The spec's statuses: a request it cannot take is a 400 (FastAPI's 422 included); a
# missing or wrong key a 403; others (404, 405, 413, 415, 429, 503) stay what they are.
_SPEC_STATUS = {401: 403, 422: 400}


def error_document(status: int, descriptions: list[str]) -> list[dict[str, Any]]:
    """The spec's error list: one {code, description} per problem, code the HTTP status."""
    return [{"code": status, "description": text} for text in descriptions]


def error_response(
    path: str, status: int, descriptions: list[str], headers: dict[str, str] | None = None
) -> Response:
    """A refusal in the spec's format (JSON or XML by the path), with the spec's status."""
    status = _SPEC_STATUS.get(status, status)
    kept = {k: v for k, v in (headers or {}).items() if k != "WWW-Authenticate"}
    return render(
        format_of(path), "errors", error_document(status, descriptions), status=status,
        headers=kept,
    )  # fmt: skip
