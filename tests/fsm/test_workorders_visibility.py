"""Who sees which work orders: engineers those they visit, client users none (their app)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.db import utcnow
from fsm.engineers.models import Engineer
from fsm.users.models import Role, User
from fsm.workorders.models import Priority, WorkOrder, WorkOrderStatus
from fsm.workorders.sla_clock import SlaClock
from tests.auth_helpers import login
from tests.factories import make_client, make_engineer, make_policy, make_site, make_user
from tests.fsm.helpers import assert_forbidden, assert_not_found, error_of, signed_in
from tests.fsm.wo_helpers import (
    WORK_ORDERS,
    create_via_api,
    move,
    open_order,
    plan_visit,
    principal_of,
    work_orders,
)

S = WorkOrderStatus


@dataclass(frozen=True)
class Companies:
    """Two companies with one order each, and a client user of the first."""

    staff: User
    ours: WorkOrder
    theirs: WorkOrder
    headers: dict[str, str]


async def _companies(
    client: httpx.AsyncClient, session: AsyncSession, *, theirs_resolved: bool = False
) -> Companies:
    staff = await make_user(session, role=Role.DISPATCHER)
    a, b = await make_client(session), await make_client(session)
    ours = await open_order(session, site=await make_site(session, client=a), actor=staff)
    theirs = await open_order(session, site=await make_site(session, client=b), actor=staff)
    if theirs_resolved:
        theirs = await move(session, theirs, S.RESOLVED, actor=staff)
    await session.commit()
    _, headers = await signed_in(client, session, Role.CLIENT, of_client=a)
    return Companies(staff=staff, ours=ours, theirs=theirs, headers=headers)


class TestClientUsersUseTheClientApp:
    async def test_even_the_own_companys_order_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        world = await _companies(client, session)
        order = f"{WORK_ORDERS}/{world.ours.id}"

        for response in (
            await client.get(WORK_ORDERS, headers=world.headers),
            await client.get(order, headers=world.headers),
            await client.get(f"{order}/timeline", headers=world.headers),
            await client.get(f"{order}/comments", headers=world.headers),
            await client.post(f"{order}/comments", json={"body": "hi"}, headers=world.headers),
            await client.post(f"{order}/reopen", json={}, headers=world.headers),
        ):
            assert_forbidden(response)
            assert world.ours.number not in response.text


class TestClientSeesOnlyPublicNotes:
    async def _order_with_notes(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> tuple[WorkOrder, dict[str, str]]:
        await make_policy(session, reaction_minutes=60)
        staff = await make_user(session, role=Role.DISPATCHER)
        company = await make_client(session)
        wo = await open_order(session, site=await make_site(session, client=company), actor=staff)
        service, actor = work_orders(session), principal_of(staff)
        await service.add_comment(wo.id, "client is difficult", actor=actor, is_internal=True)
        await service.add_comment(wo.id, "we are on it", actor=actor, is_internal=False)
        await service.change_priority(wo.id, Priority.HIGH, actor=actor)
        await SlaClock(session).watch(utcnow() + timedelta(days=2))
        await move(session, wo, S.ON_HOLD, actor=staff)
        await session.commit()
        _, headers = await signed_in(client, session, Role.CLIENT, of_client=company)
        return wo, headers

    async def test_staff_timeline_holds_the_internal_events(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        wo, _ = await self._order_with_notes(client, session)
        _, staff = await signed_in(client, session, Role.DISPATCHER)

        response = await client.get(f"{WORK_ORDERS}/{wo.id}/timeline", headers=staff)

        kinds = [e["kind"] for e in response.json()]
        assert "priority_changed" in kinds
        assert "sla_breached" in kinds
        assert kinds.count("comment_added") == 2

    async def test_client_cannot_write_an_internal_comment(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        world = await _companies(client, session)

        response = await client.post(
            f"{WORK_ORDERS}/{world.ours.id}/comments",
            json={"body": "psst", "is_internal": True},
            headers=world.headers,
        )

        assert_forbidden(response)


class TestClientCannotManage:
    async def test_patch_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        world = await _companies(client, session)

        response = await client.patch(
            f"{WORK_ORDERS}/{world.ours.id}", json={"title": "urgent!"}, headers=world.headers
        )

        assert_forbidden(response)

    async def test_transition_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        world = await _companies(client, session)

        response = await client.post(
            f"{WORK_ORDERS}/{world.ours.id}/transitions",
            json={"to": "cancelled"},
            headers=world.headers,
        )

        assert_forbidden(response)
        await session.refresh(world.ours)
        assert world.ours.status is S.NEW


@dataclass(frozen=True)
class Field:
    """An engineer with a visit on one order, and an order they have nothing to do with."""

    engineer: Engineer
    visited: WorkOrder
    unrelated: WorkOrder
    headers: dict[str, str]


async def _field(client: httpx.AsyncClient, session: AsyncSession) -> Field:
    staff = await make_user(session, role=Role.DISPATCHER)
    engineer = await make_engineer(session)
    visited = await open_order(session, actor=staff, title="Visited")
    await plan_visit(session, visited, actor=staff, engineer=engineer)
    unrelated = await open_order(session, actor=staff, title="Unrelated")
    await session.commit()
    return Field(
        engineer=engineer,
        visited=visited,
        unrelated=unrelated,
        headers=await login(client, engineer.user),
    )


class TestEngineerSeesOrdersTheyVisit:
    async def test_gets_an_order_with_their_visit(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        field = await _field(client, session)

        response = await client.get(f"{WORK_ORDERS}/{field.visited.id}", headers=field.headers)

        assert response.status_code == 200, response.text
        assert response.json()["number"] == field.visited.number

    @pytest.mark.parametrize("tail", ["", "/timeline", "/comments"])
    async def test_reading_an_order_without_their_visit_is_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession, tail: str
    ) -> None:
        field = await _field(client, session)

        response = await client.get(
            f"{WORK_ORDERS}/{field.unrelated.id}{tail}", headers=field.headers
        )

        assert_not_found(response)

    async def test_commenting_on_an_order_without_their_visit_is_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        field = await _field(client, session)

        response = await client.post(
            f"{WORK_ORDERS}/{field.unrelated.id}/comments",
            json={"body": "wrong job"},
            headers=field.headers,
        )

        assert_not_found(response)

    async def test_list_holds_only_orders_with_their_visit(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        field = await _field(client, session)

        response = await client.get(WORK_ORDERS, headers=field.headers)

        assert response.status_code == 200, response.text
        assert [i["number"] for i in response.json()["items"]] == [field.visited.number]


class TestEngineerCannotManage:
    async def test_patch_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        field = await _field(client, session)

        response = await client.patch(
            f"{WORK_ORDERS}/{field.visited.id}", json={"priority": "low"}, headers=field.headers
        )

        assert_forbidden(response)

    async def test_transition_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        field = await _field(client, session)

        response = await client.post(
            f"{WORK_ORDERS}/{field.visited.id}/transitions",
            json={"to": "on_hold"},
            headers=field.headers,
        )

        assert_forbidden(response)

    async def test_opening_an_order_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        site = await make_site(session)
        field = await _field(client, session)

        response = await create_via_api(client, field.headers, site)

        assert_forbidden(response)

    async def test_reopening_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff = await make_user(session, role=Role.DISPATCHER)
        engineer = await make_engineer(session)
        wo = await open_order(session, actor=staff)
        visit = await plan_visit(session, wo, actor=staff, engineer=engineer)
        await session.commit()
        eng = await login(client, engineer.user)
        for status in ("en_route", "on_site", "completed"):
            moved = await client.post(
                f"/api/v1/visits/{visit.id}/status",
                json={"status": status, "labour_minutes": 30},
                headers=eng,
            )
            assert moved.status_code == 200, moved.text
        await move(session, wo, S.RESOLVED, actor=staff)
        await session.commit()

        response = await client.post(f"{WORK_ORDERS}/{wo.id}/reopen", json={}, headers=eng)

        assert_forbidden(response)
        await session.refresh(wo)
        assert wo.status is S.RESOLVED


CATALOGUE_CALLS = [
    ("GET", "/api/v1/custom-fields", None),
    (
        "POST",
        "/api/v1/custom-fields",
        {"work_order_type": "repair", "key": "meter", "label": "Meter", "kind": "number"},
    ),
    ("GET", "/api/v1/reply-templates", None),
    ("POST", "/api/v1/reply-templates", {"name": "Hello", "body": "Hello {client_name}"}),
    ("GET", "/api/v1/sla/policies", None),
    ("GET", "/api/v1/sla/calendars", None),
]


class TestCataloguesAreStaffOnly:
    @pytest.mark.parametrize("role", [Role.CLIENT, Role.ENGINEER])
    @pytest.mark.parametrize(("method", "path", "body"), CATALOGUE_CALLS)
    async def test_is_forbidden(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        role: Role,
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> None:
        _, headers = await signed_in(client, session, role)

        response = await client.request(method, path, json=body, headers=headers)

        assert_forbidden(response)

    @pytest.mark.parametrize("role", [Role.CLIENT, Role.ENGINEER])
    async def test_rendering_a_reply_is_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        admin = await make_user(session, role=Role.ADMIN)
        wo = await open_order(session)
        await session.commit()
        created = await client.post(
            "/api/v1/reply-templates",
            json={"name": "Hello", "body": "Hello {client_name}"},
            headers=await login(client, admin),
        )
        assert created.status_code == 201, created.text
        _, headers = await signed_in(client, session, role)

        response = await client.get(
            f"/api/v1/reply-templates/{created.json()['id']}/render",
            params={"work_order_id": str(wo.id)},
            headers=headers,
        )

        assert_forbidden(response)
        assert "Hello" not in response.text
        assert error_of(response, 403)["details"] is None
