"""HTTP adapter for the SMS gateway's callbacks: /api/v1/notifications/sms.

Kannel calls these with GET (its dlr-url and sms-service get-url); POST works too. When
DASAN_SMS_CALLBACK_TOKEN is set, a call must carry it as `token` (the gateway's URLs
include it); without it, only calls from this machine are taken. The gateway has no
account: that shared secret (or loopback) is its proof.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from dispatch_server.access import public
from dispatch_server.deps import ContextDep
from dispatch_server.errors import NotFound, Unauthenticated
from dispatch_server.http_errors import ERROR_RESPONSES
from dispatch_server.phones import PhoneRejected, normalize_phone
from dispatch_server.ratelimit import client_address
from notifications import service

logger = logging.getLogger(__name__)

# The callbacks answer the gateway in plain text, their errors in JSON as everywhere: said
# outright (a model alone would be documented in the route's text/plain).
JSON_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": spec["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for status, spec in ERROR_RESPONSES.items()
}
router = APIRouter(
    prefix="/api/v1/notifications/sms", tags=["SMS gateway callbacks"], responses=JSON_ERRORS
)


async def gateway_token(
    request: Request, ctx: ContextDep, token: Annotated[str | None, Query(max_length=200)] = None
) -> None:
    """The gateway proves itself with the shared token; with none configured, only a
    gateway on this machine (loopback) is believed: a receipt settles a message and lands
    on a case's timeline, which nobody else may do."""
    expected = ctx.settings.sms_callback_token
    if expected:
        if not hmac.compare_digest((token or "").encode(), expected.encode()):
            raise Unauthenticated("a gateway callback must carry the configured token")
    elif not _loopback(client_address(request)):
        raise Unauthenticated(
            "gateway callbacks from other machines need DASAN_SMS_CALLBACK_TOKEN set"
        )


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@public
async def receipt(
    ctx: ContextDep,
    message: Annotated[int, Query(ge=1, le=2**63 - 1, description="our message id")],
    type: Annotated[
        int, Query(ge=1, le=31, description="1 delivered, 2 failed, 4 buffered, 8/16 centre")
    ],
    answer: Annotated[str, Query(max_length=1000)] = "",
    at: Annotated[str, Query(max_length=50, description="the gateway's time of the report")] = "",
) -> str:
    """A final report (delivered, failed) settles the message and lands on the case's
    timeline once; an intermediate one is taken and logged. 404: no such message."""
    async with ctx.transaction() as connection:
        outcome = await service.record_receipt(
            connection, message_id=message, report=type, answer=answer, reported_at=at,
            now=ctx.clock.now(),
        )  # fmt: skip
    if not outcome.known:
        logger.warning("receipt for unknown SMS %s (type %s, %r)", message, type, answer)
        raise NotFound(f"no SMS {message}", details={"message": message})
    return "ok"


@public
async def inbound(
    ctx: ContextDep,
    sender: Annotated[str, Query(alias="from", min_length=1, max_length=40)],
    text: Annotated[str, Query(max_length=2000)] = "",
) -> str:
    """STOP or 수신거부 opts the number out of every text; START or 수신허용 back in. The
    answer is the reply the gateway sends back (empty: none)."""
    try:
        phone = normalize_phone(sender, region=ctx.settings.phone_region)
    except PhoneRejected:
        logger.warning("inbound text from an unusable number %r ignored", sender)
        return ""
    word = service.keyword(text)
    async with ctx.transaction() as connection:
        if word == "stop":
            await service.opt_out(connection, phone=phone, source="sms", now=ctx.clock.now())
            return "수신거부 처리되었습니다. 다시 받으시려면 START. / You will get no more texts."
        if word == "start":
            await service.opt_in(connection, phone=phone)
            return "문자 수신이 다시 시작됩니다. / Texts are on again."
    return ""


for _method in ("GET", "POST"):
    router.add_api_route(
        "/receipts",
        receipt,
        methods=[_method],
        operation_id=f"sms_receipt_{_method.lower()}",
        dependencies=[Depends(gateway_token)],
        response_class=PlainTextResponse,
        summary="A delivery report (Kannel's dlr-url: message={id}&type=%d&answer=%A&at=%T)",
    )
    router.add_api_route(
        "/inbound",
        inbound,
        methods=[_method],
        operation_id=f"sms_inbound_{_method.lower()}",
        dependencies=[Depends(gateway_token)],
        response_class=PlainTextResponse,
        summary="A text from a citizen (Kannel's sms-service: from=%p&text=%a): STOP / 수신거부",
    )
