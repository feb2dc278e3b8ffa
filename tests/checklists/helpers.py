"""Builders for checklist tests: templates, and visits planned with the checklist hooks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from checklists.definition import Definition
from checklists.models import ChecklistTemplate
from checklists.service import ChecklistService
from checklists.templates import TemplateInput, TemplateService
from equipment.equipment.models import Equipment
from fsm.db import utcnow
from fsm.engineers.models import Engineer
from fsm.photos.models import Photo, PhotoState
from fsm.users.models import Role, User
from fsm.visits.service import VisitDraft
from fsm.workorders.models import WorkOrder, WorkOrderType
from fsm.workorders.service import WorkOrderDraft
from fsm.workorders.visit_models import Visit
from tests.factories import make_user
from tests.fsm.wo_helpers import principal_of, services, visits, work_orders

INSPECTION: dict[str, Any] = {
    "sections": [
        {
            "title": "Safety",
            "items": [
                {
                    "key": "brakes_ok",
                    "label": "Brakes hold",
                    "kind": "yes_no",
                    "is_critical": True,
                    "opens_follow_up": True,
                    "is_client_visible": True,
                },
                {
                    "key": "pressure",
                    "label": "Oil pressure",
                    "kind": "number",
                    "unit": "bar",
                    "min": 1.0,
                    "max": 2.5,
                    "is_client_visible": True,
                },
                {
                    "key": "notes",
                    "label": "Internal notes",
                    "kind": "text",
                    "is_required": False,
                },
            ],
        },
        {
            "title": "Evidence",
            "items": [{"key": "cabin", "label": "Cabin photos", "kind": "photo", "photo_count": 1}],
        },
    ]
}


def definition(raw: dict[str, Any] | None = None) -> Definition:
    """A definition from plain JSON (the inspection checklist by default)."""
    return msgspec.convert(raw or INSPECTION, Definition)


def checklists(session: AsyncSession) -> ChecklistService:
    return services(session).checklists


async def admin(session: AsyncSession) -> User:
    return await make_user(session, role=Role.ADMIN)


async def make_template(
    session: AsyncSession,
    *,
    name: str = "Lift inspection",
    raw: dict[str, Any] | None = None,
    model_ids: Sequence[uuid.UUID] = (),
    categories: Sequence[str] = (),
    work_types: Sequence[WorkOrderType] = (),
    publish: bool = True,
) -> ChecklistTemplate:
    """A template made through the service, published unless told otherwise."""
    service = TemplateService(session)
    template = await service.create(
        TemplateInput(
            name=name,
            definition=definition(raw),
            equipment_model_ids=model_ids,
            categories=categories,
            work_types=work_types,
        ),
        actor=principal_of(await admin(session)),
    )
    if publish:
        await service.publish(template.id)
    return template


async def order_on(
    session: AsyncSession,
    unit: Equipment,
    *,
    type: WorkOrderType = WorkOrderType.MAINTENANCE,
) -> WorkOrder:
    """A work order for a unit, opened by a dispatcher."""
    dispatcher = await make_user(session, role=Role.DISPATCHER)
    return await work_orders(session).create(
        WorkOrderDraft(site_id=unit.site_id, equipment_id=unit.id, type=type, title="Service"),
        actor=principal_of(dispatcher),
    )


async def planned_visit(
    session: AsyncSession, work_order: WorkOrder, *, engineer: Engineer | None = None
) -> Visit:
    """A visit planned through the service (so its run is attached), assigned if asked."""
    dispatcher = principal_of(await make_user(session, role=Role.DISPATCHER))
    service = visits(session)
    starts = utcnow()
    visit = await service.create(
        VisitDraft(
            work_order_id=work_order.id,
            window_starts_at=starts,
            window_ends_at=starts + timedelta(hours=4),
            estimated_minutes=60,
        ),
        actor=dispatcher,
    )
    if engineer is not None:
        visit = await service.assign(visit.id, engineer.id, actor=dispatcher)
    return visit


async def add_evidence_photo(session: AsyncSession, visit: Visit, key: str) -> None:
    """A stored photo linked to a checklist item, as the photo flow leaves it."""
    session.add(
        Photo(
            work_order_id=visit.work_order_id,
            visit_id=visit.id,
            object_key=f"photos/{uuid.uuid4()}.jpg",
            content_type="image/jpeg",
            size_bytes=1000,
            sha256="a" * 64,
            state=PhotoState.STORED,
            checklist_item_key=key,
        )
    )
    await session.flush()
