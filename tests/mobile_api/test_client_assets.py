"""Client app: the company's equipment (list, card) and contracts (list, periods)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from equipment.contracts.models import Contract, ContractStatus, Coverage, IntervalUnit
from equipment.equipment.models import Equipment
from equipment.service_periods.models import PeriodStatus, ServicePeriod
from fsm.users.models import Role, User
from mobile_api.client.assets import ClientAssetService
from tests.equipment.helpers import make_equipment
from tests.factories import make_client, make_site, make_user
from tests.fsm.wo_helpers import plan_visit, principal_of
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

    async def test_a_cursor_not_given_out_by_the_server_is_a_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()

        response = await client.get(
            f"{BASE}/equipment",
            params={"cursor": "bm9wZQ"},
            headers=await headers_of(client, company.user),
        )

        assert response.status_code == 409
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


# 12:00 UTC on 23 November is 01:00 on 24 November in Auckland (NZDT, UTC+13).
NOON_UTC = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
AUCKLAND_TODAY = date(2026, 11, 24)


async def _contract_from(
    session: AsyncSession, unit: Equipment, starts_on: date, ends_on: date
) -> Contract:
    """An active contract covering `unit` over the given days, one service period as long."""
    contract = Contract(
        client_id=unit.client_id,
        number=f"K-TZ-{unit.serial_number}",
        valid_from=starts_on,
        valid_to=ends_on,
        status=ContractStatus.ACTIVE,
        hourly_rate_cents=1,
        callout_fee_cents=1,
        included_labour_minutes=0,
    )
    session.add(contract)
    await session.flush()
    coverage = Coverage(
        contract_id=contract.id,
        equipment_id=unit.id,
        period=Range(starts_on, ends_on + timedelta(days=1)),
        is_active=True,
        interval_count=1,
        interval_unit=IntervalUnit.MONTH,
        visit_minutes=30,
    )
    session.add(coverage)
    await session.flush()
    session.add(
        ServicePeriod(
            coverage_id=coverage.id,
            contract_id=contract.id,
            equipment_id=unit.id,
            starts_on=starts_on,
            ends_on=ends_on,
            status=PeriodStatus.PLANNED,
        )
    )
    await session.flush()
    return contract


async def _unit_at(session: AsyncSession, timezone: str) -> tuple[Equipment, User]:
    company = await make_client(session)
    site = await make_site(session, client=company, timezone=timezone, country="NZ")
    unit = await make_equipment(session, client=company, site=site)
    user = await make_user(session, role=Role.CLIENT, client=company)
    return unit, user


class TestTodayIsTheSitesDate:
    async def test_a_contract_starting_on_the_local_date_is_in_force_already(
        self, session: AsyncSession
    ) -> None:
        unit, user = await _unit_at(session, "Pacific/Auckland")
        contract = await _contract_from(session, unit, AUCKLAND_TODAY, date(2027, 11, 23))
        assets = ClientAssetService(session, viewer=principal_of(user))

        card = await assets.equipment_detail(unit.id, now=NOON_UTC)
        [listed] = (await assets.list_contracts(limit=10, cursor=None, now=NOON_UTC)).items
        detail = await assets.contract_detail(contract.id, now=NOON_UTC)

        assert card.coverage.is_covered is True
        assert card.current_period is not None
        assert card.current_period.starts_on == AUCKLAND_TODAY
        assert card.next_period is None
        assert listed.is_in_force is True
        assert detail.is_in_force is True

    async def test_a_contract_ending_on_the_utc_date_is_over_at_the_site(
        self, session: AsyncSession
    ) -> None:
        unit, user = await _unit_at(session, "Pacific/Auckland")
        contract = await _contract_from(session, unit, date(2026, 1, 1), date(2026, 11, 23))
        assets = ClientAssetService(session, viewer=principal_of(user))

        card = await assets.equipment_detail(unit.id, now=NOON_UTC)
        detail = await assets.contract_detail(contract.id, now=NOON_UTC)

        assert card.coverage.is_covered is False
        assert card.current_period is None
        assert detail.is_in_force is False

    async def test_the_same_instant_is_still_the_day_before_in_berlin(
        self, session: AsyncSession
    ) -> None:
        unit, user = await _unit_at(session, "Europe/Berlin")
        contract = await _contract_from(session, unit, AUCKLAND_TODAY, date(2027, 11, 23))
        assets = ClientAssetService(session, viewer=principal_of(user))

        card = await assets.equipment_detail(unit.id, now=NOON_UTC)
        detail = await assets.contract_detail(contract.id, now=NOON_UTC)

        assert card.coverage.is_covered is False
        assert card.current_period is None
        assert card.next_period is not None
        assert detail.is_in_force is False


class TestTransferredUnit:
    async def test_the_new_owner_sees_nothing_of_the_previous_owners_work(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        previous = await make_company(session, resolved=False)
        staff = await make_user(session, role=Role.DISPATCHER)
        await open_critical(session, previous.unit, staff=staff, title="Previous owner's leak")
        new_owner = await make_company(session)
        # The back office moves the unit to the new owner's site.
        unit = await session.get(Equipment, previous.unit.id)
        assert unit is not None
        unit.client_id = new_owner.client.id
        unit.site_id = new_owner.site.id
        await session.commit()

        response = await client.get(
            f"{BASE}/equipment/{unit.id}", headers=await headers_of(client, new_owner.user)
        )

        assert response.status_code == 200, response.text
        card = response.json()
        assert card["site_id"] == str(new_owner.site.id)
        assert card["open_requests"] == []
        assert card["last_visits"] == []
        assert card["coverage"]["is_covered"] is False  # the previous owner's contract
        assert card["current_period"] is None
        assert card["next_period"] is None
        assert "Previous owner" not in response.text
        assert previous.order.title not in response.text

    async def test_the_new_owners_own_requests_show_on_the_card(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        previous = await make_company(session, resolved=False)
        new_owner = await make_company(session)
        unit = await session.get(Equipment, previous.unit.id)
        assert unit is not None
        unit.client_id = new_owner.client.id
        unit.site_id = new_owner.site.id
        await session.commit()
        headers = await headers_of(client, new_owner.user)

        opened = await client.post(
            f"{BASE}/requests",
            json={"title": "Rattles since the move", "equipment_id": str(unit.id)},
            headers=headers,
        )
        card = (await client.get(f"{BASE}/equipment/{unit.id}", headers=headers)).json()

        assert opened.status_code == 201, opened.text
        assert [r["title"] for r in card["open_requests"]] == ["Rattles since the move"]

    async def test_the_previous_owner_no_longer_finds_the_unit(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        previous = await make_company(session)
        new_owner = await make_company(session)
        unit = await session.get(Equipment, previous.unit.id)
        assert unit is not None
        unit.client_id = new_owner.client.id
        unit.site_id = new_owner.site.id
        await session.commit()

        response = await client.get(
            f"{BASE}/equipment/{unit.id}", headers=await headers_of(client, previous.user)
        )

        assert response.status_code == 404
