"""Contracts: terms, coverage of a client's units, status moves, overlap and isolation."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.equipment.models import Equipment
from fsm.clients.models import Client
from fsm.users.models import Role
from tests.equipment.helpers import make_equipment
from tests.factories import make_client, make_policy, make_skill
from tests.fsm.helpers import (
    assert_forbidden,
    assert_not_found,
    error_of,
    invalid_fields,
    signed_in,
    unknown_references,
)

CONTRACTS = "/api/v1/contracts"


async def _staff(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    return (await signed_in(client, session, Role.DISPATCHER))[1]


async def _client_user(
    client: httpx.AsyncClient, session: AsyncSession, company: Client
) -> dict[str, str]:
    return (await signed_in(client, session, Role.CLIENT, of_client=company))[1]


def _new_contract(company: Client, **overrides: Any) -> dict[str, Any]:
    return {
        "client_id": str(company.id),
        "number": "C-1",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
        **overrides,
    }


async def _create(
    client: httpx.AsyncClient, headers: dict[str, str], company: Client, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        CONTRACTS, json=_new_contract(company, **overrides), headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _cover(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    contract_id: str,
    unit: Equipment,
    **overrides: Any,
) -> httpx.Response:
    body = {
        "equipment_id": str(unit.id),
        "interval_count": 3,
        "interval_unit": "month",
        **overrides,
    }
    return await client.post(f"{CONTRACTS}/{contract_id}/coverages", json=body, headers=headers)


async def _move(
    client: httpx.AsyncClient, headers: dict[str, str], contract_id: str, event: str
) -> httpx.Response:
    return await client.post(f"{CONTRACTS}/{contract_id}/{event}", headers=headers)


class TestCreateContract:
    async def test_draft_with_terms(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        company = await make_client(session)
        policy = await make_policy(session)
        headers = await _staff(client, session)
        body = await _create(
            client,
            headers,
            company,
            sla_policy_id=str(policy.id),
            billing_period="quarter",
            included_labour_minutes=600,
            hourly_rate_cents=9500,
            callout_fee_cents=4000,
        )
        assert body["status"] == "draft"
        assert body["billing_period"] == "quarter"
        assert body["hourly_rate_cents"] == 9500
        fetched = await client.get(f"{CONTRACTS}/{body['id']}", headers=headers)
        assert fetched.json() == body

    async def test_number_unique(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)
        await _create(client, headers, company)
        again = await client.post(CONTRACTS, json=_new_contract(company), headers=headers)
        assert error_of(again, 409)["code"] == "contract_number_taken"

    async def test_valid_to_before_valid_from_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        response = await client.post(
            CONTRACTS,
            json=_new_contract(company, valid_from="2026-02-01", valid_to="2026-01-31"),
            headers=await _staff(client, session),
        )
        assert invalid_fields(response) == ["valid_to"]

    async def test_one_day_contract_is_fine(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)
        await _create(client, headers, company, valid_from="2026-02-01", valid_to="2026-02-01")

    async def test_client_user_may_not_create(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _client_user(client, session, company)
        assert_forbidden(await client.post(CONTRACTS, json=_new_contract(company), headers=headers))


class TestClientIsolation:
    async def test_client_user_is_refused_even_their_own(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        # Rates and included minutes are for the office; the client app has its own view.
        company = await make_client(session)
        staff = await _staff(client, session)
        own = await _create(client, staff, company, number="OWN")
        headers = await _client_user(client, session, company)

        for path in (CONTRACTS, f"{CONTRACTS}/{own['id']}", f"{CONTRACTS}/{own['id']}/periods"):
            response = await client.get(path, headers=headers)
            assert_forbidden(response)
            assert "hourly_rate_cents" not in response.text
            assert "OWN" not in response.text

    async def test_client_user_may_not_change(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        unit = await make_equipment(session, client=company)
        staff = await _staff(client, session)
        contract = await _create(client, staff, company)
        headers = await _client_user(client, session, company)
        assert_forbidden(await _cover(client, headers, contract["id"], unit))
        for event in ("activate", "suspend", "expire"):
            assert_forbidden(await _move(client, headers, contract["id"], event))
        assert_forbidden(
            await client.patch(
                f"{CONTRACTS}/{contract['id']}", json={"valid_to": "2027-01-01"}, headers=headers
            )
        )

    async def test_staff_lists_by_client(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company, other = await make_client(session), await make_client(session)
        staff = await _staff(client, session)
        await _create(client, staff, company, number="A")
        await _create(client, staff, other, number="B")
        listed = await client.get(CONTRACTS, params={"client_id": str(other.id)}, headers=staff)
        assert [c["number"] for c in listed.json()["items"]] == ["B"]

    async def test_engineer_may_not_list(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.ENGINEER)
        assert_forbidden(await client.get(CONTRACTS, headers=headers))


class TestCoverage:
    async def test_adds_unit_with_plan(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        unit = await make_equipment(session, client=company)
        await make_skill(session, "gas")
        staff = await _staff(client, session)
        contract = await _create(client, staff, company)
        response = await _cover(
            client,
            staff,
            contract["id"],
            unit,
            skills=["gas"],
            preferred_weekdays=[2, 0],
            preferred_start="08:00:00",
            preferred_end="12:00:00",
            visit_minutes=90,
        )
        assert response.status_code == 201, response.text
        (coverage,) = response.json()["coverages"]
        assert coverage["equipment_id"] == str(unit.id)
        assert (coverage["starts_on"], coverage["ends_on"]) == ("2026-01-01", "2026-12-31")
        assert coverage["is_active"] is False
        assert coverage["skills"] == ["gas"]
        assert coverage["preferred_weekdays"] == [0, 2]

    async def test_unit_of_another_client_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        foreign = await make_equipment(session)
        staff = await _staff(client, session)
        contract = await _create(client, staff, company)
        assert invalid_fields(await _cover(client, staff, contract["id"], foreign)) == [
            "equipment_id"
        ]

    async def test_unknown_skill_is_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        unit = await make_equipment(session, client=company)
        staff = await _staff(client, session)
        contract = await _create(client, staff, company)
        response = await _cover(client, staff, contract["id"], unit, skills=["nope"])
        assert unknown_references(response) == ["skills"]

    async def test_same_unit_twice_is_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        unit = await make_equipment(session, client=company)
        staff = await _staff(client, session)
        contract = await _create(client, staff, company)
        assert (await _cover(client, staff, contract["id"], unit)).status_code == 201
        again = await _cover(client, staff, contract["id"], unit)
        assert error_of(again, 409)["code"] == "equipment_already_covered"

    async def test_added_to_active_contract_is_active(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        unit = await make_equipment(session, client=company)
        staff = await _staff(client, session)
        contract = await _create(client, staff, company)
        assert (await _move(client, staff, contract["id"], "activate")).status_code == 200
        response = await _cover(client, staff, contract["id"], unit)
        assert response.json()["coverages"][0]["is_active"] is True


class TestStatusMoves:
    async def test_coverages_follow_status(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        unit = await make_equipment(session, client=company)
        staff = await _staff(client, session)
        contract = await _create(client, staff, company)
        await _cover(client, staff, contract["id"], unit)
        for event, status, active in [
            ("activate", "active", True),
            ("suspend", "suspended", False),
            ("activate", "active", True),
            ("expire", "expired", False),
        ]:
            response = await _move(client, staff, contract["id"], event)
            assert response.status_code == 200, response.text
            assert response.json()["status"] == status
            assert [c["is_active"] for c in response.json()["coverages"]] == [active]

    async def test_disallowed_moves_are_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        staff = await _staff(client, session)
        contract = await _create(client, staff, company)
        for event in ("suspend", "expire"):
            response = await _move(client, staff, contract["id"], event)
            assert error_of(response, 409)["code"] == "contract_status_change_not_allowed"
        await _move(client, staff, contract["id"], "activate")
        await _move(client, staff, contract["id"], "expire")
        response = await _move(client, staff, contract["id"], "activate")
        assert error_of(response, 409)["code"] == "contract_status_change_not_allowed"

    async def test_unknown_contract_is_404(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff = await _staff(client, session)
        response = await _move(client, staff, "00000000-0000-0000-0000-000000000000", "activate")
        assert_not_found(response)


class TestOneActiveContractPerUnit:
    async def _two_contracts(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        second_from: str,
        second_to: str,
    ) -> tuple[dict[str, str], Equipment, dict[str, Any], dict[str, Any]]:
        company = await make_client(session)
        unit = await make_equipment(session, client=company)
        staff = await _staff(client, session)
        first = await _create(client, staff, company, number="FIRST")
        await _cover(client, staff, first["id"], unit)
        assert (await _move(client, staff, first["id"], "activate")).status_code == 200
        second = await _create(
            client, staff, company, number="SECOND", valid_from=second_from, valid_to=second_to
        )
        return staff, unit, first, second

    async def test_activating_overlapping_contract_is_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff, unit, _, second = await self._two_contracts(
            client, session, "2026-12-31", "2027-12-31"
        )
        assert (await _cover(client, staff, second["id"], unit)).status_code == 201
        error = error_of(await _move(client, staff, second["id"], "activate"), 409)
        assert error["code"] == "coverage_overlap"
        assert error["details"]["contract_number"] == "FIRST"
        assert "FIRST" in error["message"]

    async def test_covering_in_active_contract_is_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff, unit, _, second = await self._two_contracts(
            client, session, "2026-06-01", "2026-06-30"
        )
        await _move(client, staff, second["id"], "activate")
        error = error_of(await _cover(client, staff, second["id"], unit), 409)
        assert error["code"] == "coverage_overlap"
        assert error["details"]["contract_number"] == "FIRST"

    async def test_back_to_back_contracts_are_fine(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff, unit, _, second = await self._two_contracts(
            client, session, "2027-01-01", "2027-12-31"
        )
        await _cover(client, staff, second["id"], unit)
        response = await _move(client, staff, second["id"], "activate")
        assert response.status_code == 200, response.text

    async def test_suspended_contract_does_not_block(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff, unit, first, second = await self._two_contracts(
            client, session, "2026-03-01", "2026-04-30"
        )
        await _move(client, staff, first["id"], "suspend")
        await _cover(client, staff, second["id"], unit)
        assert (await _move(client, staff, second["id"], "activate")).status_code == 200
        error = error_of(await _move(client, staff, first["id"], "activate"), 409)
        assert error["details"]["contract_number"] == "SECOND"

    async def test_extending_into_another_active_contract_is_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff, unit, first, second = await self._two_contracts(
            client, session, "2027-01-01", "2027-12-31"
        )
        await _cover(client, staff, second["id"], unit)
        await _move(client, staff, second["id"], "activate")
        response = await client.patch(
            f"{CONTRACTS}/{first['id']}", json={"valid_to": "2027-01-15"}, headers=staff
        )
        assert error_of(response, 409)["details"]["contract_number"] == "SECOND"
