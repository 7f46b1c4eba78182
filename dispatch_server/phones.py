"""Phone numbers: parsing what callers say into E.164, and masking them for display."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

MAX_PHONE_INPUT = 40


class PhoneRejected(ValueError):
    """The text is not a phone number that can receive a call or a text."""


# A few numbers remembered (parsing costs ~50 us; an Open311 request checks its number
# before intake parses it again); not more: they are personal data.
@lru_cache(maxsize=64)
def normalize_phone(raw: str, *, region: str) -> str:
    """The number in E.164 (`010-1234-5678` -> `+821012345678` for region KR)."""
    text = raw.strip()
    if not text or len(text) > MAX_PHONE_INPUT:
        raise PhoneRejected("a phone number has 1 to 40 characters")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneRejected(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise PhoneRejected("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_calling_code(e164: str) -> str:
    """The country calling code of an E.164 number (`+821012345678` -> `82`).

    Calling codes are a prefix code (none is the start of another), so the first known prefix
    of one to three digits is the code. Lists mask every row, so this avoids a full parse.
    """
    digits = e164.lstrip("+")
    for length in (1, 2, 3):
        if int(digits[:length] or 0) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return digits[:length]
    raise PhoneRejected(f"{e164!r} has no known country calling code")


def mask_phone(e164: str | None) -> str | None:
    """The number with all but its last four digits hidden (`+82******5678`)."""
    if not e164:
        return None
    keep = 4
    country = "+" + country_calling_code(e164)
    hidden = len(e164) - len(country) - keep
    return country + "*" * max(hidden, 0) + e164[-keep:]
