"""ASGI middleware that refuses request bodies above a size limit (413), streamed or not."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised inside `receive` when a streamed body passes the limit.

    An HTTPException, so the framework passes it through its body parsing untouched and the
    error handlers answer 413.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than {max_bytes} bytes")


class BodySizeLimit:
    """Refuse bodies over a limit: by Content-Length up front, else while streaming.

    `max_bytes` for every body but the multipart ones (files) sent to paths ending with an
    `uploads` suffix, which get theirs.
    `refusal` writes the 413's body for a path (content type, bytes): by default the one
    error shape; an API with its own error format (Open311) gives its own.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        uploads: dict[str, int] | None = None,
        refusal: Callable[[str, int], tuple[str, bytes] | None] | None = None,
    ) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.uploads = uploads or {}
        self.refusal = refusal

    def _limit(self, path: str, multipart: bool) -> int:
        if multipart:
            for suffix, limit in self.uploads.items():
                if path.endswith(suffix):
                    return limit
        return self.default_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        multipart = any(
            name == b"content-type" and value[:19].lower() == b"multipart/form-data"
            for name, value in headers
        )
        max_bytes = self._limit(scope.get("path", ""), multipart)
        for name, value in headers:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > max_bytes:
                    await self._refuse(send, max_bytes, scope.get("path", ""))
                    return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise BodyTooLarge(max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, max_bytes, scope.get("path", ""))

    def _body(self, max_bytes: int, path: str) -> tuple[str, bytes]:
        own = self.refusal(path, max_bytes) if self.refusal else None
        if own is not None:
            return own
        return "application/json", json.dumps(
            {
                "error": {
                    "code": "body_too_large",
                    "message": f"the request body is larger than {max_bytes} bytes",
                    "details": {"max_bytes": max_bytes},
                }
            }
        ).encode()

    async def _refuse(self, send: Send, max_bytes: int, path: str) -> None:
        content_type, body = self._body(max_bytes, path)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
