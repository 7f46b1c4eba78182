"""HTTP adapter of the public audience: the tracking page `/t/{ticket}` the citizen's texts
link to, and the same facts as JSON under /api/v1/public.

No account is needed: a ticket number is all it takes, so nothing here names or locates a
person (no phone, description, address, notes or photos; see schemas.PublicCase), and each
client address may read `public_reads_per_minute` pages a minute (tickets are sequential:
the limit is what keeps a script from walking through them).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import HTMLResponse

from dispatch_server.access import public
from dispatch_server.complaints.exceptions import ComplaintNotFound
from dispatch_server.deps import ContextDep
from dispatch_server.http_errors import ERROR_RESPONSES
from dispatch_server.public import page, service
from dispatch_server.public.schemas import PublicCase
from dispatch_server.ratelimit import PublicReads
from dispatch_server.security_headers import page_policy, style_hash

router = APIRouter(tags=["public"], responses=ERROR_RESPONSES)

# A page that changes as the case moves, that search engines should not keep, whose
# address (the ticket) should not leak to other sites, and that needs no script at all.
# Its one inline <style> is allowed by its hash; links go back to the page itself.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": page_policy(styles=style_hash(page.STYLE), images="'none'"),
}


@router.get(
    "/api/v1/public/complaints/{ticket}", summary="A case's public status by its ticket number"
)
@public
async def public_complaint(ticket: str, ctx: ContextDep, _: PublicReads) -> PublicCase:
    """Stage, category, district, result and the public steps: what the tracking page shows."""
    async with ctx.autocommit() as connection:
        return await service.public_case(connection, ticket=ticket)


@router.get(
    "/t/{ticket}",
    response_class=HTMLResponse,
    summary="The citizen's tracking page (HTML, Korean or English)",
    responses={404: {"description": "no case has this ticket (an HTML page saying so)"}},
)
@public
async def tracking_page(
    ticket: str,
    ctx: ContextDep,
    _: PublicReads,
    lang: Annotated[str | None, Query(max_length=10, description="ko or en")] = None,
    accept_language: Annotated[str | None, Header(max_length=500)] = None,
) -> HTMLResponse:
    """The page a status text links to; `lang` overrides the browser's language."""
    language = page.pick_language(lang, accept_language)
    try:
        async with ctx.autocommit() as connection:
            case = await service.public_case(connection, ticket=ticket)
    except ComplaintNotFound:
        return HTMLResponse(
            page.render_not_found(ticket[:40], language=language), 404, headers=PAGE_HEADERS
        )
    body = page.render(case, language=language, timezone=ctx.settings.timezone)
    return HTMLResponse(body, headers=PAGE_HEADERS)
