"""The tracking page as HTML: small, no script, readable on any phone. Korean and English."""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from dispatch_server.public.schemas import PublicCase, Stage

PAGE_LANGUAGES = ("ko", "en")

_WORDS: dict[str, dict[str, str]] = {
    "ko": {
        "title": "민원 처리 현황",
        "ticket": "접수번호",
        "category": "민원 종류",
        "district": "담당 구청",
        "status": "현재 상태",
        "result": "처리 결과",
        "referred_to": "이관 기관",
        "expected": "처리 예정",
        "merged": "같은 장소의 먼저 접수된 민원과 함께 처리됩니다",
        "steps": "진행 경과",
        "updated": "마지막 변경",
        "not_found_title": "접수번호를 찾을 수 없습니다",
        "not_found": "문자로 받은 접수번호를 다시 확인해 주세요. 문의: 국번 없이 120",
        "footer": "다산콜센터 120 · 이 페이지에는 개인정보가 표시되지 않습니다",
        "other_language": "English",
    },
    "en": {
        "title": "Complaint status",
        "ticket": "Ticket",
        "category": "Type",
        "district": "District office",
        "status": "Status",
        "result": "Result",
        "referred_to": "Passed to",
        "expected": "Expected by",
        "merged": "Handled together with an earlier report of the same place",
        "steps": "Progress",
        "updated": "Last change",
        "not_found_title": "No complaint has this ticket number",
        "not_found": "Please check the number in your text message, or call 120.",
        "footer": "Dasan Call Center 120 · this page shows no personal information",
        "other_language": "한국어",
    },
}
_STAGES: dict[str, dict[Stage, str]] = {
    "ko": {
        Stage.RECEIVED: "접수",
        Stage.ASSIGNED: "담당자 배정",
        Stage.EN_ROUTE: "현장 출동 중",
        Stage.ON_SITE: "현장 확인 중",
        Stage.RESOLVED: "처리 완료",
        Stage.UNRESOLVED: "처리 불가",
        Stage.REFERRED: "다른 기관으로 이관",
        Stage.CLOSED: "종결",
        Stage.REOPENED: "다시 처리 중",
        Stage.MERGED: "동일 민원과 병합",
        Stage.CANCELLED: "취소",
    },
    "en": {
        Stage.RECEIVED: "Received",
        Stage.ASSIGNED: "Assigned to an inspector",
        Stage.EN_ROUTE: "Inspector on the way",
        Stage.ON_SITE: "Inspector on site",
        Stage.RESOLVED: "Resolved",
        Stage.UNRESOLVED: "Could not be resolved",
        Stage.REFERRED: "Referred to another agency",
        Stage.CLOSED: "Closed",
        Stage.REOPENED: "Being handled again",
        Stage.MERGED: "Merged with an earlier report",
        Stage.CANCELLED: "Cancelled",
    },
}
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:34rem;padding:1rem;"
    "line-height:1.5;color:#1b1b1b}h1{font-size:1.3rem}dl{display:grid;"
    "grid-template-columns:auto 1fr;gap:.3rem 1rem}dt{color:#555}dd{margin:0}"
    ".stage{font-weight:700}ol{padding-left:1.2rem}time{color:#555;margin-left:.5rem}"
    "footer{margin-top:2rem;font-size:.85rem;color:#666}"
)


def pick_language(query: str | None, accept_language: str | None) -> str:
    """`?lang=` when it is one of the page's languages, else the first of the browser's that
    is, else Korean."""
    if query in PAGE_LANGUAGES:
        return query
    for part in (accept_language or "").split(","):
        tag = part.split(";", 1)[0].strip().lower()
        primary = tag.split("-", 1)[0]
        if primary in PAGE_LANGUAGES:
            return primary
    return "ko"


def _time(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f'<time datetime="{local.isoformat()}">{local:%Y-%m-%d %H:%M}</time>'


def _document(language: str, title: str, body: str, here: str) -> str:
    """The page around `body`, with a link to itself (`here`, relative) in the other
    language."""
    words = _WORDS[language]
    other = "en" if language == "ko" else "ko"
    return (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}"
        f'<p><a href="{escape(here)}?lang={other}" hreflang="{other}">'
        f"{words['other_language']}</a></p><footer>{words['footer']}</footer></body></html>"
    )


def render(case: PublicCase, *, language: str, timezone: str) -> str:
    """The page of one case."""
    words, stages, zone = _WORDS[language], _STAGES[language], ZoneInfo(timezone)

    def name(named: object) -> str:
        return escape(getattr(named, f"name_{language}"))

    rows = [
        (words["ticket"], escape(case.ticket)),
        (words["category"], name(case.category)),
        (words["district"], name(case.district)),
        (words["status"], f'<span class="stage">{stages[case.stage]}</span>'),
    ]
    if case.result is not None:
        rows.append((words["result"], name(case.result)))
    if case.referred_to is not None:
        rows.append((words["referred_to"], escape(case.referred_to)))
    if case.expected_datetime is not None:
        rows.append((words["expected"], _time(case.expected_datetime, zone)))
    rows.append((words["updated"], _time(case.updated_at, zone)))
    facts = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    merged = ""
    if case.original_ticket is not None:
        original = escape(case.original_ticket)
        merged = f'<p>{words["merged"]}: <a href="{original}?lang={language}">{original}</a></p>'
    steps = "".join(f"<li>{stages[step.stage]}{_time(step.at, zone)}</li>" for step in case.steps)
    body = (
        f"<h1>{words['title']}</h1><dl>{facts}</dl>{merged}"
        f"<h2>{words['steps']}</h2><ol>{steps}</ol>"
    )
    return _document(language, words["title"], body, case.ticket)


def render_not_found(ticket: str, *, language: str) -> str:
    """The page for a number no case has."""
    words = _WORDS[language]
    body = f"<h1>{words['not_found_title']}</h1><p>{escape(ticket)}</p><p>{words['not_found']}</p>"
    return _document(language, words["not_found_title"], body, "")
