"""Shapes of the geocoding API (clients are written against these: add, never rename)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from dispatch_server.complaints.schemas import DistrictRead
from geo.districts import DistrictRef
from geo.geocoder import Candidate, MatchLevel, ReversePlace


def _district_read(district: DistrictRef) -> DistrictRead:
    return DistrictRead(code=district.code, name_ko=district.name_ko, name_en=district.name_en)


class Point(BaseModel):
    """WGS84 latitude and longitude."""

    lat: float
    lon: float


class CandidateRead(BaseModel):
    """One place the address may mean."""

    location: Point
    district: DistrictRead
    dong: str | None = Field(description="the 행정동 the point lies in")
    match_level: MatchLevel
    confidence: float = Field(ge=0, le=1)
    normalized: str

    @classmethod
    def of(cls, candidate: Candidate) -> CandidateRead:
        """The API's view of a geocoder candidate."""
        return cls(
            location=Point(lat=round(candidate.lat, 7), lon=round(candidate.lon, 7)),
            district=_district_read(candidate.district),
            dong=candidate.dong,
            match_level=candidate.match_level,
            confidence=candidate.confidence,
            normalized=candidate.normalized,
        )


class GeocodeResult(BaseModel):
    """Candidates, best first; empty when nothing matches."""

    candidates: list[CandidateRead]


class ReverseGeocodeRead(BaseModel):
    """What is at a point."""

    district: DistrictRead
    dong: str | None = Field(description="the 행정동 the point lies in")
    address: str | None = Field(description="the nearest known road-name address")
    distance_m: float | None = Field(description="from the point to that address")

    @classmethod
    def of(cls, place: ReversePlace) -> ReverseGeocodeRead:
        """The API's view of a reverse-geocoded place."""
        return cls(
            district=_district_read(place.district),
            dong=place.dong,
            address=place.address,
            distance_m=place.distance_m,
        )
