"""A new request finds the contract that covers it, and with it the contract's SLA policy."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import Contract, ContractStatus, Coverage, IntervalUnit
from equipment.equipment.models import Equipment
from fsm.clients.models import Client
from fsm.db import utcnow
from fsm.users.models import Role
from mobile_api.engineer.queries import EngineerReads
from tests.auth_helpers import login
from tests.equipment.helpers import make_equipment
from tests.factories import make_client, make_policy, make_site, make_user


async def _contract(
    session: AsyncSession,
    client: Client,
    *,
    covering: Equipment | None = None,
    status: ContractStatus = ContractStatus.ACTIVE,
) -> Contract:
    today = utcnow().date()
    policy = await make_policy(session, reaction_minutes=15, is_default=False)
    contract = Contract(
        client_id=client.id,
        number=f"K-{client.id.hex[:10]}-{status}",
        valid_from=today - timedelta(days=30),
        valid_to=today + timedelta(days=300),
        status=status,
        sla_policy_id=policy.id,
    )
    session.add(contract)
    await session.flush()
    if covering is not None:
        session.add(
            Coverage(
                contract_id=contract.id,
                equipment_id=covering.id,
                period=Range(contract.valid_from, contract.valid_to + timedelta(days=1)),
                is_active=status is ContractStatus.ACTIVE,
                interval_count=3,
                interval_unit=IntervalUnit.MONTH,
            )
        )
        await session.flush()
    return contract


async def _open(
    client: httpx.AsyncClient, headers: dict[str, str], site_id: str, equipment_id: str | None
) -> httpx.Response:
    body = {"site_id": site_id, "type": "repair", "title": "Lift stuck"}
    if equipment_id is not None:
        body["equipment_id"] = equipment_id
    return await client.post("/api/v1/work-orders", json=body, headers=headers)


class TestContractResolution:
    async def test_equipment_under_contract_brings_its_contract_and_policy(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session)
        site = await make_site(session, client=owner)
        unit = await make_equipment(session, client=owner, site=site)
        contract = await _contract(session, owner, covering=unit)
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()

        response = await _open(client, await login(client, staff), str(site.id), str(unit.id))

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["contract_id"] == str(contract.id)
        assert body["sla"]["policy_id"] == str(contract.sla_policy_id)

    async def test_a_suspended_contract_covers_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session)
        site = await make_site(session, client=owner)
        unit = await make_equipment(session, client=owner, site=site)
        await _contract(session, owner, covering=unit, status=ContractStatus.SUSPENDED)
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()

        response = await _open(client, await login(client, staff), str(site.id), str(unit.id))

        assert response.status_code == 201, response.text
        assert response.json()["contract_id"] is None

    async def test_without_equipment_the_clients_only_contract_applies(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session)
        site = await make_site(session, client=owner)
        contract = await _contract(session, owner)
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()

        response = await _open(client, await login(client, staff), str(site.id), None)

        assert response.json()["contract_id"] == str(contract.id)

    async def test_equipment_at_another_site_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session)
        site = await make_site(session, client=owner)
        elsewhere = await make_site(session, client=owner)
        unit = await make_equipment(session, client=owner, site=elsewhere)
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()

        response = await _open(client, await login(client, staff), str(site.id), str(unit.id))

        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "equipment_id"

    async def test_a_client_cannot_name_another_clients_equipment(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session)
        await make_site(session, client=owner)
        other_unit = await make_equipment(session)
        client_user = await make_user(session, role=Role.CLIENT, client=owner)
        await session.commit()

        response = await client.post(
            "/mobile/v1/client/requests",
            json={"title": "Lift stuck", "equipment_id": str(other_unit.id)},
            headers=await login(client, client_user),
        )

        assert response.status_code == 409, response.text
        assert response.json()["error"]["details"][0]["field"] == "equipment_id"


class TestOneRuleOfCoverage:
    """Intake, the back-office card and the engineer app ask one question the same way."""

    async def test_a_unit_taken_over_by_another_company_is_not_covered_by_the_old_contract(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        before = await make_client(session)
        unit = await make_equipment(session, client=before)
        await _contract(session, before, covering=unit)
        after = await make_client(session)
        site = await make_site(session, client=after)
        unit.client_id, unit.site_id = after.id, site.id
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        headers = await login(client, staff)

        card = await client.get(f"/api/v1/equipment/{unit.id}/card", headers=headers)
        opened = await _open(client, headers, str(site.id), str(unit.id))
        engineer_view = await EngineerReads(session).coverage(unit.id, utcnow().date())

        assert card.status_code == 200, card.text
        assert card.json()["coverage"] is None
        assert opened.status_code == 201, opened.text
        assert opened.json()["contract_id"] is None
        assert engineer_view.is_in_contract is False

    async def test_the_owners_contract_covers_it_on_every_surface(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session)
        site = await make_site(session, client=owner)
        unit = await make_equipment(session, client=owner, site=site)
        contract = await _contract(session, owner, covering=unit)
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        headers = await login(client, staff)

        card = await client.get(f"/api/v1/equipment/{unit.id}/card", headers=headers)
        opened = await _open(client, headers, str(site.id), str(unit.id))
        engineer_view = await EngineerReads(session).coverage(unit.id, utcnow().date())

        assert card.json()["coverage"]["contract_id"] == str(contract.id)
        assert opened.json()["contract_id"] == str(contract.id)
        assert engineer_view.contract_number == contract.number
