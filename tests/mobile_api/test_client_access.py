"""Every client-app endpoint: only client users, only their company, never an internal fact."""

from __future__ import annotations

import io
import uuid
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
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
