"""The client app's installed base: the company's equipment with its card, and contracts."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.orm import raiseload

from equipment.contracts.coverage import covering
from equipment.contracts.models import Contract, ContractStatus, Coverage
from equipment.contracts.service import ContractNotFound, seen_at_sites
from equipment.equipment.models import Equipment
from equipment.equipment.service import EquipmentNotFound
from equipment.service_periods.models import ServicePeriod
from equipment.service_periods.service import current_and_next
from fsm.db import like_pattern
from fsm.sites.models import Site
from fsm.workorders.models import WorkOrder
from fsm.workorders.service import OPEN_STATUSES
from mobile_api.client.common import ClientScope, Slice, page_of, period_item, visit_summaries
from mobile_api.client.schemas import (
    ContractDetail,
    ContractItem,
    CoverageInForce,
    CoveredUnit,
    EquipmentDetail,
    EquipmentItem,
    OpenRequestItem,
)
from mobile_api.cursor import decode_cursor

LAST_VISITS = 5
# Contracts still being negotiated are the back office's business.
CLIENT_CONTRACT_STATUSES = (ContractStatus.ACTIVE, ContractStatus.SUSPENDED, ContractStatus.EXPIRED)


class ClientAssetService(ClientScope):
    """The company's units and contracts, as the client app shows them."""

    # -- equipment --------------------------------------------------------------------------

    async def list_equipment(
        self,
        *,
        limit: int,
        cursor: str | None,
        site_id: uuid.UUID | None = None,
        text: str | None = None,
    ) -> Slice:
        """The company's units by serial number, optionally at one site or matching `text`."""
        stmt = (
            select(Equipment, Site.name)
            .join(Site, Site.id == Equipment.site_id)
            .where(Equipment.client_id == self.client_id, *self.at_sites(Equipment.site_id))
        )
        if site_id is not None:
            stmt = stmt.where(Equipment.site_id == site_id)
        if text:
            pattern = like_pattern(text)
            stmt = stmt.where(
                or_(Equipment.serial_number.ilike(pattern), Equipment.name.ilike(pattern))
            )
        if cursor is not None:
            serial, last_id = decode_cursor(cursor, (str, uuid.UUID))
            stmt = stmt.where(tuple_(Equipment.serial_number, Equipment.id) > (serial, last_id))
        rows = (
            await self.session.execute(
                stmt.order_by(Equipment.serial_number, Equipment.id).limit(limit + 1)
            )
        ).all()
        page = page_of(rows, limit, lambda row: (row[0].serial_number, row[0].id))
        return Slice(
            items=[
                EquipmentItem(
                    id=unit.id,
                    serial_number=unit.serial_number,
                    name=unit.name,
                    manufacturer=unit.model.manufacturer,
                    model=unit.model.model,
                    category=unit.model.category,
                    status=unit.status,
                    site_id=unit.site_id,
                    site_name=site_name,
                )
                for unit, site_name in page.items
            ],
            next_cursor=page.next_cursor,
        )

    async def _unit(self, equipment_id: uuid.UUID) -> Equipment:
        unit = await self.session.get(Equipment, equipment_id)
        if unit is None or not self.viewer.may_see_site(unit.client_id, unit.site_id):
            raise EquipmentNotFound(f"equipment {equipment_id} not found")
        return unit

    async def equipment_detail(self, equipment_id: uuid.UUID, *, now: datetime) -> EquipmentDetail:
        """One unit with its coverage in force, service periods, last visits and open requests.

        "Today" is the date at the unit's site; only the company's own contracts, periods and
        requests count, so a unit taken over from another company shows nothing of theirs.
        """
        unit = await self._unit(equipment_id)
        site = await self.session.get(Site, unit.site_id)
        assert site is not None  # a foreign key guarantees it
        today = local_date(now, site.timezone)
        covered = (await self.session.execute(covering(unit.id, self.client_id, today))).first()
        contract = covered[1] if covered else None
        current, upcoming = await current_and_next(self.session, unit.id, self.client_id, today)
        visits = await visit_summaries(
            self.session,
            self.viewer,
            WorkOrder.equipment_id == unit.id,
            newest_first=True,
            limit=LAST_VISITS,
        )
        open_orders = (
            await self.session.execute(
                select(
                    WorkOrder.id,
                    WorkOrder.number,
                    WorkOrder.title,
                    WorkOrder.status,
                    WorkOrder.created_at,
                )
                .where(
                    WorkOrder.equipment_id == unit.id,
                    WorkOrder.client_id == self.client_id,
                    *self.at_sites(WorkOrder.site_id),
                    WorkOrder.status.in_(OPEN_STATUSES),
                )
                .order_by(WorkOrder.created_at.desc(), WorkOrder.id)
            )
        ).all()
        return EquipmentDetail(
            id=unit.id,
            serial_number=unit.serial_number,
            name=unit.name,
            status=unit.status,
            manufacturer=unit.model.manufacturer,
            model=unit.model.model,
            category=unit.model.category,
            installed_on=unit.installed_on,
            warranty_ends_on=unit.warranty_ends_on,
            site_id=site.id,
            site_name=site.name,
            site_address=site.address,
            coverage=(
                CoverageInForce(
                    is_covered=True,
                    contract_id=contract.id,
                    contract_number=contract.number,
                    valid_to=contract.valid_to,
                )
                if contract is not None
                else CoverageInForce(is_covered=False)
            ),
            current_period=period_item(current) if current else None,
            next_period=period_item(upcoming) if upcoming else None,
            last_visits=visits,
            open_requests=[
                OpenRequestItem(
                    id=order.id,
                    number=order.number,
                    title=order.title,
                    status=order.status,
                    created_at=order.created_at,
                )
                for order in open_orders
            ],
        )

    # -- contracts --------------------------------------------------------------------------

    async def _company_dates(self, now: datetime) -> frozenset[date]:
        """Today's date at each of the company's sites the viewer sees (UTC's when none)."""
        zones = (
            await self.session.scalars(
                select(Site.timezone)
                .where(Site.client_id == self.client_id, *self.at_sites(Site.id))
                .distinct()
            )
        ).all()
        return frozenset(local_date(now, zone) for zone in zones) or frozenset(
            {local_date(now, "UTC")}
        )

    async def list_contracts(self, *, limit: int, cursor: str | None, now: datetime) -> Slice:
        """The company's contracts by number (drafts are not shown); a site-limited user's
        are those covering a unit at its sites, counting only those units.

        A contract is in force when it is on the date at any of the company's sites: its
        units may sit in several time zones, and a unit where the contract runs is covered.
        """
        dates = await self._company_dates(now)
        units = (
            select(func.count(Coverage.id))
            .join(Equipment, Equipment.id == Coverage.equipment_id)
            .where(
                Coverage.contract_id == Contract.id,
                Coverage.is_active,
                *self.at_sites(Equipment.site_id),
            )
            .scalar_subquery()
        )
        stmt = (
            select(Contract, units)
            .where(
                Contract.client_id == self.client_id,
                Contract.status.in_(CLIENT_CONTRACT_STATUSES),
                *seen_at_sites(self.viewer),
            )
            .options(raiseload(Contract.coverages))
        )
        if cursor is not None:
            number, last_id = decode_cursor(cursor, (str, uuid.UUID))
            stmt = stmt.where(tuple_(Contract.number, Contract.id) > (number, last_id))
        rows = (
            await self.session.execute(stmt.order_by(Contract.number, Contract.id).limit(limit + 1))
        ).all()
        page = page_of(rows, limit, lambda row: (row[0].number, row[0].id))
        return Slice(
            items=[
                ContractItem(
                    id=contract.id,
                    number=contract.number,
                    status=contract.status,
                    valid_from=contract.valid_from,
                    valid_to=contract.valid_to,
                    is_in_force=_in_force(contract, dates),
                    covered_units=count or 0,
                )
                for contract, count in page.items
            ],
            next_cursor=page.next_cursor,
        )

    async def contract_detail(self, contract_id: uuid.UUID, *, now: datetime) -> ContractDetail:
        """A contract with the units it covers and every service period with its state.

        In force as in `list_contracts`: on the date at any of the company's sites. A
        site-limited user sees it as in `list_contracts`, with only its own sites' units.
        """
        contract = (
            await self.session.scalars(
                select(Contract)
                .where(
                    Contract.id == contract_id,
                    Contract.client_id == self.client_id,
                    Contract.status.in_(CLIENT_CONTRACT_STATUSES),
                    *seen_at_sites(self.viewer),
                )
                .options(raiseload(Contract.coverages))
            )
        ).one_or_none()
        if contract is None:
            raise ContractNotFound(f"contract {contract_id} not found")
        covered = (
            await self.session.execute(
                select(Coverage, Equipment, Site.name)
                .join(Equipment, Equipment.id == Coverage.equipment_id)
                .join(Site, Site.id == Equipment.site_id)
                .where(
                    Coverage.contract_id == contract.id,
                    Coverage.is_active,
                    *self.at_sites(Equipment.site_id),
                )
                .order_by(Equipment.serial_number, Equipment.id)
            )
        ).all()
        periods = (
            await self.session.scalars(
                select(ServicePeriod)
                .join(Equipment, Equipment.id == ServicePeriod.equipment_id)
                .where(ServicePeriod.contract_id == contract.id, *self.at_sites(Equipment.site_id))
                .order_by(ServicePeriod.starts_on, ServicePeriod.equipment_id, ServicePeriod.id)
            )
        ).all()
        return ContractDetail(
            id=contract.id,
            number=contract.number,
            status=contract.status,
            valid_from=contract.valid_from,
            valid_to=contract.valid_to,
            is_in_force=_in_force(contract, await self._company_dates(now)),
            covered_units=[
                CoveredUnit(
                    equipment_id=unit.id,
                    serial_number=unit.serial_number,
                    name=unit.name,
                    manufacturer=unit.model.manufacturer,
                    model=unit.model.model,
                    site_id=unit.site_id,
                    site_name=site_name,
                    starts_on=coverage.period.lower,
                    ends_on=coverage.period.upper - timedelta(days=1),
                    interval_count=coverage.interval_count,
                    interval_unit=coverage.interval_unit.value,
                )
                for coverage, unit, site_name in covered
            ],
            service_periods=[period_item(p) for p in periods],
        )


def local_date(now: datetime, timezone: str) -> date:
    """The calendar date at `now` in an IANA time zone."""
    return now.astimezone(ZoneInfo(timezone)).date()


def _in_force(contract: Contract, dates: Collection[date]) -> bool:
    return contract.status is ContractStatus.ACTIVE and any(
        contract.valid_from <= day <= contract.valid_to for day in dates
    )
