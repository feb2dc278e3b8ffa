"""Webhook endpoints as admins manage them, and the delivery log they read and replay from."""

from __future__ import annotations

import base64
import builtins
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.principal import Principal
from fsm.db import utcnow
from fsm.errors import NotFound, field_error
from fsm.outbox import EventKind
from fsm.pagination import Page, PageRequest
from fsm.settings import WebhookSettings
from fsm.webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from fsm.webhooks.targets import TargetRefused, check_target

EVENT_TYPES = frozenset(kind.value for kind in EventKind)


class WebhookEndpointNotFound(NotFound):
    """No such webhook endpoint."""


class WebhookDeliveryNotFound(NotFound):
    """No such webhook delivery."""


@dataclass(frozen=True, slots=True)
class EndpointDraft:
    """A webhook endpoint to register, already parsed."""

    url: str
    event_types: Sequence[str]
    description: str = ""
    include_internal: bool = False


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    """What an admin changes on an endpoint; None leaves a field as it is."""

    url: str | None = None
    event_types: Sequence[str] | None = None
    description: str | None = None
    include_internal: bool | None = None
    is_active: bool | None = None


def new_secret() -> str:
    """A fresh Standard Webhooks signing secret (24 random bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class WebhookService:
    """Endpoints and deliveries; every call is an admin's (the controller's guard)."""

    def __init__(self, session: AsyncSession, settings: WebhookSettings) -> None:
        self.session = session
        self.settings = settings

    async def register(self, draft: EndpointDraft, *, actor: Principal) -> WebhookEndpoint:
        """Register an endpoint for some event types; its signing secret is made here."""
        await self._check_url(draft.url)
        endpoint = WebhookEndpoint(
            url=draft.url,
            description=draft.description,
            event_types=_event_types(draft.event_types),
            secret=new_secret(),
            include_internal=draft.include_internal,
            is_active=True,
            created_by_id=actor.user_id,
        )
        self.session.add(endpoint)
        await self.session.flush()
        return endpoint

    async def list_endpoints(self, page: PageRequest) -> Page[WebhookEndpoint]:
        """Every endpoint, oldest first."""
        total = await self.session.scalar(select(func.count()).select_from(WebhookEndpoint))
        rows = await self.session.scalars(
            select(WebhookEndpoint)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Page(items=rows.all(), total=total or 0, limit=page.limit, offset=page.offset)

    async def get_endpoint(
        self, endpoint_id: uuid.UUID, *, for_update: bool = False
    ) -> WebhookEndpoint:
        """One endpoint."""
        endpoint = await self.session.get(
            WebhookEndpoint, endpoint_id, with_for_update=for_update or None
        )
        if endpoint is None:
            raise WebhookEndpointNotFound(f"webhook endpoint {endpoint_id} not found")
        return endpoint

    async def change_endpoint(
        self, endpoint_id: uuid.UUID, changes: EndpointChanges
    ) -> WebhookEndpoint:
        """Change an endpoint; enabling a disabled one forgets its failures."""
        endpoint = await self.get_endpoint(endpoint_id, for_update=True)
        if changes.url is not None:
            await self._check_url(changes.url)
            endpoint.url = changes.url
        if changes.event_types is not None:
            endpoint.event_types = _event_types(changes.event_types)
        if changes.description is not None:
            endpoint.description = changes.description
        if changes.include_internal is not None:
            endpoint.include_internal = changes.include_internal
        if changes.is_active is not None and changes.is_active != endpoint.is_active:
            endpoint.is_active = changes.is_active
            if changes.is_active:
                endpoint.failing_since = None
                endpoint.disabled_at = None
            else:
                endpoint.disabled_at = utcnow()
        await self.session.flush()
        return endpoint

    async def delete_endpoint(self, endpoint_id: uuid.UUID) -> None:
        """Remove an endpoint with its delivery log."""
        endpoint = await self.get_endpoint(endpoint_id, for_update=True)
        await self.session.delete(endpoint)
        await self.session.flush()

    async def deliveries(
        self, endpoint_id: uuid.UUID, page: PageRequest, *, state: DeliveryState | None
    ) -> Page[WebhookDelivery]:
        """An endpoint's deliveries, newest first."""
        await self.get_endpoint(endpoint_id)
        conditions = [WebhookDelivery.endpoint_id == endpoint_id]
        if state is not None:
            conditions.append(WebhookDelivery.state == state)
        total = await self.session.scalar(
            select(func.count()).select_from(WebhookDelivery).where(*conditions)
        )
        rows = await self.session.scalars(
            select(WebhookDelivery)
            .where(*conditions)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Page(items=rows.all(), total=total or 0, limit=page.limit, offset=page.offset)

    async def delivery(
        self, delivery_id: uuid.UUID, *, for_update: bool = False
    ) -> tuple[WebhookDelivery, builtins.list[WebhookAttempt]]:
        """One delivery and its attempts, oldest first."""
        delivery = await self.session.get(
            WebhookDelivery, delivery_id, with_for_update=for_update or None
        )
        if delivery is None:
            raise WebhookDeliveryNotFound(f"webhook delivery {delivery_id} not found")
        attempts = await self.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
        )
        return delivery, list(attempts.all())

    async def replay(
        self, delivery_id: uuid.UUID
    ) -> tuple[WebhookDelivery, builtins.list[WebhookAttempt]]:
        """Send a delivery again, now, with a fresh retry schedule (same body and webhook-id)."""
        delivery, attempts = await self.delivery(delivery_id, for_update=True)
        delivery.state = DeliveryState.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = utcnow()
        await self.session.flush()
        return delivery, attempts

    async def _check_url(self, url: str) -> None:
        try:
            await check_target(url, allow_private=self.settings.allow_private_targets)
        except TargetRefused as exc:
            raise field_error("url", str(exc)) from exc


def _event_types(types: Sequence[str]) -> builtins.list[str]:
    unknown = sorted(set(types) - EVENT_TYPES)
    if unknown:
        raise field_error("event_types", f"unknown event types: {', '.join(unknown)}")
    if not types:
        raise field_error("event_types", "name at least one event type")
    return sorted(set(types))
