"""The dispatch server's field API over HTTP, as the app uses it (httpx, synchronous: the
calls run on the app's worker threads, never on the UI thread).

Failures come in three kinds, because the sync worker treats them differently:
- `Offline`: no verdict (no network, a timeout, the server busy or failing): try again later;
- `Refused`: the server's verdict on this request (a 4xx with its code): do not resend it;
- `SignInNeeded`: the session is over (even the refresh token was refused).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class Offline(Exception):
    """No verdict from the server: try again later (`retry_after` seconds at the least)."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Refused(Exception):
    """The server refused this request, for good."""

    status: int
    code: str
    message: str
    details: Any = None

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class SignInNeeded(Exception):
    """The session is over: the inspector must sign in again (nothing is lost)."""


@dataclass
class Tokens:
    access: str
    refresh: str


class FieldApi:
    """One inspector's calls to one server."""

    def __init__(
        self,
        base_url: str,
        tokens: Tokens | None = None,
        *,
        on_tokens: Callable[[Tokens], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.on_tokens = on_tokens  # told of every new pair (the store keeps them)
        self._http = httpx.Client(base_url=self.base_url, timeout=TIMEOUT, transport=transport)

    def close(self) -> None:
        self._http.close()

    # --- signing in --------------------------------------------------------------------

    def sign_in(self, username: str, password: str) -> dict[str, Any]:
        """Tokens for the account, which must be an inspector's; the account (`me`)."""
        credentials = {"username": username, "password": password}
        answer = self._send("POST", "/api/v1/auth/token", json=credentials, auth=False)
        self._keep(answer)
        me = self.me()
        if me["role"] != "inspector":
            self.tokens = None
            raise Refused(403, "not_an_inspector", "this app is for inspectors' accounts")
        return me

    def me(self) -> dict[str, Any]:
        return self._json("GET", "/api/v1/auth/me")

    def sign_out(self) -> None:
        self._send("POST", "/api/v1/auth/sign-out")
        self.tokens = None

    def _keep(self, answer: httpx.Response) -> None:
        body = answer.json()
        self.tokens = Tokens(body["access_token"], body["refresh_token"])
        if self.on_tokens is not None:
            self.on_tokens(self.tokens)

    def _refresh(self) -> None:
        if self.tokens is None:
            raise SignInNeeded("not signed in")
        try:
            body = {"refresh_token": self.tokens.refresh}
            answer = self._send("POST", "/api/v1/auth/refresh", json=body, auth=False)
        except Refused as error:
            raise SignInNeeded(error.message) from None
        self._keep(answer)

    # --- the field API -------------------------------------------------------------------

    def queue(self) -> dict[str, Any]:
        return self._json("GET", "/api/v1/field/queue")

    def case(self, case_id: int) -> dict[str, Any]:
        return self._json("GET", f"/api/v1/field/complaints/{case_id}")

    def reference(self) -> dict[str, Any]:
        return self._json("GET", "/api/v1/field/reference")

    def move(self, case_id: int, body: dict[str, Any], *, key: str) -> dict[str, Any]:
        return self._json("POST", f"/api/v1/field/complaints/{case_id}/transitions",
                          json=body, headers={"Idempotency-Key": key})  # fmt: skip

    def add_photos(self, case_id: int, files: list[Path]) -> dict[str, Any]:
        parts = []
        for file in files:
            media = "image/png" if file.suffix.lower() == ".png" else "image/jpeg"
            parts.append(("photos", (file.name, file.read_bytes(), media)))
        return self._json("POST", f"/api/v1/field/complaints/{case_id}/photos", files=parts)

    def set_duty(self, on_duty: bool) -> dict[str, Any]:
        return self._json("POST", "/api/v1/field/duty", json={"on_duty": on_duty})

    def report_positions(self, pings: list[dict[str, Any]]) -> dict[str, Any]:
        return self._json("POST", "/api/v1/field/positions", json={"pings": pings})

    def photo(self, url: str) -> bytes:
        return self._send("GET", url).content

    def stream(self, last_event_id: str | None) -> Iterator[tuple[str, str, str]]:
        """Server-sent events of my cases, (id, event, data), until the connection ends."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        if self.tokens is not None:
            headers["Authorization"] = f"Bearer {self.tokens.access}"
        timeout = httpx.Timeout(60.0, connect=5.0)  # the server sends a keep-alive
        try:
            with self._http.stream("GET", "/api/v1/field/stream", headers=headers,
                                   timeout=timeout) as answer:  # fmt: skip
                if answer.status_code == 401:
                    self._refresh()
                    return
                if answer.status_code >= 400:
                    raise Offline(f"stream refused: {answer.status_code}", retry_after=5)
                yield from parse_events(answer.iter_lines())
        except httpx.HTTPError as error:
            raise Offline(f"stream lost: {error}") from None

    # --- plumbing ------------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return dict(self._send(method, path, **kwargs).json())

    def _send(
        self, method: str, path: str, *, auth: bool = True, headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:  # fmt: skip
        answer = self._request(method, path, auth, headers, kwargs)
        if answer.status_code == 401 and auth:
            self._refresh()  # the access token expired: once more with a new one
            answer = self._request(method, path, auth, headers, kwargs)
        return _checked(answer)

    def _request(
        self, method: str, path: str, auth: bool, headers: dict[str, str] | None,
        kwargs: dict[str, Any],
    ) -> httpx.Response:  # fmt: skip
        sent = dict(headers or {})
        if auth and self.tokens is not None:
            sent["Authorization"] = f"Bearer {self.tokens.access}"
        try:
            return self._http.request(method, path, headers=sent, **kwargs)
        except httpx.HTTPError as error:
            raise Offline(f"{type(error).__name__}: {error}") from None


def _checked(answer: httpx.Response) -> httpx.Response:
    status = answer.status_code
    if status < 400:
        return answer
    if status == 401:
        raise SignInNeeded(_error(answer)[1])
    if status == 429 or status >= 500:
        retry = float(answer.headers.get("Retry-After", "5") or 5)
        raise Offline(f"server answered {status}", retry_after=retry)
    code, message, details = _error(answer)
    raise Refused(status, code, message, details)


def _error(answer: httpx.Response) -> tuple[str, str, Any]:
    try:
        error = answer.json()["error"]
        return error.get("code", "error"), error.get("message", ""), error.get("details")
    except (ValueError, KeyError, TypeError):
        return "error", answer.text[:200], None


def parse_events(lines: Iterator[str]) -> Iterator[tuple[str, str, str]]:
    """SSE frames from lines: (id, event, data); comments and `retry:` are skipped."""
    event_id, event = "", "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event_id, event, "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            event_id = value
        elif name == "event":
            event = value
        elif name == "data":
            data.append(value)


def decode(data: str) -> Any:
    return json.loads(data)
