"""Dispatch: draft a day's routes with the solver, then commit them as visit assignments."""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
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
