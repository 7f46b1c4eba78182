"""What Open311 clients show their users, in Korean or English (the client's
Accept-Language picks; Korean when it names neither): status notes, notices, agencies.

Names of services come in every language of the call centre (the category's names); these
sentences in two, like the tracking page, with English for the other languages.
"""

from __future__ import annotations

from typing import Any

from dispatch_server.complaints.constants import Language
from dispatch_server.public.schemas import Stage

NOTE_LANGUAGES = ("ko", "en")


def language_of(accept_language: str | None) -> Language:
    """The first language of the header that the call centre speaks; Korean otherwise."""
    for part in (accept_language or "").split(",")[:20]:
        primary = part.split(";", 1)[0].strip().lower().split("-", 1)[0]
        if primary in Language.__members__.values():
            return Language(primary)
    return Language.KO


def note_language(language: str) -> str:
    """The language of the sentences for a reader of `language`."""
    return language if language in NOTE_LANGUAGES else "en"


def pick(texts: dict[str, Any], language: str) -> str | None:
    """The text in the language, else English, else Korean, else None."""
    for key in (language, "en", "ko"):
        value = texts.get(key)
        if value:
            return str(value)
    return None


_NOTES: dict[str, dict[Stage, str]] = {
    "ko": {
        Stage.RECEIVED: "접수되었습니다. 담당 구청에서 확인 후 현장에 나갑니다.",
        Stage.ASSIGNED: "담당 공무원이 배정되었습니다.",
        Stage.EN_ROUTE: "담당 공무원이 현장으로 가고 있습니다.",
        Stage.ON_SITE: "담당 공무원이 현장을 확인하고 있습니다.",
        Stage.RESOLVED: "처리되었습니다.",
        Stage.UNRESOLVED: "현장을 확인했으나 처리하지 못했습니다.",
        Stage.REFERRED: "다른 기관으로 이관되었습니다.",
        Stage.CLOSED: "종결되었습니다.",
        Stage.REOPENED: "다시 처리하고 있습니다.",
        Stage.CANCELLED: "취소되었습니다.",
        Stage.MERGED: "먼저 접수된 같은 민원과 함께 처리됩니다.",
    },
    "en": {
        Stage.RECEIVED: "Received. The district office will check it and send someone.",
        Stage.ASSIGNED: "An inspector has been assigned.",
        Stage.EN_ROUTE: "The inspector is on the way.",
        Stage.ON_SITE: "The inspector is on site.",
        Stage.RESOLVED: "Resolved.",
        Stage.UNRESOLVED: "The inspector visited but could not resolve it.",
        Stage.REFERRED: "Referred to another agency.",
        Stage.CLOSED: "Closed.",
        Stage.REOPENED: "Being handled again.",
        Stage.CANCELLED: "Cancelled.",
        Stage.MERGED: "Handled together with an earlier report of the same problem.",
    },
}
_WORDS = {
    "ko": {
        "result": "처리 결과: {}",
        "referred_to": "이관 기관: {}",
        "merged": "같은 곳의 같은 문제가 먼저 접수되어({}) 그 요청과 함께 처리됩니다.",
        "received": "접수되었습니다. 진행 상황은 {} 에서 볼 수 있습니다.",
        "queued": "접수되었습니다. 접수번호는 잠시 후 정해집니다.",
        "office": "{}청",
    },
    "en": {
        "result": "Result: {}",
        "referred_to": "Passed to: {}",
        "merged": "The same problem here was reported earlier ({}): this request follows it.",
        "received": "Received. Follow it at {}",
        "queued": "Received. Its case number follows in a moment.",
        "office": "{} Office",
    },
}


def status_notes(
    stage: Stage, language: str, *, result: str | None = None, referred_to: str | None = None
) -> str:
    """A sentence on where the request stands (and its result, or where it went)."""
    lang = note_language(language)
    parts = [_NOTES[lang][stage]]
    if result:
        parts.append(_WORDS[lang]["result"].format(result))
    if referred_to and stage is Stage.REFERRED:
        parts.append(_WORDS[lang]["referred_to"].format(referred_to))
    return " ".join(parts)


def merged_notice(original: str, language: str) -> str:
    """The notice of a request merged into an earlier one."""
    return _WORDS[note_language(language)]["merged"].format(original)


def received_notice(tracking_url: str, language: str) -> str:
    """The notice of a request just received: where to follow it."""
    return _WORDS[note_language(language)]["received"].format(tracking_url)


def queued_notice(language: str) -> str:
    """The notice of a request received and queued (its id follows: GET tokens/{token})."""
    return _WORDS[note_language(language)]["queued"]


def agency(district: str, team: str | None, language: str) -> str:
    """Who works the request: the district's team, or its office while it has none."""
    if team:
        return f"{district} {team}"
    return _WORDS[note_language(language)]["office"].format(district)


def templates(language: str) -> dict[str, str]:
    """The sentences `status_notes`, `agency` and `merged_notice` fill in, for a reader of
    `language` (for SQL that writes a page: service.find_json), each with one `{}` where
    its value goes."""
    words = _WORDS[note_language(language)]
    chosen = {name: words[name] for name in ("result", "referred_to", "merged", "office")}
    for template in chosen.values():
        assert template.count("{") == template.count("}") == template.count("{}") == 1
    return chosen
