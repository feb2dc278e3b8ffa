"""Maintenance compliance per contract: service periods ending in a month, done on time, done
late, missed, or still open.

Judged from the facts, not from the period's stored status (which the daily job settles): a
period is done on the local date (client's time zone) its work order's first visit was
completed; on time when that is on or before the period's last day, late after it. A period
whose last day has passed (at the client) with no completed visit is missed; one not yet
over is open.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import Contract
from equipment.service_periods.models import ServicePeriod
from equipment.service_periods.periods import add_months
from fsm.clients.models import Client
from fsm.schemas import Count
from reports.formats import Table, Tables
from reports.models import ReportVisitFacts
from reports.sla import Percent

__all__ = [
    "ContractCompliance",
    "MaintenanceCompliance",
    "Outcome",
    "PeriodLine",
    "compliance_tables",
    "maintenance_compliance",
]


class Outcome(enum.StrEnum):
    """How a service period turned out."""

    ON_TIME = "on_time"
    LATE = "late"
    MISSED = "missed"
    OPEN = "open"


class PeriodLine(msgspec.Struct, kw_only=True):
    """A period done late or missed, for someone to look at."""

    period_id: uuid.UUID
    contract_number: str
    equipment_id: uuid.UUID
    starts_on: date
    ends_on: date
    outcome: Outcome
    done_on: date | None


class ContractCompliance(msgspec.Struct, kw_only=True):
    """One contract's periods ending in the month."""

    contract_id: uuid.UUID
    contract_number: str
    client_id: uuid.UUID
    due: Count
    on_time: Count
    late: Count
    missed: Count
    open: Count
    # Of the periods that are over or done; None when none is.
    on_time_pct: Percent | None


class MaintenanceCompliance(msgspec.Struct, kw_only=True):
    """Compliance of every contract asked for, and the periods that went wrong."""

    month: str
    contracts: list[ContractCompliance]
    late_or_missed: list[PeriodLine]


async def maintenance_compliance(
    session: AsyncSession,
    month: date,
    *,
    now: datetime,
    client_id: uuid.UUID | None = None,
    contract_id: uuid.UUID | None = None,
) -> MaintenanceCompliance:
    """Periods ending in the calendar month of `month`, per contract."""
    first = month.replace(day=1)
    # When the period's request was first completed, as the database keeps it per request.
    done_at = ReportVisitFacts.first_completed_at
    stmt = (
        select(
            ServicePeriod.id,
            ServicePeriod.contract_id,
            ServicePeriod.equipment_id,
            ServicePeriod.starts_on,
            ServicePeriod.ends_on,
            Contract.number,
            Contract.client_id,
            Client.timezone,
            done_at,
        )
        .join(Contract, Contract.id == ServicePeriod.contract_id)
        .join(Client, Client.id == Contract.client_id)
        .outerjoin(ReportVisitFacts, ReportVisitFacts.work_order_id == ServicePeriod.work_order_id)
        .where(ServicePeriod.ends_on >= first, ServicePeriod.ends_on < add_months(first, 1))
        .order_by(Contract.number, ServicePeriod.ends_on, ServicePeriod.id)
    )
    if client_id is not None:
        stmt = stmt.where(Contract.client_id == client_id)
    if contract_id is not None:
        stmt = stmt.where(Contract.id == contract_id)
    rows = (await session.execute(stmt)).all()
    per_contract: dict[uuid.UUID, ContractCompliance] = {}
    wrong: list[PeriodLine] = []
    # Each client zone's today, worked out once per zone (a month holds thousands of periods).
    zones: dict[str, tuple[ZoneInfo, date]] = {}
    for (
        period_id,
        contract,
        unit,
        starts_on,
        ends_on,
        number,
        owner,
        timezone,
        completed_at,
    ) in rows:
        if timezone not in zones:
            zone = ZoneInfo(timezone)
            zones[timezone] = (zone, now.astimezone(zone).date())
        zone, today = zones[timezone]
        done_on = completed_at.astimezone(zone).date() if completed_at else None
        if done_on is not None:
            outcome = Outcome.ON_TIME if done_on <= ends_on else Outcome.LATE
        elif ends_on < today:
            outcome = Outcome.MISSED
        else:
            outcome = Outcome.OPEN
        line = per_contract.setdefault(
            contract,
            ContractCompliance(
                contract_id=contract,
                contract_number=number,
                client_id=owner,
                due=0,
                on_time=0,
                late=0,
                missed=0,
                open=0,
                on_time_pct=None,
            ),
        )
        line.due += 1
        setattr(line, outcome.value, getattr(line, outcome.value) + 1)
        if outcome in (Outcome.LATE, Outcome.MISSED):
            wrong.append(
                PeriodLine(
                    period_id=period_id,
                    contract_number=number,
                    equipment_id=unit,
                    starts_on=starts_on,
                    ends_on=ends_on,
                    outcome=outcome,
                    done_on=done_on,
                )
            )
    for line in per_contract.values():
        judged = line.due - line.open
        line.on_time_pct = round(100 * line.on_time / judged, 1) if judged else None
    return MaintenanceCompliance(
        month=first.strftime("%Y-%m"), contracts=list(per_contract.values()), late_or_missed=wrong
    )


def compliance_tables(report: MaintenanceCompliance) -> Tables:
    """The compliance report as tables for CSV, XLSX and PDF."""
    return Tables(
        title=f"Maintenance compliance {report.month}",
        notes=["Service periods ending in the month; days in each client's time zone."],
        tables=[
            Table(
                name="Contracts",
                header=["contract", "due", "on time", "late", "missed", "open", "on time %"],
                rows=[
                    [c.contract_number, c.due, c.on_time, c.late, c.missed, c.open, c.on_time_pct]
                    for c in report.contracts
                ],
            ),
            Table(
                name="Late or missed",
                header=["contract", "equipment", "starts", "ends", "outcome", "done on"],
                rows=[
                    [
                        p.contract_number,
                        str(p.equipment_id),
                        p.starts_on.isoformat(),
                        p.ends_on.isoformat(),
                        p.outcome.value,
                        p.done_on.isoformat() if p.done_on else None,
                    ]
                    for p in report.late_or_missed
                ],
            ),
        ],
    )
