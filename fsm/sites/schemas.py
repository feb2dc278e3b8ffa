"""Site wire types."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from fsm.geo import GeoPoint, from_db_point
from fsm.schemas import Kilometres, Name, OptionalText
from fsm.sites.models import Site

ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["08:00"])]
CountryCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


class OpeningHours(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """When engineers can get in on one weekday (Monday is 0), site local time."""

    weekday: Annotated[int, msgspec.Meta(ge=0, le=6)]
    opens: ClockTime
    closes: ClockTime


class SiteCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new site of a client."""

    client_id: uuid.UUID
    name: Name
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    location: GeoPoint
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    country: CountryCode
    city: Name | None = None
    postal_code: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    access_notes: OptionalText | None = None
    opening_hours: list[OpeningHours] = msgspec.field(default_factory=list)


class SiteUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields to change on a site; absent fields stay as they are."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    location: GeoPoint | msgspec.UnsetType = msgspec.UNSET
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    country: CountryCode | msgspec.UnsetType = msgspec.UNSET
    city: Name | msgspec.UnsetType | None = msgspec.UNSET
    postal_code: Annotated[str, msgspec.Meta(max_length=20)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    access_notes: OptionalText | msgspec.UnsetType | None = msgspec.UNSET
    opening_hours: list[OpeningHours] | msgspec.UnsetType = msgspec.UNSET


class SiteRead(msgspec.Struct, kw_only=True):
    """A site; `distance_km` is set when the list was asked for sites near a point."""

    id: uuid.UUID
    client_id: uuid.UUID
    name: str
    address: str
    city: str | None
    postal_code: str | None
    country: str
    timezone: str
    # None: unlocated (imported without coordinates); the dispatcher cannot plan it yet.
    location: GeoPoint | None
    is_located: bool
    access_notes: str | None
    opening_hours: list[OpeningHours]
    created_at: datetime
    distance_km: Kilometres | None = None


def opening_hours_json(hours: list[OpeningHours]) -> list[dict[str, Any]]:
    """Opening hours as stored, sorted by weekday and opening time."""
    ordered = sorted(hours, key=lambda h: (h.weekday, h.opens))
    return [msgspec.structs.asdict(h) for h in ordered]


def site_read(site: Site, distance_m: float | None = None) -> SiteRead:
    """Wire form of a site."""
    location = from_db_point(site.location)
    return SiteRead(
        id=site.id,
        client_id=site.client_id,
        name=site.name,
        address=site.address,
        city=site.city,
        postal_code=site.postal_code,
        country=site.country,
        timezone=site.timezone,
        location=location,
        is_located=location is not None,
        access_notes=site.access_notes,
        opening_hours=msgspec.convert(site.opening_hours, list[OpeningHours]),
        created_at=site.created_at,
        distance_km=None if distance_m is None else round(distance_m / 1000, 3),
    )
