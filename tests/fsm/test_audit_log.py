"""The audit log: every admin change to the configuration, who and when, before and after."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from tests.factories import make_client
from tests.fsm.helpers import error_of, signed_in

AUDIT = "/api/v1/audit-log"


class TestAuditLog:
    async def test_admin_changes_are_logged_with_before_and_after(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin_user, admin = await signed_in(client, session, Role.ADMIN)
        _, dispatcher = await signed_in(client, session, Role.DISPATCHER)
        made = await client.post(
            "/api/v1/clients", json={"name": "Acme", "tax_id": "DE1"}, headers=admin
        )
        assert made.status_code == 201, made.text
        client_id = made.json()["id"]
        renamed = await client.patch(
            f"/api/v1/clients/{client_id}", json={"name": "Acme GmbH"}, headers=admin
        )
        assert renamed.status_code == 200, renamed.text
        # A dispatcher's change is everyday work, not configuration by an admin.
        await client.patch(
            f"/api/v1/clients/{client_id}", json={"phone": "+49 1"}, headers=dispatcher
        )

        log = await client.get(AUDIT, params={"entity": "clients"}, headers=admin)
        assert log.status_code == 200, log.text
        entries = log.json()["items"]
        assert [e["action"] for e in entries] == ["updated", "created"]
        updated, created = entries
        assert updated["actor_id"] == str(admin_user.id)
        assert updated["entity_id"] == client_id
        assert (updated["before"], updated["after"]) == ({"name": "Acme"}, {"name": "Acme GmbH"})
        assert created["after"]["tax_id"] == "DE1"

    async def test_secrets_never_logged_and_only_admins_read(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        company = await make_client(session)
        _, client_user = await signed_in(client, session, Role.CLIENT, of_client=company)
        _, dispatcher = await signed_in(client, session, Role.DISPATCHER)
        created = await client.post(
            "/api/v1/users",
            json={
                "email": "new@x.example",
                "full_name": "New Person",
                "password": "a-long-password-1",
                "role": "dispatcher",
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        entry = (await client.get(AUDIT, params={"entity": "users"}, headers=admin)).json()
        assert entry["items"][0]["after"]["email"] == "new@x.example"
        assert "password_hash" not in entry["items"][0]["after"]
        for headers in (dispatcher, client_user):
            assert error_of(await client.get(AUDIT, headers=headers), 403)["code"] == "forbidden"
