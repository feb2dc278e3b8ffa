"""Dispatch: draft a day's routes with the solver, insert urgent work into a running day, and
commit a draft as visit assignments.

Every run reads a snapshot (visits with their versions, engineers), lets go of the database
while the solver works, and stores the plan in a short transaction; in the background the
store happens in a task of its own (`dispatch.runs`).
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import solver
from dispatch.models import DispatchPlan, DispatchPlanKind, DispatchPlanStatus
from dispatch.runs import (
    DispatchRuns,
    SolveJob,
    fail_interrupted,
    finish_plan,
    progress_json,
    run_job,
)
from fsm.auth.principal import Principal
from fsm.db import utcnow
from fsm.engineers.models import Engineer
from fsm.errors import (
    Conflict,
    DomainError,
    InvalidState,
    NotFound,
    ValidationFailed,
    field_error,
)
from fsm.geo import from_db_point
from fsm.settings import SolverSettings
from fsm.sites.models import Site
from fsm.users.models import User
from fsm.visits.models import Visit, VisitStatus, VisitStatusEvent
from fsm.visits.service import StatusReport, VisitService
from fsm.workorders.models import WorkOrder

DAY_MINUTES = 24 * 60
V = VisitStatus
# Under way in the field, in the order an engineer works them: the current one first.
_UNDER_WAY = (V.ON_SITE, V.EN_ROUTE)


class DispatchPlanNotFound(NotFound):
    """No such dispatch plan."""


class PlanOutdated(Conflict):
    """Visits changed after the draft was made; draft again."""


class PlanNotDraft(InvalidState):
    """Only a draft plan can be committed."""


class NoEngineersOnShift(InvalidState):
    """Nobody chosen works that day, so there is nothing to plan with."""


class BasePlanNotCommitted(InvalidState):
    """Urgent visits go into the running day of a committed plan only."""


class PlanDayOver(InvalidState):
    """The plan's day has ended; nothing can be inserted into it any more."""


def _location(point: Any) -> solver.Location:
    geo = from_db_point(point)
    if geo is None:
        raise ValueError("a dispatch location is missing")
    return solver.Location(lat=geo.lat, lon=geo.lon)


def _clip(minute: int) -> int:
    return max(0, min(DAY_MINUTES, minute))


def route_plan_of(plan: DispatchPlan) -> solver.RoutePlan | None:
    """The solver's plan stored on a dispatch plan (None while solving or for a failed run)."""
    if "metrics" not in plan.plan:
        return None
    return msgspec.json.decode(msgspec.json.encode(plan.plan), type=solver.RoutePlan)


@dataclass(frozen=True, slots=True)
class _FieldVisit:
    """An already assigned visit as the field reports it."""

    id: str
    status: VisitStatus
    location: solver.Location
    route_position: int
    completed_at: datetime | None


class DispatchService:
    """Day plans for dispatchers: draft with the solver, commit through the visit service."""

    def __init__(
        self,
        session: AsyncSession,
        visits: VisitService,
        solver_settings: SolverSettings,
        *,
        runs: DispatchRuns | None = None,
        search: solver.SearchSettings | None = None,
        travel: solver.TravelProvider | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session = session
        self.visits = visits
        self.solver_settings = solver_settings
        self.runs = runs
        self.search = search
        # None: from the settings (OSRM when configured, else straight lines).
        self.travel = travel
        self.clock = clock

    async def get(self, plan_id: uuid.UUID, *, for_update: bool = False) -> DispatchPlan:
        """One plan; a run left `solving` past its budget and grace is reported failed."""
        stmt = select(DispatchPlan).where(DispatchPlan.id == plan_id)
        if for_update:
            stmt = stmt.with_for_update()
        plan = (await self.session.scalars(stmt)).one_or_none()
        if plan is None:
            raise DispatchPlanNotFound(f"dispatch plan {plan_id} not found")
        if plan.status is DispatchPlanStatus.SOLVING and not (
            self.runs is not None and plan.id in self.runs.running
        ):
            failed = await fail_interrupted(
                self.session,
                grace_s=self.solver_settings.run_grace_s,
                now=self.clock(),
                plan_id=plan.id,
            )
            if failed:
                await self.session.refresh(plan)
        return plan

    def _time_limit(self, asked: int | None) -> int:
        settings = self.solver_settings
        most = max(settings.max_time_limit_s, settings.time_limit_s)
        if asked is None:
            return settings.time_limit_s
        if not 1 <= asked <= most:
            raise field_error("time_limit_s", f"must be between 1 and {most}")
        return asked

    async def draft(
        self,
        day: date,
        timezone: str,
        *,
        actor: Principal,
        engineer_ids: Sequence[uuid.UUID] | None = None,
        time_limit_s: int | None = None,
        background: bool | None = None,
    ) -> DispatchPlan:
        """Plan the day's open visits over the engineers on shift and keep it as a draft.

        In the background (asked, or by default when the budget exceeds the sync limit) the
        plan comes back `solving` and becomes a draft when the run ends.
        """
        limit = self._time_limit(time_limit_s)
        origin_at = datetime.combine(day, time(), ZoneInfo(timezone))
        engineers = await self._engineers(day, origin_at, engineer_ids)
        if not engineers:
            raise NoEngineersOnShift(f"no chosen engineer works on {day.isoformat()}")
        visits, versions = await self._planned_visits(origin_at)
        problem = solver.RoutingProblem(
            engineers=tuple(engineers), visits=tuple(visits), origin_at=origin_at
        )
        plan = DispatchPlan(
            kind=DispatchPlanKind.DAY,
            day=day,
            timezone=timezone,
            status=DispatchPlanStatus.DRAFT,
            engineer_ids=[e.id for e in engineers],
            visit_versions=versions,
            created_by_id=actor.user_id,
        )
        travel, search = self._travel(), self.search

        def job(live: solver.SearchProgress) -> solver.RoutePlan:
            return solver.solve(
                problem, time_limit_s=limit, travel=travel, search=search, search_progress=live
            )

        return await self._run(plan, job, limit, background)

    async def insert(
        self,
        base_plan_id: uuid.UUID,
        visit_ids: Sequence[uuid.UUID],
        *,
        actor: Principal,
        time_limit_s: int | None = None,
        background: bool | None = None,
    ) -> DispatchPlan:
        """Re-plan a committed plan's running day around urgent visits, as a new draft.

        Finished visits keep their place, visits under way stay first with their engineer,
        who starts from where they were last seen; the other assigned visits may be
        re-sequenced, and move to another engineer only when the search finds it worth it.

        Raises:
            BasePlanNotCommitted: the base plan is a draft, superseded or failed (409).
            PlanDayOver: the plan's day has ended (409).
            ValidationFailed: a visit is unknown, not `planned` or not on that day (422).
        """
        limit = self._time_limit(time_limit_s)
        base = await self.get(base_plan_id)
        committed = route_plan_of(base)
        if base.status is not DispatchPlanStatus.COMMITTED or committed is None:
            raise BasePlanNotCommitted(
                f"urgent visits go into a committed plan; this one is {base.status}",
                details={"status": base.status.value},
            )
        origin_at = datetime.combine(base.day, time(), ZoneInfo(base.timezone))
        if self.clock() >= origin_at + timedelta(days=1):
            raise PlanDayOver(f"{base.day.isoformat()} is over", details={"day": str(base.day)})
        await self._check_insertable(visit_ids, origin_at)
        engineers = await self._engineers(
            base.day, origin_at, [uuid.UUID(e) for e in base.engineer_ids]
        )
        if not engineers:
            raise NoEngineersOnShift(f"nobody of the plan works on {base.day.isoformat()}")
        on_plan = {e.id for e in engineers}
        inserted = {str(v) for v in visit_ids}
        base_ids = {uuid.UUID(s.visit_id) for r in committed.routes for s in r.stops}
        ends_at = origin_at + timedelta(days=1)
        rows = await self._visit_rows(
            or_(
                Visit.id.in_({*visit_ids, *base_ids}),
                # Work given to the plan's engineers by hand after the commit counts too.
                and_(
                    Visit.engineer_id.in_([uuid.UUID(e) for e in on_plan]),
                    Visit.status.in_([V.ASSIGNED, *_UNDER_WAY, V.COMPLETED]),
                    Visit.planned_start_at >= origin_at,
                    Visit.planned_start_at < ends_at,
                ),
            )
        )
        visits: list[solver.Visit] = []
        versions: dict[str, int] = {}
        field: dict[str, list[_FieldVisit]] = defaultdict(list)
        for visit, work_order, location in rows:
            key = str(visit.id)
            owner = str(visit.engineer_id) if visit.engineer_id else None
            if key not in inserted and (
                owner not in on_plan
                or visit.status is V.PLANNED
                # Moved to another day by hand since the commit.
                or not (
                    visit.planned_start_at is None or origin_at <= visit.planned_start_at < ends_at
                )
            ):
                continue
            if visit.status is V.CANCELLED:
                continue
            versions[key] = visit.version
            if visit.status is not V.COMPLETED:
                visits.append(self._solver_visit(visit, work_order, location, origin_at))
            if owner is not None and visit.status is not V.PLANNED:
                field[owner].append(
                    _FieldVisit(
                        id=key,
                        status=visit.status,
                        location=_location(location),
                        route_position=visit.route_position or 0,
                        completed_at=visit.completed_at,
                    )
                )
        visits = await self._less_time_left_on_site(visits, field)
        progress = await self._progress(engineers, field, origin_at)
        problem = solver.RoutingProblem(
            engineers=tuple(engineers), visits=tuple(visits), origin_at=origin_at
        )
        # The committed routes as the field has them now: each visit on its engineer's route.
        owner_of = {v.id: owner for owner, items in field.items() for v in items}
        committed = msgspec.structs.replace(
            committed,
            routes=tuple(
                msgspec.structs.replace(
                    route,
                    stops=tuple(
                        s for s in route.stops if owner_of.get(s.visit_id) == route.engineer_id
                    ),
                )
                for route in committed.routes
            ),
        )
        plan = DispatchPlan(
            kind=DispatchPlanKind.INSERT,
            base_plan_id=base.id,
            day=base.day,
            timezone=base.timezone,
            status=DispatchPlanStatus.DRAFT,
            engineer_ids=[e.id for e in engineers],
            visit_versions=versions,
            created_by_id=actor.user_id,
        )
        travel, search = self._travel(), self.search

        def job(live: solver.SearchProgress) -> solver.RoutePlan:
            return solver.replan(
                problem,
                committed,
                progress,
                time_limit_s=limit,
                travel=travel,
                search=search,
                search_progress=live,
            )

        return await self._run(plan, job, limit, background)

    async def _run(
        self, plan: DispatchPlan, job: SolveJob, time_limit_s: int, background: bool | None
    ) -> DispatchPlan:
        # The snapshot is read: end its transaction so no connection waits on the solver.
        await self.session.commit()
        if background is None:
            background = time_limit_s > self.solver_settings.sync_limit_s
        now = self.clock()
        plan.created_at = now
        if background:
            if self.runs is None:
                raise RuntimeError("background runs need a DispatchRuns")
            plan.status = DispatchPlanStatus.SOLVING
            plan.solve_until_at = now + timedelta(seconds=time_limit_s)
            plan.progress = progress_json(time_limit_s, 0.0, None)
            self.session.add(plan)
            await self.session.commit()
            self.runs.start(plan.id, job, time_limit_s=time_limit_s)
            return plan
        live = solver.SearchProgress()
        outcome = await run_job(job, live)
        finish_plan(plan, outcome)
        elapsed = (self.clock() - now).total_seconds()
        plan.progress = progress_json(time_limit_s, elapsed, live)
        self.session.add(plan)
        await self.session.commit()
        return plan

    def _travel(self) -> solver.TravelProvider:
        if self.travel is not None:
            return self.travel
        settings = self.solver_settings
        if settings.osrm_url:
            return solver.OsrmTravel(base_url=settings.osrm_url)
        return solver.HaversineTravel(
            road_factor=settings.road_factor, speed_kmh=settings.average_speed_kmh
        )

    async def _check_insertable(self, visit_ids: Sequence[uuid.UUID], origin_at: datetime) -> None:
        ends_at = origin_at + timedelta(days=1)
        stmt = select(Visit.id, Visit.status, Visit.window_starts_at, Visit.window_ends_at).where(
            Visit.id.in_(set(visit_ids))
        )
        found = {row.id: row for row in (await self.session.execute(stmt)).all()}
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
            else:
                seen.add(visit_id)
                continue
            seen.add(visit_id)
            problems.append({"field": f"visit_ids[{k}]", "message": message})
        if problems:
            raise ValidationFailed(
                "; ".join(f"{p['field']}: {p['message']}" for p in problems), details=problems
            )

    async def _less_time_left_on_site(
        self, visits: list[solver.Visit], field: dict[str, list[_FieldVisit]]
    ) -> list[solver.Visit]:
        """Visits being worked on need only what is left of their estimate."""
        on_site = [
            uuid.UUID(v.id) for items in field.values() for v in items if v.status is V.ON_SITE
        ]
        if not on_site:
            return visits
        arrived = await self.session.execute(
            select(VisitStatusEvent.visit_id, func.max(VisitStatusEvent.occurred_at))
            .where(
                VisitStatusEvent.visit_id.in_(on_site),
                VisitStatusEvent.to_status == V.ON_SITE,
            )
            .group_by(VisitStatusEvent.visit_id)
        )
        now = self.clock()
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

    async def _progress(
        self,
        engineers: Sequence[solver.Engineer],
        field: dict[str, list[_FieldVisit]],
        origin_at: datetime,
    ) -> list[solver.EngineerProgress]:
        """Where each engineer stands now: done and under-way visits, position, free from."""
        now_minute = max(0, solver.minutes_since(origin_at, self.clock()))
        seen_rows = await self.session.execute(
            select(Engineer.id, Engineer.last_location, Engineer.last_location_at).where(
                Engineer.id.in_([uuid.UUID(e.id) for e in engineers])
            )
        )
        last_seen = {
            str(row.id): _location(row.last_location)
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
                (v for v in visits if v.status in _UNDER_WAY),
                key=lambda v: (_UNDER_WAY.index(v.status), v.route_position),
            )
            if not done and not under_way and now_minute <= engineer.shift_start_minute:
                continue
            on_site = [v for v in under_way if v.status is V.ON_SITE]
            if on_site:
                position = on_site[0].location
            elif engineer.id in last_seen:
                position = last_seen[engineer.id]
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

    async def _visit_rows(self, condition: Any) -> Sequence[Any]:
        stmt = (
            select(Visit, WorkOrder, Site.location)
            .join(WorkOrder, Visit.work_order_id == WorkOrder.id)
            .join(Site, WorkOrder.site_id == Site.id)
            .where(condition)
            .order_by(Visit.window_starts_at, Visit.id)
        )
        return (await self.session.execute(stmt)).all()

    async def _planned_visits(
        self, origin_at: datetime
    ) -> tuple[list[solver.Visit], dict[str, int]]:
        ends_at = origin_at + timedelta(days=1)
        rows = await self._visit_rows(
            and_(
                Visit.status == V.PLANNED,
                Visit.window_starts_at < ends_at,
                Visit.window_ends_at > origin_at,
            )
        )
        visits = [self._solver_visit(v, order, location, origin_at) for v, order, location in rows]
        return visits, {str(v.id): v.version for v, _, _ in rows}

    @staticmethod
    def _solver_visit(
        visit: Visit, work_order: WorkOrder, location: Any, origin_at: datetime
    ) -> solver.Visit:
        # The visit window is when work may start on site, clipped to the planned day.
        window = solver.TimeWindow(
            start_minute=_clip(solver.minutes_since(origin_at, visit.window_starts_at)),
            end_minute=_clip(solver.minutes_since(origin_at, visit.window_ends_at)),
        )
        due_at = work_order.sla_next_due_at or work_order.resolution_due_at
        return solver.Visit(
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

    async def commit(self, plan_id: uuid.UUID, *, actor: Principal) -> DispatchPlan:
        """Assign every routed visit as planned, all or nothing.

        An insert plan also re-sequences and moves visits already assigned, sends the ones it
        leaves out back to `planned`, and supersedes its base plan; visits finished or under
        way stay as the field has them.

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
            current = await self._check_current(plan)
            for route in routes.routes if routes else ():
                engineer_id = uuid.UUID(route.engineer_id)
                for position, stop in enumerate(route.stops, start=1):
                    now = current[stop.visit_id]
                    if now.status not in (V.PLANNED, V.ASSIGNED):
                        continue
                    if (
                        now.status is V.ASSIGNED
                        and now.engineer_id == engineer_id
                        and now.planned_start_at == stop.start_at
                        and now.route_position == position
                    ):
                        continue
                    await self.visits.assign(
                        uuid.UUID(stop.visit_id),
                        engineer_id,
                        actor=actor,
                        planned_start_at=stop.start_at,
                        route_position=position,
                    )
            if plan.kind is DispatchPlanKind.INSERT:
                await self._release_dropped(routes, current, actor)
                await self._supersede_base(plan)
            plan.status = DispatchPlanStatus.COMMITTED
            plan.committed_at = utcnow()
            await self._supersede_other_drafts(plan)
            await self.session.commit()
        except DomainError:
            await self.session.rollback()
            raise
        return plan

    async def _release_dropped(
        self, routes: solver.RoutePlan | None, current: dict[str, Any], actor: Principal
    ) -> None:
        """Assigned visits the re-plan left out go back to the unassigned pool."""
        for dropped in routes.dropped if routes else ():
            if current[dropped.visit_id].status is V.ASSIGNED:
                await self.visits.report_status(
                    uuid.UUID(dropped.visit_id),
                    StatusReport(status=V.PLANNED, note="left out when urgent work was inserted"),
                    actor=actor,
                )

    async def _supersede_base(self, plan: DispatchPlan) -> None:
        if plan.base_plan_id is None:
            return
        base = await self.session.get(DispatchPlan, plan.base_plan_id, with_for_update=True)
        if base is not None and base.status is DispatchPlanStatus.COMMITTED:
            base.status = DispatchPlanStatus.SUPERSEDED

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

    async def _check_current(self, plan: DispatchPlan) -> dict[str, Any]:
        """Lock the plan's visits and refuse if any changed since the draft read them."""
        ids = [uuid.UUID(v) for v in plan.visit_versions]
        stmt = (
            select(
                Visit.id,
                Visit.version,
                Visit.status,
                Visit.engineer_id,
                Visit.planned_start_at,
                Visit.route_position,
            )
            .where(Visit.id.in_(ids))
            .with_for_update()
        )
        current = {str(row.id): row for row in (await self.session.execute(stmt)).all()}
        # A day plan only places unassigned visits; an insert plan knows every status it saw,
        # and the version moves with any change.
        must_be_planned = plan.kind is DispatchPlanKind.DAY
        changed = sorted(
            visit_id
            for visit_id, version in plan.visit_versions.items()
            if visit_id not in current
            or current[visit_id].version != version
            or (must_be_planned and current[visit_id].status is not V.PLANNED)
        )
        if changed:
            raise PlanOutdated(
                f"{len(changed)} visit(s) changed since the draft; draft the day again",
                details={"visit_ids": changed},
            )
        return current

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
