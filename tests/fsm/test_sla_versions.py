"""SLA policies and calendars are edited as versions: open work keeps the terms it started on."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import Contract, ContractStatus
from fsm.users.models import Role
from tests.factories import make_client, make_site
from tests.fsm.helpers import error_of, signed_in
from tests.fsm.wo_helpers import create_via_api, parse_at

POLICIES = "/api/v1/sla/policies"
CALENDARS = "/api/v1/sla/calendars"


def _targets(resolution_minutes: int) -> dict[str, Any]:
    target = {"reaction_minutes": 60, "resolution_minutes": resolution_minutes}
    return dict.fromkeys(("low", "normal", "high", "critical"), target)


class TestPolicyVersions:
    async def test_open_work_keeps_its_terms_new_work_gets_the_edit(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        site = await make_site(session)
        await session.commit()
        created = await client.post(
            POLICIES,
            json={"name": "Standard", "targets": _targets(480), "is_default": True},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        v1 = created.json()
        first = (await create_via_api(client, admin, site)).json()
        assert (first["sla"]["policy_id"], first["sla"]["policy_version"]) == (v1["id"], 1)

        edited = await client.patch(
            f"{POLICIES}/{v1['id']}", json={"targets": _targets(120)}, headers=admin
        )
        assert edited.status_code == 200, edited.text
        v2 = edited.json()
        assert (v2["version"], v2["family_id"], v2["is_default"]) == (2, v1["id"], True)
        assert v2["id"] != v1["id"]

        second = (await create_via_api(client, admin, site)).json()
        assert (second["sla"]["policy_id"], second["sla"]["policy_version"]) == (v2["id"], 2)
        opened = parse_at(second["created_at"])
        assert parse_at(second["sla"]["resolution_due_at"]) == opened + timedelta(minutes=120)

        # The first order's deadline stays, even when something makes it recompute.
        bumped = await client.patch(
            f"/api/v1/work-orders/{first['id']}", json={"priority": "high"}, headers=admin
        )
        assert bumped.status_code == 200, bumped.text
        assert bumped.json()["sla"]["policy_version"] == 1
        assert parse_at(bumped.json()["sla"]["resolution_due_at"]) == parse_at(
            first["created_at"]
        ) + timedelta(minutes=480)

        listed = (await client.get(POLICIES, headers=admin)).json()
        assert [(p["name"], p["version"]) for p in listed] == [("Standard", 2)]
        versions = (await client.get(f"{POLICIES}/{v2['id']}/versions", headers=admin)).json()
        assert [(p["version"], p["superseded_at"] is None) for p in versions] == [
            (1, False),
            (2, True),
        ]
        stale = await client.patch(
            f"{POLICIES}/{v1['id']}", json={"targets": _targets(60)}, headers=admin
        )
        assert error_of(stale, 409)["code"] == "version_superseded"
        same = await client.patch(
            f"{POLICIES}/{v2['id']}", json={"targets": _targets(120)}, headers=admin
        )
        assert same.json()["version"] == 2  # nothing changed, no new version

    async def test_a_contract_naming_an_old_version_opens_on_the_current_one(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        v1 = (
            await client.post(
                POLICIES, json={"name": "Gold", "targets": _targets(240)}, headers=admin
            )
        ).json()
        company = await make_client(session)
        site = await make_site(session, client=company)
        session.add(
            Contract(
                client_id=company.id,
                number="K-GOLD",
                valid_from=date(2020, 1, 1),
                valid_to=date(2099, 12, 31),
                status=ContractStatus.ACTIVE,
                sla_policy_id=v1["id"],
            )
        )
        await session.commit()
        v2 = (
            await client.patch(f"{POLICIES}/{v1['id']}", json={"name": "Gold+"}, headers=admin)
        ).json()
        order = (await create_via_api(client, admin, site)).json()
        assert (order["sla"]["policy_id"], order["sla"]["policy_version"]) == (v2["id"], 2)

    async def test_only_admins_edit(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        _, dispatcher = await signed_in(client, session, Role.DISPATCHER)
        policy = (
            await client.post(POLICIES, json={"name": "P", "targets": _targets(60)}, headers=admin)
        ).json()
        refused = await client.patch(
            f"{POLICIES}/{policy['id']}", json={"name": "Q"}, headers=dispatcher
        )
        assert error_of(refused, 403)["code"] == "forbidden"


class TestCalendarVersions:
    async def test_editing_a_calendar_versions_the_policies_on_it(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        hours = [{"weekday": d, "start": "08:00", "end": "16:00"} for d in range(5)]
        calendar = (
            await client.post(
                CALENDARS,
                json={"name": "Office", "timezone": "Europe/Berlin", "hours": hours},
                headers=admin,
            )
        ).json()
        policy = (
            await client.post(
                POLICIES,
                json={"name": "Office SLA", "targets": _targets(60), "calendar_id": calendar["id"]},
                headers=admin,
            )
        ).json()
        edited = await client.patch(
            f"{CALENDARS}/{calendar['id']}", json={"holidays": ["2026-12-24"]}, headers=admin
        )
        assert edited.status_code == 200, edited.text
        assert (edited.json()["version"], edited.json()["holidays"]) == (2, ["2026-12-24"])
        current = (await client.get(POLICIES, headers=admin)).json()
        assert [(p["version"], p["calendar_id"]) for p in current] == [(2, edited.json()["id"])]
        old = (await client.get(f"{POLICIES}/{policy['id']}", headers=admin)).json()
        assert (old["calendar_id"], old["superseded_at"] is not None) == (calendar["id"], True)
        bad = await client.patch(
            f"{CALENDARS}/{edited.json()['id']}", json={"timezone": "Mars/Base"}, headers=admin
        )
        assert error_of(bad, 422)["code"] == "validation_error"
