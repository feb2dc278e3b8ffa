import re

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


async def test_options_on_every_route_answers_its_methods_not_an_error(
    client: httpx.AsyncClient,
) -> None:
    """OPTIONS (a CORS preflight, a fuzzer) names the allowed methods on any route."""
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert len(paths) > 60
    for template, operations in paths.items():
        path = template
        for name in ("id", "uuid"):
            path = path.replace("{" + name + "}", "00000000-0000-0000-0000-000000000000")
        path = re.sub(r"\{[a-z_]*_id\}", "00000000-0000-0000-0000-000000000000", path)
        path = re.sub(r"\{[a-z_]+\}", "1", path)
        response = await client.options(path)
        assert response.status_code == 204, (template, response.status_code, response.text)
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        # Every documented method of the path, even when two controllers share it.
        documented = {m.upper() for m in operations if m != "parameters"}
        assert documented <= allowed, (template, documented, allowed)
        assert allowed <= documented | {"OPTIONS", "HEAD"}, (template, allowed)
