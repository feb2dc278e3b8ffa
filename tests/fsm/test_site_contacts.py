"""Site contacts and the requester: staff record who looks after a site and who asked for the
work; the engineer sees both on the visit; nobody ties them to another company's records."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.clients.models import ClientContact
from fsm.db import utcnow
from fsm.users.models import Role
from fsm.workorders.models import WorkOrder
from tests.auth_helpers import login
from tests.factories import make_client, make_engineer, make_site, make_user
from tests.fsm.helpers import error_of, signed_in, unknown_references
from tests.mobile_api.engineer_helpers import BASE, assigned_visit

CLIENTS = "/api/v1/clients"
WORK_ORDERS = "/api/v1/work-orders"


class TestSiteContacts:
    async def test_a_contact_looks_after_a_site_of_its_own_client_only(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await signed_in(client, session, Role.DISPATCHER)
        company, other = await make_client(session), await make_client(session)
        site = await make_site(session, client=company)
        foreign = await make_site(session, client=other)
        await session.commit()
        r = await client.post(
            f"{CLIENTS}/{company.id}/contacts",
            json={"name": "Olga Caretaker", "phone": "+49 30 1234", "site_id": str(site.id)},
            headers=staff,
        )
        assert r.status_code == 201, r.text
        assert r.json()["site_id"] == str(site.id)
        r = await client.post(
            f"{CLIENTS}/{company.id}/contacts",
            json={"name": "Wrong Branch", "site_id": str(foreign.id)},
            headers=staff,
        )
        assert unknown_references(r) == ["site_id"]

    async def test_a_new_clients_first_contacts_cannot_name_a_site(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await signed_in(client, session, Role.DISPATCHER)
        site = await make_site(session)
        await session.commit()
        r = await client.post(
            CLIENTS,
            json={
                "name": "Fresh GmbH",
                "contacts": [{"name": "Ann", "site_id": str(site.id)}],
            },
            headers=staff,
        )
        assert unknown_references(r) == ["contacts.site_id"]


class TestRequester:
    async def test_staff_record_who_asked_and_the_engineer_sees_them_with_the_site_contacts(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        dispatcher, staff = await signed_in(client, session, Role.DISPATCHER)
        company = await make_client(session)
        site = await make_site(session, client=company)
        other_site = await make_site(session, client=company)
        caller = ClientContact(client_id=company.id, name="Ivan Petrov", phone="+7 495 000")
        caretaker = ClientContact(
            client_id=company.id, name="Olga", position="caretaker", site_id=site.id
        )
        elsewhere = ClientContact(client_id=company.id, name="Not Here", site_id=other_site.id)
        session.add_all([caller, caretaker, elsewhere])
        engineer = await make_engineer(session)
        await session.commit()
        r = await client.post(
            WORK_ORDERS,
            json={
                "site_id": str(site.id),
                "type": "repair",
                "title": "Lift stuck between floors",
                "requester_contact_id": str(caller.id),
            },
            headers=staff,
        )
        assert r.status_code == 201, r.text
        order = r.json()
        assert order["requester_contact_id"] == str(caller.id)
        work_order = await session.get(WorkOrder, order["id"])
        assert work_order is not None
        visit = await assigned_visit(
            session, work_order, engineer, dispatcher, starts_at=utcnow() + timedelta(hours=2)
        )
        await session.commit()
        headers = await login(client, engineer.user)
        r = await client.get(f"{BASE}/visits/{visit.id}", headers=headers)
        assert r.status_code == 200, r.text
        detail = r.json()
        assert detail["requester"] == {
            "name": "Ivan Petrov",
            "position": None,
            "phone": "+7 495 000",
            "email": None,
        }
        assert [c["name"] for c in detail["site_contacts"]] == ["Olga"]

    async def test_a_contact_of_another_company_is_refused_and_nothing_is_opened(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await signed_in(client, session, Role.DISPATCHER)
        company, other = await make_client(session), await make_client(session)
        site = await make_site(session, client=company)
        stranger = ClientContact(client_id=other.id, name="Stranger")
        session.add(stranger)
        await session.commit()
        before = (await client.get(WORK_ORDERS, headers=staff)).json()["total"]
        r = await client.post(
            WORK_ORDERS,
            json={
                "site_id": str(site.id),
                "type": "repair",
                "title": "Door stuck",
                "requester_contact_id": str(stranger.id),
            },
            headers=staff,
        )
        assert unknown_references(r) == ["requester_contact_id"]
        assert (await client.get(WORK_ORDERS, headers=staff)).json()["total"] == before

    async def test_a_client_user_cannot_name_another_companys_contact(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company, other = await make_client(session), await make_client(session)
        site = await make_site(session, client=company)
        stranger = ClientContact(client_id=other.id, name="Stranger")
        session.add(stranger)
        user = await make_user(session, role=Role.CLIENT, client=company)
        await session.commit()
        headers = await login(client, user)
        r = await client.post(
            "/mobile/v1/client/requests",
            json={
                "site_id": str(site.id),
                "type": "repair",
                "title": "Door stuck",
                "requester_contact_id": str(stranger.id),
            },
            headers=headers,
        )
        # The client app's request form has no such field at all: the user is the requester.
        assert "requester_contact_id" in error_of(r, 422)["message"]
        assert (await client.get("/mobile/v1/client/requests", headers=headers)).json()[
            "items"
        ] == []
