"""Site closure days: staff enter and take them back; bad spans and overlaps are refused."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.sites.models import Site, SiteClosure
from fsm.users.models import Role
from tests.factories import make_client, make_site
from tests.fsm.helpers import (
    assert_forbidden,
    assert_not_found,
    error_of,
    invalid_fields,
    signed_in,
)


def closures_of(site: Site) -> str:
    return f"/api/v1/sites/{site.id}/closures"


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(SiteClosure)) or 0)


async def _staff(client: httpx.AsyncClient, session: AsyncSession) -> tuple[dict[str, str], Site]:
    _, headers = await signed_in(client, session, Role.DISPATCHER)
    site = await make_site(session)
    await session.commit()
    return headers, site


class TestClosures:
    async def test_entered_listed_and_taken_back(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff, site = await _staff(client, session)
        body = {"first_day": "2031-12-24", "last_day": "2031-12-26", "reason": "Christmas"}
        r = await client.post(closures_of(site), json=body, headers=staff)
        assert r.status_code == 201, r.text
        closure = r.json()
        assert (closure["first_day"], closure["last_day"], closure["reason"]) == (
            "2031-12-24",
            "2031-12-26",
            "Christmas",
        )
        listed = await client.get(closures_of(site), params={"since": "2031-01-01"}, headers=staff)
        assert [c["id"] for c in listed.json()] == [closure["id"]]
        # Over by then: not listed.
        later = await client.get(closures_of(site), params={"since": "2032-01-01"}, headers=staff)
        assert later.json() == []
        r = await client.delete(f"{closures_of(site)}/{closure['id']}", headers=staff)
        assert r.status_code == 204, r.text
        assert await _count(session) == 0

    async def test_days_outside_the_planning_years_are_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff, site = await _staff(client, session)
        body = {"first_day": "9999-12-30", "last_day": "9999-12-31"}
        assert invalid_fields(await client.post(closures_of(site), json=body, headers=staff)) == [
            "first_day"
        ]
        assert await _count(session) == 0

    @pytest.mark.parametrize(
        "body",
        [
            {"first_day": "2031-12-26", "last_day": "2031-12-24"},
            {"first_day": "2031-01-01", "last_day": "2032-01-05"},
        ],
    )
    async def test_a_reversed_or_over_long_span_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession, body: dict[str, str]
    ) -> None:
        staff, site = await _staff(client, session)
        assert invalid_fields(await client.post(closures_of(site), json=body, headers=staff)) == [
            "last_day"
        ]
        assert await _count(session) == 0

    async def test_an_overlap_is_409_and_unknown_sites_404(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff, site = await _staff(client, session)
        first = await client.post(
            closures_of(site),
            json={"first_day": "2031-08-01", "last_day": "2031-08-14"},
            headers=staff,
        )
        again = await client.post(
            closures_of(site),
            json={"first_day": "2031-08-14", "last_day": "2031-08-20"},
            headers=staff,
        )
        error = error_of(again, 409)
        assert error["code"] == "closure_overlaps"
        assert error["details"]["closure_ids"] == [first.json()["id"]]
        body = {"first_day": "2031-08-01", "last_day": "2031-08-01"}
        assert_not_found(
            await client.post(f"/api/v1/sites/{uuid.uuid4()}/closures", json=body, headers=staff)
        )
        other = await make_site(session)
        await session.commit()
        assert_not_found(
            await client.delete(f"{closures_of(other)}/{first.json()['id']}", headers=staff)
        )

    @pytest.mark.parametrize("role", [Role.ENGINEER, Role.CLIENT])
    async def test_only_staff_see_or_change_closures(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        staff, site = await _staff(client, session)
        body = {"first_day": "2031-08-01", "last_day": "2031-08-01"}
        created = await client.post(closures_of(site), json=body, headers=staff)
        assert created.status_code == 201, created.text
        company = await make_client(session) if role is Role.CLIENT else None
        own_site = await make_site(session, client=company) if company else site
        _, headers = await signed_in(client, session, role, of_client=company)
        assert_forbidden(await client.get(closures_of(own_site), headers=headers))
        assert_forbidden(await client.post(closures_of(own_site), json=body, headers=headers))
        closure_id = created.json()["id"]
        assert_forbidden(await client.delete(f"{closures_of(site)}/{closure_id}", headers=headers))
        assert await _count(session) == 1
