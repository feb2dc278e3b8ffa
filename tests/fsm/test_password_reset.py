"""One-time tokens: password reset (expiring, single use, silent about unknown emails) and
invitations."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.one_time import RESET_TOKEN_MINUTES, OneTimeTokens
from fsm.db import utcnow
from fsm.users.models import Role, User
from tests.auth_helpers import login
from tests.factories import make_user
from tests.fsm.helpers import error_of, signed_in

ASK = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
ACCEPT = "/api/v1/auth/invitations/accept"
NEW = "a-brand-new-password"


class TestPasswordReset:
    async def test_unknown_and_known_emails_get_the_same_answer(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        known = await client.post(ASK, json={"email": user.email.upper()})
        unknown = await client.post(ASK, json={"email": "nobody@nowhere.example"})
        assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
        assert known.status_code == 202

    async def test_a_token_works_once_and_ends_every_session(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await make_user(session, role=Role.ENGINEER)
        await session.commit()
        signed_in = await login(client, user)
        token = await OneTimeTokens(session).issue_password_reset(user.email)
        assert token is not None
        await session.commit()

        used = await client.post(CONFIRM, json={"token": token, "new_password": NEW})
        assert used.status_code == 204, used.text
        assert (await client.get("/api/v1/auth/me", headers=signed_in)).status_code == 401
        again = await client.post(CONFIRM, json={"token": token, "new_password": NEW + "2"})
        assert error_of(again, 422)["code"] == "token_invalid"
        login_new = await client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": NEW}
        )
        assert login_new.status_code == 200

    async def test_expired_and_superseded_tokens_are_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await make_user(session, role=Role.ADMIN)
        tokens = OneTimeTokens(session)
        long_ago = utcnow() - timedelta(minutes=RESET_TOKEN_MINUTES + 1)
        expired = await tokens.issue_password_reset(user.email, now=long_ago)
        assert expired is not None
        await session.commit()
        refused = await client.post(CONFIRM, json={"token": expired, "new_password": NEW})
        assert error_of(refused, 422)["code"] == "token_invalid"
        first = await tokens.issue_password_reset(user.email)
        second = await tokens.issue_password_reset(user.email)
        await session.commit()
        assert first is not None
        assert second is not None
        stale = await client.post(CONFIRM, json={"token": first, "new_password": NEW})
        assert error_of(stale, 422)["code"] == "token_invalid"
        fresh = await client.post(CONFIRM, json={"token": second, "new_password": NEW})
        assert fresh.status_code == 204


class TestInvitations:
    async def test_invited_user_sets_a_first_password_once(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        invited = await client.post(
            "/api/v1/users/invitations",
            json={"email": "new.boss@x.example", "full_name": "New Boss", "role": "dispatcher"},
            headers=admin,
        )
        assert invited.status_code == 201, invited.text
        user = await session.get(User, uuid.UUID(invited.json()["id"]))
        assert user is not None
        token = await OneTimeTokens(session).invite(user)  # a new link, as a resend would
        await session.commit()
        accepted = await client.post(ACCEPT, json={"token": token, "password": NEW})
        assert accepted.status_code == 204, accepted.text
        again = await client.post(ACCEPT, json={"token": token, "password": NEW})
        assert error_of(again, 422)["code"] == "token_invalid"
        signed = await client.post(
            "/api/v1/auth/login", json={"email": "new.boss@x.example", "password": NEW}
        )
        assert signed.status_code == 200
        # A reset token is no invitation, and only admins invite.
        reset = await OneTimeTokens(session).issue_password_reset("new.boss@x.example")
        await session.commit()
        wrong_kind = await client.post(ACCEPT, json={"token": reset, "password": NEW})
        assert error_of(wrong_kind, 422)["code"] == "token_invalid"
        _, dispatcher = await signed_in(client, session, Role.DISPATCHER)
        refused = await client.post(
            "/api/v1/users/invitations",
            json={"email": "x@x.example", "full_name": "X", "role": "admin"},
            headers=dispatcher,
        )
        assert error_of(refused, 403)["code"] == "forbidden"
