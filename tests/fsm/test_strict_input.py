"""Input is read as strictly as the OpenAPI document states it: no number taken for a time,
no 0 for false, no "0.5" for a timestamp in the query; the refusal names the field and
nothing is stored."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.clients.models import Client
from fsm.engineers.models import Engineer
from fsm.users.models import Role
from tests.auth_helpers import login
from tests.factories import make_client, make_engineer, make_user
from tests.fsm.helpers import invalid_fields

LOCATION = "/mobile/v1/engineer/location"


async def test_a_numeric_device_time_is_refused_and_no_position_is_kept(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    engineer = await make_engineer(session)
    headers = await login(client, engineer.user)

    r = await client.post(
        LOCATION, json={"points": [{"lat": 52.5, "lon": 13.4, "device_at": 5}]}, headers=headers
    )

    assert invalid_fields(r) == ["points[0].device_at"]
    await session.refresh(engineer)
    assert engineer.last_location_at is None
    # The same fix with the time as the document says it is taken.
    good = {"points": [{"lat": 52.5, "lon": 13.4, "device_at": "2026-01-05T08:00:00Z"}]}
    assert (await client.post(LOCATION, json=good, headers=headers)).status_code == 200


async def test_a_number_for_a_boolean_is_refused_and_the_client_stays_active(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    company = await make_client(session)
    headers = await login(client, await make_user(session, role=Role.DISPATCHER))

    r = await client.patch(f"/api/v1/clients/{company.id}", json={"is_active": 0}, headers=headers)

    assert invalid_fields(r) == ["is_active"]
    await session.refresh(company)
    assert isinstance(company, Client)
    assert company.is_active is True


async def test_a_query_timestamp_must_be_iso_text(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await login(client, await make_user(session, role=Role.DISPATCHER))

    r = await client.get("/api/v1/work-orders", params={"created_to": "0.5"}, headers=headers)
    assert invalid_fields(r) == ["created_to"]

    r = await client.get(
        "/api/v1/work-orders", params={"created_to": "2026-01-05T08:00:00Z"}, headers=headers
    )
    assert r.status_code == 200, r.text


async def test_an_engineer_shift_with_an_offset_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Shift times are local wall-clock times of the engineer's zone; an offset is a mistake."""
    engineer = await make_engineer(session)
    assert isinstance(engineer, Engineer)
    headers = await login(client, await make_user(session, role=Role.ADMIN))
    shifts = {"shifts": [{"weekday": 0, "starts_at": "08:00:00Z", "ends_at": "16:00:00"}]}

    r = await client.put(f"/api/v1/engineers/{engineer.id}/shifts", json=shifts, headers=headers)

    assert invalid_fields(r) == ["shifts[0].starts_at"]
