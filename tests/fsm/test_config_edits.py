"""Configuration without a developer: custom fields and reply templates edited and deactivated."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from tests.factories import make_site
from tests.fsm.helpers import error_of, signed_in
from tests.fsm.wo_helpers import create_via_api

FIELDS = "/api/v1/custom-fields"
TEMPLATES = "/api/v1/reply-templates"


class TestCustomFieldEdits:
    async def test_relabel_then_deactivate_a_required_field(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        _, staff = await signed_in(client, session, Role.DISPATCHER)
        site = await make_site(session)
        await session.commit()
        defined = await client.post(
            FIELDS,
            json={
                "work_order_type": "repair",
                "key": "ticket",
                "label": "Ticket",
                "kind": "text",
                "required_at": "creation",
            },
            headers=admin,
        )
        assert defined.status_code == 201, defined.text
        field_id = defined.json()["id"]
        assert (await create_via_api(client, staff, site)).status_code == 422

        relabelled = await client.patch(
            f"{FIELDS}/{field_id}", json={"label": "Client ticket"}, headers=admin
        )
        assert relabelled.json()["label"] == "Client ticket"
        refused = await client.patch(
            f"{FIELDS}/{field_id}", json={"is_active": False}, headers=staff
        )
        assert error_of(refused, 403)["code"] == "forbidden"
        off = await client.patch(f"{FIELDS}/{field_id}", json={"is_active": False}, headers=admin)
        assert off.json()["is_active"] is False
        assert (await create_via_api(client, staff, site)).status_code == 201
        listed = (await client.get(FIELDS, headers=staff)).json()
        assert [(f["key"], f["is_active"]) for f in listed] == [("ticket", False)]
        bad = await client.patch(f"{FIELDS}/{field_id}", json={"kind": "number"}, headers=admin)
        assert error_of(bad, 422)["code"] == "validation_error"


class TestReplyTemplateEdits:
    async def test_edit_and_deactivate(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        created = await client.post(
            TEMPLATES, json={"name": "Hello", "body": "Dear {client_name}"}, headers=admin
        )
        template_id = created.json()["id"]
        edited = await client.patch(
            f"{TEMPLATES}/{template_id}",
            json={"body": "Hi {client_name}, about {work_order_number}"},
            headers=admin,
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["placeholders"] == ["client_name", "work_order_number"]
        unknown = await client.patch(
            f"{TEMPLATES}/{template_id}", json={"body": "Hi {password}"}, headers=admin
        )
        assert error_of(unknown, 422)["code"] == "validation_error"
        off = await client.patch(
            f"{TEMPLATES}/{template_id}", json={"is_active": False}, headers=admin
        )
        assert off.json()["is_active"] is False
        assert (await client.get(TEMPLATES, headers=admin)).json() == []
        everything = await client.get(TEMPLATES, params={"include_inactive": "true"}, headers=admin)
        assert [t["body"] for t in everything.json()] == [
            "Hi {client_name}, about {work_order_number}"
        ]
