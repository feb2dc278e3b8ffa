"""How a work order and its visits stay in step when one of them is withdrawn."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from fsm.visits.service import StatusReport
from fsm.workorders.models import (
    CustomFieldDefinition,
    CustomFieldKind,
    RequiredAt,
    WorkOrderStatus,
    WorkOrderType,
)
from fsm.workorders.service import WorkOrderDraft
from fsm.workorders.visit_models import VisitStatus, VisitStatusEvent
from tests.factories import make_engineer, make_site, make_user
from tests.fsm.wo_helpers import move, open_order, plan_visit, principal_of, visits, work_orders


class TestCancellingAWorkOrder:
    async def test_cancels_its_open_visits_with_a_trail_entry(self, session: AsyncSession) -> None:
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        engineer = await make_engineer(session)
        order = await open_order(session, actor=dispatcher)
        assigned = await plan_visit(session, order, actor=dispatcher, engineer=engineer)
        planned = await plan_visit(session, order, actor=dispatcher)

        await move(session, order, WorkOrderStatus.CANCELLED, actor=dispatcher)

        for visit in (assigned, planned):
            await session.refresh(visit)
            assert visit.status is VisitStatus.CANCELLED
        trail = (
            await session.scalars(
                select(VisitStatusEvent.to_status).where(VisitStatusEvent.visit_id == assigned.id)
            )
        ).all()
        assert trail[-1] is VisitStatus.CANCELLED

    async def test_leaves_completed_visits_as_they_were(self, session: AsyncSession) -> None:
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        engineer = await make_engineer(session)
        order = await open_order(session, actor=dispatcher)
        done = await plan_visit(session, order, actor=dispatcher, engineer=engineer)
        service = visits(session)
        for status in (VisitStatus.EN_ROUTE, VisitStatus.ON_SITE, VisitStatus.COMPLETED):
            await service.report_status(
                done.id,
                StatusReport(status=status, labour_minutes=20),
                actor=principal_of(engineer.user),
            )

        await move(session, order, WorkOrderStatus.CANCELLED, actor=dispatcher)

        await session.refresh(done)
        assert done.status is VisitStatus.COMPLETED


class TestUnassigningTheLastVisit:
    async def test_puts_a_scheduled_order_back_to_new(self, session: AsyncSession) -> None:
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        engineer = await make_engineer(session)
        order = await open_order(session, actor=dispatcher)
        visit = await plan_visit(session, order, actor=dispatcher, engineer=engineer)
        assert order.status is WorkOrderStatus.SCHEDULED

        await visits(session).report_status(
            visit.id, StatusReport(status=VisitStatus.PLANNED), actor=principal_of(dispatcher)
        )

        assert order.status == WorkOrderStatus.NEW  # type: ignore[comparison-overlap]


class TestClientRequestsAndCustomFields:
    async def test_a_client_can_open_a_request_despite_fields_required_at_creation(
        self, session: AsyncSession
    ) -> None:
        session.add(
            CustomFieldDefinition(
                work_order_type=WorkOrderType.REPAIR,
                key="asset_tag",
                label="Asset tag",
                kind=CustomFieldKind.TEXT,
                required_at=RequiredAt.CREATION,
            )
        )
        site = await make_site(session)
        client_user = await make_user(session, role=Role.CLIENT)
        client_user.client_id = site.client_id
        await session.flush()

        order = await work_orders(session).create(
            WorkOrderDraft(site_id=site.id, type=WorkOrderType.REPAIR, title="Lift stuck"),
            actor=principal_of(client_user),
        )

        assert order.status is WorkOrderStatus.NEW
        assert order.custom_fields == {}
