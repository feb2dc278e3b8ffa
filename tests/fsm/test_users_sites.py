"""A client user limited to some of its company's sites: the provider's admin sets them, and
the limit counts from the user's next request."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fsm.users.models import Role
from fsm.users.service import UserService
from tests.auth_helpers import login
from tests.factories import make_client, make_site, make_user
from tests.fsm.helpers import error_of, invalid_fields, signed_in
from tests.fsm.wo_helpers import open_order
from tests.mobile_api.client_helpers import counting_queries

USERS = "/api/v1/users"
REQUESTS = "/mobile/v1/client/requests"


def _new_client_user(client_id: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    return {
        "email": f"branch-{uuid.uuid4().hex[:8]}@example.com",
        "full_name": "Bea Branch",
        "password": "a long enough password",
        "role": "client",
        "client_id": str(client_id),
        **overrides,
    }


async def _admin(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    return (await signed_in(client, session, Role.ADMIN))[1]


class TestAdminSetsSites:
    async def test_a_client_user_limited_to_a_site_shows_it_everywhere_it_is_read(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        north, _south = (
            await make_site(session, client=company),
            await make_site(session, client=company),
        )
        headers = await _admin(client, session)
        data = _new_client_user(company.id, site_ids=[str(north.id), str(north.id)])

        created = await client.post(USERS, json=data, headers=headers)

        assert created.status_code == 201, created.text
        assert created.json()["site_ids"] == [str(north.id)]
        user_id = created.json()["id"]
        got = await client.get(f"{USERS}/{user_id}", headers=headers)
        assert got.json()["site_ids"] == [str(north.id)]
        listed = await client.get(USERS, params={"client_id": str(company.id)}, headers=headers)
        assert [u["site_ids"] for u in listed.json()["items"]] == [[str(north.id)]]
        signed = await client.post(
            "/api/v1/auth/login", json={"email": data["email"], "password": data["password"]}
        )
        assert signed.json()["user"]["site_ids"] == [str(north.id)]
        me = await client.get(
            "/api/v1/auth/me",
            headers={"Authorization": f"Bearer {signed.json()['access_token']}"},
        )
        assert me.json()["site_ids"] == [str(north.id)]

    async def test_another_companys_site_is_refused_like_an_unknown_one(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        foreign = await make_site(session)
        headers = await _admin(client, session)

        theirs = await client.post(
            USERS, json=_new_client_user(company.id, site_ids=[str(foreign.id)]), headers=headers
        )
        unknown = await client.post(
            USERS, json=_new_client_user(company.id, site_ids=[str(uuid.uuid4())]), headers=headers
        )

        assert invalid_fields(theirs) == ["site_ids"]
        assert error_of(theirs, 422) == error_of(unknown, 422)
        # Nothing was created by the refused request.
        listed = await client.get(USERS, params={"client_id": str(company.id)}, headers=headers)
        assert listed.json()["items"] == []

    async def test_staff_are_not_limited_to_sites(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        site = await make_site(session)
        headers = await _admin(client, session)
        data = _new_client_user(site.client_id, site_ids=[str(site.id)])
        data.update(role="dispatcher", client_id=None)

        response = await client.post(USERS, json=data, headers=headers)

        assert invalid_fields(response) == ["site_ids"]

    async def test_a_client_admin_sees_the_whole_company_so_gets_no_sites(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        site = await make_site(session)
        headers = await _admin(client, session)

        response = await client.post(
            f"{USERS}/invitations",
            json={
                "email": f"admin-{uuid.uuid4().hex[:6]}@example.com",
                "full_name": "Ada Admin",
                "role": "client",
                "client_id": str(site.client_id),
                "is_client_admin": True,
                "site_ids": [str(site.id)],
            },
            headers=headers,
        )

        assert invalid_fields(response) == ["site_ids"]

    async def test_a_limited_user_is_made_admin_only_together_with_clearing_its_sites(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        site = await make_site(session)
        headers = await _admin(client, session)
        created = await client.post(
            USERS, json=_new_client_user(site.client_id, site_ids=[str(site.id)]), headers=headers
        )
        path = f"{USERS}/{created.json()['id']}"

        refused = await client.patch(path, json={"is_client_admin": True}, headers=headers)
        both = await client.patch(
            path, json={"is_client_admin": True, "site_ids": [str(site.id)]}, headers=headers
        )
        cleared = await client.patch(
            path, json={"is_client_admin": True, "site_ids": []}, headers=headers
        )

        assert invalid_fields(refused) == ["is_client_admin"]
        assert invalid_fields(both) == ["site_ids"]
        assert cleared.status_code == 200, cleared.text
        assert (cleared.json()["is_client_admin"], cleared.json()["site_ids"]) == (True, [])

    async def test_more_than_500_sites_are_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _admin(client, session)
        many = [str(uuid.uuid4()) for _ in range(501)]

        response = await client.post(
            USERS, json=_new_client_user(company.id, site_ids=many), headers=headers
        )

        assert response.status_code == 422, response.text


class TestTheLimitCountsFromTheNextRequest:
    async def test_the_same_token_sees_one_site_then_the_whole_company_again(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        north = await make_site(session, client=company)
        south = await make_site(session, client=company)
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        at_north = await open_order(session, site=north, actor=dispatcher, title="North")
        at_south = await open_order(session, site=south, actor=dispatcher, title="South")
        user = await make_user(session, role=Role.CLIENT, client=company)
        await session.commit()
        admin = await _admin(client, session)
        token = await login(client, user)

        async def seen() -> set[str]:
            response = await client.get(REQUESTS, headers=token)
            assert response.status_code == 200, response.text
            return {item["id"] for item in response.json()["items"]}

        everything = {str(at_north.id), str(at_south.id)}
        assert await seen() == everything
        limited = await client.patch(
            f"{USERS}/{user.id}", json={"site_ids": [str(north.id)]}, headers=admin
        )
        assert limited.status_code == 200, limited.text
        assert await seen() == {str(at_north.id)}
        south_detail = await client.get(f"{REQUESTS}/{at_south.id}", headers=token)
        assert south_detail.status_code == 404
        await client.patch(f"{USERS}/{user.id}", json={"site_ids": []}, headers=admin)
        assert await seen() == everything


class TestSitesCostNoRoundTrip:
    async def test_a_limited_users_request_runs_as_many_statements_as_a_company_wide_ones(
        self, client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        company = await make_client(session)
        north = await make_site(session, client=company)
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        await open_order(session, site=north, actor=dispatcher, title="North")
        limited = await make_user(session, role=Role.CLIENT, client=company)
        company_wide = await make_user(session, role=Role.CLIENT, client=company)
        await UserService(session).update(limited.id, site_ids=[north.id])
        await session.commit()
        counts = []
        for user in (limited, company_wide):
            headers = await login(client, user)
            with counting_queries(engine) as statements:
                response = await client.get(REQUESTS, headers=headers)
            assert [i["title"] for i in response.json()["items"]] == ["North"]
            counts.append(len(statements))

        assert counts[0] == counts[1]
