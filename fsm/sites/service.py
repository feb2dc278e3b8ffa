"""Sites: where the work is; distance searches answered by PostGIS."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Float, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from fsm.auth.principal import Principal
from fsm.db import like_pattern
from fsm.errors import NotFound, field_error, reference_error
from fsm.geo import WGS84, GeoPoint, to_db_point
from fsm.pagination import Page, PageRequest
from fsm.schemas import check_timezone
from fsm.sites.models import Site
from fsm.sites.schemas import OpeningHours, SiteCreate, SiteUpdate, opening_hours_json

MAX_WITHIN_KM = 1000.0


class SiteNotFound(NotFound):
    """No such site, or not one the caller may see."""


def parse_near(value: str) -> GeoPoint:
    """`"lat,lon"` as a point.

    Raises:
        ValidationFailed: naming `near`.
    """
    parts = value.split(",")
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError as exc:
        raise field_error("near", "expected `lat,lon` in decimal degrees") from exc
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise field_error("near", "lat must be in [-90, 90] and lon in [-180, 180]")
    return GeoPoint(lat=lat, lon=lon)


def _check_opening_hours(hours: list[OpeningHours]) -> None:
    for index, h in enumerate(hours):
        if h.opens >= h.closes:
            raise field_error(f"opening_hours[{index}]", "opens must be before closes")


class SiteService:
    """Sites of clients; client users see only their own company's."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, site_id: uuid.UUID, *, viewer: Principal) -> Site:
        """The site, if the viewer may see it."""
        site = await self.session.get(Site, site_id)
        if site is None or not viewer.may_see_site(site.client_id, site.id):
            raise SiteNotFound(f"site {site_id} not found")
        return site

    async def list(
        self,
        page: PageRequest,
        *,
        viewer: Principal,
        client_id: uuid.UUID | None = None,
        name_contains: str | None = None,
        near: GeoPoint | None = None,
        within_km: float | None = None,
    ) -> Page[tuple[Site, float | None]]:
        """Sites by name, or by distance from `near` (optionally only within `within_km`)."""
        if within_km is not None:
            if near is None:
                raise field_error("within_km", "needs `near`")
            if not 0 < within_km <= MAX_WITHIN_KM:
                raise field_error("within_km", f"must be in (0, {MAX_WITHIN_KM:g}]")
        conditions: list[ColumnElement[bool]] = []
        if viewer.is_client:
            conditions += [Site.client_id == viewer.client_id, *viewer.site_scope(Site.id)]
        elif not viewer.is_staff:
            return Page(items=[], total=0, limit=page.limit, offset=page.offset)
        if client_id is not None:
            conditions.append(Site.client_id == client_id)
        if name_contains:
            conditions.append(Site.name.ilike(like_pattern(name_contains)))
        distance: ColumnElement[Any] | None = None
        order: list[Any] = [Site.name, Site.id]
        if near is not None:
            # Geography in metres on the sphere, matching the index on location::geography.
            site_geog = func.Geography(Site.location)
            here = func.Geography(func.ST_SetSRID(func.ST_MakePoint(near.lon, near.lat), WGS84))
            distance = cast(func.ST_Distance(site_geog, here), Float)
            if within_km is not None:
                conditions.append(func.ST_DWithin(site_geog, here, within_km * 1000))
            order = [site_geog.op("<->")(here), Site.id]
        total = await self.session.scalar(select(func.count()).select_from(Site).where(*conditions))
        stmt = (
            (select(Site) if distance is None else select(Site, distance))
            .where(*conditions)
            .order_by(*order)
            .limit(page.limit)
            .offset(page.offset)
        )
        rows = (await self.session.execute(stmt)).all()
        items: Sequence[tuple[Site, float | None]] = [
            (row[0], None if distance is None else float(row[1])) for row in rows
        ]
        return Page(items=items, total=total or 0, limit=page.limit, offset=page.offset)

    async def create(self, data: SiteCreate) -> Site:
        """Add a site to a client."""
        check_timezone(data.timezone)
        _check_opening_hours(data.opening_hours)
        site = Site(
            client_id=data.client_id,
            name=data.name.strip(),
            address=data.address.strip(),
            city=data.city,
            postal_code=data.postal_code,
            country=data.country,
            timezone=data.timezone,
            location=to_db_point(data.location),
            access_notes=data.access_notes,
            opening_hours=opening_hours_json(data.opening_hours),
        )
        self.session.add(site)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            if "fk_sites_client_id_clients" in str(exc.orig):
                raise reference_error("client_id", "no such client") from exc
            raise
        await self.session.refresh(site)
        return site

    async def update(self, site_id: uuid.UUID, data: SiteUpdate, *, viewer: Principal) -> Site:
        """Change the given fields of a site."""
        site = await self.get(site_id, viewer=viewer)
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        if "timezone" in changes:
            check_timezone(changes["timezone"])
        if "location" in changes:
            changes["location"] = to_db_point(changes["location"])
        if "opening_hours" in changes:
            _check_opening_hours(changes["opening_hours"])
            changes["opening_hours"] = opening_hours_json(changes["opening_hours"])
        for name, value in changes.items():
            setattr(site, name, value.strip() if name in ("name", "address") else value)
        await self.session.flush()
        await self.session.refresh(site)
        return site
