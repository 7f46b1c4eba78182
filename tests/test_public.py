"""The citizen's tracking page `/t/{ticket}` and its JSON twin: the steps a citizen sees,
the languages, a merged report, an unknown number, and that no personal data is shown."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch_server.clock import FrozenClock
from dispatch_server.public.page import pick_language
from dispatch_server.security_headers import style_hash
from notifications.sms import FileSink
from tests.test_dispatch import move, new_case
from tests.test_notifications import (  # noqa: F401 (fixtures)
    PHONE,
    lamp_inspector,
    outbox,
    run,
)
from tests.test_sla import Transaction, transaction  # noqa: F401 (a fixture)

pytestmark = pytest.mark.anyio

SECRET = "302호 김민수 씨 집 앞 가로등이 꺼졌어요"
ADDRESS = "서울특별시 종로구 세종대로 209"


async def walk(client: httpx.AsyncClient, case: dict[str, Any], *steps: dict[str, Any]) -> None:
    version = case["version"]
    for step in steps:
        response = await move(client, case["id"], version=version, **step)
        assert response.status_code == 200, response.text
        version = response.json()["version"]


async def test_the_page_follows_the_case_in_the_citizens_words(
    client: httpx.AsyncClient,
    lamp_inspector: int,  # noqa: F811
) -> None:
    case = await new_case(client, category="street_lamp", description=SECRET, address=ADDRESS)
    ticket = case["ticket"]
    first = (await client.get(f"/api/v1/public/complaints/{ticket}")).json()
    assert first["stage"] == "received" and first["result"] is None
    assert first["expected_datetime"] is not None  # the resolve clock runs
    assert [s["stage"] for s in first["steps"]] == ["received"]

    await walk(
        client, case,
        {"to": "assigned", "inspector_id": lamp_inspector},
        {"to": "accepted"},
        {"to": "en_route"},
        {"to": "on_site"},
        {"to": "unresolved", "result_code": "not_found", "note": "김민수 님 부재"},
    )  # fmt: skip
    public = (await client.get(f"/api/v1/public/complaints/{ticket}")).json()
    # Acceptance is an office step: it reads as part of "assigned".
    assert [s["stage"] for s in public["steps"]] == [
        "received", "assigned", "en_route", "on_site", "unresolved",
    ]  # fmt: skip
    assert public["stage"] == "unresolved" and public["result"]["code"] == "not_found"
    assert public["expected_datetime"] is None  # the clock stopped with the result
    assert public["category"]["code"] == "street_lamp" and public["district"]["code"] == "11110"

    page = await client.get(f"/t/{ticket}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"
    policy = page.headers["content-security-policy"]
    html = page.text
    # No script at all; the one inline style is allowed by its hash, not by 'unsafe-inline'.
    assert "script-src 'none'" in policy and "unsafe-inline" not in policy
    inline_style = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert f"style-src {style_hash(inline_style)};" in policy
    assert '<html lang="ko">' in html and ticket in html
    for korean in ("처리 불가", "현장 출동 중", public["result"]["name_ko"], "종로구"):
        assert korean in html
    # Nothing that names or locates a person: not the description, address, phone, note
    # or the inspector.
    for private in (SECRET, "세종대로", "1234", "5678", "김민수", "insp"):
        assert private not in html
        assert private not in str(public)


async def test_language_from_the_query_then_the_browser_then_korean(
    client: httpx.AsyncClient,
) -> None:
    ticket = (await new_case(client))["ticket"]
    english = await client.get(f"/t/{ticket}", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert '<html lang="en">' in english.text and "Received" in english.text
    assert "Illegal parking" in english.text
    korean = await client.get(f"/t/{ticket}?lang=ko", headers={"Accept-Language": "en"})
    assert '<html lang="ko">' in korean.text and "접수" in korean.text
    assert pick_language(None, "vi-VN,vi;q=0.9,en;q=0.5") == "en"
    assert pick_language("fr", "da") == "ko"
    assert pick_language(None, None) == "ko"


async def test_a_merged_report_links_to_the_earlier_one(client: httpx.AsyncClient) -> None:
    case = await new_case(client, category="street_lamp")
    again = await new_case(client, category="street_lamp", location=case["location"])
    assert again["status"] == "duplicate"
    public = (await client.get(f"/api/v1/public/complaints/{again['ticket']}")).json()
    assert public["stage"] == "merged" and public["original_ticket"] == case["ticket"]
    assert [s["stage"] for s in public["steps"]] == ["received", "merged"]
    html = (await client.get(f"/t/{again['ticket']}?lang=en")).text
    assert f'href="{case["ticket"]}?lang=en"' in html


async def test_a_referred_case_names_the_agency(
    client: httpx.AsyncClient,
    lamp_inspector: int,  # noqa: F811
) -> None:
    case = await new_case(client, category="street_lamp")
    await walk(
        client, case,
        {"to": "assigned", "inspector_id": lamp_inspector},
        {"to": "accepted"},
        {"to": "on_site"},
        {"to": "referred", "referred_to": "한국전력공사"},
    )  # fmt: skip
    html = (await client.get(f"/t/{case['ticket']}")).text
    assert "다른 기관으로 이관" in html and "한국전력공사" in html


@pytest.mark.parametrize("ticket", ["261125-999999", "nonsense", "<script>alert(1)"])
async def test_an_unknown_number_is_a_page_saying_so(
    client: httpx.AsyncClient, ticket: str
) -> None:
    page = await client.get(f"/t/{ticket}", headers={"Accept-Language": "en"})
    assert page.status_code == 404 and "No complaint has this ticket number" in page.text
    assert "<script>" not in page.text
    api = await client.get(f"/api/v1/public/complaints/{ticket}")
    assert api.status_code == 404 and api.json()["error"]["code"] == "complaint_not_found"


async def test_the_link_in_the_received_text_opens_the_page(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    clock: FrozenClock,
    transaction: Transaction,  # noqa: F811
    tmp_path: Path,
) -> None:
    case = await new_case(client, reporter={"phone": PHONE, "language": "ko"})
    await run(transaction, clock, FileSink(tmp_path / "sms.jsonl"))
    (row,) = await outbox(db, complaint_id=case["id"])
    link = re.search(r"https?://\S+", row["body"])
    assert link is not None
    page = await client.get(httpx.URL(link.group()).path)
    assert page.status_code == 200 and case["ticket"] in page.text
