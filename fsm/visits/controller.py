"""Visit endpoints: dispatchers plan and assign; engineers report their own progress."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from fsm.auth.guards import requires_roles, requires_signed_in, requires_staff
from fsm.auth.principal import Principal
from fsm.db import utcnow
from fsm.pagination import PageOut, PageRequest, page_out
from fsm.schemas import LimitQuery, OffsetQuery, check_timezone
from fsm.users.models import Role
from fsm.visits.schemas import (
    AssignRequest,
    LockRequest,
    StatusChange,
    StatusEventRead,
    VisitCreate,
    VisitRead,
    status_event_read,
    visit_read,
)
from fsm.visits.service import StatusReport, VisitDraft, VisitService
from fsm.workorders.schemas import TransitionRequest, WorkOrderRead, work_order_read
from fsm.workorders.visit_models import VisitStatus


class VisitController(Controller):
    """On-site appointments."""

    path = "/api/v1/visits"
    tags = ["visits"]
    guards = [requires_roles(Role.ADMIN, Role.DISPATCHER, Role.ENGINEER)]

    @get("/", operation_id="ListVisits")
    async def list_visits(
        self,
        visits: NamedDependency[VisitService],
        principal: NamedDependency[Principal],
        work_order_id: Annotated[uuid.UUID | None, QueryParameter()] = None,
        engineer_id: Annotated[uuid.UUID | None, QueryParameter()] = None,
        status: Annotated[list[VisitStatus] | None, QueryParameter()] = None,
        day: Annotated[date | None, QueryParameter(description="Planned (or window) day")] = None,
        timezone: Annotated[str, QueryParameter(description="Timezone of `day`")] = "UTC",
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[VisitRead]:
        """Visits by planned start; an engineer sees only their own."""
        page = await visits.list(
            PageRequest(limit=limit, offset=offset),
            viewer=principal,
            work_order_id=work_order_id,
            engineer_id=engineer_id,
            statuses=status or (),
            day=day,
            timezone=check_timezone(timezone),
        )
        return page_out(page, visit_read)

    @post("/", operation_id="PlanVisit", guards=[requires_staff])
    async def plan_visit(
        self,
        visits: NamedDependency[VisitService],
        principal: NamedDependency[Principal],
        data: JSONBody[VisitCreate],
    ) -> VisitRead:
        """Plan a visit for a work order."""
        draft = VisitDraft(
            work_order_id=data.work_order_id,
            window_starts_at=data.window_starts_at,
            window_ends_at=data.window_ends_at,
            estimated_minutes=data.estimated_minutes,
            required_skills=data.required_skills,
        )
        return visit_read(await visits.create(draft, actor=principal))

    @get("/{visit_id:uuid}", operation_id="GetVisit")
    async def get_visit(
        self,
        visits: NamedDependency[VisitService],
        principal: NamedDependency[Principal],
        visit_id: FromPath[uuid.UUID],
    ) -> VisitRead:
        """One visit."""
        return visit_read(await visits.get(visit_id, viewer=principal))

    @post(
        "/{visit_id:uuid}/assign",
        operation_id="AssignVisit",
        guards=[requires_staff],
        status_code=200,
    )
    async def assign_visit(
        self,
        visits: NamedDependency[VisitService],
        principal: NamedDependency[Principal],
        visit_id: FromPath[uuid.UUID],
        data: JSONBody[AssignRequest],
    ) -> VisitRead:
        """Give a visit to a qualified engineer (409 names the missing skills)."""
        visit = await visits.assign(
            visit_id, data.engineer_id, actor=principal, planned_start_at=data.planned_start_at
        )
        return visit_read(visit)

    @put("/{visit_id:uuid}/lock", operation_id="LockVisit", guards=[requires_staff])
    async def lock_visit(
        self,
        visits: NamedDependency[VisitService],
        principal: NamedDependency[Principal],
        visit_id: FromPath[uuid.UUID],
        data: JSONBody[LockRequest],
    ) -> VisitRead:
        """Lock a visit to an engineer, a start time or both; drafts, inserts and commits keep
        it there (replaces an earlier lock)."""
        visit = await visits.lock(
            visit_id, engineer_id=data.engineer_id, start_at=data.start_at, actor=principal
        )
        return visit_read(visit)

    @delete(
        "/{visit_id:uuid}/lock",
        operation_id="UnlockVisit",
        guards=[requires_staff],
        status_code=200,
    )
    async def unlock_visit(
        self,
        visits: NamedDependency[VisitService],
        principal: NamedDependency[Principal],
        visit_id: FromPath[uuid.UUID],
    ) -> VisitRead:
        """Let planning move the visit again."""
        return visit_read(await visits.unlock(visit_id, actor=principal))

    @post("/{visit_id:uuid}/status", operation_id="ReportVisitStatus", status_code=200)
    async def report_status(
        self,
        visits: NamedDependency[VisitService],
        principal: NamedDependency[Principal],
        visit_id: FromPath[uuid.UUID],
        data: JSONBody[StatusChange],
    ) -> VisitRead:
        """Record a status change with time and place."""
        report = StatusReport(
            status=data.status,
            device_at=data.device_at,
            location=data.location,
            note=data.note,
            labour_minutes=data.labour_minutes,
        )
        return visit_read(await visits.report_status(visit_id, report, actor=principal))

    @get("/{visit_id:uuid}/trail", operation_id="GetVisitTrail")
    async def get_trail(
        self,
        visits: NamedDependency[VisitService],
        principal: NamedDependency[Principal],
        visit_id: FromPath[uuid.UUID],
    ) -> list[StatusEventRead]:
        """Every status change of the visit, with who, when and where."""
        return [status_event_read(e) for e in await visits.trail(visit_id, viewer=principal)]


class WorkOrderTransitionController(Controller):
    """A work order's status moves here, beside its visits: cancelling one cancels them."""

    path = "/api/v1/work-orders"
    tags = ["work orders"]
    guards = [requires_signed_in]

    @post(
        "/{work_order_id:uuid}/transitions",
        operation_id="TransitionWorkOrder",
        guards=[requires_staff],
        status_code=200,
    )
    async def transition_work_order(
        self,
        visits: NamedDependency[VisitService],
        principal: NamedDependency[Principal],
        work_order_id: FromPath[uuid.UUID],
        data: JSONBody[TransitionRequest],
    ) -> WorkOrderRead:
        """Move a work order to another status (409 names the allowed ones).

        Cancelling it cancels its open visits, with the reason on each visit's trail.
        """
        work_order = await visits.transition_work_order(
            work_order_id,
            data.to,
            actor=principal,
            reason=data.reason,
            client_message=data.client_message,
        )
        return work_order_read(work_order, now=utcnow(), warning=visits.work_orders.warning)
