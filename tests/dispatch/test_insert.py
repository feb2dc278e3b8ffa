"""Inserting urgent visits into a committed day: the field's progress, then the commit."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.models import DispatchPlan, DispatchPlanKind, DispatchPlanStatus
from dispatch.service import (
    BasePlanNotCommitted,
    DispatchPlanNotFound,
    DispatchService,
    PlanDayOver,
    PlanOutdated,
    route_plan_of,
)
from dispatch.solver import Route, RoutePlan, SearchSettings
from fsm.errors import ValidationFailed
from fsm.geo import GeoPoint, to_db_point
from fsm.settings import SolverSettings
from fsm.visits.service import StatusReport, VisitDraft
from fsm.workorders.models import Priority
from fsm.workorders.visit_models import Visit, VisitStatus, VisitStatusEvent
from tests.dispatch.test_service import (
    BERLIN,
    DAY,
    SVG,
    SmallDay,
    fresh_visit,
    service,
    small_day,
)
from tests.factories import make_site, make_skill
from tests.fsm.wo_helpers import open_order, principal_of, visits

# Late morning of the planned day: the engineers are out.
NOW = datetime.combine(DAY, time(11), BERLIN)
NOW_MINUTE = 11 * 60
URGENT_AT = GeoPoint(lat=52.515, lon=13.39)


def service_at(session: AsyncSession, now: datetime = NOW) -> DispatchService:
    """The dispatch service with a small repeatable budget and a fixed clock."""
    return DispatchService(
        session,
        visits(session),
        SolverSettings(time_limit_s=1, max_time_limit_s=2),
        search=SearchSettings(solution_limit=50),
        clock=lambda: now,
    )


@dataclass
class RunningDay:
    """A committed day in which the busiest engineer finished one visit and is on site at the
    next one."""

    day: SmallDay
    base: DispatchPlan
    routes: RoutePlan
    busy: Route
    done_id: uuid.UUID
    on_site_id: uuid.UUID


async def committed_day(session: AsyncSession) -> tuple[SmallDay, DispatchPlan, RoutePlan]:
    day = await small_day(session)
    actor = principal_of(day.dispatcher)
    plan = await service(session).draft(DAY, "Europe/Berlin", actor=actor)
    base = await service(session).commit(plan.id, actor=actor)
    routes = route_plan_of(base)
    assert routes is not None
    return day, base, routes


async def report(session: AsyncSession, day: SmallDay, visit_id: uuid.UUID, *moves: str) -> None:
    """Walk a visit through the field flow as its engineer's app would."""
    # The API may have changed it since this session loaded it.
    await session.get(Visit, visit_id, populate_existing=True)
    for move in moves:
        status = VisitStatus(move)
        await visits(session).report_status(
            visit_id,
            StatusReport(
                status=status, labour_minutes=50 if status is VisitStatus.COMPLETED else None
            ),
            actor=principal_of(day.dispatcher),
        )
    await session.commit()


async def running_day(session: AsyncSession) -> RunningDay:
    day, base, routes = await committed_day(session)
    busy = max(routes.routes, key=lambda r: len(r.stops))
    assert len(busy.stops) >= 2
    done_id = uuid.UUID(busy.stops[0].visit_id)
    on_site_id = uuid.UUID(busy.stops[1].visit_id)
    await report(session, day, done_id, "en_route", "on_site", "completed")
    await report(session, day, on_site_id, "en_route", "on_site")
    return RunningDay(day, base, routes, busy, done_id, on_site_id)


async def urgent_visit(
    session: AsyncSession,
    day: SmallDay,
    *,
    skills: tuple[str, ...] = (),
    starts: time = time(11),
    ends: time = time(16),
    on: date = DAY,
) -> Visit:
    site = await make_site(session, at=URGENT_AT)
    order = await open_order(
        session, site=site, actor=day.dispatcher, priority=Priority.CRITICAL, skills=skills
    )
    visit = await visits(session).create(
        VisitDraft(
            work_order_id=order.id,
            window_starts_at=datetime.combine(on, starts, BERLIN),
            window_ends_at=datetime.combine(on, ends, BERLIN),
            estimated_minutes=45,
        ),
        actor=principal_of(day.dispatcher),
    )
    await session.commit()
    return visit


def engineer_of(routes: RoutePlan) -> dict[str, str]:
    return {s.visit_id: r.engineer_id for r in routes.routes for s in r.stops}


class TestInsert:
    async def test_keeps_finished_and_started_visits_and_routes_the_urgent_one(
        self, session: AsyncSession
    ) -> None:
        running = await running_day(session)
        urgent = await urgent_visit(session, running.day)
        plan = await service_at(session).insert(
            running.base.id, [urgent.id], actor=principal_of(running.day.dispatcher)
        )
        assert plan.status is DispatchPlanStatus.DRAFT
        assert plan.kind is DispatchPlanKind.INSERT
        assert plan.base_plan_id == running.base.id
        routes = route_plan_of(plan)
        assert routes is not None
        assert str(urgent.id) in engineer_of(routes)
        assert routes.metrics.served_count == 5
        busy = next(r for r in routes.routes if r.engineer_id == running.busy.engineer_id)
        done, under_way = busy.stops[0], busy.stops[1]
        assert (done.visit_id, under_way.visit_id) == (
            str(running.done_id),
            str(running.on_site_id),
        )
        assert done.is_locked
        assert under_way.is_locked
        # The finished visit keeps the times it was planned with.
        assert done.start_minute == running.busy.stops[0].start_minute
        # Everything else happens from now on.
        later = [s for r in routes.routes for s in r.stops if s.visit_id != str(running.done_id)]
        assert min(s.start_minute for s in later) >= NOW_MINUTE
        assert set(plan.visit_versions) == {
            str(urgent.id),
            *(str(v.id) for v in running.day.visits),
        }

    async def test_plans_only_what_is_left_of_the_visit_being_worked_on(
        self, session: AsyncSession
    ) -> None:
        running = await running_day(session)
        await session.execute(
            update(VisitStatusEvent)
            .where(
                VisitStatusEvent.visit_id == running.on_site_id,
                VisitStatusEvent.to_status == VisitStatus.ON_SITE,
            )
            .values(occurred_at=NOW - timedelta(minutes=40))
        )
        await session.commit()
        urgent = await urgent_visit(session, running.day)
        plan = await service_at(session).insert(
            running.base.id, [urgent.id], actor=principal_of(running.day.dispatcher)
        )
        routes = route_plan_of(plan)
        assert routes is not None
        stop = next(
            s for r in routes.routes for s in r.stops if s.visit_id == str(running.on_site_id)
        )
        # An hour's estimate, 40 minutes of it already on site.
        assert stop.end_minute - stop.start_minute == 20

    async def test_starts_an_engineer_from_where_they_were_last_seen_today(
        self, session: AsyncSession
    ) -> None:
        day, base, _ = await committed_day(session)
        # Only the gas engineer may take it, and they were last seen at its site.
        urgent = await urgent_visit(session, day, skills=("gas",))
        day.gas_engineer.last_location = to_db_point(URGENT_AT)
        day.gas_engineer.last_location_at = NOW - timedelta(minutes=5)
        await session.commit()
        plan = await service_at(session).insert(
            base.id, [urgent.id], actor=principal_of(day.dispatcher)
        )
        routes = route_plan_of(plan)
        assert routes is not None
        stop = next(s for r in routes.routes for s in r.stops if s.visit_id == str(urgent.id))
        assert engineer_of(routes)[str(urgent.id)] == str(day.gas_engineer.id)
        assert stop.explanation is not None
        assert stop.explanation.from_engineer_start_km == 0.0

    async def test_refuses_visits_that_are_not_insertable_naming_each(
        self, session: AsyncSession
    ) -> None:
        day, base, routes = await committed_day(session)
        actor = principal_of(day.dispatcher)
        urgent = await urgent_visit(session, day)
        cancelled = await urgent_visit(session, day)
        await report(session, day, cancelled.id, "cancelled")
        other_day = await urgent_visit(session, day)
        other_day.window_starts_at += timedelta(days=2)
        other_day.window_ends_at += timedelta(days=2)
        await session.commit()
        assigned_id = uuid.UUID(routes.routes[0].stops[0].visit_id)
        asked = [urgent.id, cancelled.id, uuid.uuid4(), assigned_id, other_day.id, urgent.id]
        with pytest.raises(ValidationFailed) as caught:
            await service_at(session).insert(base.id, asked, actor=actor)
        assert [d["field"] for d in caught.value.details] == [
            "visit_ids[1]",
            "visit_ids[2]",
            "visit_ids[3]",
            "visit_ids[4]",
            "visit_ids[5]",
        ]
        assert "cancelled" in caught.value.details[0]["message"]
        assert "assigned" in caught.value.details[2]["message"]

    async def test_refuses_a_base_plan_that_is_not_committed(self, session: AsyncSession) -> None:
        day = await small_day(session)
        actor = principal_of(day.dispatcher)
        draft = await service(session).draft(DAY, "Europe/Berlin", actor=actor)
        urgent = await urgent_visit(session, day)
        with pytest.raises(BasePlanNotCommitted):
            await service_at(session).insert(draft.id, [urgent.id], actor=actor)

    async def test_refuses_a_day_that_is_over(self, session: AsyncSession) -> None:
        day, base, _ = await committed_day(session)
        urgent = await urgent_visit(session, day)
        next_morning = datetime.combine(DAY + timedelta(days=1), time(7), BERLIN)
        with pytest.raises(PlanDayOver):
            await service_at(session, next_morning).insert(
                base.id, [urgent.id], actor=principal_of(day.dispatcher)
            )

    async def test_refuses_an_unknown_base_plan(self, session: AsyncSession) -> None:
        day = await small_day(session)
        urgent = await urgent_visit(session, day)
        with pytest.raises(DispatchPlanNotFound):
            await service_at(session).insert(
                uuid.uuid4(), [urgent.id], actor=principal_of(day.dispatcher)
            )


class TestCommitInsert:
    async def test_assigns_the_urgent_visit_resequences_and_supersedes_the_base(
        self, session: AsyncSession
    ) -> None:
        running = await running_day(session)
        actor = principal_of(running.day.dispatcher)
        urgent = await urgent_visit(session, running.day)
        plan = await service_at(session).insert(running.base.id, [urgent.id], actor=actor)
        committed = await service_at(session).commit(plan.id, actor=actor)
        assert committed.status is DispatchPlanStatus.COMMITTED
        routes = route_plan_of(committed)
        assert routes is not None
        for route in routes.routes:
            for position, stop in enumerate(route.stops, start=1):
                visit = await session.get(Visit, uuid.UUID(stop.visit_id), populate_existing=True)
                assert visit is not None
                assert str(visit.engineer_id) == route.engineer_id
                if visit.id == running.done_id:
                    assert visit.status is VisitStatus.COMPLETED
                elif visit.id == running.on_site_id:
                    assert visit.status is VisitStatus.ON_SITE
                else:
                    assert visit.status is VisitStatus.ASSIGNED
                    assert visit.route_position == position
                    assert visit.planned_start_at == stop.start_at
        assert (await fresh_visit(session, urgent)).status is VisitStatus.ASSIGNED
        base = await service(session).get(running.base.id)
        await session.refresh(base)
        assert base.status is DispatchPlanStatus.SUPERSEDED

    async def test_keeps_what_the_field_did_meanwhile_to_a_visit_under_way(
        self, session: AsyncSession
    ) -> None:
        running = await running_day(session)
        actor = principal_of(running.day.dispatcher)
        urgent = await urgent_visit(session, running.day)
        plan = await service_at(session).insert(running.base.id, [urgent.id], actor=actor)
        # While the dispatcher looks at the draft the engineer finishes the visit they were on.
        await report(session, running.day, running.on_site_id, "completed")
        committed = await service_at(session).commit(plan.id, actor=actor)
        assert committed.status is DispatchPlanStatus.COMMITTED
        finished = await session.get(Visit, running.on_site_id, populate_existing=True)
        assert finished is not None
        assert finished.status is VisitStatus.COMPLETED
        assert str(finished.engineer_id) == running.busy.engineer_id
        assert finished.labour_minutes == 50
        assert (await fresh_visit(session, urgent)).status is VisitStatus.ASSIGNED

    async def test_refuses_a_visit_it_moves_that_was_reassigned_and_changes_nothing(
        self, session: AsyncSession
    ) -> None:
        running = await running_day(session)
        actor = principal_of(running.day.dispatcher)
        urgent = await urgent_visit(session, running.day)
        plan = await service_at(session).insert(running.base.id, [urgent.id], actor=actor)
        routes = route_plan_of(plan)
        assert routes is not None
        route, stop = next(
            (r, s)
            for r in routes.routes
            for s in r.stops
            if not s.is_locked and s.visit_id not in (str(urgent.id), str(running.day.gas_visit.id))
        )
        elsewhere = next(
            e.id
            for e in (running.day.gas_engineer, running.day.other_engineer)
            if str(e.id) != route.engineer_id
        )
        plan_id, urgent_id, base_id = plan.id, urgent.id, running.base.id
        await session.get(Visit, uuid.UUID(stop.visit_id), populate_existing=True)
        await visits(session).assign(uuid.UUID(stop.visit_id), elsewhere, actor=actor)
        await session.commit()
        with pytest.raises(PlanOutdated) as caught:
            await service_at(session).commit(plan_id, actor=actor)
        # The failed commit rolled the session back: everything is read afresh.
        assert caught.value.details == {"visit_ids": [stop.visit_id]}
        urgent_now = await session.get(Visit, urgent_id)
        assert urgent_now is not None
        assert urgent_now.status is VisitStatus.PLANNED
        moved = await session.get(Visit, uuid.UUID(stop.visit_id))
        assert moved is not None
        assert moved.engineer_id == elsewhere
        assert (await service(session).get(plan_id)).status is DispatchPlanStatus.DRAFT
        assert (await service(session).get(base_id)).status is DispatchPlanStatus.COMMITTED

    async def test_refuses_a_visit_under_way_that_was_cancelled(
        self, session: AsyncSession
    ) -> None:
        running = await running_day(session)
        actor = principal_of(running.day.dispatcher)
        urgent = await urgent_visit(session, running.day)
        plan = await service_at(session).insert(running.base.id, [urgent.id], actor=actor)
        plan_id = plan.id
        await report(session, running.day, running.on_site_id, "cancelled")
        with pytest.raises(PlanOutdated) as caught:
            await service_at(session).commit(plan_id, actor=actor)
        assert caught.value.details == {"visit_ids": [str(running.on_site_id)]}

    async def test_refuses_an_urgent_visit_assigned_by_hand_meanwhile(
        self, session: AsyncSession
    ) -> None:
        running = await running_day(session)
        actor = principal_of(running.day.dispatcher)
        urgent = await urgent_visit(session, running.day)
        plan = await service_at(session).insert(running.base.id, [urgent.id], actor=actor)
        plan_id, urgent_id = plan.id, urgent.id
        await visits(session).assign(urgent_id, running.day.gas_engineer.id, actor=actor)
        await session.commit()
        with pytest.raises(PlanOutdated) as caught:
            await service_at(session).commit(plan_id, actor=actor)
        assert caught.value.details == {"visit_ids": [str(urgent_id)]}

    async def test_does_not_mind_an_urgent_visit_it_left_out_being_cancelled(
        self, session: AsyncSession
    ) -> None:
        running = await running_day(session)
        actor = principal_of(running.day.dispatcher)
        # Nobody holds the skill: the re-plan leaves the visit out.
        await make_skill(session, "welding")
        unservable = await urgent_visit(session, running.day, skills=("welding",))
        plan = await service_at(session).insert(running.base.id, [unservable.id], actor=actor)
        routes = route_plan_of(plan)
        assert routes is not None
        assert [d.visit_id for d in routes.dropped] == [str(unservable.id)]
        plan_id = plan.id
        await report(session, running.day, unservable.id, "cancelled")
        committed = await service_at(session).commit(plan_id, actor=actor)
        assert committed.status is DispatchPlanStatus.COMMITTED
        assert (await fresh_visit(session, unservable)).status is VisitStatus.CANCELLED

    async def test_sends_assigned_visits_left_out_back_to_planned(
        self, session: AsyncSession
    ) -> None:
        day, base, _ = await committed_day(session)
        actor = principal_of(day.dispatcher)
        urgent = await urgent_visit(session, day, ends=time(15))
        # At 14:45 each engineer can still start one hour-long visit before 15:00.
        late = datetime.combine(DAY, time(14, 45), BERLIN)
        plan = await service_at(session, late).insert(base.id, [urgent.id], actor=actor)
        routes = route_plan_of(plan)
        assert routes is not None
        left_out = {d.visit_id for d in routes.dropped} - {str(urgent.id)}
        assert len(left_out) >= 2
        await service_at(session, late).commit(plan.id, actor=actor)
        rows = await session.execute(
            select(Visit.id, Visit.status, Visit.engineer_id)
            .where(Visit.id.in_([uuid.UUID(v) for v in left_out]))
            .execution_options(populate_existing=True)
        )
        for row in rows.all():
            assert row.status is VisitStatus.PLANNED
            assert row.engineer_id is None


class TestInsertMap:
    async def test_starts_each_route_where_its_engineer_was_not_at_home(
        self, session: AsyncSession
    ) -> None:
        running = await running_day(session)
        urgent = await urgent_visit(session, running.day)
        plan = await service_at(session).insert(
            running.base.id, [urgent.id], actor=principal_of(running.day.dispatcher)
        )
        svg = ET.fromstring(await service(session).map_svg(plan.id))
        busy = running.busy.engineer_id
        starts = {
            m.get("data-engineer-id"): m for m in svg.findall(f"{SVG}polygon[@class='start']")
        }
        # Both engineers are at work at 11:00; the busy one is on site at their second visit.
        assert set(starts) == {str(running.day.gas_engineer.id), str(running.day.other_engineer.id)}
        at = _centre(starts[busy])
        on_site = next(
            c
            for c in svg.findall(f"{SVG}circle")
            if c.findtext(f"{SVG}title") == f"visit {running.on_site_id}"
        )
        assert at == (float(on_site.get("cx", "")), float(on_site.get("cy", "")))
        home = next(
            r for r in svg.findall(f"{SVG}rect") if r.findtext(f"{SVG}title") == f"engineer {busy}"
        )
        home_at = (round(float(home.get("x", "")) + 6, 1), round(float(home.get("y", "")) + 6, 1))
        assert at != home_at
        route = next(
            line
            for line in svg.findall(f"{SVG}polyline[@class='route']")
            if line.get("data-engineer-id") == busy
        )
        first = route.get("points", "").split()[0].split(",")
        assert (float(first[0]), float(first[1])) == at
        # The morning's finished visit is behind: a dashed line from home through it.
        done = next(
            line
            for line in svg.findall(f"{SVG}polyline[@class='route-done']")
            if line.get("data-engineer-id") == busy
        )
        done_points = done.get("points", "").split()
        assert tuple(float(v) for v in done_points[0].split(",")) == home_at
        assert tuple(float(v) for v in done_points[-1].split(",")) == at


def _centre(marker: ET.Element) -> tuple[float, float]:
    points = [tuple(float(v) for v in p.split(",")) for p in marker.get("points", "").split()]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (round((min(xs) + max(xs)) / 2, 1), round((min(ys) + max(ys)) / 2, 1))


class TestWholeDayNumbers:
    async def test_an_insert_commit_numbers_each_engineers_whole_day_once(
        self, session: AsyncSession
    ) -> None:
        running = await running_day(session)
        actor = principal_of(running.day.dispatcher)
        urgent = await urgent_visit(session, running.day)
        plan = await service_at(session).insert(running.base.id, [urgent.id], actor=actor)
        await service_at(session).commit(plan.id, actor=actor)
        rows = (
            await session.scalars(
                select(Visit)
                .where(Visit.engineer_id.is_not(None))
                .execution_options(populate_existing=True)
            )
        ).all()
        days: dict[uuid.UUID | None, list[Visit]] = {}
        for visit in rows:
            days.setdefault(visit.engineer_id, []).append(visit)
        for day in days.values():
            assert sorted(v.route_position or 0 for v in day) == list(range(1, len(day) + 1))
        busy = days[uuid.UUID(running.busy.engineer_id)]
        position = {v.id: v.route_position for v in busy}
        # Finished first, then the visit being worked on, then the rest by planned start.
        assert position[running.done_id] == 1
        assert position[running.on_site_id] == 2
        rest = sorted(
            (v for v in busy if v.status is VisitStatus.ASSIGNED),
            key=lambda v: v.planned_start_at or NOW,
        )
        assert [v.route_position for v in rest] == list(range(3, len(busy) + 1))
