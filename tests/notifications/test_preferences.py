"""`/api/v1/auth/me/notifications`: each user's own language and mail choices, validated."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from tests.auth_helpers import login
from tests.factories import make_client, make_engineer, make_user

PATH = "/api/v1/auth/me/notifications"
CLIENT_KINDS = {
    "request_received",
    "visit_scheduled",
    "engineer_en_route",
    "visit_completed",
    "request_resolved",
}


class TestNotificationSettings:
    async def test_each_role_sees_its_own_kinds_all_on_by_default(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        client_user = await make_user(session, role=Role.CLIENT)
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        engineer = await make_engineer(session)

        mine = await client.get(PATH, headers=await login(client, client_user))
        assert mine.status_code == 200
        assert mine.json() == {"language": "en", "mail": dict.fromkeys(CLIENT_KINDS, True)}
        office = (await client.get(PATH, headers=await login(client, dispatcher))).json()
        assert set(office["mail"]) == {
            "sla_at_risk",
            "sla_breached",
            "critical_request",
            "low_rating",
            "cannot_complete",
        }
        field = (await client.get(PATH, headers=await login(client, engineer.user))).json()
        assert set(field["mail"]) == {"job_added", "job_removed", "job_time_changed"}

    async def test_a_change_is_the_callers_alone(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        anna = await make_user(session, role=Role.CLIENT, client=company)
        colleague = await make_user(session, role=Role.CLIENT, client=company)
        headers = await login(client, anna)

        changed = await client.put(
            PATH,
            json={"language": "ru", "mail": {"engineer_en_route": False}},
            headers=headers,
        )
        assert changed.status_code == 200
        assert changed.json()["language"] == "ru"
        assert changed.json()["mail"]["engineer_en_route"] is False
        assert (await client.get(PATH, headers=headers)).json() == changed.json()
        theirs = (await client.get(PATH, headers=await login(client, colleague))).json()
        assert theirs == {"language": "en", "mail": dict.fromkeys(CLIENT_KINDS, True)}

    async def test_a_client_cannot_ask_for_the_offices_notifications(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await login(client, await make_user(session, role=Role.CLIENT))

        refused = await client.put(PATH, json={"mail": {"sla_breached": True}}, headers=headers)

        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "validation_error"
        assert refused.json()["error"]["details"][0]["field"] == "mail.sla_breached"
        assert "sla_breached" not in (await client.get(PATH, headers=headers)).json()["mail"]

    async def test_bad_input_is_422_and_changes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await login(client, await make_user(session, role=Role.DISPATCHER))
        for body in (
            {"language": "de"},
            {"mail": {"low_rating": "yes"}},
            {"mail": {"x" * 51: True}},
            {"colour": "blue"},
        ):
            answer = await client.put(PATH, json=body, headers=headers)
            assert answer.status_code == 422, body
        after = (await client.get(PATH, headers=headers)).json()
        assert after["language"] == "en"
        assert all(after["mail"].values())

    async def test_signing_in_is_required(self, client: httpx.AsyncClient) -> None:
        assert (await client.get(PATH)).status_code == 401
        assert (await client.put(PATH, json={"language": "ru"})).status_code == 401
