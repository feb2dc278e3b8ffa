"""Dispatch: draft a day's routes with the solver, insert urgent work into a running day, and
commit a draft as visit assignments.

Every run reads a snapshot (visits with their versions, engineers), lets go of the database
while the solver works, and stores the plan in a short transaction; a background run is
stored with what it read and solved by a worker (`dispatch.runs`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import solver
from dispatch.availability import Stretch, available_stretches, start_windows
from dispatch.day import DayAnswer, HeldVisit, day_answer, day_order
from dispatch.field import (
    UNDER_WAY,
    FieldVisit,
    check_insertable,
    engineer_progress,
    solver_location,
    time_left_on_site,
)
from dispatch.models import DispatchPlan, DispatchPlanKind, DispatchPlanStatus
from dispatch.on_call import engineer_of, gaps_as_breaks, is_on_call, on_call_vehicle
from dispatch.plan_map import plan_map_svg
from dispatch.runs import (
    INTERRUPTED,
    SolveRequest,
    admit,
    fail_interrupted,
    finish_plan,
    is_interrupted,
    progress_json,
    run_in_thread,
    travel_of,
)
from equipment.service_periods.models import ServicePeriod
from fsm.auth.principal import Principal
from fsm.db import end_reads, utcnow
from fsm.engineers.absences import absences_between
from fsm.engineers.models import Engineer
from fsm.engineers.on_call import on_call_between
from fsm.errors import (
    Conflict,
    InvalidState,
    NotFound,
    field_error,
)
from fsm.geo import from_db_point
from fsm.schemas import PLANNING_FROM, PLANNING_UNTIL
from fsm.settings import SolverSettings
from fsm.sites.closures import closed_between
from fsm.sites.models import Site
from fsm.users.models import User
from fsm.visits.service import StatusReport, VisitService
from fsm.workorders.models import Priority, WorkOrder
from fsm.workorders.visit_models import Visit, VisitStatus

DAY_MINUTES = 24 * 60
# A site's time zone, opening hours and closed spans (closure days), as planning reads them.
SiteHours = tuple[str, list[dict[str, Any]], list[tuple[datetime, datetime]]]
# What moving a visit an engineer already holds costs a plan, in minutes of travel: large, so
# a re-draft of a settled day changes little (settable per plan).
DEFAULT_STABILITY_COST = 240
V = VisitStatus
# Where the field takes a visit once it is under way; a plan never undoes these.
FIELD_FLOW = (V.EN_ROUTE, V.ON_SITE, V.COMPLETED)


class DispatchPlanNotFound(NotFound):
    """No such dispatch plan."""


class PlanOutdated(Conflict):
    """Visits the commit would change (or the field is working) changed in a way the draft
    did not foresee; draft again."""


class PlanNotDraft(InvalidState):
    """Only a draft plan can be committed."""


class NoEngineersOnShift(InvalidState):
    """Nobody chosen works that day, so there is nothing to plan with."""


class BasePlanNotCommitted(InvalidState):
    """Urgent visits go into the running day of a committed plan only."""


class PlanDayOver(InvalidState):
    """The plan's day has ended; nothing can be inserted into it any more."""


def _clip(minute: int) -> int:
    return max(0, min(DAY_MINUTES, minute))


def route_plan_of(plan: DispatchPlan) -> solver.RoutePlan | None:
    """The solver's plan stored on a dispatch plan (None while solving or for a failed run)."""
    if "metrics" not in plan.plan:
        return None
    return msgspec.json.decode(msgspec.json.encode(plan.plan), type=solver.RoutePlan)


def day_answer_of(plan: DispatchPlan) -> DayAnswer | None:
    """The plan read against the day it started from (None while solving or when failed)."""
    routes = route_plan_of(plan)
    if routes is None or plan.day_before is None:
        return None
    before = msgspec.convert(plan.day_before, type=dict[str, HeldVisit], strict=False)
    return day_answer(before, routes, plan.engineer_ids)


def _held(visit: Visit) -> HeldVisit:
    return HeldVisit(
        status=visit.status,
        engineer_id=str(visit.engineer_id) if visit.engineer_id else None,
        planned_start_at=visit.planned_start_at,
        completed_at=visit.completed_at,
        locked_engineer_id=str(visit.locked_engineer_id) if visit.locked_engineer_id else None,
        locked_start_at=visit.locked_start_at,
    )


def _day_before(visits: Sequence[Visit]) -> dict[str, Any]:
    return {str(v.id): msgspec.to_builtins(_held(v)) for v in visits}


def _was_held(plan: DispatchPlan, visit_id: str) -> bool:
    """Whether the visit was assigned when the plan was drafted (plans from before the day
    was recorded: whether it is an insert's)."""
    if plan.day_before is None:
        return plan.kind is DispatchPlanKind.INSERT
    before = plan.day_before.get(visit_id)
    return before is not None and before.get("status") == V.ASSIGNED.value


class DispatchService:
    """Day plans for dispatchers: draft with the solver, commit through the visit service."""

    def __init__(
        self,
        session: AsyncSession,
        visits: VisitService,
        solver_settings: SolverSettings,
        *,
        search: solver.SearchSettings | None = None,
        travel: solver.TravelProvider | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session = session
        self.visits = visits
        self.solver_settings = solver_settings
        self.search = search
        # None: from the settings (OSRM when configured, else straight lines).
        self.travel = travel
        self.clock = clock

    async def get(self, plan_id: uuid.UUID, *, for_update: bool = False) -> DispatchPlan:
        """One plan; a run a dead process left `solving` reads as failed, interrupted.

        A read writes nothing: the plan is then handed out detached, with the failure its
        row gets from the worker's sweep. `for_update` (a change to follow) writes the
        failure at once.
        """
        stmt = select(DispatchPlan).where(DispatchPlan.id == plan_id)
        if for_update:
            stmt = stmt.with_for_update()
        plan = (await self.session.scalars(stmt)).one_or_none()
        if plan is None:
            raise DispatchPlanNotFound(f"dispatch plan {plan_id} not found")
        if plan.status is not DispatchPlanStatus.SOLVING:
            return plan
        now, grace_s = self.clock(), self.solver_settings.run_grace_s
        max_queue_s = self.solver_settings.max_time_limit_s
        if for_update:
            if await fail_interrupted(
                self.session, grace_s=grace_s, now=now, max_queue_s=max_queue_s, plan_id=plan.id
            ):
                await self.session.refresh(plan)
        elif await is_interrupted(
            self.session, plan.id, grace_s=grace_s, now=now, max_queue_s=max_queue_s
        ):
            self.session.expunge(plan)
            plan.status, plan.error, plan.finished_at = DispatchPlanStatus.FAILED, INTERRUPTED, now
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
        stability_cost: int = DEFAULT_STABILITY_COST,
    ) -> DispatchPlan:
        """Plan the whole day over the engineers on shift and keep it as a draft.

        The day is its `planned` visits and every visit the chosen engineers hold that day:
        assigned ones stay with their engineer and time unless moving one is worth its
        `stability_cost`; finished and started ones are fixed. Locks are kept.

        In the background (asked, or by default when the budget exceeds the sync limit) the
        plan comes back `solving` and becomes a draft when the run ends.
        """
        limit = self._time_limit(time_limit_s)
        if not PLANNING_FROM.date() <= day < PLANNING_UNTIL.date():
            raise field_error("day", "must lie between the years 2000 and 2199")
        origin_at = datetime.combine(day, time(), ZoneInfo(timezone))
        ends_at = origin_at + timedelta(days=1)
        engineers = await self._engineers(day, origin_at, engineer_ids)
        if not engineers:
            raise NoEngineersOnShift(f"no chosen engineer works on {day.isoformat()}")
        on_plan = {e.id for e in engineers}
        held = and_(
            Visit.status.in_([V.ASSIGNED, *UNDER_WAY, V.COMPLETED]),
            Visit.planned_start_at >= origin_at,
            Visit.planned_start_at < ends_at,
        )
        if engineer_ids is not None:
            held = and_(held, Visit.engineer_id.in_(engineer_ids))
        rows = await self._visit_rows(
            or_(
                and_(
                    Visit.status == V.PLANNED,
                    Visit.window_starts_at < ends_at,
                    Visit.window_ends_at > origin_at,
                ),
                held,
            )
        )
        visits: list[solver.Visit] = []
        field: dict[str, list[FieldVisit]] = defaultdict(list)
        day_rows: list[Visit] = []
        unlocated: list[solver.DroppedVisit] = []
        closures = await closed_between(
            self.session, [row.site_id for row in rows], origin_at, ends_at
        )
        for visit, work_order, location, period_ends_on, site_zone, opening_hours, site_id in rows:
            if location is None:
                # No coordinates: the solver cannot route it. A planned visit is named
                # dropped for that reason; held work there is left as it is.
                if visit.status is V.PLANNED:
                    unlocated.append(_unlocated(visit, work_order))
                continue
            owner = str(visit.engineer_id) if visit.engineer_id else None
            if visit.status in (*UNDER_WAY, V.COMPLETED):
                # Work in the field stays as it is; only its engineer's day counts it.
                if owner not in on_plan:
                    continue
                field[owner].append(self._field_visit(visit, location))
            day_rows.append(visit)
            if visit.status is not V.COMPLETED:
                routable = self._solver_visit(
                    visit,
                    work_order,
                    location,
                    origin_at,
                    period_ends_on,
                    site_hours=(site_zone, opening_hours, closures.get(site_id, [])),
                )
                if routable is None:
                    unlocated.append(_closed(visit, work_order))
                else:
                    visits.append(routable)
        now = self.clock()
        # Only a day under way has a now; another day is planned from its start.
        running = now if origin_at <= now < ends_at else origin_at
        visits = await time_left_on_site(self.session, visits, field, running)
        progress = await engineer_progress(self.session, engineers, field, origin_at, running)
        problem = solver.RoutingProblem(
            engineers=tuple(engineers),
            visits=tuple(visits),
            origin_at=origin_at,
            stability_cost=stability_cost,
        )
        plan = DispatchPlan(
            kind=DispatchPlanKind.DAY,
            day=day,
            timezone=timezone,
            status=DispatchPlanStatus.DRAFT,
            engineer_ids=[e.id for e in engineers],
            visit_versions={str(v.id): v.version for v in day_rows},
            day_before=_day_before(day_rows),
            created_by_id=actor.user_id,
        )
        request = SolveRequest(
            problem=problem,
            progress=tuple(progress),
            unlocated=tuple(unlocated),
            time_limit_s=limit,
        )
        return await self._run(plan, request, background)

    @staticmethod
    def _field_visit(visit: Visit, location: Any) -> FieldVisit:
        return FieldVisit(
            id=str(visit.id),
            status=visit.status,
            location=solver_location(location),
            route_position=visit.route_position or 0,
            completed_at=visit.completed_at,
        )

    async def insert(
        self,
        base_plan_id: uuid.UUID,
        visit_ids: Sequence[uuid.UUID],
        *,
        actor: Principal,
        time_limit_s: int | None = None,
        background: bool | None = None,
        stability_cost: int = DEFAULT_STABILITY_COST,
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
        await check_insertable(self.session, visit_ids, origin_at)
        engineers = await self._engineers(
            base.day, origin_at, [uuid.UUID(e) for e in base.engineer_ids]
        )
        if not engineers:
            raise NoEngineersOnShift(f"nobody of the plan works on {base.day.isoformat()}")
        inserted = {str(v) for v in visit_ids}
        # Engineers on call get a vehicle per duty when critical work is inserted, or when
        # the committed day already has work on an on-call route (it stays on that vehicle).
        base_on_call = {r.engineer_id for r in committed.routes if is_on_call(r.engineer_id)}
        on_call = (
            await self._on_call(base.day, origin_at)
            if base_on_call or await self._any_critical(visit_ids)
            else []
        )
        on_call_ids = {v.id for v in on_call}
        shift_ids = {e.id for e in engineers}
        on_plan = shift_ids | {engineer_of(v) for v in on_call_ids}
        # Which vehicle holds each visit of the committed day: a route's, while that vehicle
        # is in this problem too; else the engineer's shift, else their first duty left.
        committed_vehicle = {
            s.visit_id: r.engineer_id
            for r in committed.routes
            for s in r.stops
            if r.engineer_id in shift_ids | on_call_ids
        }
        first_duty: dict[str, str] = {}
        for duty in on_call:  # by engineer and start of duty
            first_duty.setdefault(engineer_of(duty.id), duty.id)

        def vehicle_of(visit_id: str, owner: str) -> str:
            vehicle = committed_vehicle.get(visit_id)
            if vehicle is not None and engineer_of(vehicle) == owner:
                return vehicle
            return owner if owner in shift_ids else first_duty.get(owner, owner)

        base_ids = {uuid.UUID(s.visit_id) for r in committed.routes for s in r.stops}
        ends_at = origin_at + timedelta(days=1)
        rows = await self._visit_rows(
            or_(
                Visit.id.in_({*visit_ids, *base_ids}),
                # Work given to the plan's engineers by hand after the commit counts too.
                and_(
                    Visit.engineer_id.in_([uuid.UUID(e) for e in on_plan]),
                    Visit.status.in_([V.ASSIGNED, *UNDER_WAY, V.COMPLETED]),
                    Visit.planned_start_at >= origin_at,
                    Visit.planned_start_at < ends_at,
                ),
            )
        )
        visits: list[solver.Visit] = []
        versions: dict[str, int] = {}
        day_rows: list[Visit] = []
        field: dict[str, list[FieldVisit]] = defaultdict(list)
        closed: list[solver.DroppedVisit] = []
        closures = await closed_between(
            self.session, [row.site_id for row in rows], origin_at, ends_at
        )
        for visit, work_order, location, period_ends_on, site_zone, opening_hours, site_id in rows:
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
            day_rows.append(visit)
            vehicle = vehicle_of(key, owner) if owner is not None else None
            if visit.status is not V.COMPLETED:
                routable = self._solver_visit(
                    visit,
                    work_order,
                    location,
                    origin_at,
                    period_ends_on,
                    site_hours=(site_zone, opening_hours, closures.get(site_id, [])),
                    vehicle=vehicle,
                )
                if routable is None:
                    closed.append(_closed(visit, work_order))
                else:
                    visits.append(routable)
            if vehicle is not None and visit.status is not V.PLANNED:
                field[vehicle].append(self._field_visit(visit, location))
        visits = await time_left_on_site(self.session, visits, field, self.clock())
        vehicles = (*engineers, *on_call)
        progress = await engineer_progress(self.session, vehicles, field, origin_at, self.clock())
        problem = solver.RoutingProblem(
            engineers=vehicles,
            visits=tuple(visits),
            origin_at=origin_at,
            stability_cost=stability_cost,
        )
        # The committed routes as the field has them now: each visit on its vehicle's route.
        owner_of = {v.id: vehicle for vehicle, items in field.items() for v in items}
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
            # The engineers on call count as the plan's: their day is numbered as a whole.
            engineer_ids=sorted(on_plan),
            visit_versions=versions,
            day_before=_day_before(day_rows),
            created_by_id=actor.user_id,
        )
        request = SolveRequest(
            problem=problem,
            committed=committed,
            progress=tuple(progress),
            unlocated=tuple(closed),
            time_limit_s=limit,
        )
        return await self._run(plan, request, background)

    async def _run(
        self, plan: DispatchPlan, request: SolveRequest, background: bool | None
    ) -> DispatchPlan:
        """Solve now, or store the run for a worker (its answer defers the job: `defer_run`)."""
        # The snapshot is read: end its transaction so no connection waits on the solver.
        await end_reads(self.session)
        time_limit_s = request.time_limit_s
        if background is None:
            background = time_limit_s > self.solver_settings.sync_limit_s
        now = self.clock()
        plan.created_at = now
        if background:
            await admit(self.session, self.solver_settings, now=now)
            plan.id = uuid.uuid4()
            plan.status = DispatchPlanStatus.SOLVING
            # Set by the worker when its thread starts: a run waiting for one is not late.
            plan.solve_until_at = None
            plan.progress = progress_json(time_limit_s, 0.0, None)
            plan.run_request = msgspec.to_builtins(request)
            self.session.add(plan)
            await self.session.flush()
            return plan
        live = solver.SearchProgress()
        outcome = await run_in_thread(request, live, travel=self._travel(), search=self.search)
        finish_plan(plan, outcome)
        elapsed = (self.clock() - now).total_seconds()
        plan.progress = progress_json(time_limit_s, elapsed, live)
        self.session.add(plan)
        await self.session.flush()
        return plan

    def _travel(self) -> solver.TravelProvider:
        return self.travel if self.travel is not None else travel_of(self.solver_settings)

    async def _active(self, engineer_ids: Iterable[uuid.UUID] | None) -> Sequence[Engineer]:
        """Engineers whose accounts are active (of these ids, or all), by id."""
        stmt = (
            select(Engineer)
            .join(User, Engineer.user_id == User.id)
            .where(User.is_active.is_(True))
            .order_by(Engineer.id)
        )
        if engineer_ids is not None:
            stmt = stmt.where(Engineer.id.in_(list(engineer_ids)))
        return (await self.session.scalars(stmt)).all()

    async def _engineers(
        self, day: date, origin_at: datetime, engineer_ids: Sequence[uuid.UUID] | None
    ) -> list[solver.Engineer]:
        result: list[solver.Engineer] = []
        candidates = await self._active(engineer_ids)
        # Shifts may run past midnight of the planned day; two days cover any of them.
        away = await absences_between(
            self.session, [e.id for e in candidates], origin_at, origin_at + timedelta(days=2)
        )
        for engineer in candidates:
            stretches = available_stretches(
                _shift_stretches(engineer, day, origin_at),
                _away_stretches(away.get(engineer.id, ()), origin_at),
            )
            if not stretches:
                continue
            breaks = gaps_as_breaks(stretches)
            result.append(
                solver.Engineer(
                    id=str(engineer.id),
                    start_location=solver_location(engineer.home_base),
                    shift_start_minute=stretches[0][0],
                    shift_end_minute=max(end for _, end in stretches),
                    skills=frozenset(s.code for s in engineer.skills),
                    breaks=breaks,
                    max_visits=engineer.max_visits_per_day,
                )
            )
        return result

    async def _any_critical(self, visit_ids: Sequence[uuid.UUID]) -> bool:
        """Whether any of these visits is of a critical work order."""
        found = await self.session.scalar(
            select(Visit.id)
            .join(WorkOrder, WorkOrder.id == Visit.work_order_id)
            .where(Visit.id.in_(visit_ids), WorkOrder.priority == Priority.CRITICAL)
            .limit(1)
        )
        return found is not None

    async def _on_call(self, day: date, origin_at: datetime) -> list[solver.Engineer]:
        """A vehicle for each engineer on call for the rest of the day (critical work only;
        see `dispatch.on_call`), outside their own shifts and absences."""
        now = max(self.clock(), origin_at)
        ends_at = origin_at + timedelta(days=1)
        duties = await on_call_between(self.session, now, ends_at)
        if not duties:
            return []
        engineers = {e.id: e for e in await self._active({d.engineer_id for d in duties})}
        away = await absences_between(self.session, engineers, origin_at, ends_at)
        vehicles = []
        for duty in duties:
            engineer = engineers.get(duty.engineer_id)
            if engineer is None:
                continue  # deactivated since the rota was made
            centre = from_db_point(duty.area_centre)
            held = frozenset(skill.code for skill in engineer.skills)
            vehicle = on_call_vehicle(
                str(engineer.id),
                str(duty.id),
                home=solver_location(engineer.home_base),
                duty=(
                    solver.minutes_since(origin_at, duty.starts_at),
                    solver.minutes_since(origin_at, min(duty.ends_at, ends_at)),
                ),
                busy=[
                    *_shift_stretches(engineer, day, origin_at),
                    *_away_stretches(away.get(engineer.id, ()), origin_at),
                ],
                # The duty's skills the engineer still holds (none named: all they hold).
                skills=frozenset(duty.skills or held) & held,
                area=solver.ServiceArea(
                    centre=solver.Location(lat=centre.lat, lon=centre.lon),
                    radius_km=float(duty.area_radius_km),
                )
                if centre is not None and duty.area_radius_km is not None
                else None,
                from_minute=solver.minutes_since(origin_at, now),
            )
            if vehicle is not None:
                vehicles.append(vehicle)
        return vehicles

    async def _visit_rows(self, condition: Any) -> Sequence[Any]:
        stmt = (
            select(
                Visit,
                WorkOrder,
                Site.location,
                ServicePeriod.ends_on,
                Site.timezone,
                Site.opening_hours,
                Site.id.label("site_id"),
            )
            .join(WorkOrder, Visit.work_order_id == WorkOrder.id)
            .join(Site, WorkOrder.site_id == Site.id)
            .outerjoin(ServicePeriod, ServicePeriod.id == WorkOrder.service_period_id)
            .where(condition)
            .order_by(Visit.window_starts_at, Visit.id)
        )
        return (await self.session.execute(stmt)).all()

    @staticmethod
    def _solver_visit(
        visit: Visit,
        work_order: WorkOrder,
        location: Any,
        origin_at: datetime,
        period_ends_on: date | None = None,
        *,
        site_hours: SiteHours | None = None,
        vehicle: str | None = None,
    ) -> solver.Visit | None:
        """The visit as the solver sees it; None when the site is never open for it that day.

        Work starts inside the visit's window (clipped to the planned day) and its weekly
        hours, while the site is open long enough for it (`site_hours`: the site's time zone,
        opening hours and closed spans; None: not checked). Work under way is worked whatever
        the hours say.
        """
        day_start = origin_at
        day_end = origin_at + timedelta(minutes=DAY_MINUTES)
        span = (max(visit.window_starts_at, day_start), min(visit.window_ends_at, day_end))
        windows: tuple[solver.TimeWindow, ...]
        if site_hours is None or visit.status in UNDER_WAY or span[0] >= span[1]:
            # Not checked, under way, or held on this day outside its window: the window as
            # it stands.
            windows = (
                solver.TimeWindow(
                    start_minute=_clip(solver.minutes_since(origin_at, visit.window_starts_at)),
                    end_minute=_clip(solver.minutes_since(origin_at, visit.window_ends_at)),
                ),
            )
        else:
            zone, opening_hours, closed = site_hours
            windows = tuple(
                solver.TimeWindow(
                    start_minute=_clip(solver.minutes_since(origin_at, lo)),
                    end_minute=_clip(solver.minutes_since(origin_at, hi)),
                )
                for lo, hi in start_windows(
                    span, visit.weekly_hours, opening_hours, zone, visit.estimated_minutes, closed
                )
            )
            if not windows and visit.locked_start_at is None:
                return None
        due_at = work_order.sla_next_due_at or work_order.resolution_due_at
        if period_ends_on is not None:
            # Planned maintenance is due by the end of its service period, not by a reaction
            # target started when it was generated: routine work never outranks fresh repairs
            # until its period's end comes near.
            due_at = datetime.combine(period_ends_on + timedelta(days=1), time(), origin_at.tzinfo)
        held = visit.status is V.ASSIGNED and visit.engineer_id is not None
        held_start = (
            solver.minutes_since(origin_at, visit.planned_start_at)
            if held and visit.planned_start_at is not None
            else None
        )
        if visit.locked_start_at is not None:
            # Locked to a time: work starts exactly then (the dispatcher's word over the hours).
            at = solver.minutes_since(origin_at, visit.locked_start_at)
            windows = (solver.TimeWindow(start_minute=at, end_minute=at),)
            held_start = at if held else None
        return solver.Visit(
            id=str(visit.id),
            location=solver_location(location),
            service_minutes=visit.estimated_minutes,
            time_windows=windows,
            required_skills=frozenset(s.code for s in visit.required_skills),
            priority=solver.Priority(work_order.priority.value),
            sla_deadline_minute=(
                max(0, solver.minutes_since(origin_at, due_at)) if due_at else None
            ),
            pinned_engineer_id=str(visit.locked_engineer_id) if visit.locked_engineer_id else None,
            # Held by its engineer's vehicle: the shift's, or an on-call duty's (`vehicle`).
            held_engineer_id=(vehicle or str(visit.engineer_id)) if held else None,
            held_start_minute=held_start,
        )

    async def commit(self, plan_id: uuid.UUID, *, actor: Principal) -> DispatchPlan:
        """Assign every routed visit as planned, all or nothing (the caller's unit of work).

        An insert plan also re-sequences and moves visits already assigned, sends the ones it
        leaves out back to `planned`, and supersedes its base plan; visits finished or under
        way stay as the field has them, including progress reported since the draft.

        Raises:
            PlanOutdated: a visit the commit would change changed since the draft, or one it
                keeps was cancelled, reassigned or sent back (409 `plan_outdated`).
        """
        plan = await self.get(plan_id, for_update=True)
        if plan.status is not DispatchPlanStatus.DRAFT:
            raise PlanNotDraft(
                f"a {plan.status} plan cannot be committed",
                details={"status": plan.status.value},
            )
        routes = route_plan_of(plan)
        current, positions = await self._check_current(plan, routes)
        for route in routes.routes if routes else ():
            engineer_id = uuid.UUID(engineer_of(route.engineer_id))
            for stop in route.stops:
                now = current[stop.visit_id]
                if now.status not in (V.PLANNED, V.ASSIGNED):
                    continue
                position = positions[stop.visit_id]
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
        # Work in the field keeps its place; its number follows the whole day's order.
        renumbered = [
            uuid.UUID(visit_id)
            for visit_id, position in positions.items()
            if current[visit_id].status in FIELD_FLOW
            and current[visit_id].route_position != position
        ]
        if renumbered:
            for visit in (
                await self.session.scalars(select(Visit).where(Visit.id.in_(renumbered)))
            ).all():
                visit.route_position = positions[str(visit.id)]
        await self._release_dropped(plan, routes, current, actor)
        if plan.kind is DispatchPlanKind.INSERT:
            await self._supersede_base(plan)
        plan.status = DispatchPlanStatus.COMMITTED
        plan.committed_at = utcnow()
        await self._supersede_other_drafts(plan)
        await self.session.flush()
        return plan

    async def _release_dropped(
        self,
        plan: DispatchPlan,
        routes: solver.RoutePlan | None,
        current: dict[str, Any],
        actor: Principal,
    ) -> None:
        """Assigned visits the plan left out go back to the unassigned pool: never an
        assignment the plan does not route."""
        note = (
            "left out when urgent work was inserted"
            if plan.kind is DispatchPlanKind.INSERT
            else "left out when the day was planned"
        )
        for dropped in routes.dropped if routes else ():
            if _was_held(plan, dropped.visit_id) and current[dropped.visit_id].status is V.ASSIGNED:
                await self.visits.report_status(
                    uuid.UUID(dropped.visit_id),
                    StatusReport(status=V.PLANNED, note=note),
                    actor=actor,
                )

    async def _supersede_base(self, plan: DispatchPlan) -> None:
        if plan.base_plan_id is None:
            return
        base = await self.session.get(DispatchPlan, plan.base_plan_id, with_for_update=True)
        if base is not None and base.status is DispatchPlanStatus.COMMITTED:
            base.status = DispatchPlanStatus.SUPERSEDED

    async def map_svg(self, plan_id: uuid.UUID) -> str:
        """The plan drawn as an SVG map of homes, sites, routes and dropped visits; a re-plan's
        routes start where the engineers were."""
        plan = await self.get(plan_id)
        visit_ids = [uuid.UUID(v) for v in plan.visit_versions]
        site_rows = (
            await self.session.execute(
                select(Visit.id, Visit.status, Site.location)
                .join(WorkOrder, Visit.work_order_id == WorkOrder.id)
                .join(Site, WorkOrder.site_id == Site.id)
                .where(Visit.id.in_(visit_ids))
            )
        ).all()
        sites = {str(row.id): solver_location(row.location) for row in site_rows}
        done = {str(row.id) for row in site_rows if row.status is V.COMPLETED}
        home_rows = await self.session.execute(
            select(Engineer.id, Engineer.home_base).where(
                Engineer.id.in_([uuid.UUID(e) for e in plan.engineer_ids])
            )
        )
        homes = {str(row.id): solver_location(row.home_base) for row in home_rows.all()}
        return plan_map_svg(route_plan_of(plan), sites, homes, done)

    async def _check_current(
        self, plan: DispatchPlan, routes: solver.RoutePlan | None
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """Lock the plan's visits and refuse if the commit cannot apply the plan to them now;
        answer them with each routed or fixed visit's place in its engineer's whole day.

        Only what the commit changes must be as the draft read it (same version): visits it
        assigns, moves, re-sequences or sends back. The running day goes on meanwhile, so a
        visit the plan keeps where it is may move forward along the field flow; cancelling
        it, giving it to someone else or sending it back to the pool still refuses, as do a
        lock the plan does not keep and a visit given to one of the plan's engineers that day
        by hand since the draft (it could overlap the plan).
        """
        ids = [uuid.UUID(v) for v in plan.visit_versions]
        stmt = (
            select(
                Visit.id,
                Visit.version,
                Visit.status,
                Visit.engineer_id,
                Visit.planned_start_at,
                Visit.route_position,
                Visit.completed_at,
                Visit.locked_engineer_id,
                Visit.locked_start_at,
            )
            .where(Visit.id.in_(ids))
            .with_for_update()
        )
        current = {str(row.id): row for row in (await self.session.execute(stmt)).all()}
        changed: set[str] = set()
        for route in routes.routes if routes else ():
            for stop in route.stops:
                if stop.visit_id not in current:
                    changed.add(stop.visit_id)
        if changed:
            raise PlanOutdated(
                f"{len(changed)} visit(s) changed since the draft; draft the day again",
                details={"visit_ids": sorted(changed)},
            )
        positions = self._day_positions(plan, routes, current)
        for route in routes.routes if routes else ():
            engineer_id = uuid.UUID(engineer_of(route.engineer_id))
            for stop in route.stops:
                now = current[stop.visit_id]
                position = positions[stop.visit_id]
                if stop.is_locked:
                    # Finished or under way when drafted: the field may only carry it on.
                    if now.engineer_id != engineer_id or now.status not in FIELD_FLOW:
                        changed.add(stop.visit_id)
                    continue
                if (now.locked_engineer_id not in (None, engineer_id)) or (
                    now.locked_start_at not in (None, stop.start_at)
                ):
                    changed.add(stop.visit_id)
                elif (
                    now.engineer_id == engineer_id
                    and now.planned_start_at == stop.start_at
                    and now.route_position == position
                ):
                    # Already where the plan puts it: the commit leaves it alone.
                    if now.status not in (V.ASSIGNED, *FIELD_FLOW):
                        changed.add(stop.visit_id)
                elif now.version != plan.visit_versions.get(stop.visit_id) or now.status not in (
                    V.PLANNED,
                    V.ASSIGNED,
                ):
                    changed.add(stop.visit_id)
        # Assigned visits the plan leaves out go back to the pool; left out, planned or
        # cancelled is what it wants of them. One that was planned stays as it is now.
        for dropped in routes.dropped if routes else ():
            if not _was_held(plan, dropped.visit_id):
                continue
            left = current.get(dropped.visit_id)
            if left is None or (
                left.status not in (V.PLANNED, V.CANCELLED)
                and left.version != plan.visit_versions.get(dropped.visit_id)
            ):
                changed.add(dropped.visit_id)
        changed.update(await self._assigned_by_hand_since(plan))
        if changed:
            raise PlanOutdated(
                f"{len(changed)} visit(s) changed since the draft; draft the day again",
                details={"visit_ids": sorted(changed)},
            )
        return current, positions

    @staticmethod
    def _day_positions(
        plan: DispatchPlan, routes: solver.RoutePlan | None, current: dict[str, Any]
    ) -> dict[str, int]:
        """Each routed or fixed visit's place (1..n) in its engineer's whole day after the
        commit (the order of `dispatch.day`)."""
        members: dict[str, dict[str, tuple[str, VisitStatus, Any, Any]]] = defaultdict(dict)
        for route in routes.routes if routes else ():
            for stop in route.stops:
                now = current[stop.visit_id]
                if now.status in FIELD_FLOW:
                    item = (stop.visit_id, now.status, now.planned_start_at, now.completed_at)
                else:
                    item = (stop.visit_id, V.ASSIGNED, stop.start_at, None)
                members[engineer_of(route.engineer_id)][stop.visit_id] = item
        on_plan = set(plan.engineer_ids)
        for visit_id, now in current.items():
            owner = str(now.engineer_id) if now.engineer_id else None
            if owner in on_plan and now.status in FIELD_FLOW:
                members[owner].setdefault(
                    visit_id, (visit_id, now.status, now.planned_start_at, now.completed_at)
                )
        return {
            visit_id: position
            for items in members.values()
            for position, visit_id in enumerate(day_order(items.values()), start=1)
        }

    async def _assigned_by_hand_since(self, plan: DispatchPlan) -> set[str]:
        """Visits of the plan's engineers on its day that the draft did not see."""
        origin_at = datetime.combine(plan.day, time(), ZoneInfo(plan.timezone))
        stmt = select(Visit.id).where(
            Visit.engineer_id.in_([uuid.UUID(e) for e in plan.engineer_ids]),
            Visit.status.in_([V.ASSIGNED, *UNDER_WAY]),
            Visit.planned_start_at >= origin_at,
            Visit.planned_start_at < origin_at + timedelta(days=1),
            Visit.id.not_in([uuid.UUID(v) for v in plan.visit_versions]),
        )
        return {str(visit_id) for visit_id in (await self.session.scalars(stmt)).all()}

    async def _supersede_other_drafts(self, plan: DispatchPlan) -> None:
        stmt = select(DispatchPlan).where(
            DispatchPlan.day == plan.day,
            DispatchPlan.status == DispatchPlanStatus.DRAFT,
            DispatchPlan.id != plan.id,
        )
        for other in (await self.session.scalars(stmt)).all():
            other.status = DispatchPlanStatus.SUPERSEDED
        await self.session.flush()


def _closed(visit: Visit, order: WorkOrder) -> solver.DroppedVisit:
    return solver.DroppedVisit(
        visit_id=str(visit.id),
        priority=solver.Priority(order.priority.value),
        reason=solver.DropReason.SITE_CLOSED,
        detail="the site is not open long enough for this work at any time the visit may "
        "start that day",
    )


def _unlocated(visit: Visit, order: WorkOrder) -> solver.DroppedVisit:
    return solver.DroppedVisit(
        visit_id=str(visit.id),
        priority=solver.Priority(order.priority.value),
        reason=solver.DropReason.UNLOCATED_SITE,
        detail="the site has no coordinates; set its location to plan this visit",
    )


def _shift_stretches(engineer: Engineer, day: date, origin_at: datetime) -> list[Stretch]:
    """The engineer's shifts on `day`, in minutes from the plan's origin (shifts are local
    to the engineer; the weekday is the planned day's)."""
    zone = ZoneInfo(engineer.timezone)
    return [
        (
            solver.minutes_since(origin_at, datetime.combine(day, s.starts_at, zone)),
            solver.minutes_since(origin_at, datetime.combine(day, s.ends_at, zone)),
        )
        for s in engineer.shifts
        if s.weekday == day.weekday()
    ]


def _away_stretches(absences: Iterable[Any], origin_at: datetime) -> list[Stretch]:
    return [
        (solver.minutes_since(origin_at, a.starts_at), solver.minutes_since(origin_at, a.ends_at))
        for a in absences
    ]
