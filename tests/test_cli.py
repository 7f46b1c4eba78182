"""The `dasan` command, run as a process against a copy of the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dispatch_server import database
from dispatch_server.config import get_settings
from tests.test_boundaries import bowtie, feature, square

DASAN = str(Path(sys.executable).with_name("dasan"))


def dasan(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DASAN_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run(
        [DASAN, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def rows(url: str, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        result = [tuple(row) for row in connection.execute(text(sql))]
    engine.dispose()
    return result


@pytest.fixture(scope="module")
def cli_db(make_database: Callable[[str], str]) -> str:
    return make_database("cli")


def another_city(tmp_path: Path) -> Path:
    """Three districts of an imaginary city near Busan, one with a broken ring."""
    path = tmp_path / "busan-ish.geojson"
    features = [
        feature({"ADM_CODE": "26110", "ADM_NAME": "중구", "ENG": "Jung-gu"}, "Polygon",
                square(129.00, 35.10)),
        feature({"ADM_CODE": "26140", "ADM_NAME": "서구", "ENG": "Seo-gu"}, "Polygon",
                square(129.02, 35.10)),
        feature({"ADM_CODE": "26170", "ADM_NAME": "동구", "ENG": "Dong-gu"}, "Polygon",
                bowtie(129.04, 35.10)),
    ]  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_help_lists_the_commands() -> None:
    result = subprocess.run([DASAN, "--help"], capture_output=True, text=True, check=True)
    for command in ("db", "districts", "seed-demo", "serve", "housekeeping"):
        assert command in result.stdout


def test_load_another_city_then_replace(cli_db: str, tmp_path: Path) -> None:
    path = another_city(tmp_path)
    result = dasan(cli_db, "districts", "load", str(path), "--code-field", "ADM_CODE",
                   "--name-field", "ADM_NAME", "--name-en-field", "ENG")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loaded 3 districts" in result.stdout
    assert "repaired 1 invalid geometry: 26170 동구" in result.stdout
    assert rows(cli_db, "SELECT count(*) FROM district WHERE retired_at IS NULL") == [(28,)]
    found = rows(
        cli_db,
        "SELECT code, name_en FROM district "
        "WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(129.025, 35.105), 4326))",
    )
    assert found == [("26140", "Seo-gu")]

    # A complaint in Jongno-gu keeps that district alive (retired) through --replace.
    rows(cli_db, "SELECT 1")  # connection check
    engine = create_engine(cli_db, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO complaint (id, ticket, category_code, description, channel,"
                " location, district_code, status, priority, created_at, updated_at) VALUES"
                " (999001, '261123-999001', 'illegal_parking', 'x', 'phone',"
                " ST_SetSRID(ST_MakePoint(126.992, 37.5704), 4326), '11110', 'received',"
                " 'normal', now(), now())"
            )
        )
    engine.dispose()

    result = dasan(cli_db, "districts", "load", str(path), "--code-field", "ADM_CODE",
                   "--name-field", "ADM_NAME", "--replace")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "removed 24, retired 1" in result.stdout
    assert rows(cli_db, "SELECT code FROM district WHERE retired_at IS NULL ORDER BY code") == [
        ("26110",), ("26140",), ("26170",)
    ]  # fmt: skip
    assert rows(cli_db, "SELECT code FROM district WHERE retired_at IS NOT NULL") == [("11110",)]

    listed = dasan(cli_db, "districts", "list")
    assert "3 districts" in listed.stdout


def test_load_real_kostat_file_with_other_field_names(cli_db: str) -> None:
    path = (
        get_settings().shared_dir
        / "data/seoul/southkorea-seoul-maps_kostat_2013_seoul_municipalities_geo_simple.json"
    )
    result = dasan(cli_db, "districts", "load", str(path), "--code-field", "code",
                   "--name-field", "name", "--name-en-field", "name_eng")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loaded 25 districts" in result.stdout
    # KOSTAT numbers Jongno-gu 11010 (MOIS: 11110).
    found = rows(
        cli_db,
        "SELECT code, name_ko FROM district WHERE code LIKE '110%' AND"
        " ST_Covers(geom, ST_SetSRID(ST_MakePoint(126.992, 37.5704), 4326))",
    )
    assert found == [("11010", "종로구")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--code-field", "nope", "--name-field", "ADM_NAME"], "has no property 'nope'"),
        (["--code-field", "ADM_CODE"], "Missing option '--name-field'"),
    ],
)
def test_load_explains_mistakes(cli_db: str, tmp_path: Path, args: list[str], message: str) -> None:
    result = dasan(cli_db, "districts", "load", str(another_city(tmp_path)), *args)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_load_missing_file(cli_db: str) -> None:
    result = dasan(cli_db, "districts", "load", "/nonexistent.geojson", "--code-field", "a",
                   "--name-field", "b")  # fmt: skip
    assert result.returncode == 1
    assert "no such file" in result.stdout


def test_db_create_is_idempotent(cli_db: str) -> None:
    first = dasan(cli_db, "db", "create")
    assert first.returncode == 0 and "already exists" in first.stdout
    upgraded = dasan(cli_db, "db", "upgrade")
    assert upgraded.returncode == 0
    assert f"revision {database.head_revision()}" in upgraded.stdout


def test_housekeeping_deletes_expired_idempotency_keys(cli_db: str) -> None:
    engine = create_engine(cli_db, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO idempotency_key (scope, key, fingerprint, created_at) VALUES"
                " ('cli', 'stale', 'x', now() - interval '5 days'), ('cli', 'fresh', 'y', now())"
            )
        )
    engine.dispose()
    result = dasan(cli_db, "housekeeping")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 idempotency keys" in result.stdout
    assert rows(cli_db, "SELECT key FROM idempotency_key WHERE scope = 'cli'") == [("fresh",)]


def test_privacy_purge_erases_what_is_due(cli_db: str) -> None:
    engine = create_engine(cli_db, poolclass=NullPool)
    with engine.begin() as connection:
        for ticket, status, age in (("CLI-OLD", "closed", 120), ("CLI-NEW", "closed", 10),
                                    ("CLI-OPEN", "received", 120)):  # fmt: skip
            connection.execute(
                text(
                    "INSERT INTO complaint (ticket, category_code, description, channel,"
                    " reporter_phone, reporter_name, location, district_code, status, priority,"
                    " created_at, updated_at) VALUES (:t, 'street_lamp', 'lamp out', 'phone',"
                    " '+821023456789', '김민수', ST_SetSRID(ST_MakePoint(126.99, 37.57), 4326),"
                    " '11110', :s, 'normal', now() - make_interval(days => :a),"
                    " now() - make_interval(days => :a))"
                ),
                {"t": ticket, "s": status, "a": age},
            )
    engine.dispose()
    dry = dasan(cli_db, "privacy", "purge", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "due: contact data of 1 cases" in dry.stdout
    result = dasan(cli_db, "privacy", "purge")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "erased: contact data of 1 cases" in result.stdout
    phones = rows(cli_db, "SELECT ticket, reporter_phone IS NULL, reporter_name IS NULL FROM"
                          " complaint WHERE ticket LIKE 'CLI-%' ORDER BY ticket")  # fmt: skip
    assert phones == [
        ("CLI-NEW", False, False),
        ("CLI-OLD", True, True),
        ("CLI-OPEN", False, False),
    ]
    assert "0 reads" in dasan(cli_db, "privacy", "access-log").stdout


def test_open311_keys_are_made_listed_and_revoked(cli_db: str) -> None:
    made = dasan(cli_db, "open311", "keys", "create", "Seoul Smart App",
                 "--requests-per-minute", "120")  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("o311_") and len(key) > 40
    # Only the key's hash and its first characters are kept.
    stored = rows(cli_db, "SELECT key_prefix, key_hash, requests_per_minute FROM api_client"
                          " WHERE name = 'Seoul Smart App'")  # fmt: skip
    ((prefix, digest, limit),) = stored
    assert key.startswith(prefix) and key.encode() not in bytes(digest) and limit == 120
    listed = dasan(cli_db, "open311", "keys", "list")
    assert "Seoul Smart App" in listed.stdout and key not in listed.stdout
    again = dasan(cli_db, "open311", "keys", "create", "seoul smart app")
    assert again.returncode == 1 and "exists already" in again.stdout
    revoked = dasan(cli_db, "open311", "keys", "revoke", "Seoul Smart App")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert rows(cli_db, "SELECT revoked_at IS NOT NULL FROM api_client WHERE name ="
                        " 'Seoul Smart App'") == [(True,)]  # fmt: skip
    unknown = dasan(cli_db, "open311", "keys", "revoke", "nobody")
    assert unknown.returncode == 1 and "no client application" in unknown.stdout
