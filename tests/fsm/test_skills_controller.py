"""The skill catalogue: staff and engineers read it, admins extend it."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from tests.factories import make_skill
from tests.fsm.helpers import assert_forbidden, error_of, invalid_fields, signed_in

SKILLS = "/api/v1/skills"


async def _as(client: httpx.AsyncClient, session: AsyncSession, role: Role) -> dict[str, str]:
    return (await signed_in(client, session, role))[1]


async def _codes(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    response = await client.get(SKILLS, headers=headers)
    assert response.status_code == 200, response.text
    return [s["code"] for s in response.json()]


class TestListSkills:
    @pytest.mark.parametrize("role", [Role.ADMIN, Role.DISPATCHER, Role.ENGINEER])
    async def test_catalogue_is_listed_by_code(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        await make_skill(session, "zz-welding")
        await make_skill(session, "aa-hvac")
        headers = await _as(client, session, role)

        codes = await _codes(client, headers)

        assert "aa-hvac" in codes
        assert "zz-welding" in codes
        assert codes == sorted(codes)

    async def test_client_user_may_not_read_the_catalogue(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_skill(session, "secret-skill")
        headers = await _as(client, session, Role.CLIENT)

        response = await client.get(SKILLS, headers=headers)

        assert_forbidden(response)
        assert "secret-skill" not in response.text


class TestCreateSkill:
    async def test_admin_adds_a_skill(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _as(client, session, Role.ADMIN)

        response = await client.post(
            SKILLS, json={"code": "lift-hydraulic", "name": " Hydraulic lifts "}, headers=headers
        )

        assert response.status_code == 201, response.text
        assert response.json()["code"] == "lift-hydraulic"
        assert response.json()["name"] == "Hydraulic lifts"
        assert "lift-hydraulic" in await _codes(client, headers)

    @pytest.mark.parametrize("role", [Role.DISPATCHER, Role.ENGINEER, Role.CLIENT])
    async def test_others_may_not_add_skills(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        headers = await _as(client, session, role)

        response = await client.post(
            SKILLS, json={"code": "sneaky", "name": "Sneaky"}, headers=headers
        )

        assert_forbidden(response)
        admin = await _as(client, session, Role.ADMIN)
        assert "sneaky" not in await _codes(client, admin)

    async def test_duplicate_code_is_a_conflict(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_skill(session, "hvac")
        headers = await _as(client, session, Role.ADMIN)

        response = await client.post(
            SKILLS, json={"code": "hvac", "name": "Again"}, headers=headers
        )

        error = error_of(response, 409)
        assert error["code"] == "skill_code_taken"
        assert error["details"] == {"field": "code"}
        assert (await _codes(client, headers)).count("hvac") == 1

    @pytest.mark.parametrize("code", ["HVAC", "-hvac", "hvac welding", "", "x" * 51])
    async def test_code_outside_the_pattern_names_code(
        self, client: httpx.AsyncClient, session: AsyncSession, code: str
    ) -> None:
        headers = await _as(client, session, Role.ADMIN)

        response = await client.post(SKILLS, json={"code": code, "name": "Bad"}, headers=headers)

        assert invalid_fields(response) == ["code"]
        assert error_of(response, 422)["code"] == "validation_error"
