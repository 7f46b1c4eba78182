"""Request ids and structured logs.

Every HTTP request gets an id: the caller's `X-Request-Id` when it is a plain token (up to
64 letters, digits and `._:-`, as a reverse proxy sets it), else a new one. It is sent back
in the answer's `X-Request-Id` and carried by every log line written while the request is
served. With `DASAN_LOG_FORMAT=json` the server writes one JSON object a line (uvicorn's
lines too), and with `DASAN_ACCESS_LOG=true` one access line a request: method, path
(never the query string, which may carry a phone number), status, duration, request id.
"""

from __future__ import annotations

import copy
import json
import logging
import logging.config
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch_server.metrics import observe_request

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
HEADER = b"x-request-id"
_PLAIN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# What an access line carries besides its message (as JSON fields).
ACCESS_FIELDS = ("method", "path", "status", "duration_ms")
access_log = logging.getLogger("dasan.access")


def request_id_of(given: bytes | None) -> str:
    """The caller's id when it is a plain token, else a new one."""
    if given:
        try:
            text = given.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if _PLAIN.fullmatch(text):
            return text
    return uuid.uuid4().hex


class RequestId:
    """Pure ASGI middleware (outermost): the request's id in context, in the answer's
    headers and, when asked, in an access line; its time in the metrics."""

    def __init__(self, app: ASGIApp, *, log_access: bool = False) -> None:
        self.app = app
        self.log_access = log_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER), None)
        request_id = request_id_of(given)
        token = REQUEST_ID.set(request_id)
        status = 500  # what the client gets when nothing was sent
        began = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != HEADER]
                message["headers"] = [*headers, (HEADER, request_id.encode("ascii"))]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - began
            observe_request(scope, status, seconds)
            if self.log_access:
                access_log.info(
                    "%s %s %d", scope["method"], scope["path"], status,
                    extra={"method": scope["method"], "path": scope["path"], "status": status,
                           "duration_ms": round(seconds * 1000, 2)},
                )  # fmt: skip
            REQUEST_ID.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the request's id, an
    access line's fields, the exception's traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for name in ACCESS_FIELDS:
            if name in record.__dict__:
                entry[name] = record.__dict__[name]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


# APScheduler says at INFO each time a job starts and ends (every second for the outbox):
# its warnings (a run skipped, a job failed) are what an operator needs.
_QUIET = {"apscheduler": {"level": "WARNING"}}
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def log_config(log_format: str) -> dict[str, Any]:
    """uvicorn's `log_config`. Text: uvicorn's own lines as uvicorn writes them, and the
    product's (a sweep's steps, a delivery's count) as plain lines on stderr; "json": every
    logger, uvicorn's included, through JsonFormatter on stderr."""
    if log_format != "json":
        from uvicorn.config import LOGGING_CONFIG

        config = copy.deepcopy(LOGGING_CONFIG)
        config["formatters"]["plain"] = {"format": PLAIN_FORMAT}
        config["handlers"]["plain"] = {
            "class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"
        }  # fmt: skip
        config["root"] = {"handlers": ["plain"], "level": "INFO"}
        config["loggers"].update(_QUIET)
        return config
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    quiet = {"handlers": ["json"], "level": "INFO", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": handler},
        "loggers": {"uvicorn": quiet, "uvicorn.error": {"level": "INFO"}, "uvicorn.access": quiet}
        | _QUIET,
        "root": {"handlers": ["json"], "level": "INFO"},
    }


def configure_process_logging(log_format: str) -> None:
    """Logging of a process that is not uvicorn's (`dasan worker`): JSON or plain lines."""
    if log_format != "json":
        logging.basicConfig(level=logging.INFO, format=PLAIN_FORMAT)
        for name, level in _QUIET.items():
            logging.getLogger(name).setLevel(level["level"])
    else:
        logging.config.dictConfig(log_config(log_format))
