"""The app's words in Korean and English."""

from __future__ import annotations

LANGUAGES = ("ko", "en")

_WORDS: dict[str, dict[str, str]] = {
    "ko": {
        "app": "다산 현장",
        "server": "서버 주소",
        "username": "아이디",
        "password": "비밀번호",
        "sign_in": "로그인",
        "signing_in": "로그인 중...",
        "sign_out": "로그아웃",
        "on_duty": "근무 중",
        "off_duty": "근무 종료",
        "queue": "내 민원",
        "queue_empty": "배정된 민원이 없습니다",
        "waiting": "{n}건 전송 대기",
        "all_sent": "모두 전송됨",
        "offline": "오프라인: 연결되면 자동 전송",
        "online": "연결됨",
        "sign_in_again": "다시 로그인해 주세요 (기록은 보관됨)",
        "settings": "설정",
        "language": "언어",
        "sync": "동기화",
        "last_sync": "마지막 동기화 {at}",
        "never_synced": "아직 동기화 전",
        "back": "뒤로",
        "accept": "수락",
        "en_route": "출동",
        "arrived": "현장 도착",
        "record_result": "결과 입력",
        "resolved": "처리 완료",
        "unresolved": "처리 불가",
        "referred": "이관",
        "reason": "사유",
        "referred_to": "이관 기관",
        "note": "메모",
        "add_photo": "사진 추가",
        "photos_n": "사진 {n}장",
        "save": "저장",
        "cancel": "취소",
        "phone": "연락처",
        "timeline": "처리 이력",
        "due_in": "{left} 남음",
        "overdue": "{left} 초과",
        "paused": "일시 중지",
        "no_clock": "기한 없음",
        "arrive_clock": "도착",
        "resolve_clock": "처리",
        "assign_clock": "배정",
        "distance": "{d}",
        "notices": "알림",
        "dismiss": "확인",
        "pending_badge": "대기",
        "choose_reason": "사유를 선택하세요",
        "enter_agency": "이관할 기관을 입력하세요",
        "description": "민원 내용",
        "address": "주소",
        "wrong_password": "아이디 또는 비밀번호가 맞지 않습니다",
        "cannot_connect": "서버에 연결할 수 없습니다",
        "sent": "전송됨",
        "dropped": "반영 안 됨",
        "pending": "대기",
        "actions": "최근 작업",
        "unsent_sign_out": "전송되지 않은 작업 {n}건이 있습니다: 연결된 뒤 로그아웃하세요",
        "taken_photos": "찍은 사진",
        "no_photos": "사진 없음",
        "pick_photo": "사진 선택",
        "notice_not_yours": "더 이상 내 민원이 아닙니다 (재배정 또는 회수): 반영되지 않았습니다",
        "notice_case_changed": "서버에서 민원 상태가 바뀌었습니다 ({status}): '{move}' 반영 안 됨",
        "notice_photos_refused": "사진이 거부되었습니다: {reason}",
        "notice_photo_missing": "사진 파일이 휴대폰에 없습니다",
        "notice_refused": "서버가 거부했습니다: {reason}",
    },
    "en": {
        "app": "Dasan Field",
        "server": "Server",
        "username": "Username",
        "password": "Password",
        "sign_in": "Sign in",
        "signing_in": "Signing in...",
        "sign_out": "Sign out",
        "on_duty": "On duty",
        "off_duty": "Off duty",
        "queue": "My cases",
        "queue_empty": "No cases assigned to you",
        "waiting": "{n} waiting to send",
        "all_sent": "All sent",
        "offline": "Offline: sent when connected",
        "online": "Connected",
        "sign_in_again": "Please sign in again (nothing is lost)",
        "settings": "Settings",
        "language": "Language",
        "sync": "Sync",
        "last_sync": "Last sync {at}",
        "never_synced": "Not synced yet",
        "back": "Back",
        "accept": "Accept",
        "en_route": "On my way",
        "arrived": "Arrived",
        "record_result": "Record result",
        "resolved": "Resolved",
        "unresolved": "Unresolved",
        "referred": "Referred",
        "reason": "Reason",
        "referred_to": "Referred to",
        "note": "Note",
        "add_photo": "Add photo",
        "photos_n": "{n} photo(s)",
        "save": "Save",
        "cancel": "Cancel",
        "phone": "Phone",
        "timeline": "Timeline",
        "due_in": "{left} left",
        "overdue": "{left} over",
        "paused": "Paused",
        "no_clock": "No deadline",
        "arrive_clock": "arrive",
        "resolve_clock": "resolve",
        "assign_clock": "assign",
        "distance": "{d}",
        "notices": "Notices",
        "dismiss": "OK",
        "pending_badge": "waiting",
        "choose_reason": "Choose a reason",
        "enter_agency": "Enter the agency",
        "description": "Complaint",
        "address": "Address",
        "wrong_password": "Wrong username or password",
        "cannot_connect": "Cannot reach the server",
        "sent": "sent",
        "dropped": "not applied",
        "pending": "waiting",
        "actions": "Recent actions",
        "unsent_sign_out": "{n} actions are not sent yet: sign out once connected",
        "taken_photos": "Photos taken",
        "no_photos": "No photos",
        "pick_photo": "Choose a photo",
        "notice_not_yours": "This case is no longer yours (reassigned or taken back): not applied",
        "notice_case_changed": "The case changed on the server ({status}): '{move}' not applied",
        "notice_photos_refused": "The photos were refused: {reason}",
        "notice_photo_missing": "The photo file is gone from the phone",
        "notice_refused": "Refused by the server: {reason}",
    },
}

# A case's status as the inspector reads it.
_STATUS = {
    "ko": {
        "assigned": "배정됨", "accepted": "수락함", "en_route": "출동 중", "on_site": "현장",
        "resolved": "처리 완료", "unresolved": "처리 불가", "referred": "이관",
        "cancelled": "취소됨", "received": "회수됨", "closed": "종결",
    },
    "en": {
        "assigned": "Assigned", "accepted": "Accepted", "en_route": "On the way",
        "on_site": "On site", "resolved": "Resolved", "unresolved": "Unresolved",
        "referred": "Referred", "cancelled": "Cancelled", "received": "Taken back",
        "closed": "Closed",
    },
}  # fmt: skip


# A timeline entry as the inspector reads it.
_EVENT = {
    "ko": {
        "received": "민원 접수", "assigned": "배정", "accepted": "수락", "en_route": "출동",
        "on_site": "현장 도착", "resolved": "처리 완료", "unresolved": "처리 불가",
        "referred": "이관", "cancelled": "취소", "closed": "종결", "reopened": "재개",
        "needs_triage": "분류 필요", "duplicate": "중복 병합",
        "duplicate_linked": "중복 민원 연결", "duplicate_unlinked": "중복 해제",
        "sla_warning": "기한 임박", "sla_breached": "기한 초과", "sla_escalated": "상급자 보고",
        "sla_paused": "기한 일시 중지", "sla_resumed": "기한 재개",
        "sms_delivered": "문자 전달됨", "sms_failed": "문자 전달 실패",
        "contact_erased": "연락처 삭제 (보존 기한)",
    },
    "en": {
        "received": "Received", "assigned": "Assigned", "accepted": "Accepted",
        "en_route": "On the way", "on_site": "Arrived", "resolved": "Resolved",
        "unresolved": "Unresolved", "referred": "Referred", "cancelled": "Cancelled",
        "closed": "Closed", "reopened": "Reopened", "needs_triage": "Needs triage",
        "duplicate": "Merged as duplicate", "duplicate_linked": "Duplicate linked",
        "duplicate_unlinked": "Duplicate unlinked", "sla_warning": "Deadline near",
        "sla_breached": "Deadline passed", "sla_escalated": "Escalated",
        "sla_paused": "Clocks paused", "sla_resumed": "Clocks resumed",
        "sms_delivered": "Text delivered", "sms_failed": "Text failed",
        "contact_erased": "Contact erased (retention)",
    },
}  # fmt: skip


def event_name(language: str, kind: str) -> str:
    return _EVENT.get(language, _EVENT["en"]).get(kind, kind)


def t(language: str, key: str, **values: object) -> str:
    """The word for `key` in `language` (English when the language lacks it)."""
    words = _WORDS.get(language, _WORDS["en"])
    return (words.get(key) or _WORDS["en"].get(key, key)).format(**values)


def status_name(language: str, status: str) -> str:
    return _STATUS.get(language, _STATUS["en"]).get(status, status)


def notice_text(language: str, code: str, params: dict[str, object]) -> str:
    """A notice worded in the language (a status in it named in the language too)."""
    values = dict(params)
    if "status" in values:
        values["status"] = status_name(language, str(values["status"]))
    if "move" in values:
        values["move"] = event_name(language, str(values["move"]))
    return t(language, f"notice_{code}", **values)
