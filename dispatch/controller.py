"""Dispatch endpoints: draft a day's routes, insert urgent work, read, commit (staff only)."""

from __future__ import annotations

import uuid

from litestar import Controller, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import (
    HTTP_201_CREATED,
    HTTP_202_ACCEPTED,
    HTTP_429_TOO_MANY_REQUESTS,
)

from dispatch.models import DispatchPlan, DispatchPlanStatus
from dispatch.runs import defer_run
from dispatch.schemas import (
    DispatchPlanRead,
    DispatchRunRead,
    PlanCreate,
    PlanInsert,
    dispatch_plan_read,
    dispatch_run_read,
)
from dispatch.service import DispatchService
from fsm.auth.guards import requires_staff
from fsm.auth.principal import Principal
from fsm.schemas import ErrorBody, check_timezone

PLANS_PATH = "/api/v1/dispatch/plans"


def _created_or_accepted(plan: DispatchPlan, state: State) -> Response[DispatchPlanRead]:
    """201 with the finished plan, or 202 pointing at the plan still solving.

    A stored run is deferred to a worker once the answer has gone, after the commit.
    """
    if plan.status is DispatchPlanStatus.SOLVING:
        return Response(
            dispatch_plan_read(plan),
            status_code=HTTP_202_ACCEPTED,
            headers={"Location": f"{PLANS_PATH}/{plan.id}"},
            background=BackgroundTask(defer_run, state.job_queue, plan.id),
        )
    return Response(dispatch_plan_read(plan), status_code=HTTP_201_CREATED)


_ACCEPTED = {
    HTTP_202_ACCEPTED: ResponseSpec(
        data_container=DispatchPlanRead,
        description="Solving in the background: poll the plan (or its /status) at Location.",
    ),
    HTTP_429_TOO_MANY_REQUESTS: ResponseSpec(
        data_container=ErrorBody,
        description="too_many_dispatch_runs: FSM_DISPATCH_MAX_CONCURRENT_RUNS plans are "
        "solving in the background already; Retry-After says in how many seconds the first "
        "of them should end.",
    ),
}


class DispatchPlanController(Controller):
    """Day plans from the routing solver."""

    path = PLANS_PATH
    tags = ["dispatch"]
    guards = [requires_staff]

    @post("/", operation_id="DraftDispatchPlan", responses=_ACCEPTED)
    async def draft_plan(
        self,
        dispatch: NamedDependency[DispatchService],
        principal: NamedDependency[Principal],
        data: JSONBody[PlanCreate],
        state: State,
    ) -> Response[DispatchPlanRead]:
        """Plan the whole day (open and held visits) over the engineers on shift, as a draft."""
        plan = await dispatch.draft(
            data.day,
            check_timezone(data.timezone),
            actor=principal,
            engineer_ids=data.engineer_ids,
            time_limit_s=data.time_limit_s,
            background=data.background,
            stability_cost=data.stability_cost,
        )
        return _created_or_accepted(plan, state)

    @post("/{plan_id:uuid}/insert", operation_id="InsertIntoDispatchPlan", responses=_ACCEPTED)
    async def insert_visits(
        self,
        dispatch: NamedDependency[DispatchService],
        principal: NamedDependency[Principal],
        plan_id: FromPath[uuid.UUID],
        data: JSONBody[PlanInsert],
        state: State,
    ) -> Response[DispatchPlanRead]:
        """Re-plan a committed plan's running day around urgent visits, as a new draft."""
        plan = await dispatch.insert(
            plan_id,
            data.visit_ids,
            actor=principal,
            time_limit_s=data.time_limit_s,
            background=data.background,
            stability_cost=data.stability_cost,
        )
        return _created_or_accepted(plan, state)

    @get("/{plan_id:uuid}", operation_id="GetDispatchPlan")
    async def get_plan(
        self, dispatch: NamedDependency[DispatchService], plan_id: FromPath[uuid.UUID]
    ) -> DispatchPlanRead:
        """One plan with its run's progress, routes, dropped visits and metrics."""
        return dispatch_plan_read(await dispatch.get(plan_id))

    @get("/{plan_id:uuid}/status", operation_id="GetDispatchPlanStatus")
    async def get_plan_status(
        self, dispatch: NamedDependency[DispatchService], plan_id: FromPath[uuid.UUID]
    ) -> DispatchRunRead:
        """Where a plan's solver run stands: solving (with progress), draft or failed."""
        return dispatch_run_read(await dispatch.get(plan_id))

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
