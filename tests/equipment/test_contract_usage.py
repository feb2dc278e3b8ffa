"""Contract usage: included labour, the excess, and uncovered work to bill, per period."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import BillingPeriod, Contract, ContractStatus
from equipment.equipment.models import Equipment
from fsm.clients.models import Client
from fsm.users.models import Role
from fsm.workorders.models import WorkOrderType
from fsm.workorders.service import WorkOrderDraft
from fsm.workorders.visit_models import VisitStatus
from tests.auth_helpers import login
from tests.equipment.helpers import make_equipment
from tests.factories import make_client, make_site, make_user
from tests.fsm.wo_helpers import plan_visit, principal_of, work_orders


async def _contract(
    session: AsyncSession, client: Client, *, number: str = "U", valid_from: date = date(2026, 1, 1)
) -> Contract:
    contract = Contract(
        client_id=client.id,
        number=f"{number}-{client.id.hex[:12]}",
        valid_from=valid_from,
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
    unit: Equipment | None = None,
    kind: WorkOrderType = WorkOrderType.REPAIR,
) -> None:
    dispatcher = await make_user(session, role=Role.DISPATCHER)
    site_id = unit.site_id if unit else (await make_site(session, client=client)).id
    order = await work_orders(session).create(
        WorkOrderDraft(
            site_id=site_id, type=kind, title="Fault", equipment_id=unit.id if unit else None
        ),
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


async def _usage(
    client: httpx.AsyncClient, session: AsyncSession, contract: Contract, start: str, end: str
) -> dict[str, Any]:
    staff = await make_user(session, role=Role.DISPATCHER)
    await session.commit()
    response = await client.get(
        f"/api/v1/contracts/{contract.id}/usage?from={start}&to={end}",
        headers=await login(client, staff),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestCountedOnce:
    async def test_uncovered_work_is_billed_on_one_contract_of_two(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session)
        older = await _contract(session, owner, number="A", valid_from=date(2026, 1, 1))
        newer = await _contract(session, owner, number="B", valid_from=date(2026, 2, 1))
        march = datetime(2026, 3, 10, 10, tzinfo=UTC)
        await _done_visit(session, owner, contract=None, minutes=30, completed_at=march)
        await _done_visit(session, owner, contract=newer, minutes=150, completed_at=march)

        on_older = (await _usage(client, session, older, "2026-03-01", "2026-03-31"))["periods"]
        on_newer = (await _usage(client, session, newer, "2026-03-01", "2026-03-31"))["periods"]

        # The uncovered 30 minutes: on the contract that started first, with its call-out.
        assert on_older[0]["outside_minutes"] == 30
        assert on_older[0]["billable_cents"] == 4500 + 5000
        # The other bills only its own work: 150 - 120 included = 30 minutes at 90.00/h.
        assert on_newer[0]["outside_minutes"] == 0
        assert on_newer[0]["used_minutes"] == 150
        assert on_newer[0]["billable_cents"] == 4500
        assert len(on_newer[0]["lines"]) == 1


class TestWarranty:
    async def test_repairs_under_warranty_are_listed_but_not_billed(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session)
        contract = await _contract(session, owner)
        unit = await make_equipment(session, client=owner)
        unit.warranty_ends_on = date(2026, 3, 15)
        at = datetime(2026, 3, 10, 10, tzinfo=UTC)
        # Under warranty: a covered repair and an uncovered one; the maintenance is service.
        await _done_visit(
            session, owner, contract=contract, minutes=200, completed_at=at, unit=unit
        )
        await _done_visit(session, owner, contract=None, minutes=40, completed_at=at, unit=unit)
        await _done_visit(
            session,
            owner,
            contract=contract,
            minutes=90,
            completed_at=at,
            unit=unit,
            kind=WorkOrderType.MAINTENANCE,
        )
        # After the warranty ended (16 March): billed as usual.
        late = datetime(2026, 3, 20, 10, tzinfo=UTC)
        await _done_visit(
            session, owner, contract=contract, minutes=60, completed_at=late, unit=unit
        )

        [march] = (await _usage(client, session, contract, "2026-03-01", "2026-03-31"))["periods"]

        assert march["warranty_minutes"] == 240
        assert march["used_minutes"] == 150  # 90 maintenance + 60 after the warranty
        assert march["excess_minutes"] == 30
        assert march["outside_minutes"] == 0
        assert march["billable_cents"] == 4500  # 30 minutes at 90.00/h, no call-out
        assert sorted(line["is_warranty"] for line in march["lines"]) == [False, False, True, True]


class TestClientsTimeZone:
    async def test_periods_are_cut_at_the_clients_midnight(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session, timezone="Europe/Berlin")
        contract = await _contract(session, owner)
        # 28 Feb 23:30 UTC is 1 March 00:30 in Berlin (CET); 31 March 22:30 UTC is 1 April
        # 00:30 (CEST since 29 March); 31 March 21:30 UTC is still 31 March 23:30.
        for minutes, at in (
            (10, datetime(2026, 2, 28, 23, 30, tzinfo=UTC)),
            (20, datetime(2026, 3, 31, 21, 30, tzinfo=UTC)),
            (40, datetime(2026, 3, 31, 22, 30, tzinfo=UTC)),
        ):
            await _done_visit(session, owner, contract=contract, minutes=minutes, completed_at=at)

        usage = await _usage(client, session, contract, "2026-02-01", "2026-04-30")

        assert usage["timezone"] == "Europe/Berlin"
        assert [p["used_minutes"] for p in usage["periods"]] == [0, 30, 40]
