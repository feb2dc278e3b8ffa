"""Custom fields: admins define typed extra fields per work-order type; values are checked."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.sites.models import Site
from fsm.users.models import Role
from tests.factories import make_site
from tests.fsm.helpers import assert_forbidden, error_of, invalid_fields, signed_in
from tests.fsm.wo_helpers import WORK_ORDERS, create_via_api

FIELDS = "/api/v1/custom-fields"

REPAIR_FIELDS: list[dict[str, Any]] = [
    {"key": "notes", "label": "Notes", "kind": "text"},
    {"key": "report", "label": "Report", "kind": "long_text"},
    {"key": "meter", "label": "Meter reading", "kind": "number"},
    {"key": "seen_on", "label": "First seen", "kind": "date"},
    {"key": "leak", "label": "Leaking", "kind": "checkbox"},
    {
        "key": "category",
        "label": "Category",
        "kind": "dropdown",
        "choices": ["heating", "cooling"],
    },
    {
        "key": "component",
        "label": "Component",
        "kind": "dependent_dropdown",
        "depends_on": "category",
        "dependent_choices": {"heating": ["boiler", "pump"], "cooling": ["compressor"]},
    },
]


async def _define(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post(FIELDS, json={"work_order_type": "repair", **body}, headers=admin)


async def _setup(
    client: httpx.AsyncClient, session: AsyncSession
) -> tuple[dict[str, str], dict[str, str], Site]:
    """Admin and dispatcher headers, a site, and every kind of field on repairs."""
    site = await make_site(session)
    _, admin = await signed_in(client, session, Role.ADMIN)
    _, staff = await signed_in(client, session, Role.DISPATCHER)
    for body in REPAIR_FIELDS:
        response = await _define(client, admin, **body)
        assert response.status_code == 201, response.text
    return admin, staff, site


class TestDefine:
    async def test_admin_defines_every_kind(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, _ = await _setup(client, session)

        listed = await client.get(FIELDS, headers=staff)

        assert listed.status_code == 200, listed.text
        kinds = {d["key"]: d["kind"] for d in listed.json()}
        assert kinds == {b["key"]: b["kind"] for b in REPAIR_FIELDS}
        by_key = {d["key"]: d for d in listed.json()}
        assert by_key["category"]["options"] == {"choices": ["heating", "cooling"]}
        assert by_key["component"]["options"] == {
            "depends_on": "category",
            "choices": {"heating": ["boiler", "pump"], "cooling": ["compressor"]},
        }

    async def test_dispatcher_may_not_define(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await signed_in(client, session, Role.DISPATCHER)

        response = await _define(client, staff, key="meter", label="Meter", kind="number")

        assert_forbidden(response)

    async def test_refuses_a_key_taken_on_the_same_type(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin, _, _ = await _setup(client, session)

        response = await _define(client, admin, key="meter", label="Other meter", kind="text")

        assert error_of(response, 409)["code"] == "key_taken"

    async def test_takes_the_same_key_on_another_type(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin, _, _ = await _setup(client, session)

        response = await client.post(
            FIELDS,
            json={
                "work_order_type": "inspection",
                "key": "meter",
                "label": "Meter",
                "kind": "number",
            },
            headers=admin,
        )

        assert response.status_code == 201, response.text
        assert response.json()["work_order_type"] == "inspection"

    async def test_refuses_a_dependent_dropdown_on_a_non_dropdown(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin, _, _ = await _setup(client, session)

        response = await _define(
            client,
            admin,
            key="unit",
            label="Unit",
            kind="dependent_dropdown",
            depends_on="notes",
            dependent_choices={"anything": ["x"]},
        )

        assert invalid_fields(response) == ["depends_on"]

    async def test_refuses_dependent_choices_for_unknown_parent_options(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin, _, _ = await _setup(client, session)

        response = await _define(
            client,
            admin,
            key="part",
            label="Part",
            kind="dependent_dropdown",
            depends_on="category",
            dependent_choices={"plumbing": ["pipe"]},
        )

        assert invalid_fields(response) == ["dependent_choices"]

    async def test_refuses_a_dropdown_without_choices(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)

        response = await _define(client, admin, key="size", label="Size", kind="dropdown")

        assert invalid_fields(response) == ["choices"]

    async def test_refuses_a_malformed_key(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)

        response = await _define(client, admin, key="Meter Reading", label="M", kind="number")

        assert invalid_fields(response) == ["key"]


class TestValues:
    async def test_stores_valid_values(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, site = await _setup(client, session)
        values = {
            "notes": "noisy",
            "report": "long story " * 50,
            "meter": 1234.5,
            "seen_on": "2026-02-28",
            "leak": False,
            "category": "heating",
            "component": "pump",
        }

        response = await create_via_api(client, staff, site, custom_fields=values)

        assert response.status_code == 201, response.text
        assert response.json()["custom_fields"] == values

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("notes", 42),
            ("notes", "x" * 501),
            ("report", ["a", "b"]),
            ("meter", True),
            ("meter", "12"),
            ("seen_on", "2026-02-30"),
            ("seen_on", "28.02.2026"),
            ("leak", "yes"),
            ("category", "plumbing"),
        ],
    )
    async def test_refuses_a_wrong_value(
        self, client: httpx.AsyncClient, session: AsyncSession, key: str, value: Any
    ) -> None:
        _, staff, site = await _setup(client, session)

        response = await create_via_api(client, staff, site, custom_fields={key: value})

        assert invalid_fields(response) == [f"custom_fields.{key}"]

    async def test_refuses_a_dependent_option_of_another_parent_value(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, site = await _setup(client, session)

        response = await create_via_api(
            client,
            staff,
            site,
            custom_fields={"category": "cooling", "component": "boiler"},
        )

        assert invalid_fields(response) == ["custom_fields.component"]

    async def test_refuses_a_list_as_the_parent_value(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, site = await _setup(client, session)

        response = await create_via_api(
            client,
            staff,
            site,
            custom_fields={"category": ["heating"], "component": "boiler"},
        )

        assert sorted(invalid_fields(response)) == [
            "custom_fields.category",
            "custom_fields.component",
        ]

    async def test_refuses_an_unknown_key(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, site = await _setup(client, session)

        response = await create_via_api(client, staff, site, custom_fields={"colour": "red"})

        assert invalid_fields(response) == ["custom_fields.colour"]

    async def test_refuses_a_field_of_another_type(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, site = await _setup(client, session)

        response = await create_via_api(
            client, staff, site, type="installation", custom_fields={"meter": 3}
        )

        assert invalid_fields(response) == ["custom_fields.meter"]

    async def test_requires_a_creation_field(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin, staff, site = await _setup(client, session)
        await _define(
            client, admin, key="asset_tag", label="Asset", kind="text", required_at="creation"
        )

        missing = await create_via_api(client, staff, site, custom_fields={"notes": "x"})
        blank = await create_via_api(client, staff, site, custom_fields={"asset_tag": "  "})

        assert invalid_fields(missing) == ["custom_fields.asset_tag"]
        assert invalid_fields(blank) == ["custom_fields.asset_tag"]

    async def test_a_required_checkbox_takes_false(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin, staff, site = await _setup(client, session)
        await _define(
            client, admin, key="signed", label="Signed", kind="checkbox", required_at="creation"
        )

        response = await create_via_api(client, staff, site, custom_fields={"signed": False})

        assert response.status_code == 201, response.text
        assert response.json()["custom_fields"] == {"signed": False}

    async def test_resolution_field_is_not_needed_at_creation(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin, staff, site = await _setup(client, session)
        await _define(
            client, admin, key="cause", label="Cause", kind="text", required_at="resolution"
        )

        response = await create_via_api(client, staff, site)

        assert response.status_code == 201, response.text

    async def test_names_every_bad_field(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, site = await _setup(client, session)

        response = await create_via_api(
            client, staff, site, custom_fields={"meter": "x", "leak": 1, "colour": "red"}
        )

        assert sorted(invalid_fields(response)) == [
            "custom_fields.colour",
            "custom_fields.leak",
            "custom_fields.meter",
        ]

    async def test_patch_checks_and_merges(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, site = await _setup(client, session)
        created = await create_via_api(client, staff, site, custom_fields={"meter": 1})
        url = f"{WORK_ORDERS}/{created.json()['id']}"

        bad = await client.patch(url, json={"custom_fields": {"leak": "no"}}, headers=staff)
        good = await client.patch(url, json={"custom_fields": {"leak": True}}, headers=staff)

        assert invalid_fields(bad) == ["custom_fields.leak"]
        assert good.status_code == 200, good.text
        assert good.json()["custom_fields"] == {"meter": 1, "leak": True}
