"""Finding contact data in free text and blanking it: pure functions, no database.

The retention job runs descriptions and timeline notes through `redact` when it erases a
case's contact data: what citizens and agents type often carries a phone number ("call me
on 010-..."), an e-mail address or, in parking complaints above all, a number plate.
Matching errs on the side of blanking: after retention the text is only read for statistics.
"""

from __future__ import annotations

import re
from typing import Any

MARK = "[삭제됨]"

# A phone number: an optional country code, then 9 to 11 digits written in two to four
# groups (010-1234-5678, 02 123 4567, +82 10-1234-5678, 01012345678), the groups apart by
# a space, a dot or a dash (ASCII, Unicode's dashes, or the full-width ones a Korean
# keyboard's full-width mode types: ０１０－１２３４－５６７８).
_SEP = r"[\s.\-\u2010-\u2015\u2212\uff0d\uff0e]"
_PHONE = re.compile(
    rf"(?<![\w+＋])(?:[+＋]\d{{1,3}}{_SEP}?)?(?:[(（]\d{{2,4}}[)）]{_SEP}?|\d{{2,4}}{_SEP}?)"
    rf"\d{{3,4}}{_SEP}?\d{{4}}(?!\d)"
)
_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[A-Za-z]{2,}")
# A Korean number plate: an optional region (서울), two or three digits, one of the
# syllables plates use, four digits (12가3456, 서울 34나 5678, 123허 4567).
_PLATE_SYLLABLES = (
    "가나다라마거너더러머버서어저고노도로모보소오조구누두루무부수우주아바사자배하허호육공해국합"
)
_PLATE = re.compile(rf"(?:[가-힣]{{2}}\s?)?(?<!\d)\d{{2,3}}\s?[{_PLATE_SYLLABLES}]\s?\d{{4}}(?!\d)")


# What every match needs: an e-mail address an @, a plate six digits or more, a phone
# number nine or more. Text with neither has nothing to blank, and most text (an address,
# "3번 출구") has fewer digits: one cheap scan instead of three patterns.
_CANDIDATE = re.compile(r"@|\d(?:\D*\d){5}")
# The same test for PostgreSQL's regular expressions (Open311 pages written in SQL send
# only the texts it matches through `redact`): _CANDIDATE where the text is ASCII and
# Hangul (there Python's \d is [0-9]), and any text with other characters (full-width
# digits, other scripts), which SQL cannot judge as Python would.
MAY_HOLD_SQL = "@|[0-9]([^0-9]*[0-9]){5}|[^ -~\t\n\r가-힣]"


def redact(text: str) -> str:
    """The text with every phone number, e-mail address and number plate blanked."""
    if not _CANDIDATE.search(text):
        return text
    for pattern in (_EMAIL, _PLATE, _PHONE):
        text = pattern.sub(MARK, text)
    return text


def redact_case_text(text: str, reporter_name: str | None) -> str:
    """A case's free text (description, address) as the public may read it: `redact`, and
    the reporter's own name blanked (when the case still knows it: two letters or more)."""
    if reporter_name and len(reporter_name) >= 2:
        text = text.replace(reporter_name, MARK)
    return redact(text)


def redact_values(value: Any) -> Any:
    """A JSON value with `redact` applied to every string in it (keys left as they are)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_values(item) for item in value]
    if isinstance(value, dict):
        return {key: redact_values(item) for key, item in value.items()}
    return value
