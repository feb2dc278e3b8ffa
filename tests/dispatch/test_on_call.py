"""The on-call rota in an urgent insert at night: the engineer on call takes the critical
visit, from home, inside their area; nothing else goes to them; without the rota the visit
stays unplanned."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import solver
from dispatch.on_call import ON_CALL, folded, on_call_vehicle
from dispatch.service import route_plan_of
from dispatch.solver import DropReason
from fsm.engineers.on_call import Area, OnCallCreate, OnCallService
from fsm.geo import GeoPoint
from fsm.visits.service import VisitDraft
from fsm.workorders.models import Priority
from fsm.workorders.visit_models import Visit, VisitStatus
from tests.dispatch.test_insert import URGENT_AT, committed_day, service_at, urgent_visit
from tests.dispatch.test_service import BERLIN, DAY, SmallDay
from tests.factories import make_site
from tests.fsm.wo_helpers import open_order, principal_of, visits

NIGHT = datetime.combine(DAY, time(21), BERLIN)
HOME = solver.Location(lat=52.50, lon=13.35)


def _visit(id: str, priority: solver.Priority, at: solver.Location = HOME) -> solver.Visit:
    return solver.Visit(
        id=id,
        location=at,
        service_minutes=30,
        priority=priority,
        time_windows=(solver.TimeWindow(start_minute=21 * 60, end_minute=23 * 60),),
    )


class TestOnCallVehicle:
    def test_takes_only_what_is_left_of_the_duty_outside_shifts_and_absences(self) -> None:
        vehicle = on_call_vehicle(
            "e1",
            home=HOME,
            duty=(17 * 60, 24 * 60),
            busy=[(8 * 60, 18 * 60), (20 * 60, 21 * 60)],
            skills=frozenset({"lift"}),
            area=None,
            from_minute=19 * 60,
        )
        assert vehicle is not None
        assert vehicle.id == "e1" + ON_CALL
        assert (vehicle.shift_start_minute, vehicle.shift_end_minute) == (19 * 60, 24 * 60)
        assert [(b.earliest_start_minute, b.duration_minutes) for b in vehicle.breaks] == [
            (20 * 60, 60)
        ]
        assert vehicle.takes_priorities == frozenset({solver.Priority.CRITICAL})
        # Nothing left of a duty that is over, or wholly inside a shift.
        assert (
            on_call_vehicle(
                "e1",
                home=HOME,
                duty=(6 * 60, 8 * 60),
                busy=[],
                skills=frozenset(),
                area=None,
                from_minute=9 * 60,
            )
            is None
        )
        assert (
            on_call_vehicle(
                "e1",
                home=HOME,
                duty=(9 * 60, 10 * 60),
                busy=[(8 * 60, 17 * 60)],
                skills=frozenset(),
                area=None,
                from_minute=0,
            )
            is None
        )

    def test_the_solver_gives_it_critical_work_inside_its_area_only(self) -> None:
        vehicle = on_call_vehicle(
            "e1",
            home=HOME,
            duty=(18 * 60, 24 * 60),
            busy=[],
            skills=frozenset(),
            area=solver.ServiceArea(centre=HOME, radius_km=20),
            from_minute=20 * 60,
        )
        assert vehicle is not None
        far = solver.Location(lat=48.14, lon=11.58)  # Munich, 500 km away
        problem = solver.RoutingProblem(
            engineers=(vehicle,),
            visits=(
                _visit("critical", solver.Priority.CRITICAL),
                _visit("normal", solver.Priority.NORMAL),
                _visit("critical far", solver.Priority.CRITICAL, far),
            ),
        )
        plan = folded(solver.solve(problem, time_limit_s=1, travel=solver.HaversineTravel()))
        assert [(r.engineer_id, [s.visit_id for s in r.stops]) for r in plan.routes] == [
            ("e1", ["critical"])
        ]
        assert {d.visit_id: d.reason for d in plan.dropped} == {
            "normal": DropReason.NO_SKILLED_ENGINEER,
            "critical far": DropReason.NO_SKILLED_ENGINEER,
        }
        assert "e1" + ON_CALL not in plan.metrics.utilisation_percent_by_engineer


async def _normal_visit(session: AsyncSession, day: SmallDay) -> Visit:
    site = await make_site(session, at=URGENT_AT)
    order = await open_order(session, site=site, actor=day.dispatcher, priority=Priority.NORMAL)
    visit = await visits(session).create(
        VisitDraft(
            work_order_id=order.id,
            window_starts_at=datetime.combine(DAY, time(21, 30), BERLIN),
            window_ends_at=datetime.combine(DAY, time(23, 30), BERLIN),
            estimated_minutes=45,
        ),
        actor=principal_of(day.dispatcher),
    )
    await session.commit()
    return visit


async def _on_call(
    session: AsyncSession, day: SmallDay, engineer_id: uuid.UUID, area: Area | None = None
) -> None:
    await OnCallService(session).create(
        OnCallCreate(
            engineer_id=engineer_id,
            starts_at=datetime.combine(DAY, time(17), BERLIN),
            ends_at=datetime.combine(DAY + timedelta(days=1), time(8), BERLIN),
            area=area,
        ),
        actor=principal_of(day.dispatcher),
    )
    await session.commit()


class TestUrgentInsertAtNight:
    async def test_the_engineer_on_call_takes_the_critical_visit_and_only_that(
        self, session: AsyncSession
    ) -> None:
        day, base, _ = await committed_day(session)
        urgent = await urgent_visit(session, day, starts=time(21, 30), ends=time(23, 30))
        normal = await _normal_visit(session, day)
        await _on_call(session, day, day.other_engineer.id)
        actor = principal_of(day.dispatcher)

        plan = await service_at(session, NIGHT).insert(base.id, [urgent.id, normal.id], actor=actor)

        routes = route_plan_of(plan)
        assert routes is not None
        owner = {s.visit_id: r.engineer_id for r in routes.routes for s in r.stops}
        assert owner[str(urgent.id)] == str(day.other_engineer.id)
        assert str(normal.id) not in owner
        assert not any(r.engineer_id.endswith(ON_CALL) for r in routes.routes)
        # From home, after the call came in.
        stop = next(s for r in routes.routes for s in r.stops if s.visit_id == str(urgent.id))
        assert stop.start_minute >= 21 * 60

        committed = await service_at(session, NIGHT).commit(plan.id, actor=actor)
        await session.commit()
        assert committed.status.value == "committed"
        assigned = await session.get(Visit, urgent.id, populate_existing=True)
        assert assigned is not None
        assert assigned.status is VisitStatus.ASSIGNED
        assert assigned.engineer_id == day.other_engineer.id
        assert assigned.planned_start_at is not None
        assert assigned.planned_start_at >= NIGHT

    async def test_without_anyone_on_call_or_outside_their_area_it_stays_unplanned(
        self, session: AsyncSession
    ) -> None:
        day, base, _ = await committed_day(session)
        urgent = await urgent_visit(session, day, starts=time(21, 30), ends=time(23, 30))
        actor = principal_of(day.dispatcher)

        alone = route_plan_of(
            await service_at(session, NIGHT).insert(base.id, [urgent.id], actor=actor)
        )
        assert alone is not None
        assert str(urgent.id) in {d.visit_id for d in alone.dropped}

        munich = Area(centre=GeoPoint(lat=48.14, lon=11.58), radius_km=30)
        await _on_call(session, day, day.gas_engineer.id, area=munich)
        elsewhere = route_plan_of(
            await service_at(session, NIGHT).insert(base.id, [urgent.id], actor=actor)
        )
        assert elsewhere is not None
        assert str(urgent.id) in {d.visit_id for d in elsewhere.dropped}
