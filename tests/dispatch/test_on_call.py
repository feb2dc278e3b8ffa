"""The on-call rota in an urgent insert at night: the engineer on call takes the critical
visit, from home, inside their area; nothing else goes to them; without the rota the visit
stays unplanned; work given on call stays on that duty's route in the next insert."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import solver
from dispatch.on_call import engineer_of, is_on_call, on_call_vehicle, vehicle_id
from dispatch.service import route_plan_of
from dispatch.solver import DropReason, RoutePlan
from fsm.engineers.on_call import Area, OnCallCreate, OnCallService
from fsm.geo import GeoPoint
from fsm.visits.service import StatusReport, VisitDraft
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
            "d1",
            home=HOME,
            duty=(17 * 60, 24 * 60),
            busy=[(8 * 60, 18 * 60), (20 * 60, 21 * 60)],
            skills=frozenset({"lift"}),
            area=None,
            from_minute=19 * 60,
        )
        assert vehicle is not None
        assert vehicle.id == vehicle_id("e1", "d1")
        assert (engineer_of(vehicle.id), is_on_call(vehicle.id)) == ("e1", True)
        assert (vehicle.shift_start_minute, vehicle.shift_end_minute) == (19 * 60, 24 * 60)
        assert [(b.earliest_start_minute, b.duration_minutes) for b in vehicle.breaks] == [
            (20 * 60, 60)
        ]
        assert vehicle.takes_priorities == frozenset({solver.Priority.CRITICAL})
        # Nothing left of a duty that is over, or wholly inside a shift.
        assert (
            on_call_vehicle(
                "e1",
                "d1",
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
                "d1",
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
            "d1",
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
        plan = solver.solve(problem, time_limit_s=1, travel=solver.HaversineTravel())
        assert [(r.engineer_id, [s.visit_id for s in r.stops]) for r in plan.routes] == [
            (vehicle.id, ["critical"])
        ]
        assert {d.visit_id: d.reason for d in plan.dropped} == {
            "normal": DropReason.NO_SKILLED_ENGINEER,
            "critical far": DropReason.NO_SKILLED_ENGINEER,
        }


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
    session: AsyncSession,
    day: SmallDay,
    engineer_id: uuid.UUID,
    area: Area | None = None,
    *,
    evening: date = DAY,
) -> None:
    """The engineer on call from 17:00 on `evening` to 08:00 the morning after."""
    await OnCallService(session).create(
        OnCallCreate(
            engineer_id=engineer_id,
            starts_at=datetime.combine(evening, time(17), BERLIN),
            ends_at=datetime.combine(evening + timedelta(days=1), time(8), BERLIN),
            area=area,
        ),
        actor=principal_of(day.dispatcher),
    )
    await session.commit()


def _owners(routes: RoutePlan) -> dict[str, str]:
    return {s.visit_id: r.engineer_id for r in routes.routes for s in r.stops}


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
        owner = _owners(routes)
        assert is_on_call(owner[str(urgent.id)])
        assert engineer_of(owner[str(urgent.id)]) == str(day.other_engineer.id)
        assert str(normal.id) not in owner
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

    async def test_two_duties_in_one_day_and_a_second_call_keep_the_first_on_its_route(
        self, session: AsyncSession
    ) -> None:
        day, base, _ = await committed_day(session)
        engineer = day.other_engineer
        # Last night's duty runs into this morning, tonight's into tomorrow.
        await _on_call(session, day, engineer.id, evening=DAY - timedelta(days=1))
        await _on_call(session, day, engineer.id)
        actor = principal_of(day.dispatcher)
        first = await urgent_visit(session, day, starts=time(21, 15), ends=time(23, 30))
        plan = await service_at(session, NIGHT).insert(base.id, [first.id], actor=actor)
        routes = route_plan_of(plan)
        assert routes is not None
        assert engineer_of(_owners(routes)[str(first.id)]) == str(engineer.id)
        committed = await service_at(session, NIGHT).commit(plan.id, actor=actor)
        await session.commit()

        # The engineer sets off for it; a second call comes in a quarter of an hour later.
        later = NIGHT + timedelta(minutes=15)
        await session.get(Visit, first.id, populate_existing=True)
        await visits(session).report_status(
            first.id, StatusReport(status=VisitStatus.EN_ROUTE), actor=principal_of(engineer.user)
        )
        await session.commit()
        second = await urgent_visit(session, day, starts=time(21, 30), ends=time(23, 59))
        again = await service_at(session, later).insert(committed.id, [second.id], actor=actor)

        routes = route_plan_of(again)
        assert routes is not None
        owners = _owners(routes)
        # The first stays where it is, first on the same duty's route; nothing is dropped.
        assert owners[str(first.id)] == _owners(route_plan_of(committed) or routes)[str(first.id)]
        assert not routes.dropped
        route = next(r for r in routes.routes if r.engineer_id == owners[str(first.id)])
        assert route.stops[0].visit_id == str(first.id)
        assert route.stops[0].is_locked
        if owners[str(second.id)] == route.engineer_id:
            assert route.stops[1].start_minute >= route.stops[0].end_minute
        await service_at(session, later).commit(again.id, actor=actor)
        await session.commit()
        held = await session.get(Visit, first.id, populate_existing=True)
        assert held is not None
        assert (held.status, held.engineer_id) == (VisitStatus.EN_ROUTE, engineer.id)
