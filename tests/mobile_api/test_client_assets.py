"""Client app: the company's equipment (list, card) and contracts (list, periods)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from equipment.contracts.models import ContractStatus
from fsm.users.models import Role
from tests.equipment.helpers import make_equipment
from tests.factories import make_site, make_user
from tests.fsm.wo_helpers import plan_visit
from tests.mobile_api.client_helpers import (
    BASE,
    assert_no_secrets,
    counting_queries,
    headers_of,
    make_company,
    open_critical,
    under_contract,
)


class TestEquipmentList:
    async def test_pages_by_cursor_through_every_unit_once(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        for n in range(4):
            await make_equipment(
                session, client=company.client, site=company.site, serial_number=f"ZZ-{n}"
            )
        await session.commit()
        headers = await headers_of(client, company.user)

        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = (await client.get(f"{BASE}/equipment", params=params, headers=headers)).json()
            seen += [item["serial_number"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break

        assert pages == 3
        assert seen == sorted(seen)
        assert len(seen) == len(set(seen)) == 5

    async def test_filters_by_site_and_text(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        other_site = await make_site(session, client=company.client, name="Warehouse")
        moved = await make_equipment(
            session, client=company.client, site=other_site, serial_number="WH-77"
        )
        await session.commit()
        headers = await headers_of(client, company.user)

        at_site = await client.get(
            f"{BASE}/equipment", params={"site_id": str(other_site.id)}, headers=headers
        )
        by_text = await client.get(f"{BASE}/equipment", params={"q": "wh-7"}, headers=headers)

        assert [i["id"] for i in at_site.json()["items"]] == [str(moved.id)]
        assert at_site.json()["items"][0]["site_name"] == "Warehouse"
        assert [i["serial_number"] for i in by_text.json()["items"]] == ["WH-77"]

    async def test_a_cursor_not_given_out_by_the_server_is_a_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()

        response = await client.get(
            f"{BASE}/equipment",
            params={"cursor": "bm9wZQ"},
            headers=await headers_of(client, company.user),
        )

        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "cursor"


class TestEquipmentCard:
    async def test_shows_model_site_coverage_next_period_and_last_visits(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()

        response = await client.get(
            f"{BASE}/equipment/{company.unit.id}", headers=await headers_of(client, company.user)
        )

        assert response.status_code == 200, response.text
        card = response.json()
        assert card["model"] == company.unit.model.model
        assert card["site_name"] == company.site.name
        assert card["coverage"] == {
            "is_covered": True,
            "contract_id": str(company.contract.id),
            "contract_number": company.contract.number,
            "valid_to": company.contract.valid_to.isoformat(),
        }
        assert card["current_period"]["status"] == "scheduled"
        assert card["next_period"]["status"] == "planned"
        [visit] = card["last_visits"]
        assert visit["engineer_first_name"] == "Erik"
        assert visit["labour_minutes"] == 75
        assert visit["has_report"] is True
        assert_no_secrets(card)

    async def test_an_uncovered_unit_says_so_and_open_requests_carry_no_priority(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        bare = await make_equipment(session, client=company.client, site=company.site)
        staff = await make_user(session, role=Role.DISPATCHER)
        order = await open_critical(session, bare, staff=staff, title="Door stuck")
        await session.commit()

        card = (
            await client.get(
                f"{BASE}/equipment/{bare.id}", headers=await headers_of(client, company.user)
            )
        ).json()

        assert card["coverage"] == {
            "is_covered": False,
            "contract_id": None,
            "contract_number": None,
            "valid_to": None,
        }
        assert card["next_period"] is None
        assert [r["number"] for r in card["open_requests"]] == [order.number]
        assert_no_secrets(card)

    async def test_the_number_of_queries_does_not_grow_with_the_units_history(
        self, client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        company = await make_company(session)
        quiet = await make_equipment(session, client=company.client, site=company.site)
        staff = await make_user(session, role=Role.DISPATCHER)
        for n in range(3):
            order = await open_critical(session, company.unit, staff=staff, title=f"Fault {n}")
            await plan_visit(session, order, actor=staff, engineer=company.engineer)
        await session.commit()
        headers = await headers_of(client, company.user)

        with counting_queries(engine) as for_quiet:
            await client.get(f"{BASE}/equipment/{quiet.id}", headers=headers)
        with counting_queries(engine) as for_busy:
            response = await client.get(f"{BASE}/equipment/{company.unit.id}", headers=headers)

        assert len(response.json()["last_visits"]) == 4
        assert len(for_busy) == len(for_quiet)

    async def test_revalidating_an_unchanged_card_is_a_304_and_a_change_gets_a_new_etag(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()
        headers = await headers_of(client, company.user)
        url = f"{BASE}/equipment/{company.unit.id}"

        first = await client.get(url, headers=headers)
        etag = first.headers["etag"]
        again = await client.get(url, headers={**headers, "If-None-Match": etag})
        await client.post(
            f"{BASE}/requests",
            json={"title": "Rattles", "equipment_id": str(company.unit.id)},
            headers=headers,
        )
        changed = await client.get(url, headers={**headers, "If-None-Match": etag})

        assert again.status_code == 304
        assert again.content == b""
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert [r["title"] for r in changed.json()["open_requests"]] == ["Rattles"]


class TestContracts:
    async def test_the_list_shows_terms_without_rates_and_hides_drafts(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        draft_unit = await make_equipment(session, client=company.client, site=company.site)
        await under_contract(session, draft_unit, status=ContractStatus.DRAFT)
        await session.commit()

        response = await client.get(
            f"{BASE}/contracts", headers=await headers_of(client, company.user)
        )

        assert response.status_code == 200
        [item] = response.json()["items"]
        assert item["number"] == company.contract.number
        assert item["is_in_force"] is True
        assert item["covered_units"] == 1
        assert_no_secrets(response.json())

    async def test_a_draft_contract_is_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        draft_unit = await make_equipment(session, client=company.client, site=company.site)
        draft = await under_contract(session, draft_unit, status=ContractStatus.DRAFT)
        await session.commit()

        response = await client.get(
            f"{BASE}/contracts/{draft.id}", headers=await headers_of(client, company.user)
        )

        assert response.status_code == 404

    async def test_the_contract_lists_covered_units_and_periods_with_their_states(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()

        response = await client.get(
            f"{BASE}/contracts/{company.contract.id}",
            headers=await headers_of(client, company.user),
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert [u["equipment_id"] for u in body["covered_units"]] == [str(company.unit.id)]
        assert body["covered_units"][0]["interval_unit"] == "month"
        assert [p["status"] for p in body["service_periods"]] == ["scheduled", "planned"]
        assert_no_secrets(body)

    async def test_contracts_page_by_cursor(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        for _ in range(2):
            unit = await make_equipment(session, client=company.client, site=company.site)
            await under_contract(session, unit, status=ContractStatus.EXPIRED)
        await session.commit()
        headers = await headers_of(client, company.user)

        first = (await client.get(f"{BASE}/contracts?limit=2", headers=headers)).json()
        second = (
            await client.get(
                f"{BASE}/contracts",
                params={"limit": "2", "cursor": first["next_cursor"]},
                headers=headers,
            )
        ).json()

        numbers = [c["number"] for c in first["items"] + second["items"]]
        assert len(numbers) == len(set(numbers)) == 3
        assert second["next_cursor"] is None
