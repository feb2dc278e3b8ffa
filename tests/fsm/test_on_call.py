"""The on-call rota's API: staff put engineers on call, for skills they hold, without
overlaps, for at most two weeks; nobody else reads or writes it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from tests.auth_helpers import login
from tests.factories import make_engineer, make_skill, make_user
from tests.fsm.helpers import error_of, invalid_fields

URL = "/api/v1/on-call"
EVENING = datetime(2031, 5, 5, 17, tzinfo=UTC)


def _duty(engineer: uuid.UUID, **overrides: object) -> dict[str, object]:
    return {
        "engineer_id": str(engineer),
        "starts_at": EVENING.isoformat(),
        "ends_at": (EVENING + timedelta(hours=15)).isoformat(),
        **overrides,
    }


class TestOnCallRota:
    async def test_a_duty_is_entered_listed_and_taken_back(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        lift = await make_skill(session, "lift")
        engineer = await make_engineer(session, skills=[lift])
        other = await make_engineer(session)
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        headers = await login(client, staff)

        created = await client.post(
            URL,
            json=_duty(
                engineer.id,
                skills=["lift"],
                area={"centre": {"lat": 52.52, "lon": 13.40}, "radius_km": 25},
                note="Weekend cover",
            ),
            headers=headers,
        )
        assert created.status_code == 201, created.text
        duty = created.json()
        assert (duty["skills"], duty["area"]["radius_km"], duty["note"]) == (
            ["lift"],
            25,
            "Weekend cover",
        )
        assert duty["area"]["centre"] == {"lat": 52.52, "lon": 13.40}
        second = await client.post(URL, json=_duty(other.id), headers=headers)
        assert second.status_code == 201, second.text

        listed = await client.get(
            URL, params={"from": EVENING.isoformat(), "days": 1}, headers=headers
        )
        assert listed.status_code == 200
        assert {d["id"] for d in listed.json()} == {duty["id"], second.json()["id"]}
        mine = await client.get(
            URL,
            params={"from": EVENING.isoformat(), "engineer_id": str(engineer.id)},
            headers=headers,
        )
        assert [d["id"] for d in mine.json()] == [duty["id"]]
        before = await client.get(
            URL,
            params={"from": (EVENING - timedelta(days=3)).isoformat(), "days": 2},
            headers=headers,
        )
        assert before.json() == []

        gone = await client.delete(f"{URL}/{duty['id']}", headers=headers)
        assert gone.status_code == 204
        again = await client.delete(f"{URL}/{duty['id']}", headers=headers)
        assert error_of(again, 404)["code"] == "on_call_not_found"

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"skills": ["gas"]}, "skills"),
            ({"ends_at": EVENING.isoformat()}, "ends_at"),
            ({"ends_at": (EVENING + timedelta(days=15)).isoformat()}, "ends_at"),
            (
                {"starts_at": "1999-12-31T20:00:00+00:00", "ends_at": "2000-01-01T08:00:00+00:00"},
                "starts_at",
            ),
            ({"engineer_id": str(uuid.UUID(int=7))}, "engineer_id"),
            ({"area": {"centre": {"lat": 52.5, "lon": 13.4}, "radius_km": 0}}, "area"),
            ({"skills": ["x" * 51]}, "skills"),
        ],
    )
    async def test_bad_duties_are_422_naming_the_field_and_write_nothing(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        overrides: dict[str, object],
        field: str,
    ) -> None:
        engineer = await make_engineer(session)
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        headers = await login(client, staff)

        refused = await client.post(URL, json=_duty(engineer.id, **overrides), headers=headers)

        assert refused.status_code == 422, refused.text
        assert field in refused.text
        listed = await client.get(URL, params={"from": EVENING.isoformat()}, headers=headers)
        assert listed.json() == []

    async def test_an_overlapping_duty_of_the_same_engineer_is_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        engineer = await make_engineer(session)
        staff = await make_user(session, role=Role.ADMIN)
        await session.commit()
        headers = await login(client, staff)
        first = await client.post(URL, json=_duty(engineer.id), headers=headers)
        assert first.status_code == 201

        later = _duty(
            engineer.id,
            starts_at=(EVENING + timedelta(hours=10)).isoformat(),
            ends_at=(EVENING + timedelta(days=1)).isoformat(),
        )
        clash = await client.post(URL, json=later, headers=headers)

        error = error_of(clash, 409)
        assert error["code"] == "on_call_overlaps"
        assert error["details"]["on_call_ids"] == [first.json()["id"]]

    @pytest.mark.parametrize("role", [Role.ENGINEER, Role.CLIENT])
    async def test_only_staff_see_or_change_the_rota(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        engineer = await make_engineer(session)
        outsider = await make_user(session, role=role)
        await session.commit()
        headers = await login(client, outsider)

        assert (await client.get(URL, headers=headers)).status_code == 403
        assert (await client.post(URL, json=_duty(engineer.id), headers=headers)).status_code == 403
        assert (await client.delete(f"{URL}/{uuid.uuid4()}", headers=headers)).status_code == 403

    async def test_a_deactivated_engineer_cannot_be_put_on_call(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        engineer = await make_engineer(session)
        engineer.user.is_active = False
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        headers = await login(client, staff)

        refused = await client.post(URL, json=_duty(engineer.id), headers=headers)

        assert invalid_fields(refused) == ["engineer_id"]
