"""Service periods of covered units: kept in step with each coverage's plan and dates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import Contract, Coverage
from equipment.service_periods.models import PeriodStatus, ServicePeriod
from equipment.service_periods.periods import cut_periods
from fsm.pagination import Page, PageRequest


def coverage_dates(coverage: Coverage) -> tuple[date, date]:
    """The inclusive first and last day of a coverage's `[lower, upper)` period."""
    return coverage.period.lower, coverage.period.upper - timedelta(days=1)


async def current_and_next(
    session: AsyncSession, equipment_id: uuid.UUID, client_id: uuid.UUID, today: date
) -> tuple[ServicePeriod | None, ServicePeriod | None]:
    """The unit's service period running today and the one after, under its owner's contracts.

    What an equipment card shows, staff's and the client's alike: a unit taken over from
    another company shows none of that company's periods.
    """
    periods = (
        await session.scalars(
            select(ServicePeriod)
            .join(Contract, Contract.id == ServicePeriod.contract_id)
            .where(
                ServicePeriod.equipment_id == equipment_id,
                Contract.client_id == client_id,
                ServicePeriod.ends_on >= today,
            )
            .order_by(ServicePeriod.starts_on)
            .limit(2)
        )
    ).all()
    current = next((p for p in periods if p.starts_on <= today), None)
    upcoming = next((p for p in periods if p.starts_on > today), None)
    return current, upcoming


class ServicePeriodService:
    """Planned maintenance windows; history (scheduled, done, missed) is never rewritten."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def regenerate(self, coverage: Coverage) -> Sequence[ServicePeriod]:
        """Bring a coverage's planned periods in line with its plan and dates; flushes only."""
        first, last = coverage_dates(coverage)
        wanted = dict(cut_periods(first, last, coverage.interval_count, coverage.interval_unit))
        existing = (
            await self.session.scalars(
                select(ServicePeriod).where(ServicePeriod.coverage_id == coverage.id)
            )
        ).all()
        kept_starts: set[date] = set()
        for period in existing:
            if (
                period.status is not PeriodStatus.PLANNED
                or wanted.get(period.starts_on) == period.ends_on
            ):
                kept_starts.add(period.starts_on)
            else:
                await self.session.delete(period)
        await self.session.flush()
        for starts_on, ends_on in sorted(wanted.items()):
            if starts_on in kept_starts:
                continue
            self.session.add(
                ServicePeriod(
                    coverage_id=coverage.id,
                    contract_id=coverage.contract_id,
                    equipment_id=coverage.equipment_id,
                    starts_on=starts_on,
                    ends_on=ends_on,
                    status=PeriodStatus.PLANNED,
                )
            )
        await self.session.flush()
        return (
            await self.session.scalars(
                select(ServicePeriod)
                .where(ServicePeriod.coverage_id == coverage.id)
                .order_by(ServicePeriod.starts_on)
            )
        ).all()

    async def list_for_contract(
        self, contract_id: uuid.UUID, page: PageRequest
    ) -> Page[ServicePeriod]:
        """A contract's periods by start day, then unit."""
        condition = ServicePeriod.contract_id == contract_id
        total = await self.session.scalar(
            select(func.count()).select_from(ServicePeriod).where(condition)
        )
        rows = (
            await self.session.scalars(
                select(ServicePeriod)
                .where(condition)
                .order_by(ServicePeriod.starts_on, ServicePeriod.equipment_id, ServicePeriod.id)
                .limit(page.limit)
                .offset(page.offset)
            )
        ).all()
        return Page(items=rows, total=total or 0, limit=page.limit, offset=page.offset)
