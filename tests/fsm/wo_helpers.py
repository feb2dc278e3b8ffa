"""Builders for work-order, visit and SLA tests: orders and visits made through the services."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.principal import Principal
from fsm.db import utcnow
from fsm.engineers.models import Engineer
from fsm.main.services import Services
from fsm.settings import load_settings
from fsm.sites.models import Site
from fsm.sla.models import SlaPolicy
from fsm.users.models import Role, User
from fsm.visits.service import VisitDraft, VisitService
from fsm.workorders.models import (
    Priority,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderStatus,
    WorkOrderType,
)
from fsm.workorders.service import WorkOrderDraft, WorkOrderService
from fsm.workorders.visit_models import Visit
from tests.factories import make_site, make_user

WORK_ORDERS = "/api/v1/work-orders"
VISITS = "/api/v1/visits"


def principal_of(user: User) -> Principal:
    """The caller a service sees for `user`."""
    return Principal(
        user_id=user.id,
        session_id=uuid.uuid4(),
        role=user.role,
        client_id=user.client_id,
        email=user.email,
        full_name=user.full_name,
    )


# Default settings (7-day reopen, 60-minute warning); no test here touches the object store.
SETTINGS = load_settings({"FSM_ENV": "test"})


def services(session: AsyncSession) -> Services:
    """The app's own service graph, so tests run the rules the app runs."""
    return Services(session, SETTINGS)


def work_orders(session: AsyncSession) -> WorkOrderService:
    return services(session).work_orders


def visits(session: AsyncSession) -> VisitService:
    """The visit service with its checklist hooks, as the app wires it."""
    return services(session).visits


async def open_order(
    session: AsyncSession,
    *,
    site: Site | None = None,
    actor: User | None = None,
    type: WorkOrderType = WorkOrderType.REPAIR,
    priority: Priority = Priority.NORMAL,
    title: str = "Boiler leaking",
    skills: Sequence[str] = (),
    custom_fields: dict[str, Any] | None = None,
) -> WorkOrder:
    """A new work order opened by staff through the service (flushed, not committed)."""
    if site is None:
        site = await make_site(session)
    if actor is None:
        actor = await make_user(session, role=Role.DISPATCHER)
    draft = WorkOrderDraft(
        site_id=site.id,
        type=type,
        title=title,
        priority=priority,
        required_skills=skills,
        custom_fields=custom_fields or {},
    )
    return await work_orders(session).create(draft, actor=principal_of(actor))


async def move(
    session: AsyncSession, work_order: WorkOrder, *to: WorkOrderStatus, actor: User
) -> WorkOrder:
    """Walk a work order through statuses by hand, as staff would (as the API does)."""
    service = visits(session)
    for status in to:
        work_order = await service.transition_work_order(
            work_order.id, status, actor=principal_of(actor)
        )
    return work_order


async def plan_visit(
    session: AsyncSession,
    work_order: WorkOrder,
    *,
    actor: User,
    engineer: Engineer | None = None,
    planned_start_at: datetime | None = None,
    window_starts_at: datetime | None = None,
) -> Visit:
    """A visit planned (and assigned when `engineer` is given) through the service."""
    service = visits(session)
    starts = window_starts_at or (planned_start_at or utcnow())
    visit = await service.create(
        VisitDraft(
            work_order_id=work_order.id,
            window_starts_at=starts,
            window_ends_at=starts + timedelta(hours=4),
            estimated_minutes=60,
        ),
        actor=principal_of(actor),
    )
    if engineer is not None:
        visit = await service.assign(
            visit.id, engineer.id, actor=principal_of(actor), planned_start_at=planned_start_at
        )
    return visit


async def event_kinds(session: AsyncSession, work_order: WorkOrder) -> list[str]:
    """The kinds of the work order's timeline events, in order, straight from the table."""
    rows = await session.scalars(
        select(WorkOrderEvent.kind)
        .where(WorkOrderEvent.work_order_id == work_order.id)
        .order_by(WorkOrderEvent.id)
    )
    return list(rows)


def set_targets(policy: SlaPolicy, minutes: dict[str, tuple[int, int]]) -> None:
    """Give a policy its own (reaction, resolution) minutes per priority."""
    policy.targets = {
        p: {"reaction_minutes": r, "resolution_minutes": s} for p, (r, s) in minutes.items()
    }


def parse_at(value: str) -> datetime:
    """An instant from the API's ISO text."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def create_via_api(
    client: httpx.AsyncClient, headers: dict[str, str], site: Site, **body: Any
) -> httpx.Response:
    """POST a work order for `site` with a valid body, overridden by `body`."""
    payload: dict[str, Any] = {
        "site_id": str(site.id),
        "type": "repair",
        "title": "Boiler leaking",
        **body,
    }
    return await client.post(WORK_ORDERS, json=payload, headers=headers)
