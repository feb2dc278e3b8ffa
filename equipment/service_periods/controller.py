"""Running planned-maintenance generation on demand (admin)."""

from __future__ import annotations

import msgspec
from litestar import Controller, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.service_periods.jobs import run_maintenance
from fsm.auth.guards import requires_admin
from fsm.db import utcnow
from fsm.errors import Conflict
from fsm.schemas import Count
from fsm.workorders.service import WorkOrderService


class MaintenanceRunning(Conflict):
    """Another process is generating maintenance right now."""


class MaintenanceRun(msgspec.Struct, kw_only=True):
    """What one run did."""

    work_orders_opened: Count
    periods_done: Count
    periods_missed: Count


class MaintenanceController(Controller):
    """The daily maintenance job, on demand."""

    path = "/api/v1/maintenance"
    tags = ["contracts"]
    guards = [requires_admin]

    @post("/run", operation_id="RunMaintenance", status_code=200)
    async def run_maintenance_now(
        self,
        state: State,
        db_session: NamedDependency[AsyncSession],
        work_orders: NamedDependency[WorkOrderService],
    ) -> MaintenanceRun:
        """Open work for service periods coming due and settle finished periods, now."""
        result = await run_maintenance(
            db_session,
            work_orders,
            horizon_days=state.settings.scheduler.maintenance_horizon_days,
            now=utcnow(),
        )
        if result is None:
            raise MaintenanceRunning("maintenance generation is running in another process")
        opened, done, missed = result
        return MaintenanceRun(work_orders_opened=opened, periods_done=done, periods_missed=missed)
