"""Signing test users in through the real login endpoint."""

from __future__ import annotations

import httpx

from fsm.users.models import User
from tests.factories import PASSWORD


async def login(client: httpx.AsyncClient, user: User) -> dict[str, str]:
    """Authorization headers for `user`, from POST /api/v1/auth/login."""
    response = await client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
