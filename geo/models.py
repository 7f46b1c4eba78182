"""Tables of the geo package."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from dispatch_server.db import Base


class District(Base):
    """An administrative district (a Seoul gu) that complaints are routed to."""

    __tablename__ = "district"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name_ko: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(100))
    geom: Mapped[object] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False
    )
    # A district dropped by `districts load --replace` that old complaints still point at:
    # kept for their history, never used for routing.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (Index("ix_district_geom", "geom", postgresql_using="gist"),)


class Dong(Base):
    """A dong: 행정동 (administrative, kind 'admin') or 법정동 (legal, kind 'legal')."""

    __tablename__ = "dong"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    kind: Mapped[str] = mapped_column(String(5))
    district_code: Mapped[str] = mapped_column(String(20))
    name_ko: Mapped[str] = mapped_column(String(50))
    name_en: Mapped[str | None] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    geom: Mapped[object] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False
    )
    label_point: Mapped[object] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )


class GazetteerAddress(Base):
    """A known road-name address (road, building number) and where it is."""

    __tablename__ = "gazetteer_address"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    district_code: Mapped[str] = mapped_column(String(20))
    road_name: Mapped[str] = mapped_column(String(100))
    main_no: Mapped[int]
    sub_no: Mapped[int] = mapped_column(server_default="0")
    location: Mapped[object] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )
    building_name: Mapped[str | None] = mapped_column(String(200))


class GazetteerRoad(Base):
    """A road of a district with its romanized name and matching key."""

    __tablename__ = "gazetteer_road"

    district_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name_ko: Mapped[str] = mapped_column(String(100), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(150))
    road_key: Mapped[str] = mapped_column(String(150))
    addresses: Mapped[int]


class RoutingRule(Base):
    """Which team of a district takes a category's cases; no category: the district's fallback."""

    __tablename__ = "routing_rule"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("district.code"))
    category_code: Mapped[str | None] = mapped_column(ForeignKey("category.code"))
    team_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        ForeignKeyConstraint(
            ["team_id", "district_code"],
            ["team.id", "team.district_code"],
            name="fk_routing_rule_team_district",
        ),
        UniqueConstraint("district_code", "category_code", postgresql_nulls_not_distinct=True),
        Index("ix_routing_rule_team", "team_id"),
    )
