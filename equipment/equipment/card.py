"""The equipment card: everything about one unit in one answer, in a fixed number of queries."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.coverage import covering
from equipment.contracts.models import IntervalUnit
from equipment.equipment.models import Equipment
from equipment.service_periods.models import PeriodStatus, ServicePeriod
from equipment.service_periods.service import current_and_next
from fsm.auth.principal import Principal
from fsm.schemas import Count
from fsm.sites.models import Site
from fsm.workorders.models import Priority, WorkOrder, WorkOrderStatus, WorkOrderType
from fsm.workorders.service import OPEN_STATUSES
from fsm.workorders.visit_models import Visit, VisitStatus

LAST_VISITS = 5


class CardCoverage(msgspec.Struct, kw_only=True):
    """The contract covering the unit today and its maintenance plan."""

    contract_id: uuid.UUID
    contract_number: str
    valid_from: date
    valid_to: date
    interval_count: Count
    interval_unit: IntervalUnit
    visit_minutes: Count


class CardPeriod(msgspec.Struct, kw_only=True):
    """A service period of the unit."""

    id: uuid.UUID
    starts_on: date
    ends_on: date
    status: PeriodStatus
    work_order_id: uuid.UUID | None


class CardVisit(msgspec.Struct, kw_only=True):
    """A past or current visit to the unit and how it ended."""

    id: uuid.UUID
    work_order_id: uuid.UUID
    work_order_number: str
    work_order_type: WorkOrderType
    status: VisitStatus
    window_starts_at: datetime
    completed_at: datetime | None
    labour_minutes: Count | None


class CardWorkOrder(msgspec.Struct, kw_only=True):
    """An open work order on the unit; the priority only for staff."""

    id: uuid.UUID
    number: str
    type: WorkOrderType
    status: WorkOrderStatus
    title: str
    created_at: datetime
    priority: Priority | None = None


class EquipmentCard(msgspec.Struct, kw_only=True):
    """One unit with its model, site, coverage, service periods, visits and open work."""

    id: uuid.UUID
    client_id: uuid.UUID
    serial_number: str
    name: str | None
    status: str
    manufacturer: str
    model: str
    category: str
    instructions: str
    site_id: uuid.UUID
    site_name: str
    site_address: str
    coverage: CardCoverage | None
    current_period: CardPeriod | None
    next_period: CardPeriod | None
    last_visits: list[CardVisit]
    open_work_orders: list[CardWorkOrder]


def _period(period: ServicePeriod | None) -> CardPeriod | None:
    if period is None:
        return None
    return CardPeriod(
        id=period.id,
        starts_on=period.starts_on,
        ends_on=period.ends_on,
        status=period.status,
        work_order_id=period.work_order_id,
    )


async def load_card(
    session: AsyncSession, unit: Equipment, *, viewer: Principal, today: date
) -> EquipmentCard:
    """The card of a unit the viewer may see (five queries, whatever the history's size)."""
    site = await session.get(Site, unit.site_id)
    assert site is not None  # a foreign key guarantees it
    covered = (await session.execute(covering(unit.id, unit.client_id, today))).first()
    current, upcoming = await current_and_next(session, unit.id, unit.client_id, today)
    visits = (
        await session.execute(
            select(Visit, WorkOrder.number, WorkOrder.type)
            .join(WorkOrder, WorkOrder.id == Visit.work_order_id)
            .where(WorkOrder.equipment_id == unit.id)
            .order_by(Visit.window_starts_at.desc(), Visit.id)
            .limit(LAST_VISITS)
        )
    ).all()
    open_orders = (
        await session.scalars(
            select(WorkOrder)
            .where(WorkOrder.equipment_id == unit.id, WorkOrder.status.in_(OPEN_STATUSES))
            .order_by(WorkOrder.created_at.desc())
        )
    ).all()
    coverage = None
    if covered is not None:
        plan, contract = covered
        coverage = CardCoverage(
            contract_id=contract.id,
            contract_number=contract.number,
            valid_from=contract.valid_from,
            valid_to=contract.valid_to,
            interval_count=plan.interval_count,
            interval_unit=plan.interval_unit,
            visit_minutes=plan.visit_minutes,
        )
    return EquipmentCard(
        id=unit.id,
        client_id=unit.client_id,
        serial_number=unit.serial_number,
        name=unit.name,
        status=unit.status.value,
        manufacturer=unit.model.manufacturer,
        model=unit.model.model,
        category=unit.model.category,
        instructions=unit.model.instructions,
        site_id=site.id,
        site_name=site.name,
        site_address=site.address,
        coverage=coverage,
        current_period=_period(current),
        next_period=_period(upcoming),
        last_visits=[
            CardVisit(
                id=visit.id,
                work_order_id=visit.work_order_id,
                work_order_number=number,
                work_order_type=type_,
                status=visit.status,
                window_starts_at=visit.window_starts_at,
                completed_at=visit.completed_at,
                labour_minutes=visit.labour_minutes,
            )
            for visit, number, type_ in visits
        ],
        open_work_orders=[
            CardWorkOrder(
                id=order.id,
                number=order.number,
                type=order.type,
                status=order.status,
                title=order.title,
                created_at=order.created_at,
                priority=None if viewer.is_client else order.priority,
            )
            for order in open_orders
        ],
    )
