"""Contract usage: labour used against what is included, and the work to bill, per period.

Each piece of work is counted once. Work under a contract counts on that contract. Work no
contract covers is billed on exactly one of the client's contracts: the one in force on the
day it was done (by the client's calendar) that started first (then by number), so a
client with two contracts is not billed twice. Repairs on a unit under its manufacturer's
warranty that day are listed but not billed, nor counted against the included minutes.
Periods and days are cut in the client's time zone, not UTC: a visit completed at 23:30 in
Berlin on the last day of March belongs to March.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import BindParameter, Uuid, any_, bindparam, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from equipment.contracts.models import BillingPeriod, Contract, ContractStatus
from equipment.equipment.models import Equipment
from equipment.service_periods.periods import add_months
from fsm.clients.models import Client
from fsm.errors import field_error
from fsm.schemas import BigCount, Count
from fsm.workorders.models import WorkOrder, WorkOrderType
from fsm.workorders.visit_models import Visit, VisitStatus

_MONTHS = {BillingPeriod.MONTH: 1, BillingPeriod.QUARTER: 3, BillingPeriod.YEAR: 12}
MAX_DAYS = 3 * 366


class UsageLine(msgspec.Struct, kw_only=True):
    """One completed visit's labour: under the contract, or outside it."""

    visit_id: uuid.UUID
    work_order_id: uuid.UUID
    work_order_number: str
    completed_at: datetime
    # The day it was done at the client (its time zone): the day billing counts.
    completed_day: date
    labour_minutes: Count
    is_covered: bool
    # A repair on a unit under warranty that day: listed, never billed.
    is_warranty: bool = False
    # Who did the work (accounting costs it at the engineer's rate).
    engineer_id: uuid.UUID | None = None


class PeriodUsage(msgspec.Struct, kw_only=True):
    """One billing period: included, used, and what is billable at the contract's rates."""

    starts_on: date
    ends_on: date
    included_minutes: Count
    used_minutes: BigCount
    excess_minutes: BigCount
    outside_minutes: BigCount
    outside_visits: Count
    warranty_minutes: BigCount
    billable_minutes: BigCount
    billable_cents: BigCount
    lines: list[UsageLine]


class ContractUsage(msgspec.Struct, kw_only=True):
    """Usage of a contract over a range of dates, for billing or accounting to pull."""

    contract_id: uuid.UUID
    contract_number: str
    currency: str
    # The client's zone the periods are cut in.
    timezone: str
    hourly_rate_cents: Count
    callout_fee_cents: Count
    periods: list[PeriodUsage]


def billing_periods(contract: Contract, start: date, end: date) -> Iterator[tuple[date, date]]:
    """The contract's billing periods (anchored on valid_from) that meet [start, end]."""
    months = _MONTHS[contract.billing_period]
    # Straight to the period before `start` (a contract may have run for years).
    elapsed = (start.year - contract.valid_from.year) * 12 + start.month - contract.valid_from.month
    n = max(0, elapsed // months - 1)
    while True:
        first = add_months(contract.valid_from, n * months)
        last = min(
            add_months(contract.valid_from, (n + 1) * months) - timedelta(days=1), contract.valid_to
        )
        if first > min(end, contract.valid_to):
            return
        if last >= start:
            yield first, last
        n += 1


async def contract_usage(
    session: AsyncSession, contract: Contract, *, start: date, end: date
) -> ContractUsage:
    """Labour of completed visits per billing period.

    Work under the contract counts against the included minutes, the excess is billable;
    the client's work no contract covered is billable in full, with a call-out fee per visit.
    """
    (usage,) = await contract_usages(session, [contract], start=start, end=end)
    return usage


async def contract_usages(
    session: AsyncSession, contracts: Sequence[Contract], *, start: date, end: date
) -> list[ContractUsage]:
    """`contract_usage` of many contracts at once, in three queries whatever their number
    (a month's margin report reads every contract in force)."""
    if end < start:
        raise field_error("to", "must not be before from")
    if (end - start).days > MAX_DAYS:
        raise field_error("to", f"at most {MAX_DAYS} days per request")
    if not contracts:
        return []
    client_ids = {c.client_id for c in contracts}
    zones = {
        client_id: ZoneInfo(timezone)
        for client_id, timezone in (
            await session.execute(
                select(Client.id, Client.timezone).where(
                    Client.id == any_(_uuids("client_ids", client_ids))
                )
            )
        ).all()
    }
    periods = {c.id: list(billing_periods(c, start, end)) for c in contracts}
    spans = [
        (
            datetime.combine(ps[0][0], time(), zones[c.client_id]),
            datetime.combine(ps[-1][1] + timedelta(days=1), time(), zones[c.client_id]),
        )
        for c in contracts
        if (ps := periods[c.id])
    ]
    rows = (
        (
            await session.execute(
                select(
                    Visit.id,
                    Visit.work_order_id,
                    Visit.completed_at,
                    Visit.labour_minutes,
                    Visit.engineer_id,
                    WorkOrder.client_id,
                    WorkOrder.number,
                    WorkOrder.contract_id,
                    WorkOrder.type,
                    Equipment.warranty_ends_on,
                )
                .join(WorkOrder, WorkOrder.id == Visit.work_order_id)
                .outerjoin(Equipment, Equipment.id == WorkOrder.equipment_id)
                .where(
                    # Array parameters: thousands of clients and contracts in one statement.
                    WorkOrder.client_id == any_(_uuids("client_ids", client_ids)),
                    or_(
                        WorkOrder.contract_id
                        == any_(_uuids("contract_ids", (c.id for c in contracts))),
                        WorkOrder.contract_id.is_(None),
                    ),
                    Visit.status == VisitStatus.COMPLETED,
                    Visit.completed_at >= min(span[0] for span in spans),
                    Visit.completed_at < max(span[1] for span in spans),
                )
                .order_by(Visit.completed_at, Visit.id)
            )
        ).all()
        if spans
        else []
    )
    siblings: dict[uuid.UUID, list[Contract]] = {}
    for sibling in (
        await session.scalars(
            select(Contract)
            .where(
                Contract.client_id == any_(_uuids("client_ids", client_ids)),
                Contract.status != ContractStatus.DRAFT,
            )
            .options(lazyload(Contract.coverages))
        )
    ).all():
        siblings.setdefault(sibling.client_id, []).append(sibling)
    visits_of: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        visits_of.setdefault(row.client_id, []).append(row)
    return [
        _usage_of(contract, zones[contract.client_id], periods[contract.id], visits_of, siblings)
        for contract in contracts
    ]


def _usage_of(
    contract: Contract,
    zone: ZoneInfo,
    periods: list[tuple[date, date]],
    visits_of: dict[uuid.UUID, list[Any]],
    siblings: dict[uuid.UUID, list[Contract]],
) -> ContractUsage:
    if not periods:
        return _usage(contract, zone, [])
    first_day, last_day = periods[0][0], periods[-1][1]
    lines: list[tuple[date, UsageLine]] = []
    for row in visits_of.get(contract.client_id, []):
        assert row.completed_at is not None  # completed visits are stamped
        day = row.completed_at.astimezone(zone).date()
        if not first_day <= day <= last_day:
            continue
        if row.contract_id not in (None, contract.id):
            continue  # another contract's work
        if row.contract_id is None and (
            bills_uncovered_work(siblings.get(contract.client_id, []), day) != contract.id
        ):
            continue  # another contract of the client bills it
        line = UsageLine(
            visit_id=row.id,
            work_order_id=row.work_order_id,
            work_order_number=row.number,
            completed_at=row.completed_at,
            completed_day=day,
            labour_minutes=row.labour_minutes or 0,
            is_covered=row.contract_id == contract.id,
            is_warranty=row.type is WorkOrderType.REPAIR
            and row.warranty_ends_on is not None
            and day <= row.warranty_ends_on,
            engineer_id=row.engineer_id,
        )
        lines.append((day, line))
    result = []
    for first, last in periods:
        inside = [line for day, line in lines if first <= day <= last]
        billed = [line for line in inside if not line.is_warranty]
        used = sum(line.labour_minutes for line in billed if line.is_covered)
        outside = [line for line in billed if not line.is_covered]
        outside_minutes = sum(line.labour_minutes for line in outside)
        excess = max(0, used - contract.included_labour_minutes)
        billable = excess + outside_minutes
        result.append(
            PeriodUsage(
                starts_on=first,
                ends_on=last,
                included_minutes=contract.included_labour_minutes,
                used_minutes=used,
                excess_minutes=excess,
                outside_minutes=outside_minutes,
                outside_visits=len(outside),
                warranty_minutes=sum(line.labour_minutes for line in inside if line.is_warranty),
                billable_minutes=billable,
                # Rates are per hour; round half up to the cent.
                billable_cents=(billable * contract.hourly_rate_cents + 30) // 60
                + len(outside) * contract.callout_fee_cents,
                lines=inside,
            )
        )
    return _usage(contract, zone, result)


def _uuids(name: str, ids: Iterable[uuid.UUID]) -> BindParameter[Any]:
    """One array parameter (an IN list takes one parameter per id, and a statement at most
    32 767)."""
    array: Any = ARRAY(Uuid())
    return bindparam(name, list(ids), type_=array)


def bills_uncovered_work(contracts: Sequence[Contract], day: date) -> uuid.UUID | None:
    """The one contract that bills a client's uncovered work done on `day` (local date):
    in force that day, the earliest started, then by number; None when none is."""
    in_force = [c for c in contracts if c.valid_from <= day <= c.valid_to]
    if not in_force:
        return None
    return min(in_force, key=lambda c: (c.valid_from, c.number)).id


def _usage(contract: Contract, zone: ZoneInfo, periods: list[PeriodUsage]) -> ContractUsage:
    return ContractUsage(
        contract_id=contract.id,
        contract_number=contract.number,
        currency=contract.currency,
        timezone=zone.key,
        hourly_rate_cents=contract.hourly_rate_cents,
        callout_fee_cents=contract.callout_fee_cents,
        periods=periods,
    )
