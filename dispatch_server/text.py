"""Cleaning free text from citizens and agents before it is stored: pure functions."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 control characters other than tab, newline and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class TextRejected(ValueError):
    """The text cannot be stored as it is (it is not valid Unicode)."""


def clean_text(value: str) -> str:
    """NFC-normalised text with controls removed, newlines unified and ends trimmed.

    Lone surrogates (possible in JSON's \\ud800 escapes) are not text at all and are refused:
    PostgreSQL could not store them.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TextRejected("text contains invalid Unicode (a lone surrogate)") from exc
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value)
    return unicodedata.normalize("NFC", value).strip()
