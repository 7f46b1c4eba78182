"""Pure rules: text cleaning, phone numbers, tickets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dispatch_server.complaints.tickets import looks_like_ticket, ticket_prefix
from dispatch_server.phones import PhoneRejected, mask_phone, normalize_phone
from dispatch_server.text import TextRejected, clean_text


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("  주차  ", "주차"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("tab\tkept", "tab\tkept"),
        ("nul\x00gone\x07", "nulgone"),
        ("\u1100\u1161", "\uac00"),  # conjoining jamo ᄀ+ᅡ compose to 가 (NFC)
        ("\x85next line c1", "next line c1"),
    ],
)
def test_clean_text(raw: str, cleaned: str) -> None:
    assert clean_text(raw) == cleaned


def test_clean_text_refuses_lone_surrogates() -> None:
    with pytest.raises(TextRejected):
        clean_text("broken \ud800 text")


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("010-1234-5678", "+821012345678"),
        ("01012345678", "+821012345678"),
        ("+82 10 1234 5678", "+821012345678"),
        ("02-2133-7800", "+82221337800"),  # a Seoul landline
        ("+1 202-555-0143", "+12025550143"),
        ("  010 1234 5678 ", "+821012345678"),
    ],
)
def test_normalize_phone(raw: str, e164: str) -> None:
    assert normalize_phone(raw, region="KR") == e164


@pytest.mark.parametrize("raw", ["", "12345", "010-12", "abc", "+82", "0" * 41, "+82 99 1234 5678"])
def test_normalize_phone_refuses(raw: str) -> None:
    with pytest.raises(PhoneRejected):
        normalize_phone(raw, region="KR")


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+821012345678", "+82******5678"),
        ("+12025550143", "+1******0143"),  # one-digit calling code
        ("+97699112233", "+976****2233"),  # Mongolia: three digits
        ("+84912345678", "+84*****5678"),
        (None, None),
    ],
)
def test_mask_phone_keeps_country_and_last_four(e164: str | None, masked: str | None) -> None:
    assert mask_phone(e164) == masked


@pytest.mark.parametrize(
    ("at", "prefix"),
    [
        (datetime(2026, 11, 23, 1, 0, tzinfo=UTC), "261123-"),
        # 23:30 UTC is already the next day in Seoul (UTC+9).
        (datetime(2026, 11, 23, 23, 30, tzinfo=UTC), "261124-"),
        (datetime(2026, 12, 31, 15, 0, tzinfo=UTC), "270101-"),
    ],
)
def test_ticket_prefix_is_the_city_day(at: datetime, prefix: str) -> None:
    assert ticket_prefix(at, timezone="Asia/Seoul") == prefix


@pytest.mark.parametrize("ticket", ["261123-000001", "270101-12345678"])
def test_looks_like_ticket(ticket: str) -> None:
    assert looks_like_ticket(ticket)


@pytest.mark.parametrize("text", ["", "abc", "261123-12", "261123_000001", "' OR 1=1 --"])
def test_looks_like_ticket_refuses(text: str) -> None:
    assert not looks_like_ticket(text)
