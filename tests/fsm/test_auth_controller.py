"""Sign-in endpoints: login, tokens, refresh rotation, logout, me, and the login brake."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.models import AuthSession
from fsm.auth.tokens import issue_access_token
from fsm.settings import Settings
from fsm.users.models import Role, User
from tests.factories import PASSWORD, make_user
from tests.fsm.helpers import assert_unauthorized, error_of, invalid_fields

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
WRONG_PASSWORD = "not the password at all"


async def _user(session: AsyncSession, **overrides: Any) -> User:
    user = await make_user(session, role=Role.DISPATCHER, **overrides)
    await session.commit()
    return user


async def _login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


async def _tokens(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    response = await _login(client, user.email)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestLogin:
    async def test_right_password_returns_both_tokens_and_the_user(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)

        response = await _login(client, user.email)

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["access_token"].count(".") == 2
        assert body["refresh_token"].startswith(f"{uuid.UUID(body['refresh_token'][:36])}.")
        assert body["expires_in"] == 15 * 60
        assert body["user"]["id"] == str(user.id)
        assert body["user"]["email"] == user.email
        assert body["user"]["role"] == "dispatcher"

    async def test_email_is_matched_in_any_case(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)

        response = await _login(client, user.email.upper())

        assert response.status_code == 200, response.text
        assert response.json()["user"]["id"] == str(user.id)

    async def test_access_token_opens_protected_routes(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)
        tokens = await _tokens(client, user)

        response = await client.get(ME, headers=_bearer(tokens["access_token"]))

        assert response.status_code == 200, response.text
        assert response.json()["id"] == str(user.id)

    async def test_wrong_password_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)

        response = await _login(client, user.email, WRONG_PASSWORD)

        error = error_of(response, 401)
        assert error["code"] == "invalid_credentials"
        assert "access_token" not in response.text

    async def test_unknown_email_gets_the_same_answer_as_wrong_password(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)

        wrong_password = await _login(client, user.email, WRONG_PASSWORD)
        unknown_email = await _login(client, "nobody-here@example.com", WRONG_PASSWORD)

        assert unknown_email.status_code == wrong_password.status_code == 401
        assert unknown_email.json() == wrong_password.json()
        assert error_of(unknown_email, 401)["code"] == "invalid_credentials"

    async def test_deactivated_user_cannot_sign_in(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session, is_active=False)

        response = await _login(client, user.email)

        assert error_of(response, 401)["code"] == "invalid_credentials"
        assert "access_token" not in response.text

    async def test_missing_password_names_password(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)

        response = await client.post(LOGIN, json={"email": user.email})

        assert "password" in invalid_fields(response)
        assert error_of(response, 422)["code"] == "validation_error"


class TestAccessTokenChecks:
    async def test_missing_token_is_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.get(ME)

        error = assert_unauthorized(response)
        assert error["code"] == "unauthorized"
        assert "bearer" in error["message"]

    async def test_non_bearer_scheme_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)
        tokens = await _tokens(client, user)

        response = await client.get(
            ME, headers={"Authorization": f"Basic {tokens['access_token']}"}
        )

        assert assert_unauthorized(response)["code"] == "unauthorized"

    async def test_garbage_token_is_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.get(ME, headers=_bearer("not-a-jwt"))

        error = assert_unauthorized(response)
        assert error["message"] == "the access token is not valid"

    async def test_token_with_altered_signature_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)
        token = (await _tokens(client, user))["access_token"]
        header, payload, signature = token.split(".")
        # Flip a middle character: the last one of base64url may carry only padding bits.
        middle = len(signature) // 2
        flipped = "A" if signature[middle] != "A" else "B"
        tampered = f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"

        response = await client.get(ME, headers=_bearer(tampered))

        error = assert_unauthorized(response)
        assert error["message"] == "the access token is not valid"

    async def test_token_signed_with_another_secret_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)
        tokens = await _tokens(client, user)
        session_id = uuid.UUID(tokens["refresh_token"].split(".")[0])
        forged = issue_access_token(
            user_id=user.id,
            session_id=session_id,
            secret="someone-elses-secret-" + "y" * 32,
            now=datetime.now(UTC),
            ttl=timedelta(minutes=15),
        )

        response = await client.get(ME, headers=_bearer(forged))

        assert assert_unauthorized(response)["message"] == "the access token is not valid"

    async def test_unsigned_token_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)
        tokens = await _tokens(client, user)
        session_id = tokens["refresh_token"].split(".")[0]
        now = int(datetime.now(UTC).timestamp())
        unsigned = jwt.encode(
            {
                "sub": str(user.id),
                "sid": session_id,
                "iss": "fieldline",
                "iat": now,
                "exp": now + 600,
                "typ": "access",
            },
            None,
            algorithm="none",
        )

        response = await client.get(ME, headers=_bearer(unsigned))

        assert assert_unauthorized(response)["message"] == "the access token is not valid"

    async def test_expired_token_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await _user(session)
        tokens = await _tokens(client, user)
        session_id = uuid.UUID(tokens["refresh_token"].split(".")[0])
        expired = issue_access_token(
            user_id=user.id,
            session_id=session_id,
            secret=settings.auth.jwt_secret,
            now=datetime.now(UTC) - timedelta(hours=2),
            ttl=timedelta(minutes=15),
        )

        response = await client.get(ME, headers=_bearer(expired))

        assert assert_unauthorized(response)["message"] == "the access token has expired"


class TestEveryApiNeedsSignIn:
    @pytest.mark.parametrize(
        "path",
        [
            "/api/v1/users",
            "/api/v1/clients",
            "/api/v1/sites",
            "/api/v1/skills",
            "/api/v1/engineers",
            "/api/v1/engineers/me",
        ],
    )
    async def test_collection_without_token_is_unauthorized(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)

        assert assert_unauthorized(response)["code"] == "unauthorized"
        assert "items" not in response.text


class TestRefresh:
    async def test_refresh_returns_new_working_tokens(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)
        first = await _tokens(client, user)

        response = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})

        assert response.status_code == 200, response.text
        second = response.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["user"]["id"] == str(user.id)
        me = await client.get(ME, headers=_bearer(second["access_token"]))
        assert me.status_code == 200, me.text
        assert me.json()["id"] == str(user.id)

    async def test_used_refresh_token_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)
        first = await _tokens(client, user)
        rotated = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        assert rotated.status_code == 200, rotated.text

        reused = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})

        error = error_of(reused, 401)
        assert error["code"] == "invalid_token"
        assert "already used" in error["message"]

    async def test_reuse_revokes_the_newer_refresh_token_too(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)
        first = await _tokens(client, user)
        rotated = (
            await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        ).json()
        await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})

        response = await client.post(REFRESH, json={"refresh_token": rotated["refresh_token"]})

        assert error_of(response, 401)["code"] == "invalid_token"

    async def test_reuse_ends_the_sessions_access_token(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)
        first = await _tokens(client, user)
        rotated = (
            await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        ).json()
        await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})

        response = await client.get(ME, headers=_bearer(rotated["access_token"]))

        assert "session has ended" in assert_unauthorized(response)["message"]

    async def test_expired_refresh_token_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)
        tokens = await _tokens(client, user)
        session_id = uuid.UUID(tokens["refresh_token"].split(".")[0])
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()

        response = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})

        error = error_of(response, 401)
        assert error["code"] == "invalid_token"
        assert "expired" in error["message"]

    async def test_malformed_refresh_token_is_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.post(REFRESH, json={"refresh_token": "no-session-in-here"})

        assert error_of(response, 401)["code"] == "invalid_token"

    async def test_refresh_token_of_unknown_session_is_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(REFRESH, json={"refresh_token": f"{uuid.uuid4()}.secret"})

        assert error_of(response, 401)["code"] == "invalid_token"


class TestLogout:
    async def test_logout_ends_the_access_token_at_once(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)
        tokens = await _tokens(client, user)
        headers = _bearer(tokens["access_token"])

        response = await client.post(LOGOUT, headers=headers)

        assert response.status_code == 204, response.text
        assert response.content == b""
        me = await client.get(ME, headers=headers)
        assert "session has ended" in assert_unauthorized(me)["message"]

    async def test_logout_ends_the_refresh_token(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)
        tokens = await _tokens(client, user)
        logout = await client.post(LOGOUT, headers=_bearer(tokens["access_token"]))
        assert logout.status_code == 204, logout.text

        response = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})

        assert error_of(response, 401)["code"] == "invalid_token"

    async def test_logout_leaves_other_sessions_signed_in(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await _user(session)
        phone = await _tokens(client, user)
        laptop = await _tokens(client, user)

        await client.post(LOGOUT, headers=_bearer(phone["access_token"]))

        me = await client.get(ME, headers=_bearer(laptop["access_token"]))
        assert me.status_code == 200, me.text
        assert me.json()["id"] == str(user.id)

    async def test_logout_needs_a_token(self, client: httpx.AsyncClient) -> None:
        response = await client.post(LOGOUT)

        assert assert_unauthorized(response)["code"] == "unauthorized"


class TestMe:
    async def test_me_describes_the_signed_in_user(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await make_user(session, role=Role.CLIENT)
        await session.commit()
        tokens = await _tokens(client, user)

        response = await client.get(ME, headers=_bearer(tokens["access_token"]))

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] == str(user.id)
        assert body["email"] == user.email
        assert body["full_name"] == user.full_name
        assert body["role"] == "client"
        assert body["client_id"] == str(user.client_id)
        assert body["is_active"] is True
        assert "password_hash" not in body
