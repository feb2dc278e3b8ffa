"""Dispatch plan endpoints: status codes and bodies; the rules live in the service tests."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from tests.auth_helpers import login
from tests.dispatch.test_service import DAY, small_day
from tests.factories import make_user
from tests.fsm.wo_helpers import principal_of, visits

PLANS = "/api/v1/dispatch/plans"
BODY = {"day": DAY.isoformat(), "timezone": "Europe/Berlin", "time_limit_s": 1}


class TestDraftPlan:
    async def test_returns_the_draft_with_routes(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        staff = await login(client, day.dispatcher)
        r = await client.post(PLANS, json=BODY, headers=staff)
        assert r.status_code == 201, r.text
        plan = r.json()
        assert plan["status"] == "draft"
        assert plan["metrics"]["served_count"] == 4
        assert plan["dropped"] == []
        engineer_of = {s["visit_id"]: r["engineer_id"] for r in plan["routes"] for s in r["stops"]}
        assert engineer_of[str(day.gas_visit.id)] == str(day.gas_engineer.id)
        r = await client.get(f"{PLANS}/{plan['id']}", headers=staff)
        assert r.status_code == 200, r.text
        assert r.json()["routes"] == plan["routes"]

    async def test_refuses_a_time_limit_above_the_setting(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        staff = await login(client, day.dispatcher)
        r = await client.post(PLANS, json={**BODY, "time_limit_s": 3600}, headers=staff)
        assert r.status_code == 422, r.text

    @pytest.mark.parametrize("far", ["9999-12-30", "0001-01-01"])
    async def test_refuses_a_day_outside_the_planning_years(
        self, client: httpx.AsyncClient, session: AsyncSession, far: str
    ) -> None:
        day = await small_day(session)
        staff = await login(client, day.dispatcher)
        r = await client.post(PLANS, json={**BODY, "day": far}, headers=staff)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"][0]["field"] == "day"

    async def test_refuses_an_unknown_timezone(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        staff = await login(client, day.dispatcher)
        r = await client.post(PLANS, json={**BODY, "timezone": "Mars/Olympus"}, headers=staff)
        assert r.status_code == 422, r.text


class TestGetPlan:
    async def test_unknown_plan_is_404(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff = await login(client, await make_user(session, role=Role.DISPATCHER))
        r = await client.get(f"{PLANS}/{uuid.uuid4()}", headers=staff)
        assert r.status_code == 404, r.text


class TestCommitPlan:
    async def test_assigns_the_visits(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        staff = await login(client, day.dispatcher)
        plan = (await client.post(PLANS, json=BODY, headers=staff)).json()
        r = await client.post(f"{PLANS}/{plan['id']}/commit", headers=staff)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "committed"
        stop = plan["routes"][0]["stops"][0] if plan["routes"][0]["stops"] else None
        stop = stop or plan["routes"][1]["stops"][0]
        r = await client.get(f"/api/v1/visits/{stop['visit_id']}", headers=staff)
        assert r.json()["status"] == "assigned"
        assert r.json()["route_position"] == 1

    async def test_outdated_plan_is_409_naming_the_visit(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        staff = await login(client, day.dispatcher)
        plan = (await client.post(PLANS, json=BODY, headers=staff)).json()
        moved_id = day.visits[2].id
        await visits(session).assign(
            moved_id, day.other_engineer.id, actor=principal_of(day.dispatcher)
        )
        await session.commit()
        r = await client.post(f"{PLANS}/{plan['id']}/commit", headers=staff)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "plan_outdated"
        assert r.json()["error"]["details"]["visit_ids"] == [str(moved_id)]
        r = await client.get(f"{PLANS}/{plan['id']}", headers=staff)
        assert r.json()["status"] == "draft"

    async def test_committed_plan_cannot_be_committed_again(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        staff = await login(client, day.dispatcher)
        plan = (await client.post(PLANS, json=BODY, headers=staff)).json()
        await client.post(f"{PLANS}/{plan['id']}/commit", headers=staff)
        r = await client.post(f"{PLANS}/{plan['id']}/commit", headers=staff)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "plan_not_draft"


class TestPlanMap:
    async def test_is_svg_with_one_polyline_per_route(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        staff = await login(client, day.dispatcher)
        plan = (await client.post(PLANS, json=BODY, headers=staff)).json()
        r = await client.get(f"{PLANS}/{plan['id']}/map.svg", headers=staff)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("image/svg+xml")
        svg = ET.fromstring(r.text)
        assert len(svg.findall("{http://www.w3.org/2000/svg}polyline")) == len(plan["routes"])


ENDPOINTS = [
    ("POST", PLANS),
    ("GET", f"{PLANS}/{uuid.uuid4()}"),
    ("POST", f"{PLANS}/{uuid.uuid4()}/commit"),
    ("GET", f"{PLANS}/{uuid.uuid4()}/map.svg"),
]


class TestRoles:
    @pytest.mark.parametrize("role", [Role.ENGINEER, Role.CLIENT])
    @pytest.mark.parametrize(("method", "path"), ENDPOINTS)
    async def test_only_staff_may_dispatch(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        role: Role,
        method: str,
        path: str,
    ) -> None:
        user = await make_user(session, role=role)
        await session.commit()
        headers = await login(client, user)
        r = await client.request(
            method, path, json=BODY if method == "POST" else None, headers=headers
        )
        assert r.status_code == 403, r.text

    async def test_admin_may_read_plans(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin = await make_user(session, role=Role.ADMIN)
        await session.commit()
        r = await client.get(f"{PLANS}/{uuid.uuid4()}", headers=await login(client, admin))
        assert r.status_code == 404, r.text


class TestOpenApi:
    async def test_solving_endpoints_document_the_429_and_its_body(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.get("/schema/openapi.json")
        assert r.status_code == 200
        document = r.json()
        for path in (PLANS, PLANS + "/{plan_id}/insert"):
            answer = document["paths"][path]["post"]["responses"]["429"]
            assert "Retry-After" in answer["description"]
            schema = answer["content"]["application/json"]["schema"]
            body = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
            assert body["required"] == ["error"]
