"""Admin endpoints for webhooks: register endpoints, read the delivery log, replay."""

from __future__ import annotations

import uuid
from typing import Annotated, TypeVar

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from fsm.auth.guards import requires_admin
from fsm.auth.principal import Principal
from fsm.pagination import PageOut, PageRequest, page_out
from fsm.schemas import LimitQuery, OffsetQuery
from fsm.webhooks.models import DeliveryState
from fsm.webhooks.schemas import (
    DeliveryRead,
    EndpointCreate,
    EndpointRead,
    EndpointUpdate,
    delivery_read,
    endpoint_read,
)
from fsm.webhooks.service import EndpointChanges, EndpointDraft, WebhookService

T = TypeVar("T")


def _given(value: T | msgspec.UnsetType) -> T | None:
    return None if isinstance(value, msgspec.UnsetType) else value


class WebhookController(Controller):
    """Webhooks: admins register endpoints per event type and follow their deliveries."""

    path = "/api/v1/webhooks"
    tags = ["webhooks"]
    guards = [requires_admin]

    @post("/endpoints", operation_id="CreateWebhookEndpoint", status_code=201)
    async def create_webhook_endpoint(
        self,
        webhooks: NamedDependency[WebhookService],
        principal: NamedDependency[Principal],
        data: JSONBody[EndpointCreate],
    ) -> EndpointRead:
        """Register an endpoint; the answer carries its signing secret."""
        endpoint = await webhooks.register(
            EndpointDraft(
                url=data.url,
                event_types=data.event_types,
                description=data.description,
                include_internal=data.include_internal,
            ),
            actor=principal,
        )
        return endpoint_read(endpoint)

    @get("/endpoints", operation_id="ListWebhookEndpoints")
    async def list_webhook_endpoints(
        self,
        webhooks: NamedDependency[WebhookService],
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[EndpointRead]:
        """Every registered endpoint."""
        page = await webhooks.list_endpoints(PageRequest(limit=limit, offset=offset))
        return page_out(page, endpoint_read)

    @get("/endpoints/{endpoint_id:uuid}", operation_id="GetWebhookEndpoint")
    async def get_webhook_endpoint(
        self, webhooks: NamedDependency[WebhookService], endpoint_id: FromPath[uuid.UUID]
    ) -> EndpointRead:
        """One endpoint."""
        return endpoint_read(await webhooks.get_endpoint(endpoint_id))

    @patch("/endpoints/{endpoint_id:uuid}", operation_id="UpdateWebhookEndpoint")
    async def update_webhook_endpoint(
        self,
        webhooks: NamedDependency[WebhookService],
        endpoint_id: FromPath[uuid.UUID],
        data: JSONBody[EndpointUpdate],
    ) -> EndpointRead:
        """Change an endpoint, or enable (`is_active: true`) or disable it."""
        changes = EndpointChanges(
            url=_given(data.url),
            event_types=_given(data.event_types),
            description=_given(data.description),
            include_internal=_given(data.include_internal),
            is_active=_given(data.is_active),
        )
        return endpoint_read(await webhooks.change_endpoint(endpoint_id, changes))

    @delete("/endpoints/{endpoint_id:uuid}", operation_id="DeleteWebhookEndpoint")
    async def delete_webhook_endpoint(
        self, webhooks: NamedDependency[WebhookService], endpoint_id: FromPath[uuid.UUID]
    ) -> None:
        """Remove an endpoint and its delivery log."""
        await webhooks.delete_endpoint(endpoint_id)

    @get("/endpoints/{endpoint_id:uuid}/deliveries", operation_id="ListWebhookDeliveries")
    async def list_webhook_deliveries(
        self,
        webhooks: NamedDependency[WebhookService],
        endpoint_id: FromPath[uuid.UUID],
        delivery_state: Annotated[
            DeliveryState | None,
            QueryParameter(name="state", description="Only deliveries in this state"),
        ] = None,
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[DeliveryRead]:
        """The endpoint's delivery log, newest first."""
        page = await webhooks.deliveries(
            endpoint_id, PageRequest(limit=limit, offset=offset), state=delivery_state
        )
        return page_out(page, lambda d: delivery_read(d))

    @get("/deliveries/{delivery_id:uuid}", operation_id="GetWebhookDelivery")
    async def get_webhook_delivery(
        self, webhooks: NamedDependency[WebhookService], delivery_id: FromPath[uuid.UUID]
    ) -> DeliveryRead:
        """One delivery with every attempt at it."""
        return delivery_read(*await webhooks.delivery(delivery_id))

    @post(
        "/deliveries/{delivery_id:uuid}/replay",
        operation_id="ReplayWebhookDelivery",
        status_code=202,
    )
    async def replay_webhook_delivery(
        self, webhooks: NamedDependency[WebhookService], delivery_id: FromPath[uuid.UUID]
    ) -> DeliveryRead:
        """Send a delivery again now (same body and webhook-id), with a fresh retry schedule."""
        return delivery_read(*await webhooks.replay(delivery_id))
