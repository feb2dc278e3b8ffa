"""Contract rules at the service: references checked, expired contracts frozen, 404s."""

from __future__ import annotations

import uuid
from datetime import date, time

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import ContractStatus, IntervalUnit
from equipment.contracts.schemas import ContractCreate, ContractDatesUpdate, CoverageCreate
from equipment.contracts.service import (
    ContractExpired,
    ContractNotFound,
    ContractService,
    CoverageOverlap,
)
from fsm.auth.principal import Principal
from fsm.errors import UnknownReference, ValidationFailed
from fsm.pagination import PageRequest
from fsm.users.models import Role
from tests.equipment.helpers import make_equipment
from tests.factories import make_client

STAFF = Principal(
    user_id=uuid.uuid4(),
    session_id=uuid.uuid4(),
    role=Role.DISPATCHER,
    client_id=None,
    email="staff@example.com",
    full_name="Staff",
)


def _terms(client_id: uuid.UUID, **overrides: object) -> ContractCreate:
    fields: dict[str, object] = {
        "client_id": client_id,
        "number": f"C-{uuid.uuid4().hex[:8]}",
        "valid_from": date(2026, 1, 1),
        "valid_to": date(2026, 12, 31),
        **overrides,
    }
    return ContractCreate(**fields)  # type: ignore[arg-type]


def _plan(equipment_id: uuid.UUID) -> CoverageCreate:
    return CoverageCreate(
        equipment_id=equipment_id, interval_count=1, interval_unit=IntervalUnit.MONTH
    )


def _fields(error: ValidationFailed | UnknownReference) -> list[str]:
    return [d["field"] for d in error.details]


class TestCreate:
    async def test_unknown_client(self, session: AsyncSession) -> None:
        with pytest.raises(UnknownReference) as caught:
            await ContractService(session).create(_terms(uuid.uuid4()))
        assert _fields(caught.value) == ["client_id"]

    async def test_unknown_sla_policy(self, session: AsyncSession) -> None:
        company = await make_client(session)
        with pytest.raises(UnknownReference) as caught:
            await ContractService(session).create(_terms(company.id, sla_policy_id=uuid.uuid4()))
        assert _fields(caught.value) == ["sla_policy_id"]

    async def test_starts_as_draft(self, session: AsyncSession) -> None:
        company = await make_client(session)
        contract = await ContractService(session).create(_terms(company.id))
        assert contract.status is ContractStatus.DRAFT
        assert contract.coverages == []


class TestCoverage:
    async def test_unknown_contract(self, session: AsyncSession) -> None:
        unit = await make_equipment(session)
        with pytest.raises(ContractNotFound):
            await ContractService(session).add_coverage(uuid.uuid4(), _plan(unit.id), viewer=STAFF)

    async def test_unknown_equipment(self, session: AsyncSession) -> None:
        company = await make_client(session)
        service = ContractService(session)
        contract = await service.create(_terms(company.id))
        with pytest.raises(UnknownReference) as caught:
            await service.add_coverage(contract.id, _plan(uuid.uuid4()), viewer=STAFF)
        assert _fields(caught.value) == ["equipment_id"]

    async def test_expired_contract_takes_no_more_units(self, session: AsyncSession) -> None:
        unit = await make_equipment(session)
        service = ContractService(session)
        contract = await service.create(_terms(unit.client_id))
        await service.activate(contract.id, viewer=STAFF)
        await service.expire(contract.id, viewer=STAFF)
        with pytest.raises(ContractExpired):
            await service.add_coverage(contract.id, _plan(unit.id), viewer=STAFF)

    async def test_preferred_hours_must_be_in_order(self, session: AsyncSession) -> None:
        unit = await make_equipment(session)
        service = ContractService(session)
        contract = await service.create(_terms(unit.client_id))
        plan = CoverageCreate(
            equipment_id=unit.id,
            interval_count=1,
            interval_unit=IntervalUnit.MONTH,
            preferred_start=time(12),
            preferred_end=time(8),
        )
        with pytest.raises(ValidationFailed) as caught:
            await service.add_coverage(contract.id, plan, viewer=STAFF)
        assert _fields(caught.value) == ["preferred_end"]


class TestOverlap:
    async def test_moving_active_contract_over_another_is_refused(
        self, session: AsyncSession
    ) -> None:
        unit = await make_equipment(session)
        service = ContractService(session)
        early = await service.create(
            _terms(unit.client_id, number="EARLY", valid_to=date(2026, 6, 30))
        )
        late = await service.create(
            _terms(unit.client_id, number="LATE", valid_from=date(2026, 7, 1))
        )
        for contract in (early, late):
            await service.add_coverage(contract.id, _plan(unit.id), viewer=STAFF)
            await service.activate(contract.id, viewer=STAFF)
        with pytest.raises(CoverageOverlap) as caught:
            await service.change_dates(
                late.id, ContractDatesUpdate(valid_from=date(2026, 6, 30)), viewer=STAFF
            )
        assert caught.value.details["contract_number"] == "EARLY"

    async def test_other_units_do_not_clash(self, session: AsyncSession) -> None:
        company = await make_client(session)
        first_unit = await make_equipment(session, client=company)
        second_unit = await make_equipment(session, client=company)
        service = ContractService(session)
        first = await service.create(_terms(company.id))
        second = await service.create(_terms(company.id))
        await service.add_coverage(first.id, _plan(first_unit.id), viewer=STAFF)
        await service.add_coverage(second.id, _plan(second_unit.id), viewer=STAFF)
        await service.activate(first.id, viewer=STAFF)
        activated = await service.activate(second.id, viewer=STAFF)
        assert activated.status is ContractStatus.ACTIVE


class TestVisibility:
    async def test_client_user_of_another_company_gets_not_found(
        self, session: AsyncSession
    ) -> None:
        company, other = await make_client(session), await make_client(session)
        service = ContractService(session)
        contract = await service.create(_terms(other.id))
        viewer = Principal(
            user_id=uuid.uuid4(),
            session_id=uuid.uuid4(),
            role=Role.CLIENT,
            client_id=company.id,
            email="c@example.com",
            full_name="C",
        )
        with pytest.raises(ContractNotFound):
            await service.get(contract.id, viewer=viewer)
        with pytest.raises(ContractNotFound):
            await service.list_periods(contract.id, page=PageRequest(), viewer=viewer)
