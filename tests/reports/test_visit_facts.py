"""The visit facts first-time fix and satisfaction read (how many visits of a request went on
site, who completed the last one) follow every change to the visits, made by any writer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from fsm.engineers.models import Engineer
from fsm.users.models import Role
from fsm.visits.service import StatusReport
from fsm.workorders.models import WorkOrder
from fsm.workorders.visit_models import Visit, VisitStatus, VisitStatusEvent
from reports.models import ReportVisitFacts
from tests.conftest import Live
from tests.factories import make_engineer, make_user
from tests.fsm.wo_helpers import open_order, plan_visit, principal_of, visits


async def _facts(session: AsyncSession, order: WorkOrder) -> tuple[int, object] | None:
    row = (
        await session.execute(
            select(ReportVisitFacts.on_site_visits, ReportVisitFacts.engineer_id).where(
                ReportVisitFacts.work_order_id == order.id
            )
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


class TestVisitFacts:
    async def test_follow_visits_going_on_site_completing_moving_and_going(
        self, session: AsyncSession
    ) -> None:
        staff = await make_user(session, role=Role.DISPATCHER)
        anna = await make_engineer(session, user=await make_user(session, role=Role.ENGINEER))
        boris = await make_engineer(session, user=await make_user(session, role=Role.ENGINEER))
        order = await open_order(session, actor=staff)

        async def visit(engineer: Engineer, *, complete: bool) -> Visit:
            planned = await plan_visit(session, order, actor=staff, engineer=engineer)
            actor = principal_of(engineer.user)
            for status in (VisitStatus.EN_ROUTE, VisitStatus.ON_SITE):
                await visits(session).report_status(
                    planned.id, StatusReport(status=status), actor=actor
                )
            if complete:
                await visits(session).report_status(
                    planned.id,
                    StatusReport(status=VisitStatus.COMPLETED, labour_minutes=30),
                    actor=actor,
                )
            return planned

        # Planned only: nothing went on site, nobody completed.
        planned = await plan_visit(session, order, actor=staff, engineer=anna)
        assert await _facts(session, order) in (None, (0, None))
        await session.execute(delete(Visit).where(Visit.id == planned.id))

        first = await visit(anna, complete=True)
        assert await _facts(session, order) == (1, anna.id)
        second = await visit(boris, complete=False)
        assert await _facts(session, order) == (2, anna.id)
        await visits(session).report_status(
            second.id,
            StatusReport(status=VisitStatus.COMPLETED, labour_minutes=20),
            actor=principal_of(boris.user),
        )
        assert await _facts(session, order) == (2, boris.id)

        # Boris's completion corrected to before Anna's: hers is the last one again.
        await session.execute(
            update(Visit)
            .where(Visit.id == second.id)
            .values(completed_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
        assert await _facts(session, order) == (2, anna.id)

        # Anna's visit moved to another request: this one keeps Boris's alone.
        other = await open_order(session, actor=staff)
        await session.execute(
            update(Visit).where(Visit.id == first.id).values(work_order_id=other.id)
        )
        assert await _facts(session, order) == (1, boris.id)
        assert await _facts(session, other) == (1, anna.id)

        # An on-site event taken back (a correction): Boris's visit never went on site.
        await session.execute(
            delete(VisitStatusEvent).where(
                VisitStatusEvent.visit_id == second.id,
                VisitStatusEvent.to_status == VisitStatus.ON_SITE,
            )
        )
        assert await _facts(session, order) == (0, boris.id)

        await session.execute(delete(Visit).where(Visit.id == second.id))
        assert await _facts(session, order) == (0, None)


class TestVisitFactsUnderConcurrency:
    async def test_two_visits_going_on_site_at_once_in_two_transactions_both_count(
        self, live: Live
    ) -> None:
        async with live.factory() as session:
            staff = await make_user(session, role=Role.DISPATCHER)
            anna = await make_engineer(session, user=await make_user(session, role=Role.ENGINEER))
            order = await open_order(session, actor=staff)
            first = await plan_visit(session, order, actor=staff, engineer=anna)
            second = await plan_visit(session, order, actor=staff, engineer=anna)
            await session.commit()
            order_id, ids = order.id, (first.id, second.id)

        async def on_site(connection: AsyncConnection, visit_id: uuid.UUID) -> None:
            await connection.execute(
                insert(VisitStatusEvent).values(visit_id=visit_id, to_status=VisitStatus.ON_SITE)
            )

        async with live.engine.connect() as one, live.engine.connect() as two:
            await one.begin()
            await two.begin()
            await on_site(one, ids[0])
            # The second waits on the first's order; it must then count the first's visit.
            waiting = asyncio.create_task(on_site(two, ids[1]))
            await asyncio.sleep(0.5)
            assert not waiting.done()
            await one.commit()
            await waiting
            await two.commit()

        async with live.factory() as session:
            facts = await session.get(ReportVisitFacts, order_id)
            assert facts is not None
            assert facts.on_site_visits == 2
