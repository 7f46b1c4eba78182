"""The web consoles in a real browser (Debian's Chromium through Playwright) against a real
`dasan serve`: an agent logs a complaint with the keyboard alone, it reaches the Jongno
dispatcher's live map without a reload within 2 s, the dispatcher assigns it, the inspector
resolves it through the field API, the map shows it resolved; Gangnam's dispatcher never
sees it. Screenshots of each console go to tests/artifacts/consoles/."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.browser import chromium
from tests.fieldapp import CHEAP, Server
from tests.test_server import free_port, jongno_inspectors, running_server

pytestmark = pytest.mark.server

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "consoles"
PASSWORD = "console password"
ADDRESS = "경교장길 8"  # a Jongno-gu building the gazetteer knows


@dataclass
class Consoles:
    server: Server
    accounts: dict[str, str]  # role name -> username
    inspectors: list[int]
    browser: Browser
    problems: list[str]

    def page(self, who: str, path: str) -> Page:
        """A new browser (its own cookies) signed in as `who`, on `path`, ready."""
        context = self.browser.new_context(viewport={"width": 1400, "height": 860}, locale="ko-KR")
        page = context.new_page()
        page.on(
            "console",
            lambda m: self.problems.append(f"{who}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda error: self.problems.append(f"{who}: {error}"))
        page.goto(f"{self.server.base}/console?next={path}")
        page.fill("#username", self.accounts[who])
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**{path}", timeout=10_000)
        page.wait_for_function("() => window.dasanReady", timeout=15_000)
        return page


def account(server: Server, username: str, role: str, districts: list[str],
            inspector_id: int | None = None) -> str:  # fmt: skip
    server.sql(
        "INSERT INTO user_account (username, display_name, role, districts, inspector_id,"
        " password_hash, active, created_at, password_changed_at) VALUES (:u, :u, :r,"
        " CAST(:d AS varchar[]), :i, :h, true, now(), now())",
        u=username, r=role, d=districts, i=inspector_id, h=CHEAP.hash(PASSWORD),
    )  # fmt: skip
    return username


@pytest.fixture(scope="module")
def consoles(
    make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Consoles]:
    url = make_database("consoles")
    env = {**os.environ, "DASAN_DATABASE_URL": url, "DASAN_PORT": str(free_port()),
           "DASAN_WORKERS": "1", "DASAN_STREAM_POLL_SECONDS": "0.1",
           "DASAN_STREAM_HEARTBEAT_SECONDS": "1", "DASAN_PASSWORD_TIME_COST": "1",
           "DASAN_PASSWORD_MEMORY_KIB": "64", "DASAN_PASSWORD_PARALLELISM": "1"}  # fmt: skip
    with running_server(env, tmp_path_factory.mktemp("consoles") / "serve.log") as base:
        server = Server(base, url)
        inspectors = jongno_inspectors(url, "종로 현장팀", 2)
        suffix = uuid.uuid4().hex[:6]
        accounts = {
            "agent": account(server, f"agent-{suffix}", "agent", []),
            "jongno": account(server, f"jongno-{suffix}", "dispatcher", ["11110"]),
            "gangnam": account(server, f"gangnam-{suffix}", "dispatcher", ["11680"]),
            "supervisor": account(server, f"super-{suffix}", "supervisor", ["11110"]),
            "inspector": account(server, f"field-{suffix}", "inspector", [], inspectors[0]),
        }
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with chromium() as browser:
            yield Consoles(server, accounts, inspectors, browser, [])


def field_moves(consoles: Consoles, case_id: int) -> None:
    """The inspector accepts, arrives and resolves through the field API."""
    base = consoles.server.base
    headers = _bearer(consoles.server, consoles.accounts["inspector"])
    version = httpx.get(f"{base}/api/v1/field/complaints/{case_id}", headers=headers,
                        timeout=10).json()["version"]  # fmt: skip
    result = {"to": "resolved", "result_code": "ticket_issued", "note": "과태료 부과"}
    for step in ({"to": "accepted"}, {"to": "on_site"}, result):
        key = {"Idempotency-Key": str(uuid.uuid4())}
        answer = httpx.post(
            f"{base}/api/v1/field/complaints/{case_id}/transitions", timeout=10,
            json={**step, "version": version}, headers={**headers, **key},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        version = answer.json()["version"]


def keyboard_intake(page: Page, description: str) -> str:
    """Log a complaint with the keyboard alone; the ticket shown."""
    fill_intake(page, description)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#ticket", timeout=10_000)
    return str(page.inner_text("#ticket"))


def fill_intake(page: Page, description: str) -> None:
    """Fill the intake form with the keyboard alone, up to the open cases nearby."""
    keyboard = page.keyboard
    assert page.evaluate("() => document.activeElement.id") == "category"  # focus starts there
    for _ in range(10):
        if page.input_value("#category") == "illegal_parking":
            break
        keyboard.press("ArrowDown")
    assert page.input_value("#category") == "illegal_parking"
    keyboard.press("Tab")
    keyboard.type(description)
    keyboard.press("Tab")
    keyboard.type("010-2345-6789")
    keyboard.press("Tab")  # the text's language: Korean, as it is
    keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "address"
    keyboard.type(ADDRESS)
    page.wait_for_selector("#suggestions li", timeout=5_000)
    keyboard.press("ArrowDown")
    keyboard.press("Enter")  # the suggestion: the address and its point
    assert page.input_value("#address") == "서울특별시 종로구 경교장길 8"
    page.wait_for_selector("#nearby h2", timeout=5_000)  # the open cases nearby, checked first


def labelled(page: Page) -> list[str]:
    """Form controls without a label (by <label for>, wrapping, or aria-label)."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute('aria-label'))
            .map((c) => c.name || c.id || c.outerHTML.slice(0, 60))"""
        )
    )


def test_a_complaint_from_the_phone_to_the_map_to_the_street_and_back(consoles: Consoles) -> None:
    jongno = consoles.page("jongno", "/console/dispatch")
    gangnam = consoles.page("gangnam", "/console/dispatch")
    agent = consoles.page("agent", "/console/intake")
    assert labelled(agent) == [] and labelled(jongno) == []
    ticket = keyboard_intake(agent, "소화전 앞 흰색 승용차, 차량번호 12가3456")
    logged_at = time.monotonic()
    texts = agent.inner_text("#result")
    assert "[서울120]" in texts and ticket in texts  # the text the citizen will get
    agent.screenshot(path=str(ARTIFACTS / "intake.png"))
    # On the Jongno dispatcher's map within 2 s, without a reload.
    row = f'li[data-ticket="{ticket}"]'
    jongno.wait_for_selector(row, timeout=2_000)
    arrived = time.monotonic() - logged_at
    assert arrived < 2.0, arrived
    assert jongno.inner_text(f"{row} .status") == "접수"
    # The dispatcher opens it and assigns the best candidate.
    jongno.click(f"{row} button")
    jongno.wait_for_selector(".candidates button.primary", timeout=5_000)
    jongno.click(".candidates button.primary >> nth=0")
    jongno.wait_for_function(
        f"""() => document.querySelector('{row} .status')?.textContent === '배정'""", timeout=5_000
    )
    case_id = int(jongno.get_attribute(row, "data-id") or 0)
    jongno.screenshot(path=str(ARTIFACTS / "dispatch.png"))
    # The inspector works it through the field API; the map shows the result live.
    field_moves(consoles, case_id)
    jongno.wait_for_function(
        f"""() => document.querySelector('{row} .status')?.textContent === '처리 완료'""",
        timeout=5_000,
    )
    jongno.wait_for_function(  # the open panel follows too
        "() => document.querySelector('#panel .status').textContent.startsWith('처리 완료')",
        timeout=5_000,
    )
    # Gangnam's dispatcher never saw it: not on the list, and not on the board they are sent.
    assert gangnam.query_selector(row) is None
    board = gangnam.evaluate("() => fetch('/api/v1/dispatch/board').then((r) => r.json())")
    assert all(values[1] != ticket for values in board["rows"])
    gangnam.screenshot(path=str(ARTIFACTS / "dispatch-other-district.png"))
    assert consoles.problems == []


def test_a_report_whose_answer_was_lost_is_sent_again_and_stored_once(consoles: Consoles) -> None:
    """The server stores the report but its answer never reaches the console (the network,
    a restart): the agent sends it again, and the same Idempotency-Key makes it one case."""
    agent = consoles.page("agent", "/console/intake")
    description = f"답이 사라진 접수 {uuid.uuid4().hex[:8]}"
    keys: list[str | None] = []

    def lose_the_first_answer(route: Any) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fetch()  # the server has it, and answers
            route.abort("connectionreset")  # the answer is lost
        else:
            route.continue_()

    agent.route("**/api/v1/complaints", lose_the_first_answer)
    fill_intake(agent, description)
    agent.keyboard.press("Control+Enter")
    agent.wait_for_function("() => document.getElementById('form-error').textContent !== ''",
                            timeout=10_000)  # fmt: skip
    assert agent.query_selector("#ticket") is None
    agent.keyboard.press("Control+Enter")  # the agent tries again
    agent.wait_for_selector("#ticket", timeout=10_000)
    ticket = agent.inner_text("#ticket")
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    stored = consoles.server.sql("SELECT ticket FROM complaint WHERE description = :d",
                                 d=description)  # fmt: skip
    assert [row[0] for row in stored] == [ticket]
    # The next report is another one: a new key.
    agent.click("#again")
    fill_intake(agent, description + " (다음 건)")
    agent.keyboard.press("Control+Enter")
    agent.wait_for_function(f"() => document.getElementById('ticket')?.textContent !== '{ticket}'",
                            timeout=10_000)  # fmt: skip
    assert len(keys) == 3 and keys[2] != keys[0]
    # The lost answer is a failed load in the browser's log, as it would be; nothing else.
    assert all("ERR_CONNECTION_RESET" in problem for problem in consoles.problems)
    consoles.problems.clear()


def test_the_statistics_console_counts_the_district(consoles: Consoles) -> None:
    server = consoles.server
    for _ in range(2):
        answer = httpx.post(
            f"{server.base}/api/v1/complaints", timeout=10,
            json={"category": "street_lamp", "description": "가로등 꺼짐",
                  "address": "서울특별시 종로구 경희궁1가길 3"},
            headers=_bearer(server, consoles.accounts["agent"]),
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
    page = consoles.page("supervisor", "/console/stats")
    page.wait_for_selector("#per-category td", timeout=5_000)
    total = int(page.inner_text(".tile strong >> nth=0"))
    assert total >= 2
    assert "가로등 고장" in page.inner_text("#per-category")
    assert page.locator("canvas[id$='-chart']").count() == 4  # the charts drew
    with page.expect_download() as download:
        page.click("#per-category button")  # the table as CSV
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and "가로등 고장".encode() in data
    assert labelled(page) == []
    page.screenshot(path=str(ARTIFACTS / "stats.png"), full_page=True)
    assert consoles.problems == []


def test_a_console_refuses_a_role_it_is_not_for(consoles: Consoles) -> None:
    page = consoles.page("agent", "/console/intake")
    page.goto(f"{consoles.server.base}/console/dispatch")
    page.wait_for_selector(".error", timeout=5_000)
    assert "이 계정은 이 화면을 쓸 수 없습니다" in page.inner_text(".error")
    consoles.problems.clear()  # (the refusal logs an error of its own)


def _bearer(server: Server, username: str) -> dict[str, Any]:
    """Headers of `username` signed in through the API (with the password)."""
    credentials = {"username": username, "password": PASSWORD}
    answer = httpx.post(f"{server.base}/api/v1/auth/token", json=credentials, timeout=10)
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}
