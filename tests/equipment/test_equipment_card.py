"""The equipment card: one request, a fixed number of queries, nothing of another client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from equipment.contracts.models import Contract, ContractStatus, Coverage, IntervalUnit
from equipment.equipment.models import Equipment
from equipment.service_periods.models import PeriodStatus, ServicePeriod
from fsm.db import utcnow
from fsm.users.models import Role
from fsm.workorders.models import Priority, WorkOrderType
from fsm.workorders.service import WorkOrderDraft
from tests.auth_helpers import login
from tests.equipment.helpers import make_equipment
from tests.factories import make_client, make_site, make_user
from tests.fsm.wo_helpers import plan_visit, principal_of, work_orders


async def _under_contract(session: AsyncSession, unit: Equipment) -> Contract:
    today = utcnow().date()
    contract = Contract(
        client_id=unit.client_id,
        number=f"K-{unit.serial_number}",
        valid_from=today - timedelta(days=40),
        valid_to=today + timedelta(days=300),
        status=ContractStatus.ACTIVE,
    )
    session.add(contract)
    await session.flush()
    coverage = Coverage(
        contract_id=contract.id,
        equipment_id=unit.id,
        period=Range(contract.valid_from, contract.valid_to + timedelta(days=1)),
        is_active=True,
        interval_count=3,
        interval_unit=IntervalUnit.MONTH,
        visit_minutes=45,
    )
    session.add(coverage)
    await session.flush()
    for starts, ends in ((-40, 49), (50, 139)):
        session.add(
            ServicePeriod(
                coverage_id=coverage.id,
                contract_id=contract.id,
                equipment_id=unit.id,
                starts_on=today + timedelta(days=starts),
                ends_on=today + timedelta(days=ends),
                status=PeriodStatus.PLANNED,
            )
        )
    await session.flush()
    return contract


async def _history(session: AsyncSession, unit: Equipment, *, orders: int) -> None:
    dispatcher = await make_user(session, role=Role.DISPATCHER)
    for n in range(orders):
        order = await work_orders(session).create(
            WorkOrderDraft(
                site_id=unit.site_id,
                type=WorkOrderType.REPAIR,
                title=f"Fault {n}",
                priority=Priority.HIGH,
                equipment_id=unit.id,
            ),
            actor=principal_of(dispatcher),
        )
        await plan_visit(session, order, actor=dispatcher)


@contextmanager
def counting_queries(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement run while the block is open."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


class TestCard:
    async def test_shows_coverage_periods_visits_and_open_work(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        unit = await make_equipment(session)
        contract = await _under_contract(session, unit)
        await _history(session, unit, orders=2)
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()

        response = await client.get(
            f"/api/v1/equipment/{unit.id}/card", headers=await login(client, staff)
        )

        assert response.status_code == 200, response.text
        card = response.json()
        assert card["coverage"]["contract_number"] == contract.number
        assert card["current_period"]["starts_on"] < card["next_period"]["starts_on"]
        assert len(card["last_visits"]) == 2
        assert len(card["open_work_orders"]) == 2
        assert {o["priority"] for o in card["open_work_orders"]} == {"high"}

    async def test_the_number_of_queries_does_not_grow_with_history(
        self, client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        small = await make_equipment(session)
        large = await make_equipment(session)
        await _history(session, small, orders=1)
        await _history(session, large, orders=4)
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        headers = await login(client, staff)

        with counting_queries(engine) as for_small:
            await client.get(f"/api/v1/equipment/{small.id}/card", headers=headers)
        with counting_queries(engine) as for_large:
            response = await client.get(f"/api/v1/equipment/{large.id}/card", headers=headers)

        assert len(response.json()["last_visits"]) == 4
        assert len(for_large) == len(for_small)


class TestCardIsolation:
    async def test_a_client_reads_its_own_unit_in_its_app_not_the_back_office_card(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session)
        unit = await make_equipment(
            session, client=owner, site=await make_site(session, client=owner)
        )
        await _history(session, unit, orders=1)
        client_user = await make_user(session, role=Role.CLIENT, client=owner)
        await session.commit()
        headers = await login(client, client_user)

        card = await client.get(f"/api/v1/equipment/{unit.id}/card", headers=headers)
        in_app = await client.get(f"/mobile/v1/client/equipment/{unit.id}", headers=headers)

        assert card.status_code == 403
        assert in_app.status_code == 200, in_app.text
        (request,) = in_app.json()["open_requests"]
        assert "priority" not in request

    async def test_another_clients_unit_is_not_found_in_the_client_app(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        unit = await make_equipment(session)
        stranger = await make_user(session, role=Role.CLIENT)
        await session.commit()

        response = await client.get(
            f"/mobile/v1/client/equipment/{unit.id}", headers=await login(client, stranger)
        )

        assert response.status_code == 404

    async def test_an_engineer_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        unit = await make_equipment(session)
        engineer = await make_user(session, role=Role.ENGINEER)
        await session.commit()

        response = await client.get(
            f"/api/v1/equipment/{unit.id}/card", headers=await login(client, engineer)
        )

        assert response.status_code == 403
