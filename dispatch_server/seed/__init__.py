"""Demo and reference data: categories, and where Seoul's boundaries are."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dispatch_server.complaints.models import Category

CATEGORIES_FILE = Path(__file__).with_name("categories.json")


@dataclass(frozen=True)
class BoundarySource:
    """A boundary file and the names of its fields."""

    filename: str
    code_field: str
    name_field: str
    name_en_field: str | None


# Seoul's 25 gu with their 5-digit MOIS codes (SIG_CD), from ../shared/data/seoul/SOURCES.md.
SEOUL_DISTRICTS = BoundarySource(
    filename="seoul/southkorea-seoul-maps_juso_2015_seoul_municipalities_geo.json",
    code_field="SIG_CD",
    name_field="SIG_KOR_NM",
    name_en_field="SIG_ENG_NM",
)


def read_categories(path: Path = CATEGORIES_FILE) -> list[dict[str, Any]]:
    """The category definitions of a JSON file."""
    categories: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return categories


def upsert_categories(session: Session, categories: list[dict[str, Any]]) -> int:
    """Insert or update categories by code; the caller commits. Returns how many."""
    for category in categories:
        names = dict(category["names"])
        values = {
            "code": category["code"],
            "name_ko": names.pop("ko"),
            "name_en": names.pop("en"),
            "names": names,
            "default_priority": category.get("default_priority", "normal"),
            "active": True,
        }
        statement = insert(Category).values(values)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[Category.code],
                set_={k: statement.excluded[k] for k in values if k != "code"},
            )
        )
    return len(categories)
