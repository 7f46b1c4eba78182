"""The API's interactive documentation at /docs: Swagger UI served by this server.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script; this
one serves the npm package `swagger-ui-dist` (installed by the set-up, package-lock.json)
and a start-up file of ours, under a CSP that allows only this site's scripts.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from dispatch_server import vendor
from dispatch_server.access import public
from dispatch_server.security_headers import page_policy

STATIC = Path(__file__).parent / "static"
VENDOR_PATH = vendor.url("swagger-ui")

router = APIRouter(tags=["docs"])

# Swagger UI's stylesheet draws its icons as data: SVGs; it calls the API itself.
_POLICY = page_policy(scripts="'self'", images="'self' data:", connect="'self'")
_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Dasan Field API</title>
<link rel="stylesheet" href="{VENDOR_PATH}/swagger-ui.css">
<link rel="icon" href="{VENDOR_PATH}/favicon-32x32.png">
</head><body><div id="swagger-ui"></div>
<script src="{VENDOR_PATH}/swagger-ui-bundle.js"></script>
<script src="/static/docs-init.js"></script>
</body></html>"""
_MISSING = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Dasan Field API</title></head><body><p>The documentation viewer is not installed
(run <code>make setup</code>, which runs <code>npm ci</code>). The OpenAPI document itself is at
<a href="/openapi.json">/openapi.json</a>.</p></body></html>"""


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
@public
async def docs() -> HTMLResponse:
    """Swagger UI on /openapi.json."""
    if not vendor.installed("swagger-ui", "swagger-ui-bundle.js"):
        return HTMLResponse(_MISSING, 503, headers={"Content-Security-Policy": page_policy()})
    return HTMLResponse(_PAGE, headers={"Content-Security-Policy": _POLICY})


def install(app: FastAPI) -> None:
    """The page, its start-up file, and the npm libraries (of the consoles too)."""
    app.include_router(router)
    vendor.mount(app)
    app.mount("/static", StaticFiles(directory=STATIC), "static")
