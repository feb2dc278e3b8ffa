"""Planning honours when sites are open: no work at a closed site, none running past closing."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.service import route_plan_of
from dispatch.solver import DropReason
from fsm.sites.models import Site, SiteClosure
from fsm.workorders.models import WorkOrder
from fsm.workorders.visit_models import Visit, VisitStatus
from tests.dispatch.test_service import BERLIN, DAY, service, small_day
from tests.fsm.wo_helpers import principal_of


async def _set_hours(session: AsyncSession, visit: Visit, hours: list[dict[str, object]]) -> None:
    site_id = await session.scalar(
        select(WorkOrder.site_id).where(WorkOrder.id == visit.work_order_id)
    )
    await session.execute(update(Site).where(Site.id == site_id).values(opening_hours=hours))


class TestSiteHours:
    async def test_a_site_closed_that_day_is_named_and_its_visit_left_for_another(
        self, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        closed = day.visits[1]
        # Open Tuesday to Friday: the planned Monday it is shut.
        await _set_hours(
            session,
            closed,
            [{"weekday": d, "opens": "08:00", "closes": "17:00"} for d in (1, 2, 3, 4)],
        )
        await session.commit()
        plan = await service(session).draft(
            DAY, "Europe/Berlin", actor=principal_of(day.dispatcher)
        )
        routes = route_plan_of(plan)
        assert routes is not None
        (dropped,) = [d for d in routes.dropped if d.visit_id == str(closed.id)]
        assert dropped.reason is DropReason.SITE_CLOSED
        assert routes.metrics.served_count == 3
        r_ids = {s.visit_id for r in routes.routes for s in r.stops}
        assert str(closed.id) not in r_ids

    async def test_work_starts_and_ends_inside_the_opening_hours(
        self, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        # Every site: a morning and an afternoon opening, shut over lunch.
        hours = [
            {"weekday": 0, "opens": "09:00", "closes": "11:00"},
            {"weekday": 0, "opens": "13:30", "closes": "15:00"},
        ]
        for visit in day.visits:
            await _set_hours(session, visit, hours)
        await session.commit()
        plan = await service(session).draft(
            DAY, "Europe/Berlin", actor=principal_of(day.dispatcher)
        )
        routes = route_plan_of(plan)
        assert routes is not None
        stops = [s for r in routes.routes for s in r.stops]
        assert stops
        morning = (datetime.combine(DAY, datetime.min.time(), BERLIN) + timedelta(hours=9),) * 2
        opens = [
            (morning[0], morning[0] + timedelta(hours=2)),
            (morning[0] + timedelta(hours=4, minutes=30), morning[0] + timedelta(hours=6)),
        ]
        for stop in stops:
            assert stop.start_at is not None
            ends = stop.start_at + timedelta(minutes=60)
            # Checked on the intervals, whatever the solver did.
            assert any(lo <= stop.start_at and ends <= hi for lo, hi in opens), stop

    async def test_a_closure_day_shuts_a_site_that_is_otherwise_always_open(
        self, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        shut = day.visits[2]
        site_id = await session.scalar(
            select(WorkOrder.site_id).where(WorkOrder.id == shut.work_order_id)
        )
        assert site_id is not None
        session.add(SiteClosure(site_id=site_id, first_day=DAY, last_day=DAY, reason="holiday"))
        await session.commit()
        plan = await service(session).draft(
            DAY, "Europe/Berlin", actor=principal_of(day.dispatcher)
        )
        routes = route_plan_of(plan)
        assert routes is not None
        (dropped,) = [d for d in routes.dropped if d.visit_id == str(shut.id)]
        assert dropped.reason is DropReason.SITE_CLOSED
        # The next day it is open again.
        await session.execute(
            update(Visit)
            .where(Visit.id == shut.id)
            .values(
                window_starts_at=shut.window_starts_at + timedelta(days=1),
                window_ends_at=shut.window_ends_at + timedelta(days=1),
            )
        )
        await session.commit()
        later = await service(session).draft(
            DAY + timedelta(days=1), "Europe/Berlin", actor=principal_of(day.dispatcher)
        )
        routes = route_plan_of(later)
        assert routes is not None
        assert str(shut.id) in {s.visit_id for r in routes.routes for s in r.stops}

    async def test_work_under_way_at_a_closed_site_stays_on_its_engineers_day(
        self, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        working = day.visits[3]
        site_id = await session.scalar(
            select(WorkOrder.site_id).where(WorkOrder.id == working.work_order_id)
        )
        assert site_id is not None
        session.add(SiteClosure(site_id=site_id, first_day=DAY, last_day=DAY))
        # An emergency worked on the closure day: the engineer is on site now.
        await session.execute(
            update(Visit)
            .where(Visit.id == working.id)
            .values(
                status=VisitStatus.ON_SITE,
                engineer_id=day.other_engineer.id,
                planned_start_at=datetime.combine(DAY, datetime.min.time(), BERLIN)
                + timedelta(hours=9),
            )
        )
        await session.commit()
        plan = await service(session).draft(
            DAY, "Europe/Berlin", actor=principal_of(day.dispatcher)
        )
        routes = route_plan_of(plan)
        assert routes is not None
        assert str(working.id) not in {d.visit_id for d in routes.dropped}
        (route,) = [r for r in routes.routes if r.engineer_id == str(day.other_engineer.id)]
        assert route.stops
        assert route.stops[0].visit_id == str(working.id)
