"""The maintenance job: open work for periods coming due, settle the ones done or missed."""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from equipment.service_periods.generation import generate_maintenance, settle_periods
from fsm.db import utcnow
from fsm.jobs import run_locked
from fsm.settings import Settings

log = logging.getLogger("equipment.maintenance")


async def run_maintenance(
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    *,
    today: date | None = None,
) -> tuple[int, int, int] | None:
    """One locked maintenance run: (work orders opened, periods done, periods missed).

    None when another process is running it.
    """
    now = utcnow()
    day = today or now.date()
    counts: list[int] = []

    async def work(session: AsyncSession) -> None:
        opened = await generate_maintenance(
            session, today=day, horizon_days=settings.scheduler.maintenance_horizon_days, now=now
        )
        done, missed = await settle_periods(session, today=day)
        counts.extend([opened, done, missed])

    if not await run_locked(factory, "maintenance", work):
        return None
    log.info("maintenance: %d opened, %d periods done, %d missed", *counts)
    return counts[0], counts[1], counts[2]
