"""Contracts: terms with a client, the units they cover and each unit's maintenance plan."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import Contract, ContractStatus, Coverage
from equipment.contracts.schemas import ContractCreate, ContractDatesUpdate, CoverageCreate
from equipment.equipment.models import Equipment
from equipment.service_periods.models import ServicePeriod
from equipment.service_periods.service import ServicePeriodService
from fsm.auth.principal import Principal
from fsm.clients.models import Client
from fsm.errors import Conflict, InvalidState, NotFound, field_error, reference_error
from fsm.pagination import Page, PageRequest
from fsm.skills.service import SkillService
from fsm.sla.models import SlaPolicy

EXCLUSION_CONSTRAINT = "ex_contract_coverages_equipment_id_period"

# Which statuses each status change may start from.
_MOVES_FROM: dict[ContractStatus, frozenset[ContractStatus]] = {
    ContractStatus.ACTIVE: frozenset({ContractStatus.DRAFT, ContractStatus.SUSPENDED}),
    ContractStatus.SUSPENDED: frozenset({ContractStatus.ACTIVE}),
    ContractStatus.EXPIRED: frozenset({ContractStatus.ACTIVE, ContractStatus.SUSPENDED}),
}


def seen_at_sites(viewer: Principal) -> tuple[ColumnElement[bool], ...]:
    """The contracts a site-limited client user sees (nothing more for anyone else): those
    covering, or having covered, a unit at one of its sites. That is what a contract means to
    a branch; the contract's units elsewhere stay unseen wherever its units are listed."""
    scope = viewer.site_scope(Equipment.site_id)
    if not scope:
        return ()
    return (
        exists(
            select(Coverage.id)
            .join(Equipment, Equipment.id == Coverage.equipment_id)
            .where(Coverage.contract_id == Contract.id, *scope)
        ),
    )


class ContractNotFound(NotFound):
    """No such contract, or not one the caller may see."""


class ContractNumberTaken(Conflict):
    """Another contract has this number."""


class EquipmentAlreadyCovered(Conflict):
    """The unit is under this contract already."""


class CoverageOverlap(Conflict):
    """The unit is under another active contract on some of the same days."""


class ContractStatusChangeNotAllowed(InvalidState):
    """The contract's status does not allow this change."""


class ContractExpired(InvalidState):
    """An expired contract no longer changes."""


def validity_range(valid_from: date, valid_to: date) -> Range[date]:
    """Inclusive validity dates as the half-open range the coverage stores."""
    return Range(valid_from, valid_to + timedelta(days=1), bounds="[)")


class ContractService:
    """Contracts; a client user reads only their own company's."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.periods = ServicePeriodService(session)

    async def get(self, contract_id: uuid.UUID, *, viewer: Principal) -> Contract:
        """The contract, if the viewer may see it."""
        contract = await self.session.get(Contract, contract_id)
        if contract is None or not viewer.may_see_client(contract.client_id):
            raise ContractNotFound(f"contract {contract_id} not found")
        limit = seen_at_sites(viewer)
        if limit and not await self.session.scalar(
            select(exists().where(Contract.id == contract.id, *limit))
        ):
            raise ContractNotFound(f"contract {contract_id} not found")
        return contract

    async def list(
        self,
        page: PageRequest,
        *,
        viewer: Principal,
        client_id: uuid.UUID | None = None,
        status: ContractStatus | None = None,
    ) -> Page[Contract]:
        """Contracts by number."""
        conditions: list[Any] = []
        if viewer.is_client:
            conditions += [Contract.client_id == viewer.client_id, *seen_at_sites(viewer)]
        elif not viewer.is_staff:
            return Page(items=[], total=0, limit=page.limit, offset=page.offset)
        if client_id is not None:
            conditions.append(Contract.client_id == client_id)
        if status is not None:
            conditions.append(Contract.status == status)
        total = await self.session.scalar(
            select(func.count()).select_from(Contract).where(*conditions)
        )
        rows = (
            await self.session.scalars(
                select(Contract)
                .where(*conditions)
                .order_by(Contract.number, Contract.id)
                .limit(page.limit)
                .offset(page.offset)
            )
        ).all()
        return Page(items=rows, total=total or 0, limit=page.limit, offset=page.offset)

    async def create(self, data: ContractCreate) -> Contract:
        """Draw up a draft contract with a client."""
        number = data.number.strip()
        _check_dates(data.valid_from, data.valid_to)
        if await self.session.get(Client, data.client_id) is None:
            raise reference_error("client_id", "no such client")
        if data.sla_policy_id is not None and (
            await self.session.get(SlaPolicy, data.sla_policy_id) is None
        ):
            raise reference_error("sla_policy_id", "no such SLA policy")
        if await self.session.scalar(select(Contract.id).where(Contract.number == number)):
            raise _number_taken(number)
        contract = Contract(
            client_id=data.client_id,
            number=number,
            valid_from=data.valid_from,
            valid_to=data.valid_to,
            status=ContractStatus.DRAFT,
            sla_policy_id=data.sla_policy_id,
            billing_period=data.billing_period,
            included_labour_minutes=data.included_labour_minutes,
            hourly_rate_cents=data.hourly_rate_cents,
            callout_fee_cents=data.callout_fee_cents,
            currency=data.currency,
            coverages=[],
        )
        self.session.add(contract)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            if "uq_contracts_number" in str(exc.orig):
                raise _number_taken(number) from exc
            raise
        await self.session.refresh(contract)
        return contract

    async def change_dates(
        self, contract_id: uuid.UUID, data: ContractDatesUpdate, *, viewer: Principal
    ) -> Contract:
        """Move a contract's validity; coverages follow and planned periods are re-cut."""
        contract = await self.get(contract_id, viewer=viewer)
        if contract.status is ContractStatus.EXPIRED:
            raise ContractExpired(f"contract {contract.number} has expired")
        valid_from = (
            contract.valid_from
            if isinstance(data.valid_from, msgspec.UnsetType)
            else data.valid_from
        )
        valid_to = (
            contract.valid_to if isinstance(data.valid_to, msgspec.UnsetType) else data.valid_to
        )
        _check_dates(valid_from, valid_to)
        period = validity_range(valid_from, valid_to)
        covered = [c.equipment_id for c in contract.coverages]
        if contract.status is ContractStatus.ACTIVE:
            await self._check_no_overlap(contract.id, covered, period)
        async with self._overlap_guard(contract.id, covered, period):
            contract.valid_from, contract.valid_to = valid_from, valid_to
            for coverage in contract.coverages:
                coverage.period = period
        for coverage in contract.coverages:
            await self.periods.regenerate(coverage)
        await self.session.refresh(contract)
        return contract

    async def add_coverage(
        self, contract_id: uuid.UUID, data: CoverageCreate, *, viewer: Principal
    ) -> Contract:
        """Put a unit of the contract's client under the contract and plan its periods."""
        contract = await self.get(contract_id, viewer=viewer)
        if contract.status is ContractStatus.EXPIRED:
            raise ContractExpired(f"contract {contract.number} has expired")
        unit = await self.session.get(Equipment, data.equipment_id)
        if unit is None:
            raise reference_error("equipment_id", "no such equipment")
        if unit.client_id != contract.client_id:
            raise field_error("equipment_id", "the equipment belongs to another client")
        if any(c.equipment_id == unit.id for c in contract.coverages):
            raise EquipmentAlreadyCovered(
                f"the equipment is under contract {contract.number} already",
                details={"field": "equipment_id"},
            )
        if (
            data.preferred_start is not None
            and data.preferred_end is not None
            and data.preferred_start >= data.preferred_end
        ):
            raise field_error("preferred_end", "must be after preferred_start")
        skills = await SkillService(self.session).by_codes(data.skills)
        period = validity_range(contract.valid_from, contract.valid_to)
        is_active = contract.status is ContractStatus.ACTIVE
        if is_active:
            await self._check_no_overlap(contract.id, [unit.id], period)
        coverage = Coverage(
            contract_id=contract.id,
            equipment_id=unit.id,
            period=period,
            is_active=is_active,
            interval_count=data.interval_count,
            interval_unit=data.interval_unit,
            visit_minutes=data.visit_minutes,
            skills=[s.code for s in skills],
            preferred_weekdays=sorted(set(data.preferred_weekdays)),
            preferred_start=data.preferred_start,
            preferred_end=data.preferred_end,
        )
        async with self._overlap_guard(contract.id, [unit.id], period):
            contract.coverages.append(coverage)
        await self.periods.regenerate(coverage)
        await self.session.refresh(contract)
        return contract

    async def activate(self, contract_id: uuid.UUID, *, viewer: Principal) -> Contract:
        """Put a contract in force; none of its units may be under another active one."""
        contract = await self._for_move(contract_id, ContractStatus.ACTIVE, viewer)
        period = validity_range(contract.valid_from, contract.valid_to)
        covered = [c.equipment_id for c in contract.coverages]
        await self._check_no_overlap(contract.id, covered, period)
        return await self._move(contract, ContractStatus.ACTIVE)

    async def suspend(self, contract_id: uuid.UUID, *, viewer: Principal) -> Contract:
        """Stop an active contract for now."""
        contract = await self._for_move(contract_id, ContractStatus.SUSPENDED, viewer)
        return await self._move(contract, ContractStatus.SUSPENDED)

    async def expire(self, contract_id: uuid.UUID, *, viewer: Principal) -> Contract:
        """End a contract for good."""
        contract = await self._for_move(contract_id, ContractStatus.EXPIRED, viewer)
        return await self._move(contract, ContractStatus.EXPIRED)

    async def list_periods(
        self, contract_id: uuid.UUID, page: PageRequest, *, viewer: Principal
    ) -> Page[ServicePeriod]:
        """The service periods of a contract the viewer may see."""
        contract = await self.get(contract_id, viewer=viewer)
        return await self.periods.list_for_contract(contract.id, page)

    async def _for_move(
        self, contract_id: uuid.UUID, to: ContractStatus, viewer: Principal
    ) -> Contract:
        contract = await self.get(contract_id, viewer=viewer)
        allowed = _MOVES_FROM[to]
        if contract.status not in allowed:
            raise ContractStatusChangeNotAllowed(
                f"a {contract.status.value} contract cannot become {to.value}",
                details={"status": contract.status.value, "allowed_from": sorted(allowed)},
            )
        return contract

    async def _move(self, contract: Contract, to: ContractStatus) -> Contract:
        covered = [c.equipment_id for c in contract.coverages]
        period = validity_range(contract.valid_from, contract.valid_to)
        async with self._overlap_guard(contract.id, covered, period):
            contract.status = to
            for coverage in contract.coverages:
                coverage.is_active = to is ContractStatus.ACTIVE
        await self.session.refresh(contract)
        return contract

    async def _check_no_overlap(
        self, contract_id: uuid.UUID, equipment_ids: Iterable[uuid.UUID], period: Range[date]
    ) -> None:
        clash = await self._find_overlap(contract_id, equipment_ids, period)
        if clash is not None:
            raise _overlap(*clash)

    async def _find_overlap(
        self, contract_id: uuid.UUID, equipment_ids: Iterable[uuid.UUID], period: Range[date]
    ) -> tuple[str, uuid.UUID] | None:
        """Another active contract's number and the unit it covers on some of these days."""
        ids = list(equipment_ids)
        if not ids:
            return None
        clash = (
            await self.session.execute(
                select(Contract.number, Coverage.equipment_id)
                .join(Coverage, Coverage.contract_id == Contract.id)
                .where(
                    Coverage.equipment_id.in_(ids),
                    Coverage.is_active.is_(True),
                    Coverage.contract_id != contract_id,
                    Coverage.period.op("&&")(period),
                )
                .order_by(Contract.number)
                .limit(1)
            )
        ).first()
        return None if clash is None else (clash.number, clash.equipment_id)

    @asynccontextmanager
    async def _overlap_guard(
        self, contract_id: uuid.UUID, equipment_ids: Sequence[uuid.UUID], period: Range[date]
    ) -> AsyncIterator[None]:
        """Apply the changes made inside in a savepoint and flush them.

        A concurrent activation can slip past the check; the exclusion constraint then
        fires, and the savepoint lets us still name the contract it clashed with.
        """
        try:
            async with self.session.begin_nested():
                yield
        except IntegrityError as exc:
            if EXCLUSION_CONSTRAINT not in str(exc.orig):
                raise
            clash = await self._find_overlap(contract_id, equipment_ids, period)
            raise (_overlap(None, None) if clash is None else _overlap(*clash)) from exc


def _overlap(other_number: str | None, equipment_id: uuid.UUID | None) -> CoverageOverlap:
    if other_number is None:
        return CoverageOverlap(
            "a unit is under another active contract on some of the same days",
            details={"contract_number": None, "equipment_id": None},
        )
    return CoverageOverlap(
        f"equipment {equipment_id} is under active contract {other_number} "
        "on some of the same days",
        details={"contract_number": other_number, "equipment_id": str(equipment_id)},
    )


def _number_taken(number: str) -> ContractNumberTaken:
    return ContractNumberTaken(f"contract number {number} is taken", details={"field": "number"})


def _check_dates(valid_from: date, valid_to: date) -> None:
    if valid_from > valid_to:
        raise field_error("valid_to", "must not be before valid_from")
