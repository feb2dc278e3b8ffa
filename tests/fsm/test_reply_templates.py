"""Reply templates: admins write them with placeholders; staff fill them in for a work order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.db import utcnow
from fsm.users.models import Role, User
from fsm.workorders.models import WorkOrder
from tests.factories import make_client, make_engineer, make_site, make_user
from tests.fsm.helpers import (
    assert_forbidden,
    assert_not_found,
    error_of,
    invalid_fields,
    signed_in,
)
from tests.fsm.wo_helpers import open_order, plan_visit

TEMPLATES = "/api/v1/reply-templates"


async def _create(
    client: httpx.AsyncClient, admin: dict[str, str], body: str, name: str = "Reply"
) -> httpx.Response:
    return await client.post(TEMPLATES, json={"name": name, "body": body}, headers=admin)


async def _render(
    client: httpx.AsyncClient,
    session: AsyncSession,
    body: str,
    wo: WorkOrder,
) -> str:
    """The body rendered for `wo` by a dispatcher, from a template an admin just wrote."""
    _, admin = await signed_in(client, session, Role.ADMIN)
    created = await _create(client, admin, body)
    assert created.status_code == 201, created.text
    _, staff = await signed_in(client, session, Role.DISPATCHER)
    response = await client.get(
        f"{TEMPLATES}/{created.json()['id']}/render",
        params={"work_order_id": str(wo.id)},
        headers=staff,
    )
    assert response.status_code == 200, response.text
    rendered: str = response.json()["body"]
    return rendered


class TestCreateTemplate:
    async def test_admin_creates_one_listing_its_placeholders(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)

        response = await _create(
            client,
            admin,
            "Dear {client_name}, {engineer_name} comes at {planned_time} for "
            "{work_order_number}. Regards, {client_name}'s team",
        )

        assert response.status_code == 201, response.text
        assert response.json()["placeholders"] == [
            "client_name",
            "engineer_name",
            "planned_time",
            "work_order_number",
        ]
        assert response.json()["is_active"] is True

    @pytest.mark.parametrize(
        "body",
        [
            "Hello {customer}",
            "Hello {client_name",
            "Hello client_name}",
            "Hello {Client_Name}",
            "Hello { client_name }",
        ],
    )
    async def test_refuses_unknown_placeholders_and_lone_braces(
        self, client: httpx.AsyncClient, session: AsyncSession, body: str
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)

        response = await _create(client, admin, body)

        assert invalid_fields(response) == ["body"]

    async def test_takes_doubled_braces(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)

        response = await _create(client, admin, "Use {{ and }} around {site_name}")

        assert response.status_code == 201, response.text
        assert response.json()["placeholders"] == ["site_name"]

    async def test_refuses_a_taken_name(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        await _create(client, admin, "Hi", name="Greeting")

        response = await _create(client, admin, "Hello", name="Greeting")

        assert error_of(response, 409)["code"] == "template_name_taken"

    async def test_dispatcher_may_not_create(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await signed_in(client, session, Role.DISPATCHER)

        assert_forbidden(await _create(client, staff, "Hi {client_name}"))


class TestRenderTemplate:
    async def _scheduled(
        self,
        session: AsyncSession,
        *,
        client_name: str = "Acme GmbH",
        timezone: str = "Europe/Berlin",
        title: str = "Boiler leaking",
    ) -> tuple[WorkOrder, User]:
        company = await make_client(session, name=client_name)
        site = await make_site(
            session, client=company, name="Plant 7", address="Hafenstr. 1", timezone=timezone
        )
        staff = await make_user(session, role=Role.DISPATCHER)
        wo = await open_order(session, site=site, actor=staff, title=title)
        engineer = await make_engineer(
            session, user=await make_user(session, role=Role.ENGINEER, full_name="Erika Mustermann")
        )
        await plan_visit(
            session,
            wo,
            actor=staff,
            engineer=engineer,
            planned_start_at=datetime(2026, 6, 15, 8, 30, tzinfo=UTC),
        )
        await session.commit()
        return wo, staff

    async def test_fills_every_placeholder(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        wo, _ = await self._scheduled(session)

        body = await _render(
            client,
            session,
            "{client_name}: {work_order_number} ({work_order_title}) at {site_name}, "
            "{site_address}; {engineer_name} on {planned_time}",
            wo,
        )

        assert body == (
            f"Acme GmbH: {wo.number} (Boiler leaking) at Plant 7, Hafenstr. 1; "
            "Erika Mustermann on 15.06.2026 10:30"
        )

    async def test_planned_time_is_in_the_sites_timezone(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        wo, _ = await self._scheduled(session, timezone="America/New_York")

        body = await _render(client, session, "{planned_time}", wo)

        assert body == "15.06.2026 04:30"

    async def test_inserts_values_with_braces_literally(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        wo, _ = await self._scheduled(
            session, client_name="Acme {client_name} GmbH", title="Fix {{it}}"
        )

        body = await _render(client, session, "Dear {client_name}: {work_order_title}", wo)

        assert body == "Dear Acme {client_name} GmbH: Fix {{it}}"

    async def test_doubled_braces_give_literal_ones(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        wo, _ = await self._scheduled(session)

        body = await _render(client, session, "{{client_name}} is {client_name}}}", wo)

        assert body == "{client_name} is Acme GmbH}"

    async def test_leaves_engineer_and_time_empty_without_an_assigned_visit(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        wo = await open_order(session)
        await session.commit()

        body = await _render(client, session, "[{engineer_name}|{planned_time}]", wo)

        assert body == "[|]"

    async def test_names_the_engineer_of_the_next_visit(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff = await make_user(session, role=Role.DISPATCHER)
        wo = await open_order(session, actor=staff)
        sooner = await make_engineer(
            session, user=await make_user(session, role=Role.ENGINEER, full_name="Ada Soon")
        )
        later = await make_engineer(
            session, user=await make_user(session, role=Role.ENGINEER, full_name="Bob Later")
        )
        tomorrow = utcnow() + timedelta(days=1)
        await plan_visit(session, wo, actor=staff, engineer=sooner, planned_start_at=tomorrow)
        await plan_visit(
            session, wo, actor=staff, engineer=later, planned_start_at=tomorrow + timedelta(days=7)
        )
        await session.commit()

        body = await _render(client, session, "{engineer_name}", wo)

        assert body == "Ada Soon"

    async def test_names_the_engineer_of_the_last_visit_when_none_is_ahead(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff = await make_user(session, role=Role.DISPATCHER)
        wo = await open_order(session, actor=staff)
        earlier = await make_engineer(
            session, user=await make_user(session, role=Role.ENGINEER, full_name="Cem Earlier")
        )
        last = await make_engineer(
            session, user=await make_user(session, role=Role.ENGINEER, full_name="Dana Last")
        )
        yesterday = utcnow() - timedelta(days=1)
        await plan_visit(
            session,
            wo,
            actor=staff,
            engineer=earlier,
            planned_start_at=yesterday - timedelta(days=3),
        )
        await plan_visit(session, wo, actor=staff, engineer=last, planned_start_at=yesterday)
        await session.commit()

        body = await _render(client, session, "{engineer_name}", wo)

        assert body == "Dana Last"

    async def test_unknown_template_is_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        wo = await open_order(session)
        await session.commit()
        _, staff = await signed_in(client, session, Role.DISPATCHER)

        response = await client.get(
            f"{TEMPLATES}/{uuid.uuid4()}/render",
            params={"work_order_id": str(wo.id)},
            headers=staff,
        )

        assert_not_found(response)

    async def test_client_may_not_render(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        created = await _create(client, admin, "Hello {client_name}")
        company = await make_client(session)
        wo = await open_order(session, site=await make_site(session, client=company))
        await session.commit()
        _, headers = await signed_in(client, session, Role.CLIENT, of_client=company)

        response = await client.get(
            f"{TEMPLATES}/{created.json()['id']}/render",
            params={"work_order_id": str(wo.id)},
            headers=headers,
        )

        assert_forbidden(response)
