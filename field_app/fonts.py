"""A font with Hangul: Kivy's own (Roboto) has none and would draw Korean as boxes.

The first that exists of: a font shipped in field_app/fonts (for a phone build), Debian's
Nanum (fonts-nanum, installed by the set-up) or Noto CJK, Android's system CJK font.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
CANDIDATES: list[tuple[Path, Path]] = [
    (HERE / "fonts" / "NanumGothic.ttf", HERE / "fonts" / "NanumGothicBold.ttf"),
    (Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf"),
     Path("/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf")),
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
     Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")),
    (Path("/system/fonts/NotoSansCJK-Regular.ttc"), Path("/system/fonts/NotoSansCJK-Regular.ttc")),
]  # fmt: skip


class NoHangulFont(RuntimeError):
    """No font with Hangul on this machine."""


def hangul_font() -> tuple[str, str]:
    """(regular, bold) files of the first font with Hangul found."""
    for regular, bold in CANDIDATES:
        if regular.is_file():
            return str(regular), str(bold if bold.is_file() else regular)
    raise NoHangulFont(
        "no font with Hangul found: install fonts-nanum (Debian) or put NanumGothic.ttf in "
        f"{HERE / 'fonts'}"
    )
