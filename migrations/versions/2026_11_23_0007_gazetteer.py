"""gazetteer: dongs (행정동 and 법정동) and known road-name addresses, for geocoding

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DONG = """
CREATE TABLE dong (
    -- 행정동: the 10-digit 행정기관코드; 법정동: the 8-digit code.
    code varchar(10) PRIMARY KEY,
    kind varchar(5) NOT NULL CONSTRAINT ck_dong_kind CHECK (kind IN ('admin', 'legal')),
    district_code varchar(20) NOT NULL,
    name_ko varchar(50) NOT NULL,
    name_en varchar(100),
    -- geo.romanize.match_key of the name: English input and typos meet it by trigrams.
    name_key varchar(100) NOT NULL,
    geom geometry(MultiPolygon, 4326) NOT NULL,
    label_point geometry(Point, 4326) NOT NULL
)
"""
ADDRESS = """
CREATE TABLE gazetteer_address (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    district_code varchar(20) NOT NULL,
    road_name varchar(100) NOT NULL,
    main_no integer NOT NULL CONSTRAINT ck_gazetteer_address_main CHECK (main_no > 0),
    sub_no integer NOT NULL DEFAULT 0 CONSTRAINT ck_gazetteer_address_sub CHECK (sub_no >= 0),
    location geometry(Point, 4326) NOT NULL,
    building_name varchar(200),
    CONSTRAINT uq_gazetteer_address UNIQUE (district_code, road_name, main_no, sub_no)
)
"""
ROAD = """
CREATE TABLE gazetteer_road (
    district_code varchar(20) NOT NULL,
    name_ko varchar(100) NOT NULL,
    name_en varchar(150) NOT NULL,
    -- geo.romanize.road_key: 소월로 and Sowol-ro both give sowolro.
    road_key varchar(150) NOT NULL,
    addresses integer NOT NULL,
    CONSTRAINT pk_gazetteer_road PRIMARY KEY (district_code, name_ko)
)
"""


def upgrade() -> None:
    op.execute(DONG)
    op.execute("CREATE INDEX ix_dong_geom ON dong USING gist (geom)")
    op.execute("CREATE INDEX ix_dong_name ON dong (name_ko)")
    op.execute("CREATE INDEX ix_dong_name_key ON dong USING gin (name_key gin_trgm_ops)")
    op.execute(ADDRESS)
    op.execute(
        "CREATE INDEX ix_gazetteer_address_location ON gazetteer_address USING gist (location)"
    )
    op.execute(ROAD)
    op.execute("CREATE INDEX ix_gazetteer_road_key ON gazetteer_road (road_key)")
    op.execute(
        "CREATE INDEX ix_gazetteer_road_key_trgm ON gazetteer_road"
        " USING gin (road_key gin_trgm_ops)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE gazetteer_road")
    op.execute("DROP TABLE gazetteer_address")
    op.execute("DROP TABLE dong")
