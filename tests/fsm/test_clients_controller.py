"""Clients: staff manage them; a client user sees only its own company; engineers none."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.clients.models import Client
from fsm.users.models import Role
from tests.factories import make_client
from tests.fsm.helpers import (
    assert_forbidden,
    assert_not_found,
    error_of,
    invalid_fields,
    signed_in,
)

CLIENTS = "/api/v1/clients"


async def _staff(
    client: httpx.AsyncClient, session: AsyncSession, role: Role = Role.DISPATCHER
) -> dict[str, str]:
    return (await signed_in(client, session, role))[1]


async def _names(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = await client.get(CLIENTS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [c["name"] for c in response.json()["items"]]


class TestCreateClient:
    @pytest.mark.parametrize("role", [Role.ADMIN, Role.DISPATCHER])
    async def test_staff_create_a_client_with_contacts(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        headers = await _staff(client, session, role)
        data = {
            "name": "  Acme Lifts GmbH ",
            "tax_id": "DE-ACME-1",
            "email": "office@acme.example",
            "notes": "pays late",
            "contacts": [
                {"name": "Zoe Facility", "position": "Facility manager", "is_primary": True},
                {"name": "Adam Accounts", "email": "adam@acme.example"},
            ],
        }

        response = await client.post(CLIENTS, json=data, headers=headers)

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["name"] == "Acme Lifts GmbH"
        assert body["tax_id"] == "DE-ACME-1"
        assert body["notes"] == "pays late"
        assert body["is_active"] is True
        primary = {c["name"]: c["is_primary"] for c in body["contacts"]}
        assert primary == {"Zoe Facility": True, "Adam Accounts": False}
        fetched = await client.get(f"{CLIENTS}/{body['id']}", headers=headers)
        assert fetched.json()["name"] == "Acme Lifts GmbH"

    async def test_create_answers_with_the_client_as_get_shows_it(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _staff(client, session)
        data = {"name": "Ordered", "contacts": [{"name": "Zoe"}, {"name": "Adam"}]}

        created = await client.post(CLIENTS, json=data, headers=headers)

        assert created.status_code == 201, created.text
        fetched = await client.get(f"{CLIENTS}/{created.json()['id']}", headers=headers)
        assert [c["name"] for c in fetched.json()["contacts"]] == ["Adam", "Zoe"]
        assert created.json() == fetched.json()

    async def test_duplicate_tax_id_is_a_conflict(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_client(session, tax_id="DE-TWICE")
        headers = await _staff(client, session)

        response = await client.post(
            CLIENTS, json={"name": "Copycat", "tax_id": "DE-TWICE"}, headers=headers
        )

        error = error_of(response, 409)
        assert error["code"] == "tax_id_taken"
        assert error["details"] == {"field": "tax_id"}
        assert await _names(client, headers, q="Copycat") == []

    async def test_unknown_field_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _staff(client, session)

        response = await client.post(
            CLIENTS, json={"name": "Acme", "vat_rate": 19}, headers=headers
        )

        error = error_of(response, 422)
        assert error["code"] == "validation_error"
        assert "vat_rate" in error["details"][0]["message"]

    async def test_empty_name_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _staff(client, session)

        response = await client.post(CLIENTS, json={"name": ""}, headers=headers)

        assert invalid_fields(response) == ["name"]

    async def test_blank_name_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _staff(client, session)

        response = await client.post(CLIENTS, json={"name": "   "}, headers=headers)

        assert invalid_fields(response) == ["name"]

    async def test_bad_contact_email_names_the_contact_field(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _staff(client, session)

        response = await client.post(
            CLIENTS,
            json={"name": "Acme", "contacts": [{"name": "Zoe", "email": "zoe-at-acme"}]},
            headers=headers,
        )

        assert invalid_fields(response) == ["contacts[0].email"]


class TestUpdateClient:
    async def test_staff_change_given_fields_only(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session, name="Old Name", phone="+49 30 1", notes="n")
        headers = await _staff(client, session)

        response = await client.patch(
            f"{CLIENTS}/{company.id}", json={"name": "New Name", "notes": None}, headers=headers
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["name"] == "New Name"
        assert body["notes"] is None
        assert body["phone"] == "+49 30 1"
        assert body["tax_id"] == company.tax_id

    async def test_new_name_is_trimmed_as_on_create(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)

        response = await client.patch(
            f"{CLIENTS}/{company.id}", json={"name": "  Padded Name  "}, headers=headers
        )

        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Padded Name"

    async def test_taking_another_clients_tax_id_is_a_conflict(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_client(session, tax_id="DE-FIRST")
        second = await make_client(session, tax_id="DE-SECOND")
        headers = await _staff(client, session)

        response = await client.patch(
            f"{CLIENTS}/{second.id}", json={"tax_id": "DE-FIRST"}, headers=headers
        )

        assert error_of(response, 409)["code"] == "tax_id_taken"
        fetched = await client.get(f"{CLIENTS}/{second.id}", headers=headers)
        assert fetched.json()["tax_id"] == "DE-SECOND"

    async def test_unknown_client_is_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _staff(client, session)

        response = await client.patch(
            f"{CLIENTS}/{uuid.uuid4()}", json={"name": "Ghost"}, headers=headers
        )

        assert assert_not_found(response)["code"] == "client_not_found"

    async def test_unknown_field_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)

        response = await client.patch(
            f"{CLIENTS}/{company.id}", json={"created_at": "2020-01-01T00:00:00Z"}, headers=headers
        )

        error = error_of(response, 422)
        assert error["code"] == "validation_error"
        assert "created_at" in error["details"][0]["message"]


class TestContacts:
    async def test_staff_add_a_contact(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)

        response = await client.post(
            f"{CLIENTS}/{company.id}/contacts",
            json={"name": "Carla Caretaker", "phone": "+49 30 555"},
            headers=headers,
        )

        assert response.status_code == 201, response.text
        assert response.json()["name"] == "Carla Caretaker"
        fetched = await client.get(f"{CLIENTS}/{company.id}", headers=headers)
        assert [c["name"] for c in fetched.json()["contacts"]] == ["Carla Caretaker"]

    async def test_staff_remove_a_contact(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)
        added = await client.post(
            f"{CLIENTS}/{company.id}/contacts", json={"name": "Leaving Soon"}, headers=headers
        )

        response = await client.delete(
            f"{CLIENTS}/{company.id}/contacts/{added.json()['id']}", headers=headers
        )

        assert response.status_code == 204, response.text
        fetched = await client.get(f"{CLIENTS}/{company.id}", headers=headers)
        assert fetched.json()["contacts"] == []

    async def test_removing_an_unknown_contact_is_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)

        response = await client.delete(
            f"{CLIENTS}/{company.id}/contacts/{uuid.uuid4()}", headers=headers
        )

        assert assert_not_found(response)["code"] == "contact_not_found"


class TestSearch:
    async def test_q_matches_a_substring_in_any_case(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_client(session, name="Nordwind Kälte AG")
        await make_client(session, name="Südwind Lifts")
        await make_client(session, name="Hafenbau")
        headers = await _staff(client, session)

        assert await _names(client, headers, q="WIND") == ["Nordwind Kälte AG", "Südwind Lifts"]

    async def test_percent_is_taken_literally(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_client(session, name="Rabatt 100% GmbH")
        await make_client(session, name="Rabatt 1000 GmbH")
        headers = await _staff(client, session)

        assert await _names(client, headers, q="100%") == ["Rabatt 100% GmbH"]

    async def test_underscore_is_taken_literally(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_client(session, name="alpha_beta lifts")
        await make_client(session, name="alphaXbeta lifts")
        headers = await _staff(client, session)

        assert await _names(client, headers, q="a_b") == ["alpha_beta lifts"]

    async def test_q_matching_nothing_gives_an_empty_page(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_client(session, name="Somebody")
        headers = await _staff(client, session)

        response = await client.get(CLIENTS, params={"q": "zzz-nobody"}, headers=headers)

        assert response.status_code == 200, response.text
        assert response.json()["items"] == []
        assert response.json()["total"] == 0


class TestPagination:
    async def _five(self, session: AsyncSession) -> None:
        for letter in "ABCDE":
            await make_client(session, name=f"Paged {letter}")

    async def test_limit_and_offset_pick_a_slice_and_total_counts_all(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await self._five(session)
        headers = await _staff(client, session)

        response = await client.get(
            CLIENTS, params={"q": "Paged", "limit": 2, "offset": 2}, headers=headers
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert [c["name"] for c in body["items"]] == ["Paged C", "Paged D"]
        assert body["total"] == 5
        assert body["limit"] == 2
        assert body["offset"] == 2

    async def test_offset_past_the_end_gives_no_items_but_the_total(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await self._five(session)
        headers = await _staff(client, session)

        response = await client.get(CLIENTS, params={"q": "Paged", "offset": 10}, headers=headers)

        assert response.json()["items"] == []
        assert response.json()["total"] == 5

    @pytest.mark.parametrize("limit", [0, 500])
    async def test_limit_out_of_range_names_limit(
        self, client: httpx.AsyncClient, session: AsyncSession, limit: int
    ) -> None:
        headers = await _staff(client, session)

        response = await client.get(CLIENTS, params={"limit": limit}, headers=headers)

        assert invalid_fields(response) == ["limit"]

    async def test_negative_offset_names_offset(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _staff(client, session)

        response = await client.get(CLIENTS, params={"offset": -1}, headers=headers)

        assert invalid_fields(response) == ["offset"]


class TestClientUsersUseTheClientApp:
    async def _two_companies(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> tuple[Client, Client, dict[str, str]]:
        own = await make_client(session, name="Own Company", notes="internal: difficult")
        other = await make_client(session, name="Other Company", notes="internal: other")
        _, headers = await signed_in(client, session, Role.CLIENT, of_client=own)
        return own, other, headers

    async def test_even_the_own_company_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        own, _, headers = await self._two_companies(client, session)

        for response in (
            await client.get(CLIENTS, headers=headers),
            await client.get(f"{CLIENTS}/{own.id}", headers=headers),
        ):
            assert_forbidden(response)
            assert "internal" not in response.text

    async def test_staff_see_internal_notes(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        own, _, _ = await self._two_companies(client, session)
        headers = await _staff(client, session)

        response = await client.get(f"{CLIENTS}/{own.id}", headers=headers)

        assert response.json()["notes"] == "internal: difficult"

    async def test_creating_a_client_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, _, headers = await self._two_companies(client, session)

        response = await client.post(CLIENTS, json={"name": "Made Up"}, headers=headers)

        assert_forbidden(response)


class TestEngineersSeeNoClients:
    async def test_list_is_empty(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        await make_client(session, name="Anyone")
        _, headers = await signed_in(client, session, Role.ENGINEER)

        response = await client.get(CLIENTS, headers=headers)

        assert response.status_code == 200, response.text
        assert response.json()["items"] == []
        assert response.json()["total"] == 0

    async def test_get_is_not_found(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        company = await make_client(session, name="Anyone")
        _, headers = await signed_in(client, session, Role.ENGINEER)

        response = await client.get(f"{CLIENTS}/{company.id}", headers=headers)

        assert assert_not_found(response)["code"] == "client_not_found"
        assert "Anyone" not in response.text

    async def test_create_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.ENGINEER)

        response = await client.post(CLIENTS, json={"name": "Made Up"}, headers=headers)

        assert_forbidden(response)
