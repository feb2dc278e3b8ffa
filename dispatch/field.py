"""A running day as the field reports it: which visits may be inserted, what engineers have
done and are doing, where they are, and how much of an on-site visit is left."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import solver
from dispatch.on_call import engineer_of
from fsm.engineers.models import Engineer
from fsm.errors import ValidationFailed
from fsm.geo import from_db_point
from fsm.sites.models import Site
from fsm.workorders.models import WorkOrder
from fsm.workorders.visit_models import Visit, VisitStatus, VisitStatusEvent

V = VisitStatus
# Under way in the field, in the order an engineer works them: the current one first.
UNDER_WAY = (V.ON_SITE, V.EN_ROUTE)


def solver_location(point: Any) -> solver.Location:
    """A stored PostGIS point as a solver location."""
    geo = from_db_point(point)
    if geo is None:
        raise ValueError("a dispatch location is missing")
    return solver.Location(lat=geo.lat, lon=geo.lon)


@dataclass(frozen=True, slots=True)
class FieldVisit:
    """An assigned visit as the field reports it."""

    id: str
    status: VisitStatus
    location: solver.Location
    route_position: int
    completed_at: datetime | None


async def check_insertable(
    session: AsyncSession, visit_ids: Sequence[uuid.UUID], origin_at: datetime
) -> None:
    """Refuse, naming each `visit_ids[i]`, visits unknown, not `planned`, repeated or not on
    the day starting at `origin_at`."""
    ends_at = origin_at + timedelta(days=1)
    stmt = (
        select(
            Visit.id,
            Visit.status,
            Visit.window_starts_at,
            Visit.window_ends_at,
            Site.location.is_(None).label("is_unlocated"),
        )
        .join(WorkOrder, WorkOrder.id == Visit.work_order_id)
        .join(Site, Site.id == WorkOrder.site_id)
        .where(Visit.id.in_(set(visit_ids)))
    )
    found = {row.id: row for row in (await session.execute(stmt)).all()}
    problems: list[dict[str, str]] = []
    seen: set[uuid.UUID] = set()
    for k, visit_id in enumerate(visit_ids):
        row = found.get(visit_id)
        if visit_id in seen:
            message = "is listed twice"
        elif row is None:
            message = "no such visit"
        elif row.status is not V.PLANNED:
            message = f"the visit is {row.status}; only planned visits can be inserted"
        elif not (row.window_starts_at < ends_at and row.window_ends_at > origin_at):
            message = "the visit's time window is not on the plan's day"
        elif row.is_unlocated:
            message = "the visit's site has no coordinates (unlocated); set its location first"
        else:
            seen.add(visit_id)
            continue
        seen.add(visit_id)
        problems.append({"field": f"visit_ids[{k}]", "message": message})
    if problems:
        raise ValidationFailed(
            "; ".join(f"{p['field']}: {p['message']}" for p in problems), details=problems
        )


async def time_left_on_site(
    session: AsyncSession,
    visits: list[solver.Visit],
    field: dict[str, list[FieldVisit]],
    now: datetime,
) -> list[solver.Visit]:
    """Visits being worked on need only what is left of their estimate."""
    on_site = [uuid.UUID(v.id) for items in field.values() for v in items if v.status is V.ON_SITE]
    if not on_site:
        return visits
    arrived = await session.execute(
        select(VisitStatusEvent.visit_id, func.max(VisitStatusEvent.occurred_at))
        .where(VisitStatusEvent.visit_id.in_(on_site), VisitStatusEvent.to_status == V.ON_SITE)
        .group_by(VisitStatusEvent.visit_id)
    )
    worked = {
        str(visit_id): max(0, math.floor((now - at).total_seconds() / 60))
        for visit_id, at in arrived.all()
    }
    return [
        msgspec.structs.replace(v, service_minutes=max(1, v.service_minutes - worked[v.id]))
        if v.id in worked
        else v
        for v in visits
    ]


async def engineer_progress(
    session: AsyncSession,
    engineers: Sequence[solver.Engineer],
    field: dict[str, list[FieldVisit]],
    origin_at: datetime,
    now: datetime,
) -> list[solver.EngineerProgress]:
    """Where each engineer stands now: done and under-way visits, position, free from."""
    now_minute = max(0, solver.minutes_since(origin_at, now))
    seen_rows = await session.execute(
        select(Engineer.id, Engineer.last_location, Engineer.last_location_at).where(
            Engineer.id.in_({uuid.UUID(engineer_of(e.id)) for e in engineers})
        )
    )
    last_seen = {
        str(row.id): solver_location(row.last_location)
        for row in seen_rows.all()
        # A position from an earlier day says nothing about this one.
        if row.last_location is not None
        and row.last_location_at is not None
        and row.last_location_at >= origin_at
    }
    progress: list[solver.EngineerProgress] = []
    for engineer in engineers:
        visits = field.get(engineer.id, [])
        done = sorted(
            (v for v in visits if v.status is V.COMPLETED),
            key=lambda v: (v.completed_at or origin_at, v.route_position),
        )
        under_way = sorted(
            (v for v in visits if v.status in UNDER_WAY),
            key=lambda v: (UNDER_WAY.index(v.status), v.route_position),
        )
        if not done and not under_way and now_minute <= engineer.shift_start_minute:
            continue
        on_site = [v for v in under_way if v.status is V.ON_SITE]
        if on_site:
            position = on_site[0].location
        elif engineer_of(engineer.id) in last_seen:
            position = last_seen[engineer_of(engineer.id)]
        elif done:
            position = done[-1].location
        else:
            position = engineer.start_location
        progress.append(
            solver.EngineerProgress(
                engineer_id=engineer.id,
                current_location=position,
                available_from_minute=now_minute,
                done_visit_ids=tuple(v.id for v in done),
                started_visit_ids=tuple(v.id for v in under_way),
            )
        )
    return progress
