"""Back-office and client-user endpoints for sites."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_signed_in, requires_staff
from fsm.auth.principal import Principal
from fsm.pagination import PageOut, PageRequest, page_out
from fsm.schemas import LimitQuery, OffsetQuery
from fsm.sites.schemas import SiteCreate, SiteRead, SiteUpdate, site_read
from fsm.sites.service import MAX_WITHIN_KM, SiteService, parse_near


async def provide_site_service(db_session: NamedDependency[AsyncSession]) -> SiteService:
    return SiteService(db_session)


class SiteController(Controller):
    """Sites: staff manage them; a client user reads only its own company's."""

    path = "/api/v1/sites"
    tags = ["sites"]
    guards = [requires_signed_in]
    dependencies = {"sites": Provide(provide_site_service)}

    @get("/", operation_id="ListSites")
    async def list_sites(
        self,
        sites: NamedDependency[SiteService],
        principal: NamedDependency[Principal],
        client_id: Annotated[uuid.UUID | None, QueryParameter(description="Of this client")] = None,
        q: Annotated[str | None, QueryParameter(description="Name contains (any case)")] = None,
        near: Annotated[
            str | None, QueryParameter(description="`lat,lon`: sort by distance from this point")
        ] = None,
        within_km: Annotated[
            float | None,
            QueryParameter(
                ge=0.001, le=MAX_WITHIN_KM, description="With `near`: only sites this close"
            ),
        ] = None,
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[SiteRead]:
        """List sites the caller may see, by name or by distance."""
        page = await sites.list(
            PageRequest(limit=limit, offset=offset),
            viewer=principal,
            client_id=client_id,
            name_contains=q,
            near=parse_near(near) if near is not None else None,
            within_km=within_km,
        )
        return page_out(page, lambda row: site_read(row[0], row[1]))

    @post("/", operation_id="CreateSite", guards=[requires_staff])
    async def create_site(
        self, sites: NamedDependency[SiteService], data: JSONBody[SiteCreate]
    ) -> SiteRead:
        """Add a site to a client."""
        return site_read(await sites.create(data))

    @get("/{site_id:uuid}", operation_id="GetSite")
    async def get_site(
        self,
        sites: NamedDependency[SiteService],
        principal: NamedDependency[Principal],
        site_id: FromPath[uuid.UUID],
    ) -> SiteRead:
        """One site."""
        return site_read(await sites.get(site_id, viewer=principal))

    @patch("/{site_id:uuid}", operation_id="UpdateSite", guards=[requires_staff])
    async def update_site(
        self,
        sites: NamedDependency[SiteService],
        principal: NamedDependency[Principal],
        site_id: FromPath[uuid.UUID],
        data: JSONBody[SiteUpdate],
    ) -> SiteRead:
        """Change a site's details."""
        return site_read(await sites.update(site_id, data, viewer=principal))
