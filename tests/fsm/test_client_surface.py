"""Client users reach the client app and nothing of the back office, route by route."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.middleware import PUBLIC_PATHS, is_client_surface
from fsm.main.app import create_app
from fsm.settings import Settings
from fsm.users.models import Role
from tests.factories import make_client
from tests.fsm.helpers import error_of, signed_in

_PARAMETER = re.compile(r"\{(\w+):(\w+)\}")


def _fill(path: str) -> str:
    """A concrete path: random ids for the parameters of a route's template."""

    def value(match: re.Match[str]) -> str:
        kind = match.group(2)
        if kind == "uuid":
            return str(uuid.uuid4())
        if kind == "int":
            return str(random.randint(1, 10**6))
        return "x"

    return _PARAMETER.sub(value, path)


def _back_office_calls(settings: Settings) -> Iterator[tuple[str, str]]:
    """Every method and concrete path of every route that is not public nor the client's."""
    for route in create_app(settings).routes:
        if route.path.startswith(PUBLIC_PATHS) or is_client_surface(route.path):
            continue
        for method in sorted(getattr(route, "methods", set()) - {"OPTIONS", "HEAD"}):
            yield method, _fill(route.path)


class TestClientUsersStayInTheirApp:
    async def test_every_back_office_route_refuses_a_client_token(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        company = await make_client(session)
        _, headers = await signed_in(client, session, Role.CLIENT, of_client=company)
        calls = list(_back_office_calls(settings))

        answers = {}
        for method, path in calls:
            response = await client.request(method, path, json={}, headers=headers)
            answers[f"{method} {path}"] = response
        leaks = {call: r.status_code for call, r in answers.items() if r.status_code != 403}

        assert leaks == {}
        for response in answers.values():
            assert error_of(response, 403)["code"] == "forbidden"
        # The sweep covers the whole back office, not an accidentally empty list.
        assert len(calls) > 60
        assert ("GET", "/api/v1/contracts") in calls

    async def test_the_client_app_and_signing_out_still_answer_a_client(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        _, headers = await signed_in(client, session, Role.CLIENT, of_client=company)

        me = await client.get("/api/v1/auth/me", headers=headers)
        requests = await client.get("/mobile/v1/client/requests", headers=headers)
        logout = await client.post("/api/v1/auth/logout", headers=headers)

        assert me.status_code == 200, me.text
        assert requests.status_code == 200, requests.text
        assert logout.status_code == 204, logout.text

    async def test_staff_and_engineers_are_not_held_to_the_client_surface(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, dispatcher = await signed_in(client, session, Role.DISPATCHER)
        _, engineer = await signed_in(client, session, Role.ENGINEER)

        contracts = await client.get("/api/v1/contracts", headers=dispatcher)
        skills = await client.get("/api/v1/skills", headers=engineer)

        assert contracts.status_code == 200, contracts.text
        assert skills.status_code == 200, skills.text
