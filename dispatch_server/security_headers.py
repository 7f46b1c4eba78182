"""Security headers on every response: ASGI middleware, and the CSP pieces pages build on.

Every answer gets nosniff, no framing, no referrer, same-origin isolation, and a Content
Security Policy; a page that needs more (its own styles, scripts, images) sets its own CSP,
which is then left alone, and never allows inline script. API answers are not cached by
anyone (`no-store`) unless the endpoint says otherwise. Over https (as the proxy reports it),
browsers are told to come back over https only (HSTS).
"""

from __future__ import annotations

import base64
import hashlib

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What JSON, errors and anything without a policy of its own get: nothing may load.
LOCKED_DOWN = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
HSTS = "max-age=63072000; includeSubDomains"


def style_hash(css: str) -> str:
    """The CSP source that allows exactly this inline <style> block ('sha256-...')."""
    digest = hashlib.sha256(css.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def page_policy(*, styles: str = "'self'", scripts: str = "'none'", images: str = "'self'",
                connect: str = "'none'", forms: str = "'none'") -> str:  # fmt: skip
    """A CSP for an HTML page of ours: only what is named, never inline script, never framed."""
    return (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; img-src {images};"
        f" connect-src {connect}; font-src 'self'; form-action {forms};"
        " frame-ancestors 'none'; base-uri 'none'"
    )


class SecurityHeaders:
    """Adds the headers to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope.get("path", "").startswith("/api/")
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _ALWAYS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", LOCKED_DOWN)
                if api:
                    headers.setdefault("Cache-Control", "no-store")
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, with_headers)
