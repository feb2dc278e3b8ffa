"""Maintenance compliance: service periods ending in a month, judged by when their visit was
done at the client, by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import Contract, ContractStatus, Coverage, IntervalUnit
from equipment.service_periods.models import PeriodStatus, ServicePeriod
from fsm.users.models import Role
from fsm.workorders.models import WorkOrderType
from fsm.workorders.service import WorkOrderDraft
from fsm.workorders.visit_models import VisitStatus
from tests.auth_helpers import login
from tests.equipment.helpers import make_equipment
from tests.factories import make_client, make_user
from tests.fsm.wo_helpers import plan_visit, principal_of, work_orders

URL = "/api/v1/reports/maintenance-compliance"


class TestMaintenanceCompliance:
    async def test_on_time_late_missed_and_open_as_computed_by_hand(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session, timezone="Europe/Berlin")
        unit = await make_equipment(session, client=owner)
        staff = await make_user(session, role=Role.DISPATCHER)
        contract = Contract(
            client_id=owner.id,
            number=f"MC-{owner.id.hex[:10]}",
            valid_from=date(2026, 1, 1),
            valid_to=date(2027, 12, 31),
            status=ContractStatus.ACTIVE,
        )
        session.add(contract)
        await session.flush()
        coverage = Coverage(
            contract_id=contract.id,
            equipment_id=unit.id,
            period=Range(date(2026, 1, 1), date(2028, 1, 1)),
            is_active=True,
            interval_count=1,
            interval_unit=IntervalUnit.MONTH,
        )
        session.add(coverage)
        await session.flush()

        async def period(ends: date, done: datetime | None) -> None:
            row = ServicePeriod(
                coverage_id=coverage.id,
                contract_id=contract.id,
                equipment_id=unit.id,
                starts_on=ends - timedelta(days=28),
                ends_on=ends,
                status=PeriodStatus.SCHEDULED,
            )
            session.add(row)
            await session.flush()
            if done is None:
                return
            order = await work_orders(session).create(
                WorkOrderDraft(
                    site_id=unit.site_id,
                    type=WorkOrderType.MAINTENANCE,
                    title="Service",
                    equipment_id=unit.id,
                ),
                actor=principal_of(staff),
            )
            visit = await plan_visit(session, order, actor=staff)
            visit.status, visit.completed_at = VisitStatus.COMPLETED, done
            row.work_order_id = order.id
            await session.flush()

        await period(date(2026, 3, 10), datetime(2026, 3, 9, 12, tzinfo=UTC))  # on time
        await period(date(2026, 3, 15), datetime(2026, 4, 2, 9, tzinfo=UTC))  # late
        await period(date(2026, 3, 20), None)  # missed: over, never done
        # 31 March 23:30 UTC is 1 April 01:30 in Berlin: a day late.
        await period(date(2026, 3, 31), datetime(2026, 3, 31, 23, 30, tzinfo=UTC))
        await period(date(2026, 4, 30), None)  # April's, not in March
        await session.commit()

        response = await client.get(
            f"{URL}?month=2026-03&contract_id={contract.id}", headers=await login(client, staff)
        )
        as_xlsx = await client.get(
            f"{URL}?month=2026-03&contract_id={contract.id}&format=xlsx",
            headers=await login(client, staff),
        )

        assert response.status_code == 200, response.text
        [line] = response.json()["contracts"]
        assert (line["due"], line["on_time"], line["late"], line["missed"]) == (4, 1, 2, 1)
        assert line["open"] == 0
        assert line["on_time_pct"] == 25.0
        wrong = response.json()["late_or_missed"]
        assert [(p["ends_on"], p["outcome"], p["done_on"]) for p in wrong] == [
            ("2026-03-15", "late", "2026-04-02"),
            ("2026-03-20", "missed", None),
            ("2026-03-31", "late", "2026-04-01"),
        ]
        assert as_xlsx.status_code == 200
        assert as_xlsx.content[:2] == b"PK"  # a zip: the spreadsheet

    async def test_clients_cannot_read_it(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await make_user(session, role=Role.CLIENT, client=await make_client(session))
        await session.commit()

        response = await client.get(f"{URL}?month=2026-03", headers=await login(client, user))

        assert response.status_code == 403
