"""Labour cost and margin per contract: labour at each engineer's cost rate against what the
contract bills; hand-computed. Rates are staff-only."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import BillingPeriod, Contract, ContractStatus
from fsm.clients.models import Client
from fsm.engineers.models import Engineer
from fsm.users.models import Role, User
from fsm.workorders.visit_models import VisitStatus
from tests.auth_helpers import login
from tests.factories import make_client, make_engineer, make_site, make_user
from tests.fsm.wo_helpers import open_order, plan_visit

URL = "/api/v1/reports/labour-margin"


async def _done(
    session: AsyncSession,
    owner: Client,
    staff: User,
    engineer: Engineer,
    contract: Contract | None,
    minutes: int,
) -> None:
    order = await open_order(session, site=await make_site(session, client=owner), actor=staff)
    order.contract_id = contract.id if contract else None
    visit = await plan_visit(session, order, actor=staff, engineer=engineer)
    visit.status = VisitStatus.COMPLETED
    visit.completed_at = datetime(2026, 3, 10, 10, tzinfo=UTC)
    visit.labour_minutes = minutes
    await session.flush()


class TestLabourMargin:
    async def test_cost_at_each_engineers_rate_against_what_is_billed(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session, timezone="Europe/Berlin")
        contract = Contract(
            client_id=owner.id,
            number=f"LM-{owner.id.hex[:10]}",
            valid_from=date(2026, 1, 1),
            valid_to=date(2026, 12, 31),
            status=ContractStatus.ACTIVE,
            billing_period=BillingPeriod.MONTH,
            included_labour_minutes=120,
            hourly_rate_cents=9000,
            callout_fee_cents=5000,
        )
        session.add(contract)
        admin = await make_user(session, role=Role.ADMIN)
        staff = await make_user(session, role=Role.DISPATCHER)
        costed, uncosted = await make_engineer(session), await make_engineer(session)
        await session.flush()
        await _done(session, owner, staff, costed, contract, 90)
        await _done(session, owner, staff, costed, contract, 60)
        await _done(session, owner, staff, uncosted, None, 30)
        await session.commit()
        admin_headers = await login(client, admin)

        rate = await client.put(
            f"/api/v1/reports/cost-rates/{costed.id}",
            json={"cost_rate_cents": 6000},
            headers=admin_headers,
        )
        response = await client.get(
            f"{URL}?month=2026-03&contract_id={contract.id}", headers=await login(client, staff)
        )

        assert rate.status_code == 200, rate.text
        assert response.status_code == 200, response.text
        [line] = response.json()["contracts"]
        assert (line["visits"], line["labour_minutes"], line["uncosted_visits"]) == (3, 180, 1)
        # 150 minutes at 60.00 an hour; the engineer without a rate is not guessed.
        assert line["labour_cost_cents"] == 15000
        # 30 minutes past the included 120 and the uncovered 30 minutes at 90.00 an hour,
        # plus the uncovered visit's call-out of 50.00.
        assert line["billable_cents"] == 4500 + 4500 + 5000
        assert line["margin_cents"] == 14000 - 15000

    async def test_only_admins_set_rates_and_clients_read_no_margin(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        engineer = await make_engineer(session)
        staff = await make_user(session, role=Role.DISPATCHER)
        user = await make_user(session, role=Role.CLIENT, client=await make_client(session))
        await session.commit()
        url = f"/api/v1/reports/cost-rates/{engineer.id}"

        for who in (staff, user, engineer.user):
            refused = await client.put(
                url, json={"cost_rate_cents": 1}, headers=await login(client, who)
            )
            assert refused.status_code == 403
        margin = await client.get(f"{URL}?month=2026-03", headers=await login(client, user))
        assert margin.status_code == 403
        bad = await client.put(
            url,
            json={"cost_rate_cents": -5},
            headers=await login(client, await make_user(session, role=Role.ADMIN)),
        )
        assert bad.status_code == 422
