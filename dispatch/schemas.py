"""Dispatch plan wire types."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec

from dispatch.models import DispatchPlan, DispatchPlanStatus
from dispatch.service import route_plan_of
from dispatch.solver import DroppedVisit, PlanMetrics, Route


class PlanCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Draft the routes of one day."""

    day: date
    timezone: Annotated[str, msgspec.Meta(description="IANA timezone of `day`")]
    # None: every active engineer with a shift that day.
    engineer_ids: list[uuid.UUID] | None = None
    time_limit_s: Annotated[int, msgspec.Meta(ge=1)] | None = None


class DispatchPlanRead(msgspec.Struct, kw_only=True):
    """A day's plan with its routes, dropped visits (with reasons) and metrics."""

    id: uuid.UUID
    day: date
    timezone: str
    status: DispatchPlanStatus
    engineer_ids: list[uuid.UUID]
    created_by_id: uuid.UUID | None
    created_at: datetime
    committed_at: datetime | None
    metrics: PlanMetrics | None
    routes: list[Route]
    dropped: list[DroppedVisit]
    error: str | None = None


def dispatch_plan_read(plan: DispatchPlan) -> DispatchPlanRead:
    """The wire view of a stored plan."""
    routes = route_plan_of(plan)
    return DispatchPlanRead(
        id=plan.id,
        day=plan.day,
        timezone=plan.timezone,
        status=plan.status,
        engineer_ids=[uuid.UUID(e) for e in plan.engineer_ids],
        created_by_id=plan.created_by_id,
        created_at=plan.created_at,
        committed_at=plan.committed_at,
        metrics=routes.metrics if routes else None,
        routes=list(routes.routes) if routes else [],
        dropped=list(routes.dropped) if routes else [],
        error=plan.plan.get("error"),
    )
