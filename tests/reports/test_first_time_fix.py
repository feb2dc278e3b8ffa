"""First-time fix rate per engineer, equipment model and work type; hand-computed."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.equipment.models import Equipment
from fsm.engineers.models import Engineer
from fsm.users.models import Role
from fsm.visits.service import StatusReport
from fsm.workorders.models import WorkOrder, WorkOrderStatus, WorkOrderType
from fsm.workorders.service import WorkOrderDraft
from fsm.workorders.visit_models import VisitStatus
from tests.auth_helpers import login
from tests.equipment.helpers import make_equipment, make_equipment_model
from tests.factories import make_client, make_engineer, make_user
from tests.fsm.wo_helpers import plan_visit, principal_of, visits, work_orders

URL = "/api/v1/reports/first-time-fix"


class TestFirstTimeFix:
    async def test_rates_three_ways_as_computed_by_hand(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session, timezone="Europe/Berlin")
        model = await make_equipment_model(session)
        units = [await make_equipment(session, client=owner, model=model) for _ in range(3)]
        staff = await make_user(session, role=Role.DISPATCHER)
        anna = await make_engineer(
            session, user=await make_user(session, role=Role.ENGINEER, full_name="Anna Alpha")
        )
        boris = await make_engineer(
            session, user=await make_user(session, role=Role.ENGINEER, full_name="Boris Beta")
        )

        async def request(unit: Equipment, kind: WorkOrderType, created: datetime) -> WorkOrder:
            order = await work_orders(session).create(
                WorkOrderDraft(
                    site_id=unit.site_id, type=kind, title="Fault", equipment_id=unit.id
                ),
                actor=principal_of(staff),
            )
            order.created_at = created
            return order

        async def visit(order: WorkOrder, engineer: Engineer) -> None:
            planned = await plan_visit(session, order, actor=staff, engineer=engineer)
            actor = principal_of(engineer.user)
            for status in (VisitStatus.EN_ROUTE, VisitStatus.ON_SITE):
                await visits(session).report_status(
                    planned.id, StatusReport(status=status), actor=actor
                )
            await visits(session).report_status(
                planned.id,
                StatusReport(status=VisitStatus.COMPLETED, labour_minutes=30),
                actor=actor,
            )

        def resolve(order: WorkOrder, at: datetime) -> None:
            order.status, order.resolved_at = WorkOrderStatus.RESOLVED, at

        march = datetime(2026, 3, 2, 9, tzinfo=UTC)
        # Fixed at Anna's one visit.
        once = await request(units[0], WorkOrderType.REPAIR, march)
        await visit(once, anna)
        resolve(once, datetime(2026, 3, 5, 12, tzinfo=UTC))
        # Anna needed two visits.
        twice = await request(units[1], WorkOrderType.REPAIR, march)
        await visit(twice, anna)
        await visit(twice, anna)
        resolve(twice, datetime(2026, 3, 12, 12, tzinfo=UTC))
        # Boris fixed it in one visit, but the unit failed again five days later.
        again = await request(units[2], WorkOrderType.INSPECTION, march)
        await visit(again, boris)
        resolve(again, datetime(2026, 3, 20, 12, tzinfo=UTC))
        await request(units[2], WorkOrderType.REPAIR, datetime(2026, 3, 25, 9, tzinfo=UTC))
        # 31 March 23:30 UTC is April in Berlin: not March's.
        april = await request(units[0], WorkOrderType.REPAIR, march)
        await visit(april, boris)
        resolve(april, datetime(2026, 3, 31, 23, 30, tzinfo=UTC))
        await session.commit()

        response = await client.get(
            f"{URL}?month=2026-03&client_id={owner.id}", headers=await login(client, staff)
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert [(g["name"], g["resolved"], g["rate_pct"]) for g in body["engineers"]] == [
            ("Anna Alpha", 2, 50.0),
            ("Boris Beta", 1, 0.0),
        ]
        [by_model] = body["equipment_models"]
        assert (by_model["resolved"], by_model["fixed_first_time"]) == (3, 1)
        assert by_model["rate_pct"] == 33.3
        assert [(g["name"], g["rate_pct"]) for g in body["work_types"]] == [
            ("inspection", 0.0),
            ("repair", 50.0),
        ]
