"""Labour cost and margin per contract: labour minutes at each engineer's cost rate against
the extra work the contract bills.

The work of a contract is what its usage counts (equipment.contracts.usage: covered work,
and the uncovered work it is the one to bill), in the client's time zone. Labour is costed
at the engineer's own `cost_rate_cents` per hour; visits by an engineer without a rate are
counted in `uncosted_visits` rather than guessed. Revenue is what the usage bills (excess
minutes, uncovered work and call-outs) for the billing periods that end in the month; the
contract's own fee is not a field we keep yet. Staff only: costs and rates never reach a
client.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from equipment.contracts.models import Contract, ContractStatus
from equipment.contracts.usage import contract_usages
from equipment.service_periods.periods import add_months
from fsm.engineers.models import Engineer
from fsm.errors import NotFound
from fsm.schemas import BigCount, Count
from reports.formats import Table, Tables

__all__ = [
    "ContractMargin",
    "CostRate",
    "LabourMargin",
    "labour_margin",
    "labour_tables",
    "set_cost_rate",
]

# A margin may be negative: cost above what is billed.
SignedCents = Annotated[int, msgspec.Meta(ge=-(2**53 - 1), le=2**53 - 1)]


class ContractMargin(msgspec.Struct, kw_only=True):
    """One contract's month: labour, its cost, what is billed, the difference."""

    contract_id: uuid.UUID
    contract_number: str
    currency: str
    visits: Count
    labour_minutes: BigCount
    labour_cost_cents: BigCount
    uncosted_visits: Count
    billable_cents: BigCount
    margin_cents: SignedCents


class LabourMargin(msgspec.Struct, kw_only=True):
    """Labour cost and margin of the contracts asked for."""

    month: str
    contracts: list[ContractMargin]


async def labour_margin(
    session: AsyncSession,
    month: date,
    *,
    client_id: uuid.UUID | None = None,
    contract_id: uuid.UUID | None = None,
) -> LabourMargin:
    """Labour cost and margin per contract for the calendar month of `month`."""
    first = month.replace(day=1)
    last = add_months(first, 1) - timedelta(days=1)
    stmt = (
        select(Contract)
        .where(
            Contract.status != ContractStatus.DRAFT,
            Contract.valid_from <= last,
            Contract.valid_to >= first,
        )
        .options(lazyload(Contract.coverages))
        .order_by(Contract.number)
    )
    if client_id is not None:
        stmt = stmt.where(Contract.client_id == client_id)
    if contract_id is not None:
        stmt = stmt.where(Contract.id == contract_id)
    contracts = (await session.scalars(stmt)).all()
    usages = await contract_usages(session, contracts, start=first, end=last)
    lines_of = [
        [
            line
            for period in usage.periods
            for line in period.lines
            if first <= line.completed_day <= last
        ]
        for usage in usages
    ]
    engineer_ids = {line.engineer_id for lines in lines_of for line in lines}
    rates = (
        dict(
            (
                await session.execute(
                    select(Engineer.id, Engineer.cost_rate_cents).where(
                        Engineer.id.in_(engineer_ids - {None})
                    )
                )
            ).all()
        )
        if engineer_ids - {None}
        else {}
    )
    out = []
    for contract, usage, lines in zip(contracts, usages, lines_of, strict=True):
        cost, uncosted = 0, 0
        for line in lines:
            rate = rates.get(line.engineer_id) if line.engineer_id else None
            if rate is None:
                uncosted += 1
                continue
            cost += line.labour_minutes * rate
        billable = sum(p.billable_cents for p in usage.periods if first <= p.ends_on <= last)
        # Rates are per hour; round half up to the cent.
        cost_cents = (cost + 30) // 60
        out.append(
            ContractMargin(
                contract_id=contract.id,
                contract_number=contract.number,
                currency=contract.currency,
                visits=len(lines),
                labour_minutes=sum(line.labour_minutes for line in lines),
                labour_cost_cents=cost_cents,
                uncosted_visits=uncosted,
                billable_cents=billable,
                margin_cents=billable - cost_cents,
            )
        )
    return LabourMargin(month=first.strftime("%Y-%m"), contracts=out)


def labour_tables(report: LabourMargin) -> Tables:
    """The labour and margin report as tables (amounts in the contract's currency)."""
    return Tables(
        title=f"Labour cost and margin {report.month}",
        notes=["Staff only. Amounts in cents of each contract's currency."],
        tables=[
            Table(
                name="Contracts",
                header=[
                    "contract",
                    "currency",
                    "visits",
                    "labour min",
                    "labour cost",
                    "visits without a cost rate",
                    "billable",
                    "margin",
                ],
                rows=[
                    [
                        c.contract_number,
                        c.currency,
                        c.visits,
                        c.labour_minutes,
                        c.labour_cost_cents,
                        c.uncosted_visits,
                        c.billable_cents,
                        c.margin_cents,
                    ]
                    for c in report.contracts
                ],
            )
        ],
    )


class EngineerNotFound(NotFound):
    """No such engineer."""


class CostRate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What an hour of an engineer's labour costs, in cents (null: unknown)."""

    cost_rate_cents: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] | None


async def set_cost_rate(
    session: AsyncSession, engineer_id: uuid.UUID, cost_rate_cents: int | None
) -> CostRate:
    """Set an engineer's cost rate (flushes; the request's unit of work commits)."""
    engineer = await session.get(Engineer, engineer_id, with_for_update=True)
    if engineer is None:
        raise EngineerNotFound(f"engineer {engineer_id} not found")
    engineer.cost_rate_cents = cost_rate_cents
    await session.flush()
    return CostRate(cost_rate_cents=engineer.cost_rate_cents)
