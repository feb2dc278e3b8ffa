"""Contract usage: labour used against what is included, and the work to bill, per period."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import BillingPeriod, Contract
from equipment.service_periods.periods import add_months
from fsm.errors import field_error
from fsm.schemas import BigCount, Count
from fsm.visits.models import Visit, VisitStatus
from fsm.workorders.models import WorkOrder

_MONTHS = {BillingPeriod.MONTH: 1, BillingPeriod.QUARTER: 3, BillingPeriod.YEAR: 12}
MAX_DAYS = 3 * 366


class UsageLine(msgspec.Struct, kw_only=True):
    """One completed visit's labour: under the contract, or outside it."""

    visit_id: uuid.UUID
    work_order_id: uuid.UUID
    work_order_number: str
    completed_at: datetime
    labour_minutes: Count
    is_covered: bool


class PeriodUsage(msgspec.Struct, kw_only=True):
    """One billing period: included, used, and what is billable at the contract's rates."""

    starts_on: date
    ends_on: date
    included_minutes: Count
    used_minutes: BigCount
    excess_minutes: BigCount
    outside_minutes: BigCount
    outside_visits: Count
    billable_minutes: BigCount
    billable_cents: BigCount
    lines: list[UsageLine]


class ContractUsage(msgspec.Struct, kw_only=True):
    """Usage of a contract over a range of dates, for billing or accounting to pull."""

    contract_id: uuid.UUID
    contract_number: str
    currency: str
    hourly_rate_cents: Count
    callout_fee_cents: Count
    periods: list[PeriodUsage]


def billing_periods(contract: Contract, start: date, end: date) -> Iterator[tuple[date, date]]:
    """The contract's billing periods (anchored on valid_from) that meet [start, end]."""
    months = _MONTHS[contract.billing_period]
    n = 0
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
    """Labour of completed visits per billing period, in one query.

    Work under the contract counts against the included minutes, the excess is billable;
    the client's work no contract covered is billable in full, with a call-out fee per visit.
    """
    if end < start:
        raise field_error("to", "must not be before from")
    if (end - start).days > MAX_DAYS:
        raise field_error("to", f"at most {MAX_DAYS} days per request")
    periods = list(billing_periods(contract, start, end))
    if not periods:
        return _usage(contract, [])
    range_start = datetime.combine(periods[0][0], time(), UTC)
    range_end = datetime.combine(periods[-1][1] + timedelta(days=1), time(), UTC)
    rows = (
        await session.execute(
            select(Visit, WorkOrder.number, WorkOrder.contract_id)
            .join(WorkOrder, WorkOrder.id == Visit.work_order_id)
            .where(
                WorkOrder.client_id == contract.client_id,
                or_(WorkOrder.contract_id == contract.id, WorkOrder.contract_id.is_(None)),
                Visit.status == VisitStatus.COMPLETED,
                Visit.completed_at >= range_start,
                Visit.completed_at < range_end,
            )
            .order_by(Visit.completed_at, Visit.id)
        )
    ).all()
    result = []
    for first, last in periods:
        lines = [
            UsageLine(
                visit_id=visit.id,
                work_order_id=visit.work_order_id,
                work_order_number=number,
                completed_at=visit.completed_at,
                labour_minutes=visit.labour_minutes or 0,
                is_covered=contract_id == contract.id,
            )
            for visit, number, contract_id in rows
            if visit.completed_at is not None and first <= visit.completed_at.date() <= last
        ]
        used = sum(line.labour_minutes for line in lines if line.is_covered)
        outside = [line for line in lines if not line.is_covered]
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
                billable_minutes=billable,
                # Rates are per hour; round half up to the cent.
                billable_cents=(billable * contract.hourly_rate_cents + 30) // 60
                + len(outside) * contract.callout_fee_cents,
                lines=lines,
            )
        )
    return _usage(contract, result)


def _usage(contract: Contract, periods: list[PeriodUsage]) -> ContractUsage:
    return ContractUsage(
        contract_id=contract.id,
        contract_number=contract.number,
        currency=contract.currency,
        hourly_rate_cents=contract.hourly_rate_cents,
        callout_fee_cents=contract.callout_fee_cents,
        periods=periods,
    )
