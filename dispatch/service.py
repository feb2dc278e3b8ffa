"""Dispatch: draft a day's routes with the solver, then commit them as visit assignments."""

from __future__ import annotations

import functools
import itertools
import math
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import anyio.to_thread
import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import solver
from dispatch.models import DispatchPlan, DispatchPlanStatus
from fsm.auth.principal import Principal
from fsm.db import utcnow
from fsm.engineers.models import Engineer
from fsm.errors import Conflict, DomainError, InvalidState, NotFound, field_error
from fsm.geo import from_db_point
from fsm.settings import SolverSettings
from fsm.sites.models import Site
from fsm.users.models import User
from fsm.visits.models import Visit, VisitStatus
from fsm.visits.service import VisitService
from fsm.workorders.models import WorkOrder

DAY_MINUTES = 24 * 60


class DispatchPlanNotFound(NotFound):
    """No such dispatch plan."""


class PlanOutdated(Conflict):
    """Visits changed after the draft was made; draft again."""


class PlanNotDraft(InvalidState):
    """Only a draft plan can be committed."""


class NoEngineersOnShift(InvalidState):
    """Nobody chosen works that day, so there is nothing to plan with."""


def _location(point: Any) -> solver.Location:
    geo = from_db_point(point)
    if geo is None:
        raise ValueError("a dispatch location is missing")
    return solver.Location(lat=geo.lat, lon=geo.lon)


def _clip(minute: int) -> int:
    return max(0, min(DAY_MINUTES, minute))


def route_plan_of(plan: DispatchPlan) -> solver.RoutePlan | None:
    """The solver's plan stored on a dispatch plan (None for a failed run)."""
    if "metrics" not in plan.plan:
        return None
    return msgspec.json.decode(msgspec.json.encode(plan.plan), type=solver.RoutePlan)


class DispatchService:
    """Day plans for dispatchers: draft with the solver, commit through the visit service."""

    def __init__(
        self,
        session: AsyncSession,
        visits: VisitService,
        solver_settings: SolverSettings,
        *,
        search: solver.SearchSettings | None = None,
    ) -> None:
        self.session = session
        self.visits = visits
        self.solver_settings = solver_settings
        self.search = search

    async def get(self, plan_id: uuid.UUID, *, for_update: bool = False) -> DispatchPlan:
        """One plan."""
        stmt = select(DispatchPlan).where(DispatchPlan.id == plan_id)
        if for_update:
            stmt = stmt.with_for_update()
        plan = (await self.session.scalars(stmt)).one_or_none()
        if plan is None:
            raise DispatchPlanNotFound(f"dispatch plan {plan_id} not found")
        return plan

    async def draft(
        self,
        day: date,
        timezone: str,
        *,
        actor: Principal,
        engineer_ids: Sequence[uuid.UUID] | None = None,
        time_limit_s: int | None = None,
    ) -> DispatchPlan:
        """Plan the day's open visits over the engineers on shift and keep it as a draft."""
        limit = self.solver_settings.time_limit_s
        if time_limit_s is not None:
            if not 1 <= time_limit_s <= limit:
                raise field_error("time_limit_s", f"must be between 1 and {limit}")
            limit = time_limit_s
        origin_at = datetime.combine(day, time(), ZoneInfo(timezone))
        engineers = await self._engineers(day, origin_at, engineer_ids)
        if not engineers:
            raise NoEngineersOnShift(f"no chosen engineer works on {day.isoformat()}")
        visits, versions = await self._visits(origin_at)
        problem = solver.RoutingProblem(
            engineers=tuple(engineers), visits=tuple(visits), origin_at=origin_at
        )
        plan = DispatchPlan(
            day=day,
            timezone=timezone,
            status=DispatchPlanStatus.DRAFT,
            engineer_ids=[e.id for e in engineers],
            visit_versions=versions,
            created_by_id=actor.user_id,
            created_at=utcnow(),
        )
        try:
            result = await anyio.to_thread.run_sync(
                functools.partial(
                    solver.solve,
                    problem,
                    time_limit_s=limit,
                    travel=self._travel(),
                    search=self.search,
                )
            )
        except (solver.NoPlanFound, solver.TravelMatrixError) as exc:
            plan.status = DispatchPlanStatus.FAILED
            plan.plan = {"error": str(exc)}
        else:
            plan.plan = msgspec.json.decode(msgspec.json.encode(result))
        self.session.add(plan)
        await self.session.commit()
        return plan

    def _travel(self) -> solver.TravelProvider:
        settings = self.solver_settings
        if settings.osrm_url:
            return solver.OsrmTravel(base_url=settings.osrm_url)
        return solver.HaversineTravel(
            road_factor=settings.road_factor, speed_kmh=settings.average_speed_kmh
        )

    async def _engineers(
        self, day: date, origin_at: datetime, engineer_ids: Sequence[uuid.UUID] | None
    ) -> list[solver.Engineer]:
        stmt = (
            select(Engineer)
            .join(User, Engineer.user_id == User.id)
            .where(User.is_active.is_(True))
            .order_by(Engineer.id)
        )
        if engineer_ids is not None:
            stmt = stmt.where(Engineer.id.in_(engineer_ids))
        result: list[solver.Engineer] = []
        for engineer in (await self.session.scalars(stmt)).all():
            zone = ZoneInfo(engineer.timezone)
            # Shifts are local to the engineer; the weekday is the planned day's.
            stretches = sorted(
                (
                    solver.minutes_since(origin_at, datetime.combine(day, s.starts_at, zone)),
                    solver.minutes_since(origin_at, datetime.combine(day, s.ends_at, zone)),
                )
                for s in engineer.shifts
                if s.weekday == day.weekday()
            )
            if not stretches:
                continue
            # Gaps between stretches of a split shift are unpaid breaks at fixed times.
            breaks = tuple(
                solver.ShiftBreak(
                    earliest_start_minute=end,
                    latest_start_minute=end,
                    duration_minutes=next_start - end,
                )
                for (_, end), (next_start, _) in itertools.pairwise(stretches)
                if next_start > end
            )
            result.append(
                solver.Engineer(
                    id=str(engineer.id),
                    start_location=_location(engineer.home_base),
                    shift_start_minute=stretches[0][0],
                    shift_end_minute=max(end for _, end in stretches),
                    skills=frozenset(s.code for s in engineer.skills),
                    breaks=breaks,
                    max_visits=engineer.max_visits_per_day,
                )
            )
        return result

    async def _visits(self, origin_at: datetime) -> tuple[list[solver.Visit], dict[str, int]]:
        ends_at = origin_at + timedelta(days=1)
        stmt = (
            select(Visit, WorkOrder, Site.location)
            .join(WorkOrder, Visit.work_order_id == WorkOrder.id)
            .join(Site, WorkOrder.site_id == Site.id)
            .where(
                Visit.status == VisitStatus.PLANNED,
                Visit.window_starts_at < ends_at,
                Visit.window_ends_at > origin_at,
            )
            .order_by(Visit.window_starts_at, Visit.id)
        )
        visits: list[solver.Visit] = []
        versions: dict[str, int] = {}
        for visit, work_order, location in (await self.session.execute(stmt)).all():
            # The visit window is when work may start on site, clipped to the planned day.
            window = solver.TimeWindow(
                start_minute=_clip(solver.minutes_since(origin_at, visit.window_starts_at)),
                end_minute=_clip(solver.minutes_since(origin_at, visit.window_ends_at)),
            )
            due_at = work_order.sla_next_due_at or work_order.resolution_due_at
            visits.append(
                solver.Visit(
                    id=str(visit.id),
                    location=_location(location),
                    service_minutes=visit.estimated_minutes,
                    time_windows=(window,),
                    required_skills=frozenset(s.code for s in visit.required_skills),
                    priority=solver.Priority(work_order.priority.value),
                    sla_deadline_minute=(
                        max(0, solver.minutes_since(origin_at, due_at)) if due_at else None
                    ),
                )
            )
            versions[str(visit.id)] = visit.version
        return visits, versions

    async def commit(self, plan_id: uuid.UUID, *, actor: Principal) -> DispatchPlan:
        """Assign every routed visit as planned, all or nothing.

        Raises:
            PlanOutdated: a visit of the plan changed since the draft (409 `plan_outdated`).
        """
        try:
            plan = await self.get(plan_id, for_update=True)
            if plan.status is not DispatchPlanStatus.DRAFT:
                raise PlanNotDraft(
                    f"a {plan.status} plan cannot be committed",
                    details={"status": plan.status.value},
                )
            routes = route_plan_of(plan)
            await self._check_current(plan)
            for route in routes.routes if routes else ():
                for position, stop in enumerate(route.stops, start=1):
                    await self.visits.assign(
                        uuid.UUID(stop.visit_id),
                        uuid.UUID(route.engineer_id),
                        actor=actor,
                        planned_start_at=stop.start_at,
                        route_position=position,
                    )
            plan.status = DispatchPlanStatus.COMMITTED
            plan.committed_at = utcnow()
            await self._supersede_other_drafts(plan)
            await self.session.commit()
        except DomainError:
            await self.session.rollback()
            raise
        return plan

    async def map_svg(self, plan_id: uuid.UUID) -> str:
        """The plan drawn as an SVG map of homes, sites, routes and dropped visits."""
        plan = await self.get(plan_id)
        visit_ids = [uuid.UUID(v) for v in plan.visit_versions]
        site_rows = await self.session.execute(
            select(Visit.id, Site.location)
            .join(WorkOrder, Visit.work_order_id == WorkOrder.id)
            .join(Site, WorkOrder.site_id == Site.id)
            .where(Visit.id.in_(visit_ids))
        )
        sites = {str(row.id): _location(row.location) for row in site_rows.all()}
        home_rows = await self.session.execute(
            select(Engineer.id, Engineer.home_base).where(
                Engineer.id.in_([uuid.UUID(e) for e in plan.engineer_ids])
            )
        )
        homes = {str(row.id): _location(row.home_base) for row in home_rows.all()}
        return plan_map_svg(route_plan_of(plan), sites, homes)

    async def _check_current(self, plan: DispatchPlan) -> None:
        ids = [uuid.UUID(v) for v in plan.visit_versions]
        stmt = (
            select(Visit.id, Visit.version, Visit.status).where(Visit.id.in_(ids)).with_for_update()
        )
        current = {str(row.id): row for row in (await self.session.execute(stmt)).all()}
        changed = sorted(
            visit_id
            for visit_id, version in plan.visit_versions.items()
            if visit_id not in current
            or current[visit_id].version != version
            or current[visit_id].status is not VisitStatus.PLANNED
        )
        if changed:
            raise PlanOutdated(
                f"{len(changed)} visit(s) changed since the draft; draft the day again",
                details={"visit_ids": changed},
            )

    async def _supersede_other_drafts(self, plan: DispatchPlan) -> None:
        stmt = select(DispatchPlan).where(
            DispatchPlan.day == plan.day,
            DispatchPlan.status == DispatchPlanStatus.DRAFT,
            DispatchPlan.id != plan.id,
        )
        for other in (await self.session.scalars(stmt)).all():
            other.status = DispatchPlanStatus.SUPERSEDED
        await self.session.flush()


_ROUTE_COLOURS = (
    "#1f77b4",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)
_MAP_WIDTH = 800
_MAP_HEIGHT = 600
_MAP_MARGIN = 30


def plan_map_svg(
    routes: solver.RoutePlan | None,
    sites: dict[str, solver.Location],
    homes: dict[str, solver.Location],
) -> str:
    """An SVG map of a plan: homes as squares, sites as circles, one line per route in order.

    Dropped visits carry a red cross. Points are projected equirectangularly, which is true
    enough at the scale of one region's day.
    """
    points = [*sites.values(), *homes.values()]
    if points:
        min_lat, max_lat = min(p.lat for p in points), max(p.lat for p in points)
        min_lon, max_lon = min(p.lon for p in points), max(p.lon for p in points)
    else:
        min_lat = max_lat = min_lon = max_lon = 0.0
    stretch = math.cos(math.radians((min_lat + max_lat) / 2))
    span_x = max((max_lon - min_lon) * stretch, 1e-9)
    span_y = max(max_lat - min_lat, 1e-9)
    scale = min((_MAP_WIDTH - 2 * _MAP_MARGIN) / span_x, (_MAP_HEIGHT - 2 * _MAP_MARGIN) / span_y)

    def xy(p: solver.Location) -> tuple[float, float]:
        x = _MAP_MARGIN + (p.lon - min_lon) * stretch * scale
        y = _MAP_MARGIN + (max_lat - p.lat) * scale
        return round(x, 1), round(y, 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_MAP_WIDTH}" '
        f'height="{_MAP_HEIGHT}" viewBox="0 0 {_MAP_WIDTH} {_MAP_HEIGHT}">'
    ]
    colour_of: dict[str, str] = {}
    for k, route in enumerate(routes.routes if routes else ()):
        colour = _ROUTE_COLOURS[k % len(_ROUTE_COLOURS)]
        home = homes.get(route.engineer_id)
        path = [home] if home else []
        path += [sites[s.visit_id] for s in route.stops if s.visit_id in sites]
        if home:
            path.append(home)
        for stop in route.stops:
            colour_of[stop.visit_id] = colour
        coords = " ".join(f"{x},{y}" for x, y in map(xy, path))
        parts.append(
            f'<polyline class="route" data-engineer-id="{escape(route.engineer_id)}" '
            f'points="{coords}" fill="none" stroke="{colour}" stroke-width="3"/>'
        )
    for engineer_id, home in homes.items():
        x, y = xy(home)
        parts.append(
            f'<rect class="home" x="{x - 6}" y="{y - 6}" width="12" height="12" fill="#333">'
            f"<title>engineer {escape(engineer_id)}</title></rect>"
        )
    for visit_id, site in sites.items():
        x, y = xy(site)
        colour = colour_of.get(visit_id, "#ffffff")
        parts.append(
            f'<circle class="site" cx="{x}" cy="{y}" r="6" fill="{colour}" stroke="#333">'
            f"<title>visit {escape(visit_id)}</title></circle>"
        )
    for dropped in routes.dropped if routes else ():
        if dropped.visit_id not in sites:
            continue
        x, y = xy(sites[dropped.visit_id])
        parts.append(
            f'<g class="dropped" stroke="#d62728" stroke-width="3">'
            f"<title>{escape(dropped.visit_id)}: {escape(dropped.reason.value)}</title>"
            f'<line x1="{x - 8}" y1="{y - 8}" x2="{x + 8}" y2="{y + 8}"/>'
            f'<line x1="{x - 8}" y1="{y + 8}" x2="{x + 8}" y2="{y - 8}"/></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
