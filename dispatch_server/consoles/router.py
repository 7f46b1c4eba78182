"""HTTP adapter of the consoles' pages: /console (sign-in), /console/dispatch, /intake,
/stats. Each page is a small HTML shell with no data and no inline script; what it shows
comes from the API, called with the console's session cookie (and its CSRF token)."""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from dispatch_server import vendor
from dispatch_server.access import public
from dispatch_server.config import Settings
from dispatch_server.deps import ContextDep
from dispatch_server.security_headers import page_policy

router = APIRouter(tags=["consoles"])

# name -> (title, needs the map and cluster libraries, needs the charts)
PAGES = {
    "signin": ("다산 현장 · Dasan Field", False, False),
    "dispatch": ("상황판 · Dispatch", True, False),
    "intake": ("민원 접수 · Intake", True, False),
    "stats": ("통계 · Statistics", True, True),
}


def _tile_origin(settings: Settings) -> str:
    if not settings.map_tile_url:
        return ""
    parts = urlsplit(settings.map_tile_url.replace("{s}", "a"))
    return f" {parts.scheme}://{parts.netloc}"


def render(name: str, settings: Settings) -> HTMLResponse:
    """The shell of one console page."""
    title, maps, charts = PAGES[name]
    styles = ['<link rel="stylesheet" href="/static/console/console.css">']
    scripts = []
    if maps:
        styles.insert(0, f'<link rel="stylesheet" href="{vendor.url("leaflet")}/leaflet.css">')
        styles.insert(
            1, f'<link rel="stylesheet" href="{vendor.url("markercluster")}/MarkerCluster.css">'
        )
        scripts += [
            f'<script src="{vendor.url("leaflet")}/leaflet.js"></script>',
            f'<script src="{vendor.url("markercluster")}/leaflet.markercluster.js"></script>',
        ]
    if charts:
        scripts.append(f'<script src="{vendor.url("chart")}/chart.umd.min.js"></script>')
    scripts.append(f'<script type="module" src="/static/console/{name}.js"></script>')
    body = (
        f'<!doctype html><html lang="ko"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title>{''.join(styles)}</head>"
        f'<body data-page="{name}" data-tiles="{escape(settings.map_tile_url)}"'
        f' data-tiles-attribution="{escape(settings.map_tile_attribution)}">'
        '<div id="app" class="loading"></div>'
        f"{''.join(scripts)}</body></html>"
    )
    policy = page_policy(
        scripts="'self'", styles="'self'", images=f"'self' data: blob:{_tile_origin(settings)}",
        connect="'self'", forms="'self'",
    )  # fmt: skip
    return HTMLResponse(body, headers={"Content-Security-Policy": policy,
                                       "Cache-Control": "no-cache"})  # fmt: skip


@router.get("/console", response_class=HTMLResponse, include_in_schema=False)
@public
async def sign_in_page(ctx: ContextDep) -> HTMLResponse:
    """Sign in; then on to the console of the account's role."""
    return render("signin", ctx.settings)


@router.get("/console/dispatch", response_class=HTMLResponse, include_in_schema=False)
@public
async def dispatch_page(ctx: ContextDep) -> HTMLResponse:
    """The dispatchers' live map (the page asks for a session: no data without one)."""
    return render("dispatch", ctx.settings)


@router.get("/console/intake", response_class=HTMLResponse, include_in_schema=False)
@public
async def intake_page(ctx: ContextDep) -> HTMLResponse:
    """The agents' intake."""
    return render("intake", ctx.settings)


@router.get("/console/stats", response_class=HTMLResponse, include_in_schema=False)
@public
async def stats_page(ctx: ContextDep) -> HTMLResponse:
    """The supervisors' statistics."""
    return render("stats", ctx.settings)
