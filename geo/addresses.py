"""Reading a Korean address as people write it: road-name, lot-number, dong or district.

Pure: text in, a `ParsedAddress` out (no database). Forms read:
  - road name:  `서울특별시 중구 소월로 3`, `소월로3`, `중구 소월로 3-1`, `신림로64길 29 (신림동)`
  - lot number: `중구 남창동 51-2`, `종로구 종로1가 24`, `남창동 산 12`
  - a dong or a district alone: `역삼동`, `강남구 역삼동`, `강남구`
  - English:    `3 Sowol-ro, Jung-gu, Seoul`, `Sowol-ro 3, Jung-gu`, `Yeoksam-dong, Gangnam-gu`
Bad text (empty, too long, control characters, scripts other than Hangul and Latin, or
Korean and English words mixed) raises `AddressRejected` with the reason.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from dispatch_server.errors import Invalid

MAX_LENGTH = 200


class Form(StrEnum):
    """What kind of place the text names."""

    ROAD = "road"
    LOT = "lot"
    DONG = "dong"
    DISTRICT = "district"


class AddressRejected(Invalid):
    """The text cannot be an address; the message says why."""

    code = "invalid_address"


@dataclass(frozen=True)
class ParsedAddress:
    """The parts of an address; `english` when it was written in the Latin alphabet."""

    form: Form
    english: bool
    city: str | None = None
    district: str | None = None
    road: str | None = None
    dong: str | None = None
    main_no: int | None = None
    sub_no: int | None = None
    mountain: bool = False  # a lot number on a mountain (산)

    def normalized(self) -> str:
        """The address written the standard way (Korean order; English names as given)."""
        parts = [self.city, self.district]
        if self.form is Form.ROAD:
            parts.append(self.road)
        elif self.dong:
            parts.append(self.dong)
        number = None
        if self.main_no is not None:
            number = f"{self.main_no}-{self.sub_no}" if self.sub_no else str(self.main_no)
            if self.mountain:
                number = f"산 {number}"
        parts.append(number)
        return " ".join(part for part in parts if part)


_CITY_KO = re.compile(r"^(서울특별시|서울시|서울)$")
_DISTRICT_KO = re.compile(r"^[가-힣]{1,4}구$")
_ROAD_KO = re.compile(r"^(?P<road>[가-힣0-9]+?(?:대로|로|번길|길))(?P<no>\d+(?:-\d+)?)?$")
_DONG_KO = re.compile(r"^[가-힣0-9]+(?:동|가|리)$")
_NUMBER = re.compile(r"^(?P<main>\d{1,5})(?:-(?P<sub>\d{1,5}))?(?:번지)?$")
_ALLOWED = re.compile(r"^[가-힣A-Za-z0-9 \-,.()#/·]+$")


def _clean(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise AddressRejected("the address is empty")
    text = unicodedata.normalize("NFC", text)
    if len(text) > MAX_LENGTH:
        raise AddressRejected(f"the address is longer than {MAX_LENGTH} characters")
    if any(unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn") for char in text):
        raise AddressRejected("the address contains control or invalid characters")
    if re.search(r"[ㄱ-ㅎㅏ-ㅣ]", text):
        raise AddressRejected("the address has loose Hangul letters (an unfinished syllable)")
    # Full-width digits and dashes, as phones' keyboards sometimes give them.
    text = unicodedata.normalize("NFKC", text).replace("‐", "-").replace("–", "-")
    text = re.sub(r"\s+", " ", text).strip()
    if not _ALLOWED.match(text):
        raise AddressRejected(
            "the address has characters other than Hangul, Latin letters, digits and - , . ( )"
        )
    return text


def parse(text: str) -> ParsedAddress:
    """The parts of `text` (AddressRejected when it cannot be an address)."""
    text = _clean(text)
    hangul = bool(re.search(r"[가-힣]", text))
    latin = bool(re.search(r"[A-Za-z]", re.sub(r"\([^)]*\)", "", text)))
    if hangul and latin:
        raise AddressRejected("write the address either in Korean or in English, not both")
    return _parse_korean(text) if hangul else _parse_english(text)


def _parse_korean(text: str) -> ParsedAddress:
    # Parentheses hold a dong or a building name (`(신림동)`, `(역삼동, KT빌딩)`): the
    # dong is kept as a hint, the rest dropped.
    hint = None
    for inside in re.findall(r"\(([^)]*)\)", text):
        first = inside.split(",")[0].strip()
        if _DONG_KO.match(first):
            hint = first
    text = re.sub(r"\([^)]*\)", " ", text).replace(",", " ")
    tokens = text.split()
    city = district = None
    if tokens and _CITY_KO.match(tokens[0]):
        city = "서울특별시"
        tokens = tokens[1:]
    if tokens and _DISTRICT_KO.match(tokens[0]) and not _ROAD_KO.match(tokens[0]):
        district = tokens.pop(0)
    if not tokens:
        if district is None:
            raise AddressRejected("the address names no district, dong or road")
        return ParsedAddress(Form.DISTRICT, False, city=city, district=district)
    # A road and its number, written together or apart: `소월로3`, `소월로 3-1`.
    joined = "".join(tokens)
    road = _ROAD_KO.match(joined.replace("번지", ""))
    if road and not _DONG_KO.match(tokens[0]):
        main = sub = None
        if road["no"]:
            main, _, rest = road["no"].partition("-")
            sub = rest or None
        return ParsedAddress(
            Form.ROAD, False, city=city, district=district, road=road["road"],
            dong=hint, main_no=_int(main), sub_no=_int(sub),
        )  # fmt: skip
    if _DONG_KO.match(tokens[0]):
        dong, rest = tokens[0], tokens[1:]
        mountain = bool(rest) and rest[0] in ("산", "산번지")
        if mountain:
            rest = rest[1:]
        elif rest and rest[0].startswith("산") and _NUMBER.match(rest[0][1:]):
            mountain, rest = True, [rest[0][1:]]
        if not rest:
            return ParsedAddress(Form.DONG, False, city=city, district=district, dong=dong)
        number = _NUMBER.match("".join(rest))
        if number is None:
            raise AddressRejected(f"{' '.join(rest)!r} is not a lot number (e.g. 51-2)")
        return ParsedAddress(
            Form.LOT, False, city=city, district=district, dong=dong,
            main_no=_int(number["main"]), sub_no=_int(number["sub"]), mountain=mountain,
        )  # fmt: skip
    raise AddressRejected(f"{tokens[0]!r} is neither a road (…로, …길) nor a dong (…동, …가)")


_EN_CITY = re.compile(r"^(seoul|seoul-si|seoul city|seoul special city|republic of korea|korea)$")
_EN_DISTRICT = re.compile(r"^[a-z]+(?:-[a-z]+)?-gu$")
_EN_DONG = re.compile(r"^[a-z]+(?:-?\d+)?-(?:dong|ga)$")
_EN_ROAD = re.compile(
    r"^(?P<road>[a-z]+(?:-[a-z]+)*-(?:daero|ro|gil)(?: \d+[a-z]*-(?:beon-)?gil)?)$"
)


def _parse_english(text: str) -> ParsedAddress:
    lowered = text.lower()
    lowered = re.sub(r"\([^)]*\)", " ", lowered)
    parts = [part.strip() for part in lowered.split(",") if part.strip()]
    city = district = road = dong = None
    main = sub = None
    for part in parts:
        if _EN_CITY.match(part):
            city = "Seoul"
            continue
        if _EN_DISTRICT.match(part):
            district = part
            continue
        # The building or lot number leads or ends the part: `3 Sowol-ro`, `Sowol-ro 3-1`.
        words = part.split()
        number = None
        if len(words) > 1 and _NUMBER.match(words[0]):
            number, words = words[0], words[1:]
        elif len(words) > 1 and _NUMBER.match(words[-1]):
            number, words = words[-1], words[:-1]
        names = " ".join(words)
        if names and _EN_ROAD.match(names):
            road = names
        elif names and _EN_DONG.match(names):
            dong = names
        elif names:
            raise AddressRejected(f"{part!r} is not a road (…-ro, …-gil), dong or district")
        if number is not None:
            found = _NUMBER.match(number)
            assert found is not None
            main, sub = _int(found["main"]), _int(found["sub"])
    if road is not None:
        return ParsedAddress(
            Form.ROAD, True, city=city, district=district, road=road, main_no=main, sub_no=sub
        )
    if dong is not None:
        form = Form.LOT if main is not None else Form.DONG
        return ParsedAddress(
            form, True, city=city, district=district, dong=dong, main_no=main, sub_no=sub
        )
    if district is not None:
        return ParsedAddress(Form.DISTRICT, True, city=city, district=district)
    raise AddressRejected("the address names no district, dong or road")


def _int(value: str | None) -> int | None:
    return int(value) if value else None
