"""Korean place names in the Revised Romanization, and the keys names are matched by.

Road signs spell a road `Sowol-ro`, `Sillim-ro 64-gil`, `Dongjak-daero 35-gil`: the name part
with the sound changes across its syllables (신림 -> Sillim, 왕십리 -> Wangsimni), then the
road word hyphenated without them. `match_key` reduces either script to lower-case letters
and digits, so `소월로 3` and `Sowol-ro 3` meet on `sowolro`; small differences (a sound
change done differently, a typo) are left to trigram similarity in the database.
"""

from __future__ import annotations

import re
import unicodedata

_FIRST, _LAST = 0xAC00, 0xD7A3
_INITIALS = ["g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch",
             "k", "t", "p", "h"]  # fmt: skip
_VOWELS = ["a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae", "oe", "yo", "u",
           "wo", "we", "wi", "yu", "eu", "ui", "i"]  # fmt: skip
# Final consonants by index (0: none), as one representative sound.
_FINALS = ["", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l", "p", "l", "m",
           "p", "p", "t", "t", "ng", "t", "t", "k", "t", "p", "t"]  # fmt: skip
# A final consonant carried over to an initial ㅇ (liaison): 종암 -> jongam, 목욕 -> mogyok.
_CARRIED = ["", "g", "kk", "ks", "n", "nj", "n", "d", "r", "lg", "lm", "lb", "ls", "lt", "lp",
            "r", "m", "b", "bs", "s", "ss", "ng", "j", "ch", "k", "t", "p", ""]  # fmt: skip
_NASAL_INITIALS = {"n", "m"}
# Suffixes of road names; the longest first.
_ROAD_WORDS = (("대로", "daero"), ("번길", "beon-gil"), ("로", "ro"), ("길", "gil"))


def _syllables(text: str) -> list[tuple[int, int, int] | str]:
    out: list[tuple[int, int, int] | str] = []
    for char in text:
        code = ord(char)
        if _FIRST <= code <= _LAST:
            index = code - _FIRST
            out.append((index // 588, (index % 588) // 28, index % 28))
        else:
            out.append(char)
    return out


def romanize(text: str) -> str:
    """Hangul in the Revised Romanization (other characters kept), lower case.

    The common sound changes between syllables are applied: liaison, nasalisation
    (국민 gungmin, 종로 jongno, 십리 simni) and the lateral (신림 sillim, 설날 seollal).
    """
    parts = _syllables(unicodedata.normalize("NFC", text))
    out: list[str] = []
    for position, part in enumerate(parts):
        if isinstance(part, str):
            out.append(part.lower())
            continue
        initial_index, vowel, final = part
        initial = _INITIALS[initial_index]
        previous = parts[position - 1] if position else None
        if isinstance(previous, tuple):
            prev_final = _FINALS[previous[2]]
            if initial_index == 11 and previous[2]:  # ㅇ after a final: liaison
                initial = "" if _CARRIED[previous[2]] == "ng" else _CARRIED[previous[2]]
            elif (initial == "r" and prev_final in ("n", "l")) or (
                initial == "n" and prev_final == "l"
            ):
                initial = "l"
            elif initial == "r" and prev_final:
                initial = "n"
            elif initial == "r":
                initial = "r"
        following = parts[position + 1] if position + 1 < len(parts) else None
        coda = _FINALS[final]
        if isinstance(following, tuple) and final:
            next_initial = _INITIALS[following[0]]
            if following[0] == 11 and coda != "ng":
                coda = ""  # carried over to the next syllable
            elif next_initial == "r" and coda == "n":
                coda = "l"
            elif next_initial in _NASAL_INITIALS or next_initial == "r":
                coda = {"k": "ng", "t": "n", "p": "m"}.get(coda, coda)
        out.append(initial + _VOWELS[vowel] + coda)
    return "".join(out)


def romanize_road(name: str) -> str:
    """A road name as signs write it: 신림로64길 -> Sillim-ro 64-gil."""
    match = re.fullmatch(
        r"(.+?)(대로|로|번길|길)(\d+(?:[가-힣](?=대로|로|번길|길))?)?(대로|로|번길|길)?", name
    )
    if match is None:
        return romanize(name).capitalize()
    base, word, number, second = match.groups()
    words = dict(_ROAD_WORDS)
    spelled = f"{romanize(base).capitalize()}-{words[word]}"
    if number:
        spelled += f" {romanize(number)}"
        if second:
            spelled += f"-{words[second]}"
    return spelled


def match_key(text: str) -> str:
    """Lower-case ASCII letters and digits of a name in either script (the matching key)."""
    return re.sub(r"[^a-z0-9]", "", romanize(text))


def road_key(name: str) -> str:
    """The matching key of a road name, in either script: 소월로 and Sowol-ro -> sowolro."""
    if re.search(r"[가-힣]", name):
        name = romanize_road(name)
    return re.sub(r"[^a-z0-9]", "", name.lower())
