"""User administration: admins create, list and deactivate; nobody else may."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from tests.factories import PASSWORD, make_client, make_user
from tests.fsm.helpers import (
    assert_forbidden,
    assert_not_found,
    assert_unauthorized,
    error_of,
    invalid_fields,
    signed_in,
    unknown_references,
)

USERS = "/api/v1/users"
NEW_PASSWORD = "a long enough password"


def _new_user(**overrides: Any) -> dict[str, Any]:
    return {
        "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
        "full_name": "Nora New",
        "password": NEW_PASSWORD,
        "role": "dispatcher",
        **overrides,
    }


async def _admin(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    return (await signed_in(client, session, Role.ADMIN))[1]


class TestCreateUser:
    async def test_admin_creates_a_dispatcher_who_can_sign_in(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)
        data = _new_user()

        response = await client.post(USERS, json=data, headers=headers)

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["email"] == data["email"]
        assert body["full_name"] == "Nora New"
        assert body["role"] == "dispatcher"
        assert body["client_id"] is None
        assert body["is_active"] is True
        login = await client.post(
            "/api/v1/auth/login", json={"email": data["email"], "password": NEW_PASSWORD}
        )
        assert login.status_code == 200, login.text
        assert login.json()["user"]["id"] == body["id"]

    async def test_admin_creates_a_client_user_of_a_client(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _admin(client, session)

        response = await client.post(
            USERS, json=_new_user(role="client", client_id=str(company.id)), headers=headers
        )

        assert response.status_code == 201, response.text
        assert response.json()["role"] == "client"
        assert response.json()["client_id"] == str(company.id)

    async def test_client_user_without_client_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)

        response = await client.post(USERS, json=_new_user(role="client"), headers=headers)

        assert invalid_fields(response) == ["client_id"]

    async def test_dispatcher_with_client_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _admin(client, session)

        response = await client.post(
            USERS, json=_new_user(client_id=str(company.id)), headers=headers
        )

        assert invalid_fields(response) == ["client_id"]

    async def test_unknown_client_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)

        response = await client.post(
            USERS, json=_new_user(role="client", client_id=str(uuid.uuid4())), headers=headers
        )

        assert unknown_references(response) == ["client_id"]
        assert "no such client" in error_of(response, 409)["message"]

    async def test_email_taken_in_another_case_is_a_conflict(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        existing = await make_user(session, email="Ann.Taken@Example.com")
        headers = await _admin(client, session)

        response = await client.post(
            USERS, json=_new_user(email="ann.taken@example.COM"), headers=headers
        )

        error = error_of(response, 409)
        assert error["code"] == "email_taken"
        assert error["details"] == {"field": "email"}
        listed = await client.get(USERS, headers=headers)
        emails = [u["email"].lower() for u in listed.json()["items"]]
        assert emails.count(existing.email.lower()) == 1

    async def test_short_password_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)

        response = await client.post(USERS, json=_new_user(password="short"), headers=headers)

        assert invalid_fields(response) == ["password"]

    async def test_engineer_role_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)

        response = await client.post(USERS, json=_new_user(role="engineer"), headers=headers)

        assert invalid_fields(response) == ["role"]
        assert "/api/v1/engineers" in error_of(response, 422)["message"]

    async def test_malformed_email_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)

        response = await client.post(USERS, json=_new_user(email="not-an-email"), headers=headers)

        assert invalid_fields(response) == ["email"]


class TestListAndGetUsers:
    async def test_list_filters_by_role(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        client_user = await make_user(session, role=Role.CLIENT, client=company)
        headers = await _admin(client, session)

        response = await client.get(USERS, params={"role": "client"}, headers=headers)

        assert response.status_code == 200, response.text
        body = response.json()
        assert [u["id"] for u in body["items"]] == [str(client_user.id)]
        assert body["total"] == 1

    async def test_get_returns_the_user(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await make_user(session, role=Role.DISPATCHER)
        headers = await _admin(client, session)

        response = await client.get(f"{USERS}/{user.id}", headers=headers)

        assert response.status_code == 200, response.text
        assert response.json()["email"] == user.email

    async def test_get_unknown_user_is_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)

        response = await client.get(f"{USERS}/{uuid.uuid4()}", headers=headers)

        assert assert_not_found(response)["code"] == "user_not_found"


class TestPasswordHashIsNeverShown:
    async def test_no_users_response_carries_the_hash(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin, headers = await signed_in(client, session, Role.ADMIN)
        created = await client.post(USERS, json=_new_user(), headers=headers)
        user_id = created.json()["id"]
        responses = [
            created,
            await client.get(USERS, headers=headers),
            await client.get(f"{USERS}/{user_id}", headers=headers),
            await client.post(f"{USERS}/{user_id}/deactivate", headers=headers),
            await client.get("/api/v1/auth/me", headers=headers),
            await client.post(
                "/api/v1/auth/login", json={"email": admin.email, "password": PASSWORD}
            ),
        ]

        for response in responses:
            assert response.status_code in (200, 201), response.text
            assert "password" not in response.text
            assert "$argon2" not in response.text


class TestDeactivateUser:
    async def test_deactivated_user_is_shown_inactive(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await make_user(session, role=Role.DISPATCHER)
        headers = await _admin(client, session)

        response = await client.post(f"{USERS}/{user.id}/deactivate", headers=headers)

        assert response.status_code == 200, response.text
        assert response.json()["id"] == str(user.id)
        assert response.json()["is_active"] is False

    async def test_an_admin_cannot_deactivate_their_own_account_another_admin_can(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin, own = await signed_in(client, session, Role.ADMIN)

        response = await client.post(f"{USERS}/{admin.id}/deactivate", headers=own)

        assert error_of(response, 409)["code"] == "own_account"
        assert (await client.get("/api/v1/auth/me", headers=own)).status_code == 200
        other = await _admin(client, session)
        response = await client.post(f"{USERS}/{admin.id}/deactivate", headers=other)
        assert response.json()["is_active"] is False
        assert_unauthorized(await client.get("/api/v1/auth/me", headers=own))

    async def test_deactivation_ends_the_users_open_session(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, user_headers = await signed_in(client, session, Role.DISPATCHER)
        assert (await client.get("/api/v1/auth/me", headers=user_headers)).status_code == 200
        headers = await _admin(client, session)

        await client.post(f"{USERS}/{user.id}/deactivate", headers=headers)

        response = await client.get("/api/v1/auth/me", headers=user_headers)
        assert "session has ended" in assert_unauthorized(response)["message"]

    async def test_deactivated_users_refresh_token_stops_working(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        tokens = (
            await client.post(
                "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
            )
        ).json()
        headers = await _admin(client, session)

        await client.post(f"{USERS}/{user.id}/deactivate", headers=headers)

        response = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert error_of(response, 401)["code"] == "invalid_token"


class TestOnlyAdminsManageUsers:
    @pytest.mark.parametrize("role", [Role.DISPATCHER, Role.ENGINEER, Role.CLIENT])
    async def test_list_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        _, headers = await signed_in(client, session, role)

        assert_forbidden(await client.get(USERS, headers=headers))

    @pytest.mark.parametrize("role", [Role.DISPATCHER, Role.ENGINEER, Role.CLIENT])
    async def test_create_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        _, headers = await signed_in(client, session, role)
        data = _new_user(role="admin")

        assert_forbidden(await client.post(USERS, json=data, headers=headers))
        login = await client.post(
            "/api/v1/auth/login", json={"email": data["email"], "password": NEW_PASSWORD}
        )
        assert login.status_code == 401

    @pytest.mark.parametrize("role", [Role.DISPATCHER, Role.ENGINEER, Role.CLIENT])
    async def test_get_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        user, headers = await signed_in(client, session, role)

        assert_forbidden(await client.get(f"{USERS}/{user.id}", headers=headers))

    @pytest.mark.parametrize("role", [Role.DISPATCHER, Role.ENGINEER, Role.CLIENT])
    async def test_deactivate_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        victim = await make_user(session, role=Role.ADMIN)
        _, headers = await signed_in(client, session, role)

        assert_forbidden(await client.post(f"{USERS}/{victim.id}/deactivate", headers=headers))
        victim_login = await client.post(
            "/api/v1/auth/login", json={"email": victim.email, "password": PASSWORD}
        )
        assert victim_login.status_code == 200, victim_login.text
