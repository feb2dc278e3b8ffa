"""Webhook wire types (admins only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from fsm.schemas import Count
from fsm.webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint

Url = Annotated[str, msgspec.Meta(min_length=8, max_length=2000, pattern=r"^https?://\S+$")]
EventType = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
EventTypes = Annotated[list[EventType], msgspec.Meta(min_length=1, max_length=50)]
Description = Annotated[str, msgspec.Meta(max_length=500)]


class EndpointCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An endpoint to register: where, for which event types."""

    url: Url
    event_types: EventTypes
    description: Description = ""
    include_internal: bool = False


class EndpointUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Changes to an endpoint; `is_active: true` enables a disabled one again."""

    url: Url | msgspec.UnsetType = msgspec.UNSET
    event_types: EventTypes | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    include_internal: bool | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class EndpointRead(msgspec.Struct, kw_only=True):
    """A registered endpoint with the secret its receiver verifies signatures with."""

    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    secret: str
    include_internal: bool
    is_active: bool
    failing_since: datetime | None
    disabled_at: datetime | None
    created_at: datetime


class AttemptRead(msgspec.Struct, kw_only=True):
    """One try at a delivery."""

    attempted_at: datetime
    status_code: Annotated[int, msgspec.Meta(ge=0, le=999)] | None
    error: str | None
    duration_ms: Count


class DeliveryRead(msgspec.Struct, kw_only=True):
    """One event for one endpoint; `webhook_id` is the header every attempt carries."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    webhook_id: str
    event_type: str
    payload: dict[str, Any]
    state: DeliveryState
    attempts: Count
    next_attempt_at: datetime | None
    last_status_code: Annotated[int, msgspec.Meta(ge=0, le=999)] | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptRead] | None = None


def endpoint_read(endpoint: WebhookEndpoint) -> EndpointRead:
    return EndpointRead(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types),
        secret=endpoint.secret,
        include_internal=endpoint.include_internal,
        is_active=endpoint.is_active,
        failing_since=endpoint.failing_since,
        disabled_at=endpoint.disabled_at,
        created_at=endpoint.created_at,
    )


def delivery_read(
    delivery: WebhookDelivery, attempts: list[WebhookAttempt] | None = None
) -> DeliveryRead:
    from fsm.webhooks.delivery import webhook_id

    return DeliveryRead(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        webhook_id=webhook_id(delivery.id),
        event_type=delivery.event_type,
        payload=delivery.payload,
        state=delivery.state,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at
        if delivery.state is DeliveryState.PENDING
        else None,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        attempt_log=None
        if attempts is None
        else [
            AttemptRead(
                attempted_at=a.attempted_at,
                status_code=a.status_code,
                error=a.error,
                duration_ms=a.duration_ms,
            )
            for a in attempts
        ],
    )
