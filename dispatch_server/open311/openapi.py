"""How /docs (and schema-driven tools such as schemathesis) see the Open311 endpoints.

The endpoints read their parameters themselves (router.py), so FastAPI cannot infer them:
they are declared here, with the answers' shapes (those of the spec's JSON Schemas in
../shared/data/open311/, which the tests validate the answers against).
"""

from __future__ import annotations

from typing import Any

_NULLABLE_STRING = {"type": ["string", "null"]}


def _param(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_JURISDICTION = _param("jurisdiction_id", "optional; this server's is seoul.go.kr (a setting)")
_API_KEY = _param("api_key", "optional for reads: with it, reads count against the key's limit")

_ERRORS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}
_XML = {"text/xml": {"schema": {"type": "string"}}}


def _answers(ok: dict[str, Any], *statuses: int) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": ok}, **_XML}},
    }
    words = {
        400: "the spec's error list: every problem of the request",
        403: "api_key missing, unknown or revoked",
        404: "no such thing (or jurisdiction_id not served here)",
        413: "body too large",
        415: "body in another format",
        429: "over the rate limit (Retry-After)",
    }
    for status in (400, 429, *statuses):
        responses[str(status)] = {
            "description": words[status],
            "content": {"application/json": {"schema": _ERRORS}, **_XML},
        }
    return responses


_SERVICE = {
    "type": "object",
    "required": ["service_code", "service_name", "metadata", "type"],
    "properties": {
        "service_code": {"type": "string"},
        "service_name": {"type": "string"},
        "description": _NULLABLE_STRING,
        "metadata": {"type": "boolean"},
        "type": {"type": "string", "enum": ["realtime", "batch", "blackbox"]},
        "keywords": _NULLABLE_STRING,
        "group": _NULLABLE_STRING,
    },
}
_DEFINITION = {
    "type": "object",
    "required": ["service_code", "attributes"],
    "properties": {
        "service_code": {"type": "string"},
        "attributes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["variable", "code", "datatype", "required"],
                "properties": {
                    "variable": {"type": "boolean"},
                    "code": {"type": "string"},
                    "datatype": {
                        "type": "string",
                        "enum": [
                            "string",
                            "number",
                            "datetime",
                            "text",
                            "singlevaluelist",
                            "multivaluelist",
                        ],
                    },  # fmt: skip
                    "required": {"type": "boolean"},
                    "datatype_description": _NULLABLE_STRING,
                    "order": {"type": ["integer", "null"]},
                    "description": _NULLABLE_STRING,
                    "values": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["key", "name"],
                            "properties": {"key": {"type": "string"}, "name": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_REQUEST = {
    "type": "object",
    "required": ["service_request_id", "status", "service_code", "requested_datetime"],
    "properties": {
        "service_request_id": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "closed"]},
        "status_notes": _NULLABLE_STRING,
        "service_name": _NULLABLE_STRING,
        "service_code": {"type": "string"},
        "description": {"type": ["string", "null"], "maxLength": 4000},
        "agency_responsible": _NULLABLE_STRING,
        "service_notice": _NULLABLE_STRING,
        "requested_datetime": {"type": "string", "format": "date-time"},
        "updated_datetime": _TIME,
        "expected_datetime": _TIME,
        "address": _NULLABLE_STRING,
        "address_id": _NULLABLE_STRING,
        "zipcode": _NULLABLE_STRING,
        "lat": {"type": ["number", "null"]},
        "long": {"type": ["number", "null"]},
        "media_url": _NULLABLE_STRING,
        "extended_attributes": {
            "type": "object",
            "description": "with extensions=true: channel, district, duplicate_of, photos "
            "(how many the inspector took; not published), status_history",
        },
    },
}
_TOKEN = {
    "type": "array",
    "items": {
        "type": "object",
        # No service_request_id yet while a queued post waits (ask again after Retry-After).
        "required": ["token"],
        "properties": {"service_request_id": {"type": "string"}, "token": {"type": "string"}},
    },
}
_POSTED = {
    "type": "array",
    "items": {
        "type": "object",
        # A queued post (deferred creation) answers without service_request_id: its token
        # gives the id a moment later (GET tokens/{token}).
        "required": ["token", "service_notice"],
        "properties": {
            "service_request_id": {"type": "string"},
            "token": {"type": "string"},
            "service_notice": {"type": "string"},
            "account_id": _NULLABLE_STRING,
        },
    },
}
_DISCOVERY = {
    "type": "object",
    "required": ["changeset", "endpoints"],
    "properties": {
        "changeset": {"type": "string"},
        "contact": {"type": "string"},
        "key_service": {"type": "string"},
        "endpoints": {"type": "array", "items": {"type": "object"}},
    },
}

DISCOVERY_DOC = {"parameters": [_JURISDICTION, _API_KEY], "responses": _answers(_DISCOVERY, 404)}
SERVICES_DOC = {
    "parameters": [_JURISDICTION, _API_KEY],
    "responses": _answers({"type": "array", "items": _SERVICE}, 403, 404),
}
SERVICE_DOC = {
    "parameters": [_JURISDICTION, _API_KEY],
    "responses": _answers(_DEFINITION, 403, 404),
}
_NUMBER = {"type": "number"}
REQUESTS_DOC = {
    "parameters": [
        _JURISDICTION,
        _API_KEY,
        _param("service_request_id", "comma list of ids: overrides every other filter"),
        _param("service_code", "comma list of service codes"),
        _param("start_date", "ISO 8601; requested at or after", {"type": "string"}),
        _param("end_date", "ISO 8601; requested before (a date alone: the whole day)"),
        _param("status", "open, closed, or both (comma list)"),
        _param("lat", "with long: a point to search around", _NUMBER),
        _param("long", "with lat", _NUMBER),
        _param("radius", "metres around lat/long (default 1,000, at most 10,000)", _NUMBER),
        _param("bbox", "min_long,min_lat,max_long,max_lat"),
        _param("updated_after", "ISO 8601: changed at or after"),
        _param("updated_before", "ISO 8601: changed before"),
        _param("page", "1, 2, ... (X-Total-Count, Link: next)", {"type": "integer"}),
        _param("page_size", "1 to 1,000 (default 1,000)", {"type": "integer"}),
        _param("extensions", "true: extended_attributes on each request", {"type": "boolean"}),
    ],  # fmt: skip
    "responses": _answers({"type": "array", "items": _REQUEST}, 403, 404),
}
REQUEST_DOC = {
    "parameters": [
        _JURISDICTION,
        _API_KEY,
        _param("extensions", "true: extended_attributes", {"type": "boolean"}),
    ],  # fmt: skip
    "responses": _answers({"type": "array", "items": _REQUEST}, 403, 404),
}
TOKEN_DOC = {
    "parameters": [_JURISDICTION, _API_KEY],
    "responses": _answers(_TOKEN, 403, 404),
}
_POST_FIELDS: dict[str, Any] = {
    "api_key": {"type": "string", "description": "required: ask the city for one"},
    "jurisdiction_id": {"type": "string"},
    "service_code": {"type": "string", "description": "required (GET services)"},
    "lat": _NUMBER,
    "long": _NUMBER,
    "address_string": {"type": "string", "maxLength": 500, "description": "geocoded"},
    "address_id": {"type": "string", "description": "an id of the city's address list"},
    "email": {"type": "string"},
    "device_id": {"type": "string", "description": "accepted, not kept"},
    "account_id": {"type": "string", "description": "accepted, not kept"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "phone": {"type": "string", "description": "the citizen's texts go to it"},
    "description": {"type": "string", "maxLength": 4000},
    "media_url": {"type": "string", "description": "http(s); stored, never fetched"},
}
_POST_SCHEMA = {
    "type": "object",
    "required": ["api_key", "service_code"],
    "properties": _POST_FIELDS,
    "description": "answers as attribute[code]=value (repeat, or attribute[code][]=, for "
    'a multivaluelist); in JSON also "attribute": {"code": value or [values]}',
}
POST_DOC = {
    "requestBody": {
        "content": {
            "application/x-www-form-urlencoded": {"schema": _POST_SCHEMA},
            "multipart/form-data": {
                "schema": {
                    **_POST_SCHEMA,
                    "properties": {
                        **_POST_FIELDS,
                        "media": {
                            "type": "string",
                            "format": "binary",
                            "description": "one JPEG or PNG photo",
                        },
                    },  # fmt: skip
                }
            },
            "application/json": {"schema": _POST_SCHEMA},
        }
    },
    "responses": _answers(_POSTED, 403, 404, 413, 415),
}
