"""Tables of dispatch: teams, inspectors, result codes."""

from __future__ import annotations

from datetime import datetime, time

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from dispatch_server.db import Base


class Team(Base):
    """A district's field team; it works some categories (or all)."""

    __tablename__ = "team"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("district.code"))
    name: Mapped[str] = mapped_column(String(100))
    categories: Mapped[list[str] | None] = mapped_column(ARRAY(String(50)))

    __table_args__ = (
        UniqueConstraint("district_code", "name"),
        # Routing rules point at (team, district): a rule's team is its district's own.
        UniqueConstraint("id", "district_code"),
    )


class Inspector(Base):
    """A field inspector: team, duty, shift and last known position."""

    __tablename__ = "inspector"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    on_duty: Mapped[bool] = mapped_column(server_default=text("false"))
    shift_start: Mapped[time | None] = mapped_column(Time)
    shift_end: Mapped[time | None] = mapped_column(Time)
    position: Mapped[object | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )
    position_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    position_accuracy_m: Mapped[float | None]

    __table_args__ = (
        CheckConstraint("position_accuracy_m IS NULL OR position_accuracy_m >= 0", name="accuracy"),
        Index(
            "ix_inspector_position_on_duty",
            "position",
            postgresql_using="gist",
            postgresql_where=text("on_duty"),
        ),
        Index("ix_inspector_team", "team_id"),
    )


class ResultCode(Base):
    """A way a visit can end (e.g. not found, already fixed), offered per category or to all."""

    __tablename__ = "result_code"

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    category_code: Mapped[str | None] = mapped_column(ForeignKey("category.code"))
    outcome: Mapped[str] = mapped_column(String(20))
    name_ko: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))

    __table_args__ = (
        CheckConstraint("outcome IN ('resolved', 'unresolved', 'referred')", name="outcome"),
    )
