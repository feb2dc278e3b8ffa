"""A client's own admins invite and remove their colleagues in the client app, and nobody
else's: the crossing lines of the client user admin."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.clients.models import Client
from fsm.main.mailsink import MailSink
from fsm.users.models import Role, User
from tests.auth_helpers import login
from tests.factories import make_client, make_site, make_user
from tests.fsm.helpers import assert_forbidden, assert_not_found, error_of, invalid_fields
from tests.fsm.test_password_reset import ACCEPT, mails_to, token_in

USERS = "/mobile/v1/client/users"
NEW_PASSWORD = "a-colleague-chose-this-one"


async def _company_with_admin(session: AsyncSession) -> tuple[Client, User, User]:
    company = await make_client(session)
    admin = await make_user(session, role=Role.CLIENT, client=company, is_client_admin=True)
    colleague = await make_user(session, role=Role.CLIENT, client=company)
    await session.commit()
    return company, admin, colleague


class TestClientAdmin:
    async def test_sees_only_its_own_companys_users(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin, colleague = await _company_with_admin(session)
        stranger = await make_user(session, role=Role.CLIENT, client=await make_client(session))
        await session.commit()
        r = await client.get(USERS, headers=await login(client, admin))
        assert r.status_code == 200, r.text
        listed = {u["email"]: u["is_client_admin"] for u in r.json()["items"]}
        assert listed == {admin.email: True, colleague.email: False}
        assert stranger.email not in listed

    async def test_invites_a_colleague_who_sets_a_password_from_the_mail(
        self, client: httpx.AsyncClient, session: AsyncSession, mail_sink: MailSink
    ) -> None:
        company, admin, _ = await _company_with_admin(session)
        headers = await login(client, admin)
        r = await client.post(
            f"{USERS}/invitations",
            json={"email": "branch.manager@client.example", "full_name": "Branch Manager"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        invited = await session.get(User, uuid.UUID(r.json()["id"]))
        assert invited is not None
        # Always a client user of the inviter's own company.
        assert (invited.role, invited.client_id, invited.is_client_admin) == (
            Role.CLIENT,
            company.id,
            False,
        )
        (mail,) = await mails_to(mail_sink, "branch.manager@client.example")
        accepted = await client.post(
            ACCEPT, json={"token": token_in(mail), "password": NEW_PASSWORD}
        )
        assert accepted.status_code == 204, accepted.text
        signed = await client.post(
            "/api/v1/auth/login",
            json={"email": "branch.manager@client.example", "password": NEW_PASSWORD},
        )
        assert signed.status_code == 200, signed.text

    async def test_an_email_in_use_is_409_and_a_bad_one_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin, colleague = await _company_with_admin(session)
        stranger = await make_user(session, role=Role.CLIENT, client=await make_client(session))
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        headers = await login(client, admin)
        answers = []
        for someone in (colleague, stranger, staff):
            taken = await client.post(
                f"{USERS}/invitations",
                json={"email": someone.email.upper(), "full_name": "Twin"},
                headers=headers,
            )
            error = error_of(taken, 409)
            answers.append((error["code"], error["message"]))
        # One answer whoever has the address: nobody learns who else signs in here.
        assert (
            answers
            == [("email_unavailable", "this email cannot be invited; ask your service provider")]
            * 3
        )
        bad = await client.post(
            f"{USERS}/invitations",
            json={"email": "not-an-email", "full_name": "X"},
            headers=headers,
        )
        assert invalid_fields(bad) == ["email"]

    async def test_removes_a_colleague_whose_sessions_end_at_once(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin, colleague = await _company_with_admin(session)
        theirs = await login(client, colleague)
        assert (await client.get("/mobile/v1/client/requests", headers=theirs)).status_code == 200
        r = await client.post(
            f"{USERS}/{colleague.id}/deactivate", headers=await login(client, admin)
        )
        assert r.status_code == 200, r.text
        assert r.json()["is_active"] is False
        assert (await client.get("/mobile/v1/client/requests", headers=theirs)).status_code == 401

    async def test_never_its_own_account_nor_another_companys_user(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin, _ = await _company_with_admin(session)
        stranger = await make_user(session, role=Role.CLIENT, client=await make_client(session))
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        headers = await login(client, admin)
        own = await client.post(f"{USERS}/{admin.id}/deactivate", headers=headers)
        assert error_of(own, 409)["code"] == "own_account"
        for other in (stranger, staff):
            assert_not_found(await client.post(f"{USERS}/{other.id}/deactivate", headers=headers))
            await session.refresh(other)
            assert other.is_active


class TestWhoMay:
    @pytest.mark.parametrize(
        "role", [Role.CLIENT, Role.ENGINEER, Role.DISPATCHER, Role.ADMIN], ids=str
    )
    async def test_nobody_but_a_clients_admin_uses_it(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        company, _, colleague = await _company_with_admin(session)
        caller = colleague if role is Role.CLIENT else await make_user(session, role=role)
        await session.commit()
        headers = await login(client, caller)
        assert_forbidden(await client.get(USERS, headers=headers))
        invite = {"email": "sneaky@client.example", "full_name": "Sneaky"}
        assert_forbidden(await client.post(f"{USERS}/invitations", json=invite, headers=headers))
        assert_forbidden(await client.post(f"{USERS}/{colleague.id}/deactivate", headers=headers))
        await session.refresh(colleague)
        assert colleague.is_active
        assert company.id == colleague.client_id

    async def test_the_providers_admin_makes_client_admins_and_only_of_client_users(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        admin = await make_user(session, role=Role.ADMIN)
        await session.commit()
        headers = await login(client, admin)
        r = await client.post(
            "/api/v1/users",
            json={
                "email": "boss@client.example",
                "full_name": "Client Boss",
                "password": "long-enough-password",
                "role": "client",
                "client_id": str(company.id),
                "is_client_admin": True,
            },
            headers=headers,
        )
        assert r.status_code == 201, r.text
        assert r.json()["is_client_admin"] is True
        r = await client.post(
            "/api/v1/users",
            json={
                "email": "disp@provider.example",
                "full_name": "Dispatcher",
                "password": "long-enough-password",
                "role": "dispatcher",
                "is_client_admin": True,
            },
            headers=headers,
        )
        assert invalid_fields(r) == ["is_client_admin"]

    async def test_the_providers_admin_promotes_and_demotes_with_effect_at_once(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, _, colleague = await _company_with_admin(session)
        admin = await make_user(session, role=Role.ADMIN)
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        staff = await login(client, admin)
        theirs = await login(client, colleague)
        assert_forbidden(await client.get(USERS, headers=theirs))
        r = await client.patch(
            f"/api/v1/users/{colleague.id}", json={"is_client_admin": True}, headers=staff
        )
        assert r.status_code == 200, r.text
        assert r.json()["is_client_admin"] is True
        # The same sign-in: the next request already has the right.
        assert (await client.get(USERS, headers=theirs)).status_code == 200
        r = await client.patch(
            f"/api/v1/users/{colleague.id}", json={"is_client_admin": False}, headers=staff
        )
        assert r.status_code == 200, r.text
        assert_forbidden(await client.get(USERS, headers=theirs))
        r = await client.patch(
            f"/api/v1/users/{dispatcher.id}", json={"is_client_admin": True}, headers=staff
        )
        assert invalid_fields(r) == ["is_client_admin"]
        # Only the provider's admins change users.
        r = await client.patch(
            f"/api/v1/users/{colleague.id}",
            json={"is_client_admin": True},
            headers=await login(client, dispatcher),
        )
        assert_forbidden(r)
        await session.refresh(colleague)
        assert colleague.is_client_admin is False


class TestClientAdminAndSites:
    async def test_invites_a_branch_manager_limited_to_one_site_and_lists_it(
        self, client: httpx.AsyncClient, session: AsyncSession, mail_sink: MailSink
    ) -> None:
        company, admin, colleague = await _company_with_admin(session)
        branch = await make_site(session, client=company)
        await session.commit()
        headers = await login(client, admin)

        invited = await client.post(
            f"{USERS}/invitations",
            json={
                "email": "north.branch@client.example",
                "full_name": "North Branch",
                "site_ids": [str(branch.id)],
            },
            headers=headers,
        )

        assert invited.status_code == 201, invited.text
        assert invited.json()["site_ids"] == [str(branch.id)]
        listed = await client.get(USERS, headers=headers)
        sites = {u["email"]: u["site_ids"] for u in listed.json()["items"]}
        assert sites == {
            admin.email: [],
            colleague.email: [],
            "north.branch@client.example": [str(branch.id)],
        }

    async def test_another_companys_site_is_refused_like_an_unknown_one(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin, _ = await _company_with_admin(session)
        foreign = await make_site(session)
        await session.commit()
        headers = await login(client, admin)

        async def invite(site_id: uuid.UUID) -> httpx.Response:
            return await client.post(
                f"{USERS}/invitations",
                json={
                    "email": f"x-{uuid.uuid4().hex[:6]}@client.example",
                    "full_name": "Xavier",
                    "site_ids": [str(site_id)],
                },
                headers=headers,
            )

        theirs, unknown = await invite(foreign.id), await invite(uuid.uuid4())

        assert invalid_fields(theirs) == ["site_ids"]
        assert error_of(theirs, 422) == error_of(unknown, 422)

    async def test_an_admin_colleague_is_company_wide(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company, admin, _ = await _company_with_admin(session)
        branch = await make_site(session, client=company)
        await session.commit()

        response = await client.post(
            f"{USERS}/invitations",
            json={
                "email": "second.admin@client.example",
                "full_name": "Second Admin",
                "is_client_admin": True,
                "site_ids": [str(branch.id)],
            },
            headers=await login(client, admin),
        )

        assert invalid_fields(response) == ["site_ids"]
