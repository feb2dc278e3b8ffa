"""Work-order wire types: a staff view, a client view without internals, and inputs."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

import msgspec

from fsm.schemas import BigCount, Count
from fsm.workorders.models import (
    Channel,
    Comment,
    Priority,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderStatus,
    WorkOrderType,
)
from fsm.workorders.service import sla_state

T = TypeVar("T")

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
Description = Annotated[str, msgspec.Meta(max_length=20_000)]
CommentBody = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]
Reason = Annotated[str, msgspec.Meta(max_length=500)]


class WorkOrderCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Open a work order; staff may set priority and channel, clients may not."""

    site_id: uuid.UUID
    type: WorkOrderType
    title: Title
    description: Description = ""
    equipment_id: uuid.UUID | None = None
    priority: Priority | None = None
    channel: Channel | None = None
    required_skills: list[str] = msgspec.field(default_factory=list)
    custom_fields: dict[str, Any] = msgspec.field(default_factory=dict)
    # Who asked, a contact of the site's client (a request typed in from a phone call).
    requester_contact_id: uuid.UUID | None = None


class WorkOrderUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Staff edits; absent fields stay as they are."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    priority: Priority | msgspec.UnsetType = msgspec.UNSET
    required_skills: list[str] | msgspec.UnsetType = msgspec.UNSET
    custom_fields: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class TransitionRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Move a work order to another status, saying why to the office and to the client apart."""

    to: WorkOrderStatus
    # For staff only ("waiting for overdue payment"): an internal timeline entry.
    reason: Reason | None = None
    # What the client reads on its timeline ("parts on order"); nothing when absent.
    client_message: Reason | None = None


class ReopenRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Why the work is not done after all: a client's reason is public, a staff one internal."""

    reason: Reason | None = None
    client_message: Reason | None = None


class CommentCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A comment; only staff may mark it internal."""

    body: CommentBody
    is_internal: bool = False


class CommentRead(msgspec.Struct, kw_only=True):
    """A comment on a work order."""

    id: uuid.UUID
    author_id: uuid.UUID | None
    body: str
    is_internal: bool
    created_at: datetime


class EventRead(msgspec.Struct, kw_only=True):
    """A timeline entry."""

    id: BigCount
    kind: str
    visibility: str
    actor_id: uuid.UUID | None
    occurred_at: datetime
    data: dict[str, Any]


class SlaRead(msgspec.Struct, kw_only=True):
    """The SLA clock of a work order (staff only)."""

    policy_id: uuid.UUID | None
    # The policy version the order runs on; edits of the policy after it opened do not apply.
    policy_version: Count | None
    state: str
    reaction_due_at: datetime | None
    resolution_due_at: datetime | None
    next_due_at: datetime | None
    first_response_at: datetime | None
    is_reaction_breached: bool
    is_resolution_breached: bool
    paused_minutes: BigCount
    is_paused: bool


class WorkOrderRead(msgspec.Struct, kw_only=True):
    """A work order as the back office sees it."""

    id: uuid.UUID
    number: str
    client_id: uuid.UUID
    site_id: uuid.UUID
    equipment_id: uuid.UUID | None
    contract_id: uuid.UUID | None
    requester_contact_id: uuid.UUID | None
    type: WorkOrderType
    priority: Priority
    channel: Channel
    status: WorkOrderStatus
    title: str
    description: str
    required_skills: list[str]
    custom_fields: dict[str, Any]
    sla: SlaRead
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: Count
    rating: RatingRead | None
    created_at: datetime
    updated_at: datetime


class RatingRead(msgspec.Struct, kw_only=True):
    """The client's verdict on the finished work."""

    score: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: str | None
    rated_at: datetime


def work_order_read(work_order: WorkOrder, *, now: datetime, warning: timedelta) -> WorkOrderRead:
    """Staff view of a work order."""
    return WorkOrderRead(
        id=work_order.id,
        number=work_order.number,
        client_id=work_order.client_id,
        site_id=work_order.site_id,
        equipment_id=work_order.equipment_id,
        contract_id=work_order.contract_id,
        requester_contact_id=work_order.requester_contact_id,
        type=work_order.type,
        priority=work_order.priority,
        channel=work_order.channel,
        status=work_order.status,
        title=work_order.title,
        description=work_order.description,
        required_skills=[s.code for s in work_order.required_skills],
        custom_fields=work_order.custom_fields,
        sla=SlaRead(
            policy_id=work_order.sla_policy_id,
            policy_version=work_order.sla_policy_version,
            state=sla_state(work_order, now, warning).value,
            reaction_due_at=work_order.reaction_due_at,
            resolution_due_at=work_order.resolution_due_at,
            next_due_at=work_order.sla_next_due_at,
            first_response_at=work_order.first_response_at,
            is_reaction_breached=work_order.is_reaction_breached,
            is_resolution_breached=work_order.is_resolution_breached,
            paused_minutes=work_order.paused_minutes,
            is_paused=any(p.resumed_at is None for p in work_order.pauses),
        ),
        resolved_at=work_order.resolved_at,
        closed_at=work_order.closed_at,
        reopen_count=work_order.reopen_count,
        rating=(
            RatingRead(
                score=work_order.rating.score,
                comment=work_order.rating.comment,
                rated_at=work_order.rating.created_at,
            )
            if work_order.rating is not None
            else None
        ),
        created_at=work_order.created_at,
        updated_at=work_order.updated_at,
    )


def comment_read(comment: Comment) -> CommentRead:
    """Wire form of a comment."""
    return CommentRead(
        id=comment.id,
        author_id=comment.author_id,
        body=comment.body,
        is_internal=comment.is_internal,
        created_at=comment.created_at,
    )


def event_read(event: WorkOrderEvent) -> EventRead:
    """Wire form of a timeline event."""
    return EventRead(
        id=event.id,
        kind=event.kind,
        visibility=event.visibility.value,
        actor_id=event.actor_id,
        occurred_at=event.occurred_at,
        data=event.data,
    )


class WorkOrderPage(msgspec.Struct, Generic[T], kw_only=True):
    """A page of a queue.

    `total` is exact when `total_exact` is true; past 1 000 matches it is a lower bound
    ("at least 1 000") rather than a count of every match on every page. `next_cursor`
    continues after the last item (pass it as `cursor`); null on the last page.
    """

    items: list[T]
    total: Count
    total_exact: bool
    limit: Count
    offset: Count
    next_cursor: str | None
