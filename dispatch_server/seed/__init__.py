"""Demo and reference data: categories, and where Seoul's boundaries are."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dispatch_server.complaints.models import Category
from dispatch_server.dispatch.models import ResultCode
from dispatch_server.open311.models import ServiceAttribute

CATEGORIES_FILE = Path(__file__).with_name("categories.json")
RESULT_CODES_FILE = Path(__file__).with_name("result_codes.json")
SLA_FILE = Path(__file__).with_name("sla.json")


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


def _upsert(session: Session, model: type[Any], values: dict[str, Any]) -> None:
    """Insert a row or update it by its `code`."""
    statement = insert(model).values(values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[model.code],
            set_={k: statement.excluded[k] for k in values if k != "code"},
        )
    )


def upsert_categories(session: Session, categories: list[dict[str, Any]]) -> int:
    """Insert or update categories by code; the caller commits. Returns how many."""
    for category in categories:
        names = dict(category["names"])
        _upsert(
            session,
            Category,
            {
                "code": category["code"],
                "name_ko": names.pop("ko"),
                "name_en": names.pop("en"),
                "names": names,
                "default_priority": category.get("default_priority", "normal"),
                "auto_assign": category.get("auto_assign", False),
                "active": True,
                # No "dedup": never deduplicated.
                "dedup_radius_m": category.get("dedup", {}).get("radius_m", 0),
                "dedup_window": timedelta(hours=category.get("dedup", {}).get("window_hours", 0)),
                "citizen_updates": category.get("citizen_updates", []),
                "descriptions": category.get("description", {}),
                "group_names": category.get("group", {}),
                "keywords": category.get("keywords", []),
            },
        )
        _replace_attributes(session, category["code"], category.get("attributes", []))
    return len(categories)


def _replace_attributes(session: Session, code: str, attributes: list[dict[str, Any]]) -> None:
    """The category's Open311 questions become those of the file, in its order."""
    session.execute(delete(ServiceAttribute).where(ServiceAttribute.category_code == code))
    for position, attribute in enumerate(attributes, start=1):
        session.execute(
            insert(ServiceAttribute).values(
                category_code=code,
                code=attribute["code"],
                position=position,
                datatype=attribute["datatype"],
                required=attribute.get("required", False),
                variable=attribute.get("variable", True),
                descriptions=attribute.get("description", {}),
                datatype_descriptions=attribute.get("datatype_description", {}),
                values=attribute.get("values", []),
            )
        )


def upsert_result_codes(session: Session, path: Path = RESULT_CODES_FILE) -> int:
    """Insert or update the result codes of a JSON file; the caller commits."""
    codes = json.loads(path.read_text(encoding="utf-8"))
    for entry in codes:
        _upsert(
            session,
            ResultCode,
            {
                "code": entry["code"],
                "category_code": entry["category"],
                "outcome": entry["outcome"],
                "name_ko": entry["name_ko"],
                "name_en": entry["name_en"],
            },
        )
    return len(codes)


# A plausible team set of a Seoul district office for on-site complaints: each section
# works its categories; the field complaints team takes whatever has no section (the
# fallback rule) and helps everywhere.
DEMO_TEAMS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("주차단속팀", ("illegal_parking", "vehicle_idling")),
    ("청소행정팀", ("garbage_uncollected", "illegal_dumping")),
    ("도로관리팀", ("road_damage", "facility_damage")),
    ("가로등관리팀", ("street_lamp",)),
    ("현장민원팀", None),
)


def seed_demo_teams(session: Session, *, inspectors_per_team: int = 3) -> int:
    """The demo team set in every district, its routing rules, and on-duty inspectors.

    Teams and rules are added where missing (rules already set are kept: an admin may have
    changed them). Inspectors are added to teams that have none, named
    `inspector-<district>-<team>-<n>`, placed inside the district (seeded, so every run
    places them alike). The caller commits. Returns how many inspectors were added.
    """
    active = set(session.execute(text("SELECT code FROM category WHERE active")).scalars())
    for name, categories in DEMO_TEAMS:
        handled = None if categories is None else [c for c in categories if c in active]
        if handled == []:
            continue  # none of its categories here (another city's set)
        session.execute(
            text(
                "INSERT INTO team (district_code, name, categories)"
                " SELECT code, :name, :categories FROM district WHERE retired_at IS NULL"
                " ON CONFLICT (district_code, name) DO NOTHING"
            ),
            {"name": name, "categories": handled},
        )
        # One rule per category the team works; the catch-all team is the fallback.
        session.execute(
            text(
                "INSERT INTO routing_rule (district_code, category_code, team_id, updated_at)"
                " SELECT t.district_code, c.code, t.id, now()"
                " FROM team t"
                " LEFT JOIN unnest(CAST(:categories AS text[])) AS c(code) ON true"
                " JOIN district d ON d.code = t.district_code AND d.retired_at IS NULL"
                " WHERE t.name = :name"
                " ON CONFLICT ON CONSTRAINT uq_routing_rule_district_code_category_code"
                " DO NOTHING"
            ),
            {"name": name, "categories": handled},
        )
    added = session.execute(
        text(
            """
            INSERT INTO inspector (name, team_id, on_duty, position, position_at)
            SELECT 'inspector-' || d.code || '-' || t.id || '-' || p.path[1], t.id, true,
                   p.geom, now()
            FROM team t
            JOIN district d ON d.code = t.district_code AND d.retired_at IS NULL
            CROSS JOIN LATERAL ST_Dump(ST_GeneratePoints(d.geom, :n, t.id::integer)) AS p
            WHERE NOT EXISTS (SELECT 1 FROM inspector i WHERE i.team_id = t.id)
            """
        ),
        {"n": inspectors_per_team},
    )
    return added.rowcount


@dataclass(frozen=True)
class SlaSeeded:
    """What the SLA seed added."""

    calendars: int
    holidays: int
    policies: int


def seed_sla(session: Session, *, timezone: str, now: datetime, path: Path = SLA_FILE) -> SlaSeeded:
    """The demo's calendars (in the city's zone) and policies, where missing; the caller commits.

    Calendars and policies already there are kept (an admin may have changed them); the
    holidays of last year, this year and next year are (re)loaded from the country's data.
    """
    from zoneinfo import ZoneInfo

    from sla import policies
    from sla.schemas import CalendarSet, Kind, PolicySet

    data = json.loads(path.read_text(encoding="utf-8"))
    existing = set(session.execute(text("SELECT code FROM sla_calendar")).scalars())
    calendars = holidays = added = 0
    year = now.astimezone(ZoneInfo(timezone)).year
    for calendar in data["calendars"]:
        code = calendar["code"]
        if code not in existing:
            spec = CalendarSet(
                name=calendar["name"],
                timezone=timezone,
                always_open=calendar["always_open"],
                hours=calendar["hours"],
            )
            policies.check_calendar(spec)
            for statement in policies.calendar_rows(code, spec, now=now):
                session.execute(statement)
            calendars += 1
        country = calendar.get("holidays_country")
        if country:
            found = policies.country_holidays(country, range(year - 1, year + 2))
            statement = policies.holiday_rows(code, found)
            if statement is not None:
                session.execute(statement)
            holidays += len(found)
    active = set(session.execute(text("SELECT code FROM category WHERE active")).scalars())
    for policy in data["policies"]:
        if policy["category"] not in active:
            continue  # another city's category set
        statement = policies.policy_upsert(
            category=policy["category"],
            priority=policy.get("priority"),
            kind=Kind(policy["kind"]),
            policy=PolicySet.model_validate(
                {k: v for k, v in policy.items() if k not in ("category", "priority", "kind")}
            ),
            now=now,
            replace=False,
        )
        added += len(session.execute(statement).all())
    return SlaSeeded(calendars=calendars, holidays=holidays, policies=added)
