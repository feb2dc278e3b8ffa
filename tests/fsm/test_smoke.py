import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from tests.auth_helpers import login
from tests.factories import make_user


async def test_health(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200


async def test_me(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session, role=Role.ADMIN)
    await session.commit()
    headers = await login(client, user)
    r = await client.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == user.email
