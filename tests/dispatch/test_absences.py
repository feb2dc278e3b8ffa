"""Planning leaves absent engineers out: a whole day off, or hours off inside the shift."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.service import route_plan_of
from fsm.engineers.models import AbsenceKind, EngineerAbsence
from tests.dispatch.test_service import BERLIN, DAY, service, small_day
from tests.fsm.wo_helpers import principal_of


class TestAbsentEngineers:
    async def test_an_engineer_away_all_day_gets_nothing_and_the_other_takes_what_they_can(
        self, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        session.add(
            EngineerAbsence(
                engineer_id=day.other_engineer.id,
                kind=AbsenceKind.SICKNESS,
                starts_at=datetime.combine(DAY, time(), BERLIN),
                ends_at=datetime.combine(DAY + timedelta(days=1), time(), BERLIN),
            )
        )
        await session.commit()
        plan = await service(session).draft(
            DAY, "Europe/Berlin", actor=principal_of(day.dispatcher)
        )
        assert plan.engineer_ids == [str(day.gas_engineer.id)]
        routes = route_plan_of(plan)
        assert routes is not None
        assert {r.engineer_id for r in routes.routes if r.stops} == {str(day.gas_engineer.id)}
        assert routes.metrics.served_count == 4

    async def test_no_stop_falls_inside_hours_away(self, session: AsyncSession) -> None:
        day = await small_day(session)
        away_from = datetime.combine(DAY, time(10), BERLIN)
        away_to = datetime.combine(DAY, time(13), BERLIN)
        for engineer in (day.gas_engineer, day.other_engineer):
            session.add(
                EngineerAbsence(
                    engineer_id=engineer.id,
                    kind=AbsenceKind.TRAINING,
                    starts_at=away_from,
                    ends_at=away_to,
                )
            )
        await session.commit()
        plan = await service(session).draft(
            DAY, "Europe/Berlin", actor=principal_of(day.dispatcher)
        )
        routes = route_plan_of(plan)
        assert routes is not None
        stops = [s for r in routes.routes for s in r.stops]
        assert stops  # the mornings and afternoons still serve visits
        minutes = {str(v.id): v.estimated_minutes for v in day.visits}
        for stop in stops:
            assert stop.start_at is not None
            ends = stop.start_at + timedelta(minutes=minutes[stop.visit_id])
            # Checked on the intervals, whatever the solver did.
            assert ends <= away_from or stop.start_at >= away_to, stop
