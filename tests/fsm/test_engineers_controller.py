"""Engineers: admins create them, staff manage them, an engineer sees only themself."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.engineers.models import Engineer
from fsm.users.models import Role
from tests.auth_helpers import login
from tests.factories import make_engineer, make_skill, make_user
from tests.fsm.helpers import (
    assert_forbidden,
    assert_not_found,
    error_of,
    invalid_fields,
    signed_in,
    unknown_references,
)

ENGINEERS = "/api/v1/engineers"
NEW_PASSWORD = "engineer password 1"


def _new_engineer(**overrides: Any) -> dict[str, Any]:
    return {
        "email": f"eng-{uuid.uuid4().hex[:8]}@example.com",
        "full_name": "Erika Engineer",
        "password": NEW_PASSWORD,
        "home_base": {"lat": 52.5, "lon": 13.4},
        "timezone": "Europe/Berlin",
        **overrides,
    }


async def _engineer_named(session: AsyncSession, full_name: str, **kw: Any) -> Engineer:
    user = await make_user(session, role=Role.ENGINEER, full_name=full_name)
    return await make_engineer(session, user=user, **kw)


async def _as(client: httpx.AsyncClient, session: AsyncSession, role: Role) -> dict[str, str]:
    return (await signed_in(client, session, role))[1]


class TestCreateEngineer:
    async def test_admin_creates_an_engineer_with_skills_and_shifts(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_skill(session, "hvac")
        await make_skill(session, "electrical")
        headers = await _as(client, session, Role.ADMIN)
        shifts = [
            {"weekday": 1, "starts_at": "13:00:00", "ends_at": "17:00:00"},
            {"weekday": 0, "starts_at": "08:00:00", "ends_at": "16:00:00"},
            {"weekday": 1, "starts_at": "08:00:00", "ends_at": "12:00:00"},
        ]
        data = _new_engineer(skills=["hvac", "electrical"], shifts=shifts, phone="+49 170 1")

        response = await client.post(ENGINEERS, json=data, headers=headers)

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["email"] == data["email"]
        assert body["full_name"] == "Erika Engineer"
        assert body["home_base"] == {"lat": 52.5, "lon": 13.4}
        assert body["max_visits_per_day"] == 8
        assert body["is_active"] is True
        assert [s["code"] for s in body["skills"]] == ["electrical", "hvac"]
        assert body["shifts"] == [shifts[1], shifts[2], shifts[0]]

    async def test_new_engineer_signs_in_as_an_engineer(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _as(client, session, Role.ADMIN)
        data = _new_engineer()
        created = (await client.post(ENGINEERS, json=data, headers=headers)).json()

        signed = await client.post(
            "/api/v1/auth/login", json={"email": data["email"], "password": NEW_PASSWORD}
        )

        assert signed.status_code == 200, signed.text
        assert signed.json()["user"]["role"] == "engineer"
        assert signed.json()["user"]["id"] == created["user_id"]

    async def test_new_engineer_reads_their_profile_at_me(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _as(client, session, Role.ADMIN)
        data = _new_engineer()
        created = (await client.post(ENGINEERS, json=data, headers=headers)).json()
        tokens = (
            await client.post(
                "/api/v1/auth/login", json={"email": data["email"], "password": NEW_PASSWORD}
            )
        ).json()

        response = await client.get(
            f"{ENGINEERS}/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )

        assert response.status_code == 200, response.text
        assert response.json() == created

    async def test_unknown_skill_code_is_named(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_skill(session, "hvac")
        headers = await _as(client, session, Role.ADMIN)
        data = _new_engineer(skills=["hvac", "underwater-welding"])

        response = await client.post(ENGINEERS, json=data, headers=headers)

        assert unknown_references(response) == ["skills"]
        error = error_of(response, 409)
        assert "underwater-welding" in error["message"]
        assert "hvac" not in error["message"]
        signed = await client.post(
            "/api/v1/auth/login", json={"email": data["email"], "password": NEW_PASSWORD}
        )
        assert signed.status_code == 401

    async def test_overlapping_shifts_are_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _as(client, session, Role.ADMIN)
        shifts = [
            {"weekday": 2, "starts_at": "08:00:00", "ends_at": "12:00:00"},
            {"weekday": 2, "starts_at": "11:00:00", "ends_at": "15:00:00"},
        ]

        response = await client.post(ENGINEERS, json=_new_engineer(shifts=shifts), headers=headers)

        assert invalid_fields(response) == ["shifts[1]"]
        assert "overlaps" in error_of(response, 422)["message"]

    async def test_shift_ending_before_it_starts_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _as(client, session, Role.ADMIN)
        shifts = [{"weekday": 3, "starts_at": "18:00:00", "ends_at": "09:00:00"}]

        response = await client.post(ENGINEERS, json=_new_engineer(shifts=shifts), headers=headers)

        assert invalid_fields(response) == ["shifts[0]"]

    async def test_unknown_timezone_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _as(client, session, Role.ADMIN)

        response = await client.post(
            ENGINEERS, json=_new_engineer(timezone="CET+1"), headers=headers
        )

        assert invalid_fields(response) == ["timezone"]

    async def test_taken_email_is_a_conflict(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        existing = await make_user(session, role=Role.DISPATCHER)
        headers = await _as(client, session, Role.ADMIN)

        response = await client.post(
            ENGINEERS, json=_new_engineer(email=existing.email.upper()), headers=headers
        )

        assert error_of(response, 409)["code"] == "email_taken"


class TestListEngineers:
    async def test_skill_filter_keeps_engineers_with_that_skill(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        hvac = await make_skill(session, "hvac")
        lifts = await make_skill(session, "lifts")
        await _engineer_named(session, "Anna Both", skills=[hvac, lifts])
        await _engineer_named(session, "Bert Lifts", skills=[lifts])
        await _engineer_named(session, "Cem Hvac", skills=[hvac])
        headers = await _as(client, session, Role.DISPATCHER)

        response = await client.get(ENGINEERS, params={"skill": "hvac"}, headers=headers)

        assert response.status_code == 200, response.text
        assert [e["full_name"] for e in response.json()["items"]] == ["Anna Both", "Cem Hvac"]
        assert response.json()["total"] == 2

    async def test_q_matches_a_substring_of_the_name_in_any_case(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await _engineer_named(session, "Greta Gasfitter")
        await _engineer_named(session, "Hans Heizung")
        headers = await _as(client, session, Role.DISPATCHER)

        response = await client.get(ENGINEERS, params={"q": "GASFIT"}, headers=headers)

        assert [e["full_name"] for e in response.json()["items"]] == ["Greta Gasfitter"]
        assert response.json()["total"] == 1

    async def test_deactivated_engineers_are_left_out(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await make_user(
            session, role=Role.ENGINEER, full_name="Gone Person", is_active=False
        )
        await make_engineer(session, user=user)
        headers = await _as(client, session, Role.DISPATCHER)

        response = await client.get(ENGINEERS, params={"q": "Gone"}, headers=headers)

        assert response.json()["items"] == []
        assert response.json()["total"] == 0


class TestChangeEngineer:
    async def test_replacing_skills_sets_exactly_those(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        hvac = await make_skill(session, "hvac")
        await make_skill(session, "lifts")
        await make_skill(session, "plumbing")
        engineer = await make_engineer(session, skills=[hvac])
        headers = await _as(client, session, Role.DISPATCHER)

        response = await client.put(
            f"{ENGINEERS}/{engineer.id}/skills",
            json={"skills": ["plumbing", "lifts"]},
            headers=headers,
        )

        assert response.status_code == 200, response.text
        assert [s["code"] for s in response.json()["skills"]] == ["lifts", "plumbing"]
        fetched = await client.get(f"{ENGINEERS}/{engineer.id}", headers=headers)
        assert [s["code"] for s in fetched.json()["skills"]] == ["lifts", "plumbing"]

    async def test_replacing_skills_with_an_unknown_code_keeps_the_old_ones(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        hvac = await make_skill(session, "hvac")
        engineer = await make_engineer(session, skills=[hvac])
        headers = await _as(client, session, Role.DISPATCHER)

        response = await client.put(
            f"{ENGINEERS}/{engineer.id}/skills", json={"skills": ["nope"]}, headers=headers
        )

        assert unknown_references(response) == ["skills"]
        fetched = await client.get(f"{ENGINEERS}/{engineer.id}", headers=headers)
        assert [s["code"] for s in fetched.json()["skills"]] == ["hvac"]

    async def test_replacing_shifts_sets_exactly_those(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        engineer = await make_engineer(session)  # Monday to Friday, 08:00 to 17:00
        headers = await _as(client, session, Role.DISPATCHER)
        shifts = [
            {"weekday": 0, "starts_at": "08:00:00", "ends_at": "12:00:00"},
            {"weekday": 5, "starts_at": "09:00:00", "ends_at": "13:00:00"},
        ]

        response = await client.put(
            f"{ENGINEERS}/{engineer.id}/shifts", json={"shifts": shifts}, headers=headers
        )

        assert response.status_code == 200, response.text
        assert response.json()["shifts"] == shifts
        fetched = await client.get(f"{ENGINEERS}/{engineer.id}", headers=headers)
        assert fetched.json()["shifts"] == shifts

    async def test_replacing_shifts_with_overlaps_keeps_the_old_ones(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        engineer = await make_engineer(session)
        headers = await _as(client, session, Role.DISPATCHER)
        shifts = [
            {"weekday": 4, "starts_at": "08:00:00", "ends_at": "17:00:00"},
            {"weekday": 4, "starts_at": "09:00:00", "ends_at": "10:00:00"},
        ]

        response = await client.put(
            f"{ENGINEERS}/{engineer.id}/shifts", json={"shifts": shifts}, headers=headers
        )

        assert invalid_fields(response) == ["shifts[1]"]
        fetched = await client.get(f"{ENGINEERS}/{engineer.id}", headers=headers)
        assert len(fetched.json()["shifts"]) == 5

    async def test_patch_moves_the_home_base_and_keeps_the_rest(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        engineer = await make_engineer(session, phone="+49 170 2")
        headers = await _as(client, session, Role.DISPATCHER)

        response = await client.patch(
            f"{ENGINEERS}/{engineer.id}",
            json={"home_base": {"lat": 53.5511, "lon": 9.9937}, "max_visits_per_day": 5},
            headers=headers,
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["home_base"] == {"lat": 53.5511, "lon": 9.9937}
        assert body["max_visits_per_day"] == 5
        assert body["phone"] == "+49 170 2"
        assert body["timezone"] == "Europe/Berlin"

    async def test_patch_of_unknown_engineer_is_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _as(client, session, Role.DISPATCHER)

        response = await client.patch(
            f"{ENGINEERS}/{uuid.uuid4()}", json={"phone": "1"}, headers=headers
        )

        assert assert_not_found(response)["code"] == "engineer_not_found"


class TestEngineerSeesOnlyThemself:
    async def _two(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> tuple[Engineer, Engineer, dict[str, str]]:
        me = await make_engineer(session)
        other = await make_engineer(session)
        await session.commit()
        return me, other, await login(client, me.user)

    async def test_own_profile_by_id_is_shown(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        me, _, headers = await self._two(client, session)

        response = await client.get(f"{ENGINEERS}/{me.id}", headers=headers)

        assert response.status_code == 200, response.text
        assert response.json()["id"] == str(me.id)
        assert response.json()["email"] == me.user.email

    async def test_me_is_the_own_profile(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        me, _, headers = await self._two(client, session)

        response = await client.get(f"{ENGINEERS}/me", headers=headers)

        assert response.status_code == 200, response.text
        assert response.json()["id"] == str(me.id)

    async def test_other_engineer_is_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, other, headers = await self._two(client, session)

        response = await client.get(f"{ENGINEERS}/{other.id}", headers=headers)

        assert assert_not_found(response)["code"] == "engineer_not_found"
        assert other.user.email not in response.text

    async def test_list_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, _, headers = await self._two(client, session)

        assert_forbidden(await client.get(ENGINEERS, headers=headers))

    async def test_patching_own_profile_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        me, _, headers = await self._two(client, session)

        response = await client.patch(
            f"{ENGINEERS}/{me.id}", json={"max_visits_per_day": 50}, headers=headers
        )

        assert_forbidden(response)
        fetched = await client.get(f"{ENGINEERS}/{me.id}", headers=headers)
        assert fetched.json()["max_visits_per_day"] == 8

    async def test_replacing_own_skills_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        me, _, headers = await self._two(client, session)

        response = await client.put(
            f"{ENGINEERS}/{me.id}/skills", json={"skills": []}, headers=headers
        )

        assert_forbidden(response)

    async def test_replacing_own_shifts_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        me, _, headers = await self._two(client, session)

        response = await client.put(
            f"{ENGINEERS}/{me.id}/shifts", json={"shifts": []}, headers=headers
        )

        assert_forbidden(response)
        fetched = await client.get(f"{ENGINEERS}/{me.id}", headers=headers)
        assert len(fetched.json()["shifts"]) == 5

    async def test_creating_an_engineer_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, _, headers = await self._two(client, session)

        assert_forbidden(await client.post(ENGINEERS, json=_new_engineer(), headers=headers))


class TestClientUsersReachNoEngineerEndpoint:
    @pytest.mark.parametrize(
        ("method", "suffix", "body"),
        [
            ("GET", "", None),
            ("POST", "", "new"),
            ("GET", "/me", None),
            ("GET", "/{id}", None),
            ("PATCH", "/{id}", {"phone": "1"}),
            ("PUT", "/{id}/skills", {"skills": []}),
            ("PUT", "/{id}/shifts", {"shifts": []}),
        ],
    )
    async def test_endpoint_is_forbidden(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        method: str,
        suffix: str,
        body: Any,
    ) -> None:
        engineer = await make_engineer(session)
        headers = await _as(client, session, Role.CLIENT)
        json = _new_engineer() if body == "new" else body

        response = await client.request(
            method, ENGINEERS + suffix.format(id=engineer.id), json=json, headers=headers
        )

        assert_forbidden(response)
        assert engineer.user.email not in response.text


class TestDispatcherRights:
    async def test_dispatcher_lists_engineers(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        engineer = await _engineer_named(session, "Listed Person")
        headers = await _as(client, session, Role.DISPATCHER)

        response = await client.get(ENGINEERS, params={"q": "Listed"}, headers=headers)

        assert response.status_code == 200, response.text
        assert [e["id"] for e in response.json()["items"]] == [str(engineer.id)]

    async def test_dispatcher_updates_an_engineer(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        engineer = await make_engineer(session)
        headers = await _as(client, session, Role.DISPATCHER)

        response = await client.patch(
            f"{ENGINEERS}/{engineer.id}", json={"phone": "+49 30 999"}, headers=headers
        )

        assert response.status_code == 200, response.text
        assert response.json()["phone"] == "+49 30 999"

    async def test_dispatcher_cannot_create_an_engineer(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _as(client, session, Role.DISPATCHER)
        data = _new_engineer()

        response = await client.post(ENGINEERS, json=data, headers=headers)

        assert_forbidden(response)
        signed = await client.post(
            "/api/v1/auth/login", json={"email": data["email"], "password": NEW_PASSWORD}
        )
        assert signed.status_code == 401

    async def test_staff_have_no_engineer_profile_at_me(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _as(client, session, Role.DISPATCHER)

        assert_forbidden(await client.get(f"{ENGINEERS}/me", headers=headers))
