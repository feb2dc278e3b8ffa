"""Dispatch plan wire types."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec

from dispatch.day import EngineerDay, VisitChange
from dispatch.models import DispatchPlan, DispatchPlanKind, DispatchPlanStatus
from dispatch.runs import RunProgress
from dispatch.service import DEFAULT_STABILITY_COST, day_answer_of, route_plan_of
from dispatch.solver import DroppedVisit, PlanMetrics, Route

TimeLimit = Annotated[
    int,
    msgspec.Meta(
        ge=1, le=86_400, description="solver budget in seconds; default from the settings"
    ),
]
Background = Annotated[
    bool | None,
    msgspec.Meta(
        description="answer 202 at once and solve in the background; by default only when "
        "the budget exceeds the sync limit (FSM_DISPATCH_SYNC_LIMIT_SECONDS)"
    ),
]


StabilityCost = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=100_000,
        description="what moving a visit an engineer already holds costs the plan, in minutes "
        "of travel (each minute its start moves costs one more); 0 lets the solver re-plan "
        "freely",
    ),
]


class PlanCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Draft the routes of one day."""

    day: date
    timezone: Annotated[str, msgspec.Meta(description="IANA timezone of `day`")]
    # None: every active engineer with a shift that day.
    engineer_ids: list[uuid.UUID] | None = None
    time_limit_s: TimeLimit | None = None
    background: Background = None
    stability_cost: StabilityCost = DEFAULT_STABILITY_COST


class PlanInsert(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Urgent visits (status `planned`) to fit into a committed plan's running day."""

    visit_ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=200)]
    time_limit_s: TimeLimit | None = None
    background: Background = None
    stability_cost: StabilityCost = DEFAULT_STABILITY_COST


class DispatchPlanRead(msgspec.Struct, kw_only=True):
    """A day's plan with its routes, dropped visits (with reasons) and metrics."""

    id: uuid.UUID
    kind: DispatchPlanKind
    base_plan_id: uuid.UUID | None
    day: date
    timezone: str
    status: DispatchPlanStatus
    engineer_ids: list[uuid.UUID]
    created_by_id: uuid.UUID | None
    created_at: datetime
    finished_at: datetime | None
    committed_at: datetime | None
    progress: RunProgress | None
    metrics: PlanMetrics | None
    routes: list[Route]
    dropped: list[DroppedVisit]
    error: str | None = None
    # The plan read against the day it started from: every visit kept, moved (from whom,
    # why), new, unassigned (why) or fixed, and each engineer's whole day numbered 1..n.
    visits: list[VisitChange] = []
    days: list[EngineerDay] = []


class DispatchRunRead(msgspec.Struct, kw_only=True):
    """Where a plan's solver run stands, without the routes."""

    id: uuid.UUID
    kind: DispatchPlanKind
    status: DispatchPlanStatus
    progress: RunProgress | None
    metrics: PlanMetrics | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


def _progress(plan: DispatchPlan) -> RunProgress | None:
    if plan.progress is None:
        return None
    return msgspec.convert(plan.progress, type=RunProgress, strict=False)


def dispatch_plan_read(plan: DispatchPlan) -> DispatchPlanRead:
    """The wire view of a stored plan."""
    routes = route_plan_of(plan)
    answer = day_answer_of(plan)
    return DispatchPlanRead(
        id=plan.id,
        kind=plan.kind,
        base_plan_id=plan.base_plan_id,
        day=plan.day,
        timezone=plan.timezone,
        status=plan.status,
        engineer_ids=[uuid.UUID(e) for e in plan.engineer_ids],
        created_by_id=plan.created_by_id,
        created_at=plan.created_at,
        finished_at=plan.finished_at,
        committed_at=plan.committed_at,
        progress=_progress(plan),
        metrics=routes.metrics if routes else None,
        routes=list(routes.routes) if routes else [],
        dropped=list(routes.dropped) if routes else [],
        error=plan.error,
        visits=list(answer.visits) if answer else [],
        days=list(answer.days) if answer else [],
    )


def dispatch_run_read(plan: DispatchPlan) -> DispatchRunRead:
    """The wire view of a plan's run."""
    routes = route_plan_of(plan)
    return DispatchRunRead(
        id=plan.id,
        kind=plan.kind,
        status=plan.status,
        progress=_progress(plan),
        metrics=routes.metrics if routes else None,
        error=plan.error,
        created_at=plan.created_at,
        finished_at=plan.finished_at,
    )
