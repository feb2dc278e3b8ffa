"""Service periods kept in step with coverage plans and contract dates; history untouched."""

from __future__ import annotations

import uuid
from datetime import date

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import Contract, ContractStatus, Coverage, IntervalUnit
from equipment.contracts.schemas import ContractCreate, ContractDatesUpdate, CoverageCreate
from equipment.contracts.service import ContractExpired, ContractService, CoverageOverlap
from equipment.equipment.models import Equipment
from equipment.service_periods.models import PeriodStatus, ServicePeriod
from equipment.service_periods.service import ServicePeriodService
from fsm.auth.principal import Principal
from fsm.errors import ValidationFailed
from fsm.users.models import Role
from tests.equipment.helpers import make_equipment
from tests.factories import make_client
from tests.fsm.helpers import signed_in

D = date
YEAR_START = D(2026, 1, 1)
YEAR_END = D(2026, 12, 31)
STAFF = Principal(
    user_id=uuid.uuid4(),
    session_id=uuid.uuid4(),
    role=Role.DISPATCHER,
    client_id=None,
    email="staff@example.com",
    full_name="Staff",
)


async def _covered(
    session: AsyncSession,
    *,
    valid_from: date = YEAR_START,
    valid_to: date = YEAR_END,
    count: int = 3,
    unit: IntervalUnit = IntervalUnit.MONTH,
    equipment: Equipment | None = None,
    number: str | None = None,
) -> tuple[ContractService, Contract]:
    if equipment is None:
        equipment = await make_equipment(session)
    service = ContractService(session)
    contract = await service.create(
        ContractCreate(
            client_id=equipment.client_id,
            number=number or f"C-{uuid.uuid4().hex[:8]}",
            valid_from=valid_from,
            valid_to=valid_to,
        )
    )
    contract = await service.add_coverage(
        contract.id,
        CoverageCreate(equipment_id=equipment.id, interval_count=count, interval_unit=unit),
        viewer=STAFF,
    )
    return service, contract


async def _periods(session: AsyncSession, contract: Contract) -> list[tuple[date, date, str]]:
    rows = (
        await session.scalars(
            select(ServicePeriod)
            .where(ServicePeriod.contract_id == contract.id)
            .order_by(ServicePeriod.starts_on)
        )
    ).all()
    return [(p.starts_on, p.ends_on, p.status.value) for p in rows]


async def _set_status(
    session: AsyncSession, contract: Contract, starts_on: date, status: PeriodStatus
) -> None:
    period = (
        await session.scalars(
            select(ServicePeriod).where(
                ServicePeriod.contract_id == contract.id, ServicePeriod.starts_on == starts_on
            )
        )
    ).one()
    period.status = status
    await session.flush()


class TestPeriodsOnCoverage:
    async def test_cut_when_coverage_is_added(self, session: AsyncSession) -> None:
        _, contract = await _covered(session, valid_to=D(2026, 8, 15))
        assert await _periods(session, contract) == [
            (D(2026, 1, 1), D(2026, 3, 31), "planned"),
            (D(2026, 4, 1), D(2026, 6, 30), "planned"),
            (D(2026, 7, 1), D(2026, 8, 15), "planned"),
        ]

    async def test_regenerating_twice_adds_no_duplicates(self, session: AsyncSession) -> None:
        _, contract = await _covered(session, count=1, unit=IntervalUnit.WEEK)
        before = await _periods(session, contract)
        coverage = contract.coverages[0]
        await ServicePeriodService(session).regenerate(coverage)
        await ServicePeriodService(session).regenerate(coverage)
        assert await _periods(session, contract) == before
        assert len(before) == 53


class TestPeriodsOnDateChange:
    async def test_shortening_drops_planned_and_clips(self, session: AsyncSession) -> None:
        service, contract = await _covered(session)
        await service.change_dates(
            contract.id, ContractDatesUpdate(valid_to=D(2026, 5, 31)), viewer=STAFF
        )
        assert await _periods(session, contract) == [
            (D(2026, 1, 1), D(2026, 3, 31), "planned"),
            (D(2026, 4, 1), D(2026, 5, 31), "planned"),
        ]
        assert contract.coverages[0].period.upper == D(2026, 6, 1)

    async def test_extending_adds_periods(self, session: AsyncSession) -> None:
        service, contract = await _covered(session, valid_to=D(2026, 6, 30))
        await service.change_dates(
            contract.id, ContractDatesUpdate(valid_to=D(2026, 12, 31)), viewer=STAFF
        )
        assert [s for s, _, _ in await _periods(session, contract)] == [
            D(2026, 1, 1),
            D(2026, 4, 1),
            D(2026, 7, 1),
            D(2026, 10, 1),
        ]

    async def test_history_is_never_touched(self, session: AsyncSession) -> None:
        service, contract = await _covered(session)
        await _set_status(session, contract, D(2026, 1, 1), PeriodStatus.DONE)
        await _set_status(session, contract, D(2026, 4, 1), PeriodStatus.MISSED)
        await _set_status(session, contract, D(2026, 7, 1), PeriodStatus.SCHEDULED)
        await service.change_dates(
            contract.id, ContractDatesUpdate(valid_from=D(2026, 2, 15)), viewer=STAFF
        )
        assert await _periods(session, contract) == [
            (D(2026, 1, 1), D(2026, 3, 31), "done"),
            (D(2026, 2, 15), D(2026, 5, 14), "planned"),
            (D(2026, 4, 1), D(2026, 6, 30), "missed"),
            (D(2026, 5, 15), D(2026, 8, 14), "planned"),
            (D(2026, 7, 1), D(2026, 9, 30), "scheduled"),
            (D(2026, 8, 15), D(2026, 11, 14), "planned"),
            (D(2026, 11, 15), D(2026, 12, 31), "planned"),
        ]

    async def test_kept_history_start_is_not_duplicated(self, session: AsyncSession) -> None:
        service, contract = await _covered(session)
        await _set_status(session, contract, D(2026, 10, 1), PeriodStatus.DONE)
        await service.change_dates(
            contract.id, ContractDatesUpdate(valid_to=D(2026, 10, 20)), viewer=STAFF
        )
        assert await _periods(session, contract) == [
            (D(2026, 1, 1), D(2026, 3, 31), "planned"),
            (D(2026, 4, 1), D(2026, 6, 30), "planned"),
            (D(2026, 7, 1), D(2026, 9, 30), "planned"),
            (D(2026, 10, 1), D(2026, 12, 31), "done"),
        ]

    async def test_valid_to_before_valid_from_is_rejected(self, session: AsyncSession) -> None:
        service, contract = await _covered(session)
        with pytest.raises(ValidationFailed):
            await service.change_dates(
                contract.id, ContractDatesUpdate(valid_to=D(2025, 12, 31)), viewer=STAFF
            )

    async def test_expired_contract_keeps_its_dates(self, session: AsyncSession) -> None:
        service, contract = await _covered(session)
        await service.activate(contract.id, viewer=STAFF)
        await service.expire(contract.id, viewer=STAFF)
        with pytest.raises(ContractExpired):
            await service.change_dates(
                contract.id, ContractDatesUpdate(valid_to=D(2027, 1, 31)), viewer=STAFF
            )


class TestExclusionConstraintBackstop:
    async def test_constraint_violation_reads_as_coverage_overlap(
        self, session: AsyncSession
    ) -> None:
        unit = await make_equipment(session)
        service, first = await _covered(session, equipment=unit, number="FIRST")
        await service.activate(first.id, viewer=STAFF)
        _, second = await _covered(session, equipment=unit)
        coverage: Coverage = second.coverages[0]
        second_id, period = second.id, coverage.period

        async def activate_unchecked() -> None:
            # Skip the service's own check, as a concurrent request would slip past it.
            async with service._overlap_guard(second_id, [unit.id], period):
                second.status = ContractStatus.ACTIVE
                coverage.is_active = True

        with pytest.raises(CoverageOverlap) as caught:
            await activate_unchecked()
        assert caught.value.details["contract_number"] == "FIRST"
        # The savepoint is gone; the session still works.
        assert (await service.get(first.id, viewer=STAFF)).status is ContractStatus.ACTIVE


class TestListPeriods:
    async def test_lists_a_contracts_periods(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        unit = await make_equipment(session, client=company)
        _, contract = await _covered(session, equipment=unit, valid_to=D(2026, 3, 31), count=1)
        await session.commit()
        _, headers = await signed_in(client, session, Role.DISPATCHER)
        response = await client.get(f"/api/v1/contracts/{contract.id}/periods", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == 3
        assert [(p["starts_on"], p["ends_on"]) for p in body["items"]] == [
            ("2026-01-01", "2026-01-31"),
            ("2026-02-01", "2026-02-28"),
            ("2026-03-01", "2026-03-31"),
        ]
        assert {p["equipment_id"] for p in body["items"]} == {str(unit.id)}

    async def test_patch_dates_regenerates(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        unit = await make_equipment(session)
        _, contract = await _covered(session, equipment=unit, valid_to=D(2026, 3, 31), count=1)
        await session.commit()
        _, headers = await signed_in(client, session, Role.DISPATCHER)
        response = await client.patch(
            f"/api/v1/contracts/{contract.id}", json={"valid_to": "2026-02-10"}, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["coverages"][0]["ends_on"] == "2026-02-10"
        periods = await client.get(f"/api/v1/contracts/{contract.id}/periods", headers=headers)
        assert [(p["starts_on"], p["ends_on"]) for p in periods.json()["items"]] == [
            ("2026-01-01", "2026-01-31"),
            ("2026-02-01", "2026-02-10"),
        ]

    async def test_patch_invalid_dates_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, contract = await _covered(session)
        await session.commit()
        _, headers = await signed_in(client, session, Role.DISPATCHER)
        response = await client.patch(
            f"/api/v1/contracts/{contract.id}", json={"valid_from": "2027-06-01"}, headers=headers
        )
        assert response.status_code == 422, response.text
