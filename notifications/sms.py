"""The SMS channel: Korea's length rule, and the gateways a text goes out through.

Korean operators count a text in EUC-KR bytes: up to 90 bytes it is an SMS, longer an
LMS (up to 2,000 bytes, billed higher). A text with characters EUC-KR lacks (Vietnamese
tone marks, most simplified Chinese) is counted as the operators' Unicode messages are:
two bytes a character outside ASCII. A text past 2,000 bytes is cut, with an ellipsis.

Gateways: `FileSink` (the local default: one JSON line a text, nothing leaves the
machine), `HttpGateway` (any HTTP gateway; URL, credentials and parameter names are
configuration) with the preset `kannel()` for Kannel's smsbox `/cgi-bin/sendsms`.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlencode, urlsplit

SMS_MAX_BYTES = 90
LMS_MAX_BYTES = 2000
ELLIPSIS = "…"


def byte_length(text: str) -> int:
    """The text's length as the operator bills it."""
    try:
        return len(text.encode("euc-kr"))
    except UnicodeEncodeError:
        return sum(1 if ord(ch) < 128 else 2 for ch in text)


def fit(text: str) -> tuple[str, str]:
    """(kind, text): "sms" when it fits 90 bytes, else "lms", cut to 2,000 bytes."""
    if byte_length(text) <= SMS_MAX_BYTES:
        return "sms", text
    if byte_length(text) <= LMS_MAX_BYTES:
        return "lms", text
    low, high = 0, len(text)  # the longest prefix that fits with the ellipsis
    while low < high:
        middle = (low + high + 1) // 2
        if byte_length(text[:middle] + ELLIPSIS) <= LMS_MAX_BYTES:
            low = middle
        else:
            high = middle - 1
    return "lms", text[:low] + ELLIPSIS


@dataclass(frozen=True)
class OutgoingSms:
    message_id: int  # the outbox row: the gateway's receipts name it
    to: str  # E.164
    text: str
    kind: str  # sms | lms


class GatewayError(Exception):
    """The gateway did not take the text. Permanent: retrying cannot help (dead letter)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmsGateway(Protocol):
    async def send(self, sms: OutgoingSms) -> str:
        """Hand the text over; the provider's id for it. Raises GatewayError."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class FileSink:
    """Appends each text as a JSON line to a file (the local default: nothing is sent)."""

    path: Path
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, sms: OutgoingSms) -> str:
        line = json.dumps(
            {
                "id": sms.message_id, "to": sms.to, "kind": sms.kind, "text": sms.text,
                "at": datetime.now(UTC).isoformat(),
            },
            ensure_ascii=False,
        )  # fmt: skip
        async with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        return f"file-{sms.message_id}"

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True)
class HttpGatewayConfig:
    """How to speak to an HTTP SMS gateway. `{id}` in `receipt_url` is the message's id."""

    url: str
    method: str = "GET"
    username: str = ""
    password: str = ""
    username_param: str = "username"
    password_param: str = "password"
    sender: str = "120"
    sender_param: str = "from"
    to_param: str = "to"
    text_param: str = "text"
    # Optional: the parameter that says sms or lms, and its values.
    kind_param: str = ""
    kind_values: tuple[str, str] = ("sms", "lms")
    # Optional: where the gateway reports delivery, and the parameter naming that URL.
    receipt_param: str = ""
    receipt_url: str = ""
    # Sent with every text (e.g. charset and coding for Kannel).
    extra: tuple[tuple[str, str], ...] = ()
    # A 2xx answer whose body matches this is taken; anything else is an error.
    accepted: str = r".*"
    # A 4xx answer matching this can never succeed (a bad number): dead-lettered at once.
    permanent: str = r"^$"
    # The recipient as the gateway wants it: "e164" (+8210...) or "digits" (8210...).
    number_format: str = "e164"
    timeout_s: float = 10.0


def kannel(
    *,
    sendsms_url: str,
    username: str,
    password: str,
    sender: str,
    receipt_base: str,
    callback_token: str = "",
) -> HttpGatewayConfig:
    """Kannel's smsbox: texts as UCS-2 from UTF-8, every receipt (dlr-mask 31) to us.

    Kannel fills the receipt URL's escapes: %d the report type (1 delivered, 2 failed,
    4 buffered, 8 taken by the SMS centre, 16 refused by it), %A the centre's answer,
    %T the time. It has no SMS/LMS switch: a long text leaves as a concatenated SMS.
    """
    return HttpGatewayConfig(
        url=sendsms_url,
        username=username,
        password=password,
        sender=sender,
        receipt_param="dlr-url",
        receipt_url=receipt_base.rstrip("/")
        + "/api/v1/notifications/sms/receipts?message={id}&type=%d&answer=%A&at=%T"
        + (f"&token={quote(callback_token)}" if callback_token else ""),
        extra=(("charset", "UTF-8"), ("coding", "2"), ("dlr-mask", "31")),
        accepted=r"^\s*[03]: ",  # 0: Accepted for delivery, 3: Queued for later delivery
        permanent=r"(?i)invalid|not allowed|denied",
        number_format="e164",
    )


class HttpGateway:
    """An HTTP gateway described by a HttpGatewayConfig.

    Requests go out on persistent stdlib connections, one per thread of a small pool
    (`pool_size` texts in flight). Measured against Kannel here, that hands over 1,250-1,400
    texts/s where httpx's async client managed 110-370/s (bench/outbox.py, docs).
    A connection the gateway closed while idle is replaced and the text sent once more only
    when the failure came before any answer on a reused connection.
    """

    def __init__(self, config: HttpGatewayConfig, *, pool_size: int = 32) -> None:
        self.config = config
        parts = urlsplit(config.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {config.url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path or "/"
        self._pool = ThreadPoolExecutor(pool_size, thread_name_prefix="sms-gateway")
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def parameters(self, sms: OutgoingSms) -> dict[str, str]:
        c = self.config
        to = sms.to if c.number_format == "e164" else sms.to.lstrip("+")
        params = {c.sender_param: c.sender, c.to_param: to, c.text_param: sms.text}
        if c.username_param and c.username:
            params[c.username_param] = c.username
        if c.password_param and c.password:
            params[c.password_param] = c.password
        if c.kind_param:
            params[c.kind_param] = c.kind_values[sms.kind == "lms"]
        if c.receipt_param and c.receipt_url:
            params[c.receipt_param] = c.receipt_url.replace("{id}", quote(str(sms.message_id)))
        params.update(c.extra)
        return params

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            return connection, True
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = kind(self._host, self._port, timeout=self.config.timeout_s)
        self._local.connection = connection
        with self._lock:
            self._connections.append(connection)
        return connection, False

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _exchange(self, params: dict[str, str]) -> tuple[int, str]:
        query = urlencode(params)
        for _ in range(2):
            connection, reused = self._connection()
            try:
                if self.config.method.upper() == "GET":
                    connection.request("GET", f"{self._path}?{query}")
                else:
                    headers = {"Content-Type": "application/x-www-form-urlencoded"}
                    connection.request("POST", self._path, body=query, headers=headers)
                response = connection.getresponse()
                body = response.read().decode("utf-8", "replace")
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._drop()
                if reused:
                    continue  # the gateway had closed the idle connection: nothing was taken
                raise
            except BaseException:
                self._drop()
                raise
            if response.will_close:
                self._drop()
            return response.status, body
        raise ConnectionError("the gateway closed the connection twice")

    async def send(self, sms: OutgoingSms) -> str:
        c = self.config
        loop = asyncio.get_running_loop()
        try:
            status, body = await loop.run_in_executor(
                self._pool, self._exchange, self.parameters(sms)
            )
        except TimeoutError:
            raise GatewayError("the gateway did not answer in time") from None
        except (OSError, http.client.HTTPException) as error:
            raise GatewayError(f"gateway unreachable: {type(error).__name__}: {error}") from None
        body = body.strip()[:300]
        if 200 <= status < 300 and re.search(c.accepted, body):
            return f"sms-{sms.message_id}"
        permanent = 400 <= status < 500 and bool(re.search(c.permanent, body))
        raise GatewayError(f"gateway answered {status}: {body}", permanent=permanent)

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
