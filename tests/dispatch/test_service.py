"""Dispatch service: drafting a day from the database and committing it as assignments."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.models import DispatchPlanStatus
from dispatch.service import (
    DispatchService,
    NoEngineersOnShift,
    PlanOutdated,
    route_plan_of,
)
from dispatch.solver import SearchSettings
from fsm.engineers.models import Engineer
from fsm.errors import UnknownReference
from fsm.geo import GeoPoint
from fsm.settings import SolverSettings
from fsm.users.models import Role, User
from fsm.visits.service import VisitDraft
from fsm.workorders.models import WorkOrder, WorkOrderStatus
from fsm.workorders.visit_models import Visit, VisitStatus
from tests.factories import make_engineer, make_site, make_skill, make_user
from tests.fsm.wo_helpers import open_order, principal_of, visits

# A Monday: the factories' engineers work Monday to Friday, 08:00-17:00 Berlin time.
DAY = date(2026, 11, 30)
BERLIN = ZoneInfo("Europe/Berlin")


def service(session: AsyncSession) -> DispatchService:
    """The dispatch service with a tiny, repeatable solver budget."""
    return DispatchService(
        session,
        visits(session),
        SolverSettings(time_limit_s=1, max_time_limit_s=2),
        search=SearchSettings(solution_limit=50),
    )


@dataclass
class SmallDay:
    """Two engineers, four planned visits; one visit needs gas, which only one holds."""

    dispatcher: User
    gas_engineer: Engineer
    other_engineer: Engineer
    visits: list[Visit]
    gas_visit: Visit


async def small_day(session: AsyncSession, on: date = DAY, skill: str = "gas") -> SmallDay:
    gas = await make_skill(session, skill)
    dispatcher = await make_user(session, role=Role.DISPATCHER)
    gas_engineer = await make_engineer(session, skills=[gas], home=GeoPoint(lat=52.50, lon=13.35))
    other_engineer = await make_engineer(session, home=GeoPoint(lat=52.54, lon=13.45))
    points = [(52.51, 13.36), (52.53, 13.44), (52.52, 13.40), (52.49, 13.42)]
    made: list[Visit] = []
    for k, (lat, lon) in enumerate(points):
        site = await make_site(session, at=GeoPoint(lat=lat, lon=lon))
        order = await open_order(
            session, site=site, actor=dispatcher, skills=[gas.code] if k == 0 else ()
        )
        made.append(
            await visits(session).create(
                VisitDraft(
                    work_order_id=order.id,
                    window_starts_at=datetime.combine(on, time(9), BERLIN),
                    window_ends_at=datetime.combine(on, time(15), BERLIN),
                    estimated_minutes=60,
                ),
                actor=principal_of(dispatcher),
            )
        )
    await session.commit()
    return SmallDay(dispatcher, gas_engineer, other_engineer, made, made[0])


async def fresh_visit(session: AsyncSession, visit: Visit) -> Visit:
    return (
        await session.scalars(
            select(Visit).where(Visit.id == visit.id).execution_options(populate_existing=True)
        )
    ).one()


class TestDraft:
    async def test_gives_the_skilled_visit_to_the_skilled_engineer(
        self, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        plan = await service(session).draft(
            DAY, "Europe/Berlin", actor=principal_of(day.dispatcher), time_limit_s=1
        )
        assert plan.status is DispatchPlanStatus.DRAFT
        routes = route_plan_of(plan)
        assert routes is not None
        engineer_of = {s.visit_id: r.engineer_id for r in routes.routes for s in r.stops}
        assert engineer_of[str(day.gas_visit.id)] == str(day.gas_engineer.id)
        assert routes.metrics.served_count == 4
        assert routes.dropped == ()

    async def test_stores_the_draft_with_visit_versions(self, session: AsyncSession) -> None:
        day = await small_day(session)
        plan = await service(session).draft(
            DAY, "Europe/Berlin", actor=principal_of(day.dispatcher)
        )
        stored = await service(session).get(plan.id)
        assert stored.status is DispatchPlanStatus.DRAFT
        assert stored.visit_versions == {str(v.id): v.version for v in day.visits}
        assert set(stored.engineer_ids) == {str(day.gas_engineer.id), str(day.other_engineer.id)}
        assert stored.created_by_id == day.dispatcher.id

    async def test_without_the_skilled_engineer_drops_the_visit_with_a_reason(
        self, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        plan = await service(session).draft(
            DAY,
            "Europe/Berlin",
            actor=principal_of(day.dispatcher),
            engineer_ids=[day.other_engineer.id],
        )
        routes = route_plan_of(plan)
        assert routes is not None
        assert [(d.visit_id, d.reason.value) for d in routes.dropped] == [
            (str(day.gas_visit.id), "no_skilled_engineer")
        ]

    async def test_refuses_a_time_limit_above_the_setting(self, session: AsyncSession) -> None:
        day = await small_day(session)
        with pytest.raises(Exception, match="time_limit_s"):
            await service(session).draft(
                DAY, "Europe/Berlin", actor=principal_of(day.dispatcher), time_limit_s=5
            )

    async def test_refuses_a_day_nobody_works(self, session: AsyncSession) -> None:
        day = await small_day(session)
        sunday = date(2026, 12, 6)
        with pytest.raises(NoEngineersOnShift):
            await service(session).draft(
                sunday, "Europe/Berlin", actor=principal_of(day.dispatcher)
            )

    async def test_shift_is_the_engineers_local_time(self, session: AsyncSession) -> None:
        day = await small_day(session)
        plan = await service(session).draft(DAY, "UTC", actor=principal_of(day.dispatcher))
        routes = route_plan_of(plan)
        assert routes is not None
        # 08:00 in Berlin is 07:00 UTC in winter: no visit starts before it.
        starts = [s.start_minute for r in routes.routes for s in r.stops]
        assert starts
        assert min(starts) >= 8 * 60


class TestCommit:
    async def test_assigns_every_routed_visit(self, session: AsyncSession) -> None:
        day = await small_day(session)
        actor = principal_of(day.dispatcher)
        plan = await service(session).draft(DAY, "Europe/Berlin", actor=actor)
        committed = await service(session).commit(plan.id, actor=actor)
        assert committed.status is DispatchPlanStatus.COMMITTED
        assert committed.committed_at is not None
        routes = route_plan_of(committed)
        assert routes is not None
        for route in routes.routes:
            for position, stop in enumerate(route.stops, start=1):
                visit = await fresh_visit(
                    session, next(v for v in day.visits if str(v.id) == stop.visit_id)
                )
                assert visit.status is VisitStatus.ASSIGNED
                assert str(visit.engineer_id) == route.engineer_id
                assert visit.route_position == position
                assert visit.planned_start_at == stop.start_at
                order = await session.get(WorkOrder, visit.work_order_id, populate_existing=True)
                assert order is not None
                assert order.status is WorkOrderStatus.SCHEDULED

    async def test_refuses_a_plan_whose_visit_changed_and_assigns_nothing(
        self, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        actor = principal_of(day.dispatcher)
        plan = await service(session).draft(DAY, "Europe/Berlin", actor=actor)
        moved_id = day.visits[1].id
        others = [v.id for v in day.visits if v.id != moved_id]
        plan_id = plan.id
        await visits(session).assign(moved_id, day.other_engineer.id, actor=actor)
        await session.commit()
        with pytest.raises(PlanOutdated) as caught:
            await service(session).commit(plan_id, actor=actor)
        assert caught.value.code == "plan_outdated"
        assert caught.value.details == {"visit_ids": [str(moved_id)]}
        for visit_id in others:
            visit = await session.get(Visit, visit_id, populate_existing=True)
            assert visit is not None
            assert visit.status is VisitStatus.PLANNED
            assert visit.engineer_id is None
        stored = await service(session).get(plan_id)
        assert stored.status is DispatchPlanStatus.DRAFT

    async def test_leaves_alone_a_visit_it_dropped_that_changed_meanwhile(
        self, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        actor = principal_of(day.dispatcher)
        # Without the gas engineer the gas visit is dropped; the dispatcher then gives it to
        # them by hand, which the plan does not touch.
        plan = await service(session).draft(
            DAY, "Europe/Berlin", actor=actor, engineer_ids=[day.other_engineer.id]
        )
        plan_id = plan.id
        await visits(session).assign(day.gas_visit.id, day.gas_engineer.id, actor=actor)
        await session.commit()
        committed = await service(session).commit(plan_id, actor=actor)
        assert committed.status is DispatchPlanStatus.COMMITTED
        gas_visit = await fresh_visit(session, day.gas_visit)
        assert gas_visit.status is VisitStatus.ASSIGNED
        assert gas_visit.engineer_id == day.gas_engineer.id
        for visit in day.visits[1:]:
            assert (await fresh_visit(session, visit)).engineer_id == day.other_engineer.id

    async def test_rolls_back_assignments_when_one_fails_midway(
        self, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        actor = principal_of(day.dispatcher)
        plan = await service(session).draft(DAY, "Europe/Berlin", actor=actor)
        ids = [v.id for v in day.visits]
        plan_id = plan.id
        routes = route_plan_of(plan)
        assert routes is not None
        # The first route is assigned before the last one fails.
        assert routes.routes[0].stops
        assert routes.routes[-1].stops
        last = next(
            e
            for e in (day.gas_engineer, day.other_engineer)
            if str(e.id) == routes.routes[-1].engineer_id
        )
        last.user.is_active = False
        await session.commit()
        with pytest.raises(UnknownReference):  # a signed-off engineer is no engineer to assign
            await service(session).commit(plan_id, actor=actor)
        await session.rollback()  # what the request's unit of work does with the error
        for visit_id in ids:
            visit = await session.get(Visit, visit_id, populate_existing=True)
            assert visit is not None
            assert visit.status is VisitStatus.PLANNED
        assert (await service(session).get(plan_id)).status is DispatchPlanStatus.DRAFT

    async def test_supersedes_other_drafts_of_the_day(self, session: AsyncSession) -> None:
        day = await small_day(session)
        actor = principal_of(day.dispatcher)
        first = await service(session).draft(DAY, "Europe/Berlin", actor=actor)
        await session.commit()  # each draft is a request of its own
        second = await service(session).draft(DAY, "Europe/Berlin", actor=actor)
        await service(session).commit(second.id, actor=actor)
        assert (await service(session).get(first.id)).status is DispatchPlanStatus.SUPERSEDED


SVG = "{http://www.w3.org/2000/svg}"


class TestMapSvg:
    async def test_draws_one_line_per_route_and_every_site_and_home(
        self, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        plan = await service(session).draft(
            DAY, "Europe/Berlin", actor=principal_of(day.dispatcher)
        )
        svg = ET.fromstring(await service(session).map_svg(plan.id))
        routes = route_plan_of(plan)
        assert routes is not None
        lines = svg.findall(f"{SVG}polyline")
        assert len(lines) == len(routes.routes) == 2
        assert {line.get("data-engineer-id") for line in lines} == {
            str(day.gas_engineer.id),
            str(day.other_engineer.id),
        }
        assert len(svg.findall(f"{SVG}circle")) == 4
        assert len(svg.findall(f"{SVG}rect")) == 2
        assert svg.findall(f"{SVG}g") == []

    async def test_marks_dropped_visits_with_a_cross(self, session: AsyncSession) -> None:
        day = await small_day(session)
        plan = await service(session).draft(
            DAY,
            "Europe/Berlin",
            actor=principal_of(day.dispatcher),
            engineer_ids=[day.other_engineer.id],
        )
        svg = ET.fromstring(await service(session).map_svg(plan.id))
        crosses = svg.findall(f"{SVG}g[@class='dropped']")
        assert len(crosses) == 1
        assert len(crosses[0].findall(f"{SVG}line")) == 2
        assert len(svg.findall(f"{SVG}polyline")) == 1
