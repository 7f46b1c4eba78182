"""One error shape for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from dispatch_server.deps import UnsupportedMediaType
from dispatch_server.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]
# An API with an error format of its own (Open311's): (path, status, messages, headers).
Dialect = Callable[[str, int, list[str], dict[str, str] | None], Response]


class ErrorDetail(BaseModel):
    """What went wrong: a stable code for programs, a sentence for people."""

    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed request (e.g. body is not JSON)"},
    401: {"model": ErrorBody, "description": "Who is calling is unknown"},
    403: {"model": ErrorBody, "description": "The caller's role may not do this"},
    404: {"model": ErrorBody, "description": "Not found"},
    413: {"model": ErrorBody, "description": "Body too large"},
    415: {"model": ErrorBody, "description": "Body is not JSON"},
    422: {"model": ErrorBody, "description": "Invalid content"},
    503: {"model": ErrorBody, "description": "Database unavailable"},
}

# Most specific first.
_STATUS_OF: tuple[tuple[type[DomainError], int], ...] = (
    (UnsupportedMediaType, 415),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (TooManyRequests, 429),
    (NotFound, 404),
    (Conflict, 409),
    (Invalid, 422),
    (Unavailable, 503),
)

_FRAMEWORK_PARSE_FAILURE = "There was an error parsing the body"

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON response in the one error shape."""
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def status_of(error: DomainError) -> int:
    """The HTTP status of a domain error (its own `status` when it names one)."""
    own = getattr(error, "status", None)
    if isinstance(own, int):
        return own
    for kind, status in _STATUS_OF:
        if isinstance(error, kind):
            return status
    return 400


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only location, message and type: the offending input may not be JSON-serialisable
    # (NaN, bytes) and may be large.
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]


def _answer(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
    messages: list[str] | None = None,
) -> Response:
    """The error in the one shape, or in the dialect of the API the path belongs to."""
    path = request.url.path
    for prefix, dialect in getattr(request.app.state, "error_dialects", {}).items():
        if path.startswith(prefix):
            return dialect(path, status, messages or [message], headers)
    return error_response(status, code, message, details, headers)


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return _answer(
        request, status_of(exc), exc.code, exc.message, exc.details, exc.headers,
        messages=getattr(exc, "descriptions", None),
    )  # fmt: skip


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    if any(d["type"] == "json_invalid" for d in details):
        return _answer(request, 400, "malformed_json", "the body is not valid JSON", details)
    fields = ", ".join(".".join(str(p) for p in d["loc"][1:]) or "body" for d in details)
    return _answer(request, 422, "validation_error", f"invalid request: {fields}", details)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such endpoint: {request.method} {request.url.path}"
    if exc.status_code == 400 and message == _FRAMEWORK_PARSE_FAILURE:
        # FastAPI's word for a body that is not even text (e.g. not UTF-8).
        code, message = "malformed_json", "the body is not valid UTF-8 JSON"
    return _answer(request, exc.status_code, code, message, headers=exc.headers)


def _unavailable(code: str, message: str, retry_after: int) -> ExceptionHandler:
    """A handler answering 503 with Retry-After, for a part that should come back."""

    async def handle(request: Request, exc: Exception) -> Response:
        log.warning("%s: %s", code, exc)
        return _answer(request, 503, code, message, headers={"Retry-After": str(retry_after)})

    return handle


_on_database_down = _unavailable(
    "database_unavailable",
    "the database cannot be reached just now; try again in a few seconds",
    retry_after=5,
)
_on_pool_timeout = _unavailable(
    "server_busy", "the server is busy; try again in a moment", retry_after=1
)


async def _on_data_error(request: Request, exc: Exception) -> Response:
    # A backstop: validation should have caught the value before the database did.
    log.warning("database refused a value: %s", exc)
    return _answer(request, 422, "invalid_value", "a value in the request cannot be stored")


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _answer(request, 500, "internal_error", "an unexpected error happened; it was logged")


def install_error_handlers(app: FastAPI, dialects: dict[str, Dialect] | None = None) -> None:
    """Route every failure to the one error shape, or to the dialect of the path's prefix."""
    app.state.error_dialects = dict(dialects or {})
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(OperationalError, _on_database_down)
    app.add_exception_handler(InterfaceError, _on_database_down)
    app.add_exception_handler(PoolTimeout, _on_pool_timeout)
    app.add_exception_handler(DataError, _on_data_error)
    app.add_exception_handler(DBAPIError, _on_unexpected)
    app.add_exception_handler(Exception, _on_unexpected)
