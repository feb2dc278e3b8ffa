"""Equipment catalogue and installed units: rules, roles and client isolation."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.equipment.models import EquipmentMove
from fsm.clients.models import Client
from fsm.users.models import Role
from tests.equipment.helpers import make_equipment, make_equipment_model
from tests.factories import make_client, make_site, make_skill
from tests.fsm.helpers import (
    assert_forbidden,
    assert_not_found,
    error_of,
    invalid_fields,
    signed_in,
    unknown_references,
)

MODELS = "/api/v1/equipment-models"
EQUIPMENT = "/api/v1/equipment"


async def _staff(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    return (await signed_in(client, session, Role.DISPATCHER))[1]


async def _client_user(
    client: httpx.AsyncClient, session: AsyncSession, company: Client
) -> dict[str, str]:
    return (await signed_in(client, session, Role.CLIENT, of_client=company))[1]


class TestEquipmentModels:
    async def test_admin_creates_with_skills(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_skill(session, "gas")
        await make_skill(session, "electric")
        _, admin = await signed_in(client, session, Role.ADMIN)
        body = {
            "manufacturer": "Vaillant",
            "model": "ecoTEC plus",
            "category": "boiler",
            "required_skills": ["gas", "electric"],
        }
        created = await client.post(MODELS, json=body, headers=admin)
        assert created.status_code == 201, created.text
        assert created.json()["required_skills"] == ["electric", "gas"]
        listed = await client.get(MODELS, headers=await _staff(client, session))
        assert listed.status_code == 200
        assert [m["model"] for m in listed.json()["items"]] == ["ecoTEC plus"]

    async def test_unknown_skill_is_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        body = {"manufacturer": "A", "model": "B", "category": "c", "required_skills": ["nope"]}
        response = await client.post(MODELS, json=body, headers=admin)
        assert unknown_references(response) == ["required_skills"]

    async def test_duplicate_is_409(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        body = {"manufacturer": "A", "model": "B", "category": "c", "required_skills": []}
        assert (await client.post(MODELS, json=body, headers=admin)).status_code == 201
        again = await client.post(MODELS, json=body, headers=admin)
        assert error_of(again, 409)["code"] == "equipment_model_exists"

    async def test_dispatcher_may_not_create(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        body = {"manufacturer": "A", "model": "B", "category": "c", "required_skills": []}
        response = await client.post(MODELS, json=body, headers=await _staff(client, session))
        assert_forbidden(response)

    async def test_client_user_may_not_list(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        response = await client.get(MODELS, headers=await _client_user(client, session, company))
        assert_forbidden(response)


def _new_unit(company: Client, site_id: Any, model_id: Any, **overrides: Any) -> dict[str, Any]:
    return {
        "client_id": str(company.id),
        "site_id": str(site_id),
        "model_id": str(model_id),
        "serial_number": "SN-1",
        **overrides,
    }


class TestCreateEquipment:
    async def test_reads_back(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        company = await make_client(session)
        site = await make_site(session, client=company)
        model = await make_equipment_model(session)
        headers = await _staff(client, session)
        created = await client.post(
            EQUIPMENT,
            json=_new_unit(company, site.id, model.id, name="Boiler", attributes={"kw": 24}),
            headers=headers,
        )
        assert created.status_code == 201, created.text
        fetched = await client.get(f"{EQUIPMENT}/{created.json()['id']}", headers=headers)
        assert fetched.status_code == 200
        body = fetched.json()
        assert body["status"] == "active"
        assert body["attributes"] == {"kw": 24}
        assert body["manufacturer"] == model.manufacturer

    async def test_site_of_another_client_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        foreign_site = await make_site(session)
        model = await make_equipment_model(session)
        response = await client.post(
            EQUIPMENT,
            json=_new_unit(company, foreign_site.id, model.id),
            headers=await _staff(client, session),
        )
        assert invalid_fields(response) == ["site_id"]

    async def test_unknown_client_is_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        site = await make_site(session, client=company)
        model = await make_equipment_model(session)
        body = _new_unit(company, site.id, model.id)
        body["client_id"] = "00000000-0000-0000-0000-000000000000"
        response = await client.post(EQUIPMENT, json=body, headers=await _staff(client, session))
        assert unknown_references(response) == ["client_id"]

    async def test_unknown_model_is_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        site = await make_site(session, client=company)
        body = _new_unit(company, site.id, "00000000-0000-0000-0000-000000000000")
        response = await client.post(EQUIPMENT, json=body, headers=await _staff(client, session))
        assert unknown_references(response) == ["model_id"]

    async def test_serial_unique_per_model(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        unit = await make_equipment(session, serial_number="DUP")
        other_model = await make_equipment_model(session)
        site = await make_site(session)
        company_id = site.client_id
        headers = await _staff(client, session)
        body = {
            "client_id": str(company_id),
            "site_id": str(site.id),
            "model_id": str(unit.model_id),
            "serial_number": "DUP",
        }
        same_model = await client.post(EQUIPMENT, json=body, headers=headers)
        assert error_of(same_model, 409)["code"] == "serial_number_taken"
        body["model_id"] = str(other_model.id)
        other = await client.post(EQUIPMENT, json=body, headers=headers)
        assert other.status_code == 201, other.text

    async def test_client_user_may_not_create(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        site = await make_site(session, client=company)
        model = await make_equipment_model(session)
        headers = await _client_user(client, session, company)
        response = await client.post(
            EQUIPMENT, json=_new_unit(company, site.id, model.id), headers=headers
        )
        assert_forbidden(response)


class TestListEquipment:
    async def test_filters(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        company = await make_client(session)
        site_a = await make_site(session, client=company)
        site_b = await make_site(session, client=company)
        a = await make_equipment(session, client=company, site=site_a, serial_number="ABC-1")
        b = await make_equipment(session, client=company, site=site_b, serial_number="XYZ-2")
        await make_equipment(session)
        b.name = "Roof chiller"
        await session.commit()
        headers = await _staff(client, session)

        async def ids(**params: Any) -> list[str]:
            response = await client.get(EQUIPMENT, params=params, headers=headers)
            assert response.status_code == 200, response.text
            return [u["id"] for u in response.json()["items"]]

        assert await ids(client_id=str(company.id)) == [str(a.id), str(b.id)]
        assert await ids(site_id=str(site_b.id)) == [str(b.id)]
        assert await ids(client_id=str(company.id), q="abc") == [str(a.id)]
        assert await ids(client_id=str(company.id), q="chill") == [str(b.id)]
        assert await ids(client_id=str(company.id), status="out_of_service") == []

    async def test_client_user_is_refused_even_their_own(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        own = await make_equipment(session, client=company)
        await session.commit()
        headers = await _client_user(client, session, company)

        for path in (EQUIPMENT, f"{EQUIPMENT}/{own.id}"):
            response = await client.get(path, headers=headers)
            assert_forbidden(response)
            assert own.serial_number not in response.text

    async def test_engineer_may_not_list(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.ENGINEER)
        assert_forbidden(await client.get(EQUIPMENT, headers=headers))


class TestUpdateEquipment:
    async def test_changes_status_and_attributes(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        unit = await make_equipment(session)
        await session.commit()
        response = await client.patch(
            f"{EQUIPMENT}/{unit.id}",
            json={"status": "out_of_service", "attributes": {"note": "leak"}},
            headers=await _staff(client, session),
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "out_of_service"
        assert response.json()["attributes"] == {"note": "leak"}

    async def test_client_user_may_not_update(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        unit = await make_equipment(session, client=company)
        await session.commit()
        headers = await _client_user(client, session, company)
        response = await client.patch(
            f"{EQUIPMENT}/{unit.id}", json={"status": "decommissioned"}, headers=headers
        )
        assert_forbidden(response)


class TestMoveEquipment:
    async def test_moves_and_records(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        site_a = await make_site(session, client=company)
        site_b = await make_site(session, client=company)
        unit = await make_equipment(session, client=company, site=site_a)
        await session.commit()
        response = await client.post(
            f"{EQUIPMENT}/{unit.id}/move",
            json={"site_id": str(site_b.id)},
            headers=await _staff(client, session),
        )
        assert response.status_code == 200, response.text
        assert response.json()["site_id"] == str(site_b.id)
        moves = (
            await session.scalars(
                select(EquipmentMove).where(EquipmentMove.equipment_id == unit.id)
            )
        ).all()
        assert [(m.from_site_id, m.to_site_id) for m in moves] == [(site_a.id, site_b.id)]

    async def test_site_of_another_client_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        unit = await make_equipment(session)
        foreign = await make_site(session)
        await session.commit()
        response = await client.post(
            f"{EQUIPMENT}/{unit.id}/move",
            json={"site_id": str(foreign.id)},
            headers=await _staff(client, session),
        )
        assert invalid_fields(response) == ["site_id"]

    async def test_same_site_is_422(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        unit = await make_equipment(session)
        await session.commit()
        response = await client.post(
            f"{EQUIPMENT}/{unit.id}/move",
            json={"site_id": str(unit.site_id)},
            headers=await _staff(client, session),
        )
        assert invalid_fields(response) == ["site_id"]

    async def test_unknown_equipment_is_404(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        site = await make_site(session)
        await session.commit()
        response = await client.post(
            f"{EQUIPMENT}/00000000-0000-0000-0000-000000000000/move",
            json={"site_id": str(site.id)},
            headers=await _staff(client, session),
        )
        assert_not_found(response)

    async def test_client_user_may_not_move(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        unit = await make_equipment(session, client=company)
        site_b = await make_site(session, client=company)
        await session.commit()
        headers = await _client_user(client, session, company)
        response = await client.post(
            f"{EQUIPMENT}/{unit.id}/move", json={"site_id": str(site_b.id)}, headers=headers
        )
        assert_forbidden(response)
