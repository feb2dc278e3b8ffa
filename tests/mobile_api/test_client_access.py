"""Every client-app endpoint: only client users, only their company (only their sites, for a
user limited to some), never an internal fact."""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import Coverage, IntervalUnit
from fsm.users.models import Role, User
from fsm.users.service import UserService
from tests.equipment.helpers import make_equipment
from tests.factories import make_user
from tests.mobile_api.client_helpers import (
    BASE,
    Company,
    assert_no_secrets,
    headers_of,
    make_company,
)

# (method, path template, body): {unit}, {contract}, {order}, {visit} are the company's ids.
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/equipment", None),
    ("GET", "/equipment/{unit}", None),
    ("GET", "/contracts", None),
    ("GET", "/contracts/{contract}", None),
    ("POST", "/requests", {"title": "Leak", "equipment_id": "{unit}"}),
    ("GET", "/requests", None),
    ("GET", "/requests/{order}", None),
    ("GET", "/requests/{order}/comments", None),
    ("POST", "/requests/{order}/comments", {"body": "Any news?"}),
    ("POST", "/requests/{order}/reopen", {"reason": "Still leaking"}),
    ("POST", "/requests/{order}/rating", {"score": 4}),
    ("GET", "/visits/{visit}/report", None),
    ("GET", "/visits/{visit}/report.pdf", None),
    ("GET", "/reports/service-levels", None),
    ("GET", "/reports/service-levels?format=pdf", None),
]
# The endpoints naming one object in their path: another company's answers like a stranger's.
OBJECT_ENDPOINTS = [e for e in ENDPOINTS if "{" in e[1]]
ENDPOINT_IDS = [f"{m} {p}" for m, p, _ in ENDPOINTS]
OBJECT_IDS = [f"{m} {p}" for m, p, _ in OBJECT_ENDPOINTS]


def _ids(company: Company) -> dict[str, str]:
    return {
        "unit": str(company.unit.id),
        "contract": str(company.contract.id),
        "order": str(company.order.id),
        "visit": str(company.visit.id),
    }


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


async def _call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    ids: dict[str, str],
    headers: dict[str, str],
) -> httpx.Response:
    return await client.request(
        method, BASE + _fill(path, ids), json=_fill(body, ids), headers=headers
    )


@pytest.fixture
async def two_companies(session: AsyncSession) -> tuple[Company, Company]:
    ours = await make_company(session)
    theirs = await make_company(session)
    await session.commit()
    return ours, theirs


class TestOnlyClientUsers:
    @pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
    @pytest.mark.parametrize("role", [Role.ENGINEER, Role.DISPATCHER, Role.ADMIN])
    async def test_staff_and_engineer_tokens_are_refused(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        two_companies: tuple[Company, Company],
        role: Role,
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> None:
        ours, _ = two_companies
        user = await make_user(session, role=role)
        await session.commit()

        response = await _call(
            client, method, path, body, _ids(ours), await headers_of(client, user)
        )

        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"

    async def test_no_token_is_unauthorized(
        self, client: httpx.AsyncClient, two_companies: tuple[Company, Company]
    ) -> None:
        response = await client.get(f"{BASE}/requests")

        assert response.status_code == 401


class TestOnlyTheirCompany:
    @pytest.mark.parametrize(("method", "path", "body"), OBJECT_ENDPOINTS, ids=OBJECT_IDS)
    async def test_another_companys_object_is_not_found_like_an_unknown_one(
        self,
        client: httpx.AsyncClient,
        two_companies: tuple[Company, Company],
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> None:
        ours, theirs = two_companies
        headers = await headers_of(client, ours.user)
        unknown = {k: str(uuid.uuid4()) for k in _ids(theirs)}

        foreign = await _call(client, method, path, body, _ids(theirs), headers)
        missing = await _call(client, method, path, body, unknown, headers)

        assert foreign.status_code == 404, foreign.text
        assert missing.status_code == 404
        assert foreign.json()["error"]["code"] == missing.json()["error"]["code"]

    async def test_a_request_about_another_companys_unit_is_refused_like_an_unknown_one(
        self, client: httpx.AsyncClient, two_companies: tuple[Company, Company]
    ) -> None:
        ours, theirs = two_companies
        headers = await headers_of(client, ours.user)

        foreign = await client.post(
            f"{BASE}/requests",
            json={"title": "Leak", "equipment_id": str(theirs.unit.id)},
            headers=headers,
        )
        on_their_site = await client.post(
            f"{BASE}/requests",
            json={"title": "Leak", "site_id": str(theirs.site.id)},
            headers=headers,
        )
        missing = await client.post(
            f"{BASE}/requests",
            json={"title": "Leak", "equipment_id": str(uuid.uuid4())},
            headers=headers,
        )

        # The same answer as an id that names nothing: 409, unknown_reference.
        assert foreign.status_code == missing.status_code == 409
        assert foreign.json()["error"] == missing.json()["error"]
        assert on_their_site.status_code == 409
        assert on_their_site.json()["error"]["code"] == "unknown_reference"
        assert on_their_site.json()["error"]["details"][0]["field"] == "site_id"

    @pytest.mark.parametrize("path", ["/equipment", "/contracts", "/requests"])
    async def test_lists_hold_only_the_companys_own(
        self, client: httpx.AsyncClient, two_companies: tuple[Company, Company], path: str
    ) -> None:
        ours, theirs = two_companies

        response = await client.get(BASE + path, headers=await headers_of(client, ours.user))

        ids = {item["id"] for item in response.json()["items"]}
        assert ids
        assert ids <= {str(ours.unit.id), str(ours.contract.id), str(ours.order.id)}
        assert not ids & set(_ids(theirs).values())


class TestNothingInternalLeaks:
    @pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
    async def test_the_answer_holds_no_priority_internal_text_cost_or_surname(
        self,
        client: httpx.AsyncClient,
        two_companies: tuple[Company, Company],
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> None:
        ours, _ = two_companies
        headers = await headers_of(client, ours.user)

        response = await _call(client, method, path, body, _ids(ours), headers)

        assert response.status_code in (200, 201), response.text
        if response.headers["content-type"] == "application/pdf":
            pages = PdfReader(io.BytesIO(response.content)).pages
            assert_no_secrets("\n".join(page.extract_text() for page in pages))
        else:
            assert_no_secrets(response.json())
        if method == "POST":
            # What the write changed reads back clean too.
            detail = await client.get(f"{BASE}/requests/{ours.order.id}", headers=headers)
            assert_no_secrets(detail.json())


# The client's photo endpoints too, by the same rule: a request's photos are seen as it is.
PHOTO_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/requests/{order}/photos", None),
    ("POST", "/requests/{order}/photos", {"content_type": "image/jpeg", "size_bytes": 2048}),
]
SITE_OBJECT_ENDPOINTS = OBJECT_ENDPOINTS + PHOTO_ENDPOINTS
SITE_OBJECT_IDS = [f"{m} {p}" for m, p, _ in SITE_OBJECT_ENDPOINTS]
ALL_ENDPOINTS = ENDPOINTS + PHOTO_ENDPOINTS
ALL_IDS = [f"{m} {p}" for m, p, _ in ALL_ENDPOINTS]
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _without_ids(response: httpx.Response) -> str:
    """The answer with every id blanked: what tells one object from another is gone."""
    return _UUID.sub("<id>", response.text)


@dataclass
class Branches:
    """One company with two sites, each with a bit of everything, and a user of the first."""

    first: Company
    second: Company
    limited: User


@pytest.fixture
async def branches(session: AsyncSession) -> Branches:
    first = await make_company(session)
    second = await make_company(session, client=first.client)
    limited = await make_user(session, role=Role.CLIENT, client=first.client)
    await UserService(session).update(limited.id, site_ids=[first.site.id])
    await session.commit()
    return Branches(first=first, second=second, limited=limited)


class TestOnlyTheirSites:
    @pytest.mark.parametrize(("method", "path", "body"), SITE_OBJECT_ENDPOINTS, ids=SITE_OBJECT_IDS)
    async def test_the_other_sites_object_answers_exactly_like_an_unknown_one(
        self,
        client: httpx.AsyncClient,
        branches: Branches,
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> None:
        headers = await headers_of(client, branches.limited)
        unknown = {k: str(uuid.uuid4()) for k in _ids(branches.second)}

        elsewhere = await _call(client, method, path, body, _ids(branches.second), headers)
        missing = await _call(client, method, path, body, unknown, headers)

        assert elsewhere.status_code == 404, elsewhere.text
        assert missing.status_code == 404
        assert _without_ids(elsewhere) == _without_ids(missing)

    @pytest.mark.parametrize(("method", "path", "body"), ALL_ENDPOINTS, ids=ALL_IDS)
    async def test_the_own_sites_objects_work(
        self,
        client: httpx.AsyncClient,
        branches: Branches,
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> None:
        headers = await headers_of(client, branches.limited)

        response = await _call(client, method, path, body, _ids(branches.first), headers)

        assert response.status_code in (200, 201), response.text

    async def test_a_request_about_the_other_sites_unit_or_site_is_refused_like_an_unknown_one(
        self, client: httpx.AsyncClient, branches: Branches
    ) -> None:
        headers = await headers_of(client, branches.limited)

        async def open_about(field: str, value: uuid.UUID) -> httpx.Response:
            return await client.post(
                f"{BASE}/requests", json={"title": "Leak", field: str(value)}, headers=headers
            )

        unit = await open_about("equipment_id", branches.second.unit.id)
        site = await open_about("site_id", branches.second.site.id)

        assert unit.status_code == site.status_code == 409
        assert _without_ids(unit) == _without_ids(await open_about("equipment_id", uuid.uuid4()))
        assert _without_ids(site) == _without_ids(await open_about("site_id", uuid.uuid4()))
        listed = await client.get(f"{BASE}/requests", headers=headers)
        assert [item["id"] for item in listed.json()["items"]] == [str(branches.first.order.id)]

    @pytest.mark.parametrize("path", ["/equipment", "/contracts", "/requests"])
    async def test_lists_hold_only_the_own_sites(
        self, client: httpx.AsyncClient, branches: Branches, path: str
    ) -> None:
        limited = await headers_of(client, branches.limited)
        company_wide = await headers_of(client, branches.first.user)

        mine = await client.get(BASE + path, headers=limited)
        everyone = await client.get(BASE + path, headers=company_wide)

        first, second = set(_ids(branches.first).values()), set(_ids(branches.second).values())
        mine_ids = {item["id"] for item in mine.json()["items"]}
        assert mine_ids
        assert mine_ids <= first
        assert {item["id"] for item in everyone.json()["items"]} & second

    async def test_the_other_sites_equipment_filter_is_empty(
        self, client: httpx.AsyncClient, branches: Branches
    ) -> None:
        response = await client.get(
            f"{BASE}/equipment",
            params={"site_id": str(branches.second.site.id)},
            headers=await headers_of(client, branches.limited),
        )

        assert response.status_code == 200
        assert response.json()["items"] == []

    async def test_a_contract_over_both_sites_shows_only_the_own_sites_units(
        self, client: httpx.AsyncClient, session: AsyncSession, branches: Branches
    ) -> None:
        # A unit at the second site, covered by the first site's contract as well.
        other = await make_equipment(
            session, client=branches.first.client, site=branches.second.site
        )
        contract = branches.first.contract
        session.add(
            Coverage(
                contract_id=contract.id,
                equipment_id=other.id,
                period=Range(contract.valid_from, contract.valid_to + timedelta(days=1)),
                is_active=True,
                interval_count=6,
                interval_unit=IntervalUnit.MONTH,
                visit_minutes=30,
            )
        )
        await session.commit()
        limited = await headers_of(client, branches.limited)
        company_wide = await headers_of(client, branches.first.user)
        path = f"{BASE}/contracts/{contract.id}"

        mine = (await client.get(path, headers=limited)).json()
        everyone = (await client.get(path, headers=company_wide)).json()
        listed = (await client.get(f"{BASE}/contracts", headers=limited)).json()["items"]

        assert [u["equipment_id"] for u in mine["covered_units"]] == [str(branches.first.unit.id)]
        assert {p["equipment_id"] for p in mine["service_periods"]} == {str(branches.first.unit.id)}
        assert len(everyone["covered_units"]) == 2
        assert [(c["id"], c["covered_units"]) for c in listed] == [(str(contract.id), 1)]


class TestNarrowedWhileUploading:
    async def test_a_reservation_made_before_the_user_was_limited_cannot_be_confirmed_after(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        first = await make_company(session)
        second = await make_company(session, client=first.client)
        member = await make_user(session, role=Role.CLIENT, client=first.client)
        await session.commit()
        headers = await headers_of(client, member)
        reserved = await client.post(
            f"{BASE}/requests/{second.order.id}/photos",
            json={"content_type": "image/jpeg", "size_bytes": 2048},
            headers=headers,
        )
        assert reserved.status_code == 201, reserved.text
        photo_id = reserved.json()["photo"]["id"]

        # The admin limits the member to the first site; the second site's photo is gone.
        await UserService(session).update(member.id, site_ids=[first.site.id])
        await session.commit()
        confirmed = await client.post(f"{BASE}/photos/{photo_id}/confirm", json={}, headers=headers)
        unknown = await client.post(
            f"{BASE}/photos/{uuid.uuid4()}/confirm", json={}, headers=headers
        )

        assert confirmed.status_code == 404, confirmed.text
        assert _without_ids(confirmed) == _without_ids(unknown)
