"""Security headers on every kind of answer, and the pages under their CSP in a real browser."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.clock import FrozenClock
from dispatch_server.config import Settings
from tests.auth import city_agent
from tests.browser import chromium
from tests.conftest import app_on
from tests.factories import complaint_body
from tests.test_server import free_port, running_server

ALWAYS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


def check_common(response: httpx.Response) -> str:
    """The headers every answer has; its CSP."""
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, (name, response.request.url)
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    return policy


@pytest.mark.anyio
async def test_every_kind_of_answer_has_the_headers(
    client: httpx.AsyncClient, db: AsyncConnection, settings: Settings, clock: FrozenClock
) -> None:
    ticket = (await client.post("/api/v1/complaints", json=complaint_body())).json()["ticket"]
    answers = {
        "json": await client.get("/livez"),
        "api": await client.get(f"/api/v1/complaints/{ticket}"),
        "401": await client.get("/api/v1/auth/me"),
        "404": await client.get("/no/such/page"),
        "413": await client.post(
            "/api/v1/complaints",
            content=b"x" * 70_000,
            headers={"content-type": "application/json"},
        ),  # fmt: skip
        "page": await client.get(f"/t/{ticket}"),
        "docs": await client.get("/docs"),
        "static": await client.get("/static/docs-init.js"),
    }
    statuses = {kind: response.status_code for kind, response in answers.items()}
    assert statuses == {"json": 200, "api": 200, "401": 401, "404": 404, "413": 413,
                        "page": 200, "docs": 200, "static": 200}  # fmt: skip
    policies = {kind: check_common(response) for kind, response in answers.items()}
    locked = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    for kind in ("json", "api", "401", "404", "413"):
        assert policies[kind] == locked, kind
    assert "script-src 'none'" in policies["page"]
    assert "script-src 'self';" in policies["docs"]
    # The API is never cached; over plain http there is no HSTS.
    assert answers["api"].headers["cache-control"] == "no-store"
    assert answers["401"].headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in answers["api"].headers
    # Over https (as a proxy reports it to uvicorn), browsers are told to stay on https.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_on(db, settings, clock)),
        base_url="https://testserver",
    ) as secure:
        assert "max-age=" in (await secure.get("/livez")).headers["strict-transport-security"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    ["/static/../config.py", "/static/%2e%2e/config.py", "/static/vendor/swagger-ui/../../.data",
     "/static/vendor/swagger-ui/%2e%2e/%2e%2e/package.json", "/static/../../.data/media"],
)  # fmt: skip
async def test_static_files_stay_in_their_folders(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404, response.text[:200]


@pytest.fixture(scope="module")
def browser_server(
    make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    url = make_database("browser")
    env = {**os.environ, "DASAN_DATABASE_URL": url, "DASAN_PORT": str(free_port()),
           "DASAN_WORKERS": "1"}  # fmt: skip
    log: Path = tmp_path_factory.mktemp("browser") / "serve.log"
    with running_server(env, log) as base:
        yield base, url


@pytest.mark.server
def test_the_pages_work_under_their_csp_in_chromium(
    browser_server: tuple[str, str], tmp_path: Path
) -> None:
    base, url = browser_server
    created = httpx.post(f"{base}/api/v1/complaints", json=complaint_body(),
                         headers=city_agent(url), timeout=10)  # fmt: skip
    assert created.status_code == 201, created.text
    ticket = created.json()["ticket"]
    with chromium() as browser:
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        assert page.locator(".opblock").count() > 50  # every operation listed
        page.goto(f"{base}/t/{ticket}")
        assert ticket in page.inner_text("body")
        # The inline style applied (its hash is in the CSP): the body is a narrow column.
        width = page.evaluate("getComputedStyle(document.body).maxWidth")
        assert width.endswith("px") and width != "none"
    # A CSP violation is a console error ("Refused to load ..."): there must be none.
    assert problems == []
