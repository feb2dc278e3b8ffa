"""Site closure days: entered by staff, read by planning (dispatch) as closed instants.

A closure is a run of whole days in the site's own calendar (`first_day`..`last_day`), at
most a year per entry; overlapping ones are refused. Planning treats the site as shut from
its midnight before the first day to the midnight after the last.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_staff
from fsm.errors import Conflict, NotFound, field_error
from fsm.schemas import PLANNING_FROM, PLANNING_UNTIL
from fsm.sites.models import Site, SiteClosure

MAX_CLOSURE_DAYS = 366
Reason = Annotated[str, msgspec.Meta(max_length=200)]


class ClosureCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Whole days the site is shut, in its own calendar."""

    first_day: date
    last_day: date
    reason: Reason | None = None


class ClosureRead(msgspec.Struct, kw_only=True):
    """A closure of a site."""

    id: uuid.UUID
    site_id: uuid.UUID
    first_day: date
    last_day: date
    reason: str | None


def closure_read(closure: SiteClosure) -> ClosureRead:
    return ClosureRead(
        id=closure.id,
        site_id=closure.site_id,
        first_day=closure.first_day,
        last_day=closure.last_day,
        reason=closure.reason,
    )


class SiteNotFound(NotFound):
    """No such site."""


class ClosureNotFound(NotFound):
    """No such closure of this site."""


class ClosureOverlaps(Conflict):
    """The site is already shut on some of those days."""


async def closed_between(
    session: AsyncSession, site_ids: Iterable[uuid.UUID], starts_at: datetime, ends_at: datetime
) -> dict[uuid.UUID, list[tuple[datetime, datetime]]]:
    """Each site's closed instants overlapping [starts_at, ends_at), in order."""
    ids = list(set(site_ids))
    if not ids:
        return {}
    # Any time zone's day of an instant lies within a day of its UTC date.
    first = (starts_at - timedelta(days=1)).date()
    last = (ends_at + timedelta(days=1)).date()
    rows = (
        await session.execute(
            select(SiteClosure.site_id, SiteClosure.first_day, SiteClosure.last_day, Site.timezone)
            .join(Site, Site.id == SiteClosure.site_id)
            .where(
                SiteClosure.site_id.in_(ids),
                SiteClosure.first_day <= last,
                SiteClosure.last_day >= first,
            )
            .order_by(SiteClosure.site_id, SiteClosure.first_day)
        )
    ).all()
    found: dict[uuid.UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
    for row in rows:
        zone = ZoneInfo(row.timezone)
        found[row.site_id].append(
            (
                datetime.combine(row.first_day, time(), zone),
                datetime.combine(row.last_day + timedelta(days=1), time(), zone),
            )
        )
    return dict(found)


class ClosureService:
    """A site's closure days."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _site(self, site_id: uuid.UUID, *, lock: bool = False) -> Site:
        site = await self.session.get(Site, site_id, with_for_update=lock or None)
        if site is None:
            raise SiteNotFound(f"site {site_id} not found")
        return site

    async def create(self, site_id: uuid.UUID, data: ClosureCreate) -> SiteClosure:
        """Shut the site on these days.

        Raises:
            SiteNotFound: no such site (404).
            ValidationFailed: the last day is before the first, or over a year on (422).
            ClosureOverlaps: the site is already shut on one of them (409).
        """
        if data.last_day < data.first_day:
            raise field_error("last_day", "must not be before first_day")
        if not PLANNING_FROM.date() <= data.first_day <= data.last_day < PLANNING_UNTIL.date():
            raise field_error("first_day", "must lie between the years 2000 and 2199")
        if (data.last_day - data.first_day).days >= MAX_CLOSURE_DAYS:
            raise field_error("last_day", "a closure lasts at most a year")
        # One closure entered at a time per site: the overlap check holds.
        await self._site(site_id, lock=True)
        overlapping = (
            await self.session.scalars(
                select(SiteClosure.id).where(
                    SiteClosure.site_id == site_id,
                    SiteClosure.first_day <= data.last_day,
                    SiteClosure.last_day >= data.first_day,
                )
            )
        ).all()
        if overlapping:
            raise ClosureOverlaps(
                "the site is already shut on some of those days",
                details={"closure_ids": [str(c) for c in overlapping]},
            )
        closure = SiteClosure(
            site_id=site_id, first_day=data.first_day, last_day=data.last_day, reason=data.reason
        )
        self.session.add(closure)
        await self.session.flush()
        return closure

    async def list(self, site_id: uuid.UUID, *, since: date) -> list[SiteClosure]:
        """The site's closures ending on or after `since`, in order."""
        await self._site(site_id)
        stmt = (
            select(SiteClosure)
            .where(SiteClosure.site_id == site_id, SiteClosure.last_day >= since)
            .order_by(SiteClosure.first_day)
        )
        return list((await self.session.scalars(stmt)).all())

    async def delete(self, site_id: uuid.UUID, closure_id: uuid.UUID) -> None:
        """Open the site again on those days."""
        closure = await self.session.get(SiteClosure, closure_id)
        if closure is None or closure.site_id != site_id:
            raise ClosureNotFound(f"closure {closure_id} not found")
        await self.session.delete(closure)
        await self.session.flush()


async def provide_closures(db_session: NamedDependency[AsyncSession]) -> ClosureService:
    return ClosureService(db_session)


class SiteClosureController(Controller):
    """Days a site is shut (staff only)."""

    path = "/api/v1/sites/{site_id:uuid}/closures"
    tags = ["sites"]
    guards = [requires_staff]
    dependencies = {"closures": Provide(provide_closures)}

    @post("/", operation_id="CreateSiteClosure")
    async def create_closure(
        self,
        closures: NamedDependency[ClosureService],
        site_id: FromPath[uuid.UUID],
        data: JSONBody[ClosureCreate],
    ) -> ClosureRead:
        """Shut the site on whole days of its calendar; planning sends no work there then."""
        return closure_read(await closures.create(site_id, data))

    @get("/", operation_id="ListSiteClosures")
    async def list_closures(
        self,
        closures: NamedDependency[ClosureService],
        site_id: FromPath[uuid.UUID],
        since: Annotated[
            date | None,
            QueryParameter(description="Closures ending on or after this day (default: today)"),
        ] = None,
    ) -> list[ClosureRead]:
        """The site's closures from `since` on."""
        found = await closures.list(site_id, since=since or datetime.now(ZoneInfo("UTC")).date())
        return [closure_read(c) for c in found]

    @delete("/{closure_id:uuid}", operation_id="DeleteSiteClosure")
    async def delete_closure(
        self,
        closures: NamedDependency[ClosureService],
        site_id: FromPath[uuid.UUID],
        closure_id: FromPath[uuid.UUID],
    ) -> None:
        """Take a closure back."""
        await closures.delete(site_id, closure_id)
