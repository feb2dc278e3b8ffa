"""Contract usage: included labour, the excess, and uncovered work to bill, per period."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import BillingPeriod, Contract, ContractStatus
from fsm.clients.models import Client
from fsm.users.models import Role
from fsm.visits.models import VisitStatus
from fsm.workorders.models import WorkOrderType
from fsm.workorders.service import WorkOrderDraft
from tests.auth_helpers import login
from tests.factories import make_client, make_site, make_user
from tests.fsm.wo_helpers import plan_visit, principal_of, work_orders


async def _contract(session: AsyncSession, client: Client) -> Contract:
    contract = Contract(
        client_id=client.id,
        number=f"U-{client.id.hex[:12]}",
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
        status=ContractStatus.ACTIVE,
        billing_period=BillingPeriod.MONTH,
        included_labour_minutes=120,
        hourly_rate_cents=9000,
        callout_fee_cents=5000,
    )
    session.add(contract)
    await session.flush()
    return contract


async def _done_visit(
    session: AsyncSession,
    client: Client,
    *,
    contract: Contract | None,
    minutes: int,
    completed_at: datetime,
) -> None:
    dispatcher = await make_user(session, role=Role.DISPATCHER)
    site = await make_site(session, client=client)
    order = await work_orders(session).create(
        WorkOrderDraft(site_id=site.id, type=WorkOrderType.REPAIR, title="Fault"),
        actor=principal_of(dispatcher),
    )
    order.contract_id = contract.id if contract else None
    visit = await plan_visit(session, order, actor=dispatcher)
    visit.status = VisitStatus.COMPLETED
    visit.completed_at = completed_at
    visit.labour_minutes = minutes
    await session.flush()


class TestUsage:
    async def test_counts_included_excess_and_outside_work_per_month(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session)
        contract = await _contract(session, owner)
        march = datetime(2026, 3, 10, 10, tzinfo=UTC)
        await _done_visit(session, owner, contract=contract, minutes=100, completed_at=march)
        await _done_visit(session, owner, contract=contract, minutes=80, completed_at=march)
        await _done_visit(session, owner, contract=None, minutes=30, completed_at=march)
        await _done_visit(
            session,
            owner,
            contract=contract,
            minutes=60,
            completed_at=datetime(2026, 4, 2, 9, tzinfo=UTC),
        )
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()

        response = await client.get(
            f"/api/v1/contracts/{contract.id}/usage?from=2026-03-01&to=2026-04-30",
            headers=await login(client, staff),
        )

        assert response.status_code == 200, response.text
        march_usage, april_usage = response.json()["periods"]
        assert march_usage["starts_on"] == "2026-03-01"
        assert march_usage["used_minutes"] == 180
        assert march_usage["excess_minutes"] == 60
        assert march_usage["outside_minutes"] == 30
        assert march_usage["billable_minutes"] == 90
        # 90 minutes at 90.00 an hour, plus one call-out of 50.00 for the uncovered visit.
        assert march_usage["billable_cents"] == 13500 + 5000
        assert april_usage["used_minutes"] == 60
        assert april_usage["billable_cents"] == 0

    async def test_another_clients_work_is_not_counted(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session)
        contract = await _contract(session, owner)
        other = await make_client(session)
        await _done_visit(
            session,
            other,
            contract=None,
            minutes=45,
            completed_at=datetime(2026, 3, 10, tzinfo=UTC),
        )
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()

        response = await client.get(
            f"/api/v1/contracts/{contract.id}/usage?from=2026-03-01&to=2026-03-31",
            headers=await login(client, staff),
        )

        assert response.json()["periods"][0]["lines"] == []

    async def test_a_reversed_range_names_to(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        contract = await _contract(session, await make_client(session))
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()

        response = await client.get(
            f"/api/v1/contracts/{contract.id}/usage?from=2026-05-01&to=2026-03-01",
            headers=await login(client, staff),
        )

        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "to"

    async def test_clients_and_engineers_cannot_pull_billing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session)
        contract = await _contract(session, owner)
        client_user = await make_user(session, role=Role.CLIENT, client=owner)
        engineer = await make_user(session, role=Role.ENGINEER)
        await session.commit()
        url = f"/api/v1/contracts/{contract.id}/usage?from=2026-03-01&to=2026-03-31"

        for user in (client_user, engineer):
            response = await client.get(url, headers=await login(client, user))
            assert response.status_code == 403
