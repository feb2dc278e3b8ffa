"""Changing one's own password: the current one is checked, other sessions end."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from tests.auth_helpers import login
from tests.factories import PASSWORD, make_client, make_user
from tests.fsm.helpers import error_of

CHANGE = "/api/v1/auth/password"
NEW = "a-brand-new-password"


class TestPasswordChange:
    async def test_change_ends_other_sessions_and_old_password(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        user = await make_user(session, role=Role.CLIENT, client=company)
        await session.commit()
        this, other = await login(client, user), await login(client, user)
        wrong = await client.post(
            CHANGE, json={"current_password": "not-it", "new_password": NEW}, headers=this
        )
        assert error_of(wrong, 403)["code"] == "wrong_password"
        short = await client.post(
            CHANGE, json={"current_password": PASSWORD, "new_password": "short"}, headers=this
        )
        assert error_of(short, 422)["code"] == "validation_error"

        changed = await client.post(
            CHANGE, json={"current_password": PASSWORD, "new_password": NEW}, headers=this
        )
        assert changed.status_code == 204, changed.text
        assert (await client.get("/api/v1/auth/me", headers=this)).status_code == 200
        assert (await client.get("/api/v1/auth/me", headers=other)).status_code == 401
        old = await client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
        )
        assert old.status_code == 401
        new = await client.post("/api/v1/auth/login", json={"email": user.email, "password": NEW})
        assert new.status_code == 200, new.text

    async def test_needs_a_sign_in(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            CHANGE, json={"current_password": PASSWORD, "new_password": NEW}
        )
        assert response.status_code == 401
