"""Contract wire types: terms, covered units with their plans, and service periods."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated

import msgspec

from equipment.contracts.models import (
    BillingPeriod,
    Contract,
    ContractStatus,
    Coverage,
    IntervalUnit,
)
from equipment.service_periods.models import PeriodStatus, ServicePeriod
from fsm.schemas import INT32_MAX, Count, LocalTime

ContractNumber = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"\S")]
Cents = Annotated[int, msgspec.Meta(ge=0, le=INT32_MAX)]
Minutes = Annotated[int, msgspec.Meta(ge=0, le=INT32_MAX)]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217")]
Weekday = Annotated[int, msgspec.Meta(ge=0, le=6, description="Monday is 0")]


class ContractCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new contract with a client; it starts as a draft."""

    client_id: uuid.UUID
    number: ContractNumber
    valid_from: date
    valid_to: date
    sla_policy_id: uuid.UUID | None = None
    billing_period: BillingPeriod = BillingPeriod.MONTH
    included_labour_minutes: Minutes = 0
    hourly_rate_cents: Cents = 0
    callout_fee_cents: Cents = 0
    currency: Currency = "EUR"


class ContractDatesUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """New validity dates; absent ones stay as they are."""

    valid_from: date | msgspec.UnsetType = msgspec.UNSET
    valid_to: date | msgspec.UnsetType = msgspec.UNSET


class CoverageCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A unit put under the contract, with how often it is serviced."""

    equipment_id: uuid.UUID
    interval_count: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    interval_unit: IntervalUnit
    visit_minutes: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)] = 60
    skills: list[str] = msgspec.field(default_factory=list)
    preferred_weekdays: list[Weekday] = msgspec.field(default_factory=list)
    preferred_start: LocalTime | None = None
    preferred_end: LocalTime | None = None


class CoverageRead(msgspec.Struct, kw_only=True):
    """A covered unit; `starts_on`/`ends_on` are inclusive."""

    id: uuid.UUID
    equipment_id: uuid.UUID
    starts_on: date
    ends_on: date
    is_active: bool
    interval_count: Count
    interval_unit: IntervalUnit
    visit_minutes: Count
    skills: list[str]
    preferred_weekdays: list[Weekday]
    preferred_start: LocalTime | None
    preferred_end: LocalTime | None


class ContractRead(msgspec.Struct, kw_only=True):
    """A contract with its covered units."""

    id: uuid.UUID
    client_id: uuid.UUID
    number: str
    valid_from: date
    valid_to: date
    status: ContractStatus
    sla_policy_id: uuid.UUID | None
    billing_period: BillingPeriod
    included_labour_minutes: Minutes
    hourly_rate_cents: Cents
    callout_fee_cents: Cents
    currency: str
    coverages: list[CoverageRead]
    created_at: datetime


class ServicePeriodRead(msgspec.Struct, kw_only=True):
    """A window, both days inclusive, in which a unit is owed one maintenance visit."""

    id: uuid.UUID
    coverage_id: uuid.UUID
    equipment_id: uuid.UUID
    starts_on: date
    ends_on: date
    status: PeriodStatus
    work_order_id: uuid.UUID | None


def coverage_read(coverage: Coverage) -> CoverageRead:
    """Wire form of a coverage."""
    return CoverageRead(
        id=coverage.id,
        equipment_id=coverage.equipment_id,
        starts_on=coverage.period.lower,
        ends_on=coverage.period.upper - timedelta(days=1),
        is_active=coverage.is_active,
        interval_count=coverage.interval_count,
        interval_unit=coverage.interval_unit,
        visit_minutes=coverage.visit_minutes,
        skills=list(coverage.skills),
        preferred_weekdays=list(coverage.preferred_weekdays),
        preferred_start=coverage.preferred_start,
        preferred_end=coverage.preferred_end,
    )


def contract_read(contract: Contract) -> ContractRead:
    """Wire form of a contract."""
    return ContractRead(
        id=contract.id,
        client_id=contract.client_id,
        number=contract.number,
        valid_from=contract.valid_from,
        valid_to=contract.valid_to,
        status=contract.status,
        sla_policy_id=contract.sla_policy_id,
        billing_period=contract.billing_period,
        included_labour_minutes=contract.included_labour_minutes,
        hourly_rate_cents=contract.hourly_rate_cents,
        callout_fee_cents=contract.callout_fee_cents,
        currency=contract.currency,
        coverages=[
            coverage_read(c)
            for c in sorted(contract.coverages, key=lambda c: (str(c.equipment_id), str(c.id)))
        ],
        created_at=contract.created_at,
    )


def service_period_read(period: ServicePeriod) -> ServicePeriodRead:
    """Wire form of a service period."""
    return ServicePeriodRead(
        id=period.id,
        coverage_id=period.coverage_id,
        equipment_id=period.equipment_id,
        starts_on=period.starts_on,
        ends_on=period.ends_on,
        status=period.status,
        work_order_id=period.work_order_id,
    )
