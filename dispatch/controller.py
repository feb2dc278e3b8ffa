"""Dispatch endpoints: draft a day's routes, read them, commit them (dispatchers only)."""

from __future__ import annotations

import uuid

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.schemas import DispatchPlanRead, PlanCreate, dispatch_plan_read
from dispatch.service import DispatchService
from fsm.auth.guards import requires_staff
from fsm.auth.principal import Principal
from fsm.schemas import check_timezone
from fsm.visits.service import VisitService
from fsm.workorders.service import WorkOrderService


async def provide_dispatch_service(
    db_session: NamedDependency[AsyncSession], state: State
) -> DispatchService:
    work_orders = WorkOrderService(db_session, state.settings.workorders)
    return DispatchService(db_session, VisitService(db_session, work_orders), state.settings.solver)


class DispatchPlanController(Controller):
    """Day plans from the routing solver."""

    path = "/api/v1/dispatch/plans"
    tags = ["dispatch"]
    guards = [requires_staff]
    dependencies = {"dispatch": Provide(provide_dispatch_service)}

    @post("/", operation_id="DraftDispatchPlan")
    async def draft_plan(
        self,
        dispatch: NamedDependency[DispatchService],
        principal: NamedDependency[Principal],
        data: JSONBody[PlanCreate],
    ) -> DispatchPlanRead:
        """Plan a day's open visits over the engineers on shift; kept as a draft."""
        plan = await dispatch.draft(
            data.day,
            check_timezone(data.timezone),
            actor=principal,
            engineer_ids=data.engineer_ids,
            time_limit_s=data.time_limit_s,
        )
        return dispatch_plan_read(plan)

    @get("/{plan_id:uuid}", operation_id="GetDispatchPlan")
    async def get_plan(
        self, dispatch: NamedDependency[DispatchService], plan_id: FromPath[uuid.UUID]
    ) -> DispatchPlanRead:
        """One plan with its routes, dropped visits and metrics."""
        return dispatch_plan_read(await dispatch.get(plan_id))

    @post("/{plan_id:uuid}/commit", operation_id="CommitDispatchPlan", status_code=200)
    async def commit_plan(
        self,
        dispatch: NamedDependency[DispatchService],
        principal: NamedDependency[Principal],
        plan_id: FromPath[uuid.UUID],
    ) -> DispatchPlanRead:
        """Assign every routed visit as planned (409 `plan_outdated` if visits changed)."""
        return dispatch_plan_read(await dispatch.commit(plan_id, actor=principal))

    @get(
        "/{plan_id:uuid}/map.svg",
        operation_id="GetDispatchPlanMap",
        media_type="image/svg+xml",
    )
    async def get_plan_map(
        self, dispatch: NamedDependency[DispatchService], plan_id: FromPath[uuid.UUID]
    ) -> str:
        """The plan as an SVG map: homes, sites, one coloured line per route, dropped visits."""
        return await dispatch.map_svg(plan_id)
