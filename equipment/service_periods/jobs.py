"""The maintenance job: open work for periods coming due, settle the ones done or missed."""

from __future__ import annotations

import logging
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from equipment.service_periods.generation import generate_maintenance, settle_periods
from fsm.jobs import try_lock
from fsm.workorders.service import WorkOrderService

log = logging.getLogger("equipment.maintenance")


async def run_maintenance(
    session: AsyncSession,
    work_orders: WorkOrderService,
    *,
    horizon_days: int,
    now: datetime,
    today: date | None = None,
) -> tuple[int, int, int] | None:
    """One maintenance run in the session's unit of work, holding the job's lock.

    Returns (work orders opened, periods done, periods missed), or None when another
    process is running it. The scheduler runs it in a transaction of its own; an admin's
    "run now" in the request's.
    """
    if not await try_lock(session, "maintenance"):
        return None
    day = today or now.date()
    opened = await generate_maintenance(
        session, work_orders, today=day, horizon_days=horizon_days, now=now
    )
    done, missed = await settle_periods(session, today=day)
    log.info("maintenance: %d opened, %d periods done, %d missed", opened, done, missed)
    return opened, done, missed
