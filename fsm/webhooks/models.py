"""Webhook endpoints, one delivery per event and endpoint, and every attempt at it."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, IdMixin, TimestampMixin, value_enum


class DeliveryState(enum.StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    # Every attempt failed; a manual replay makes it pending again.
    FAILED = "failed"


class WebhookEndpoint(IdMixin, TimestampMixin, Base):
    """A URL an admin registered for some event types, with the secret that signs for it."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="", server_default="")
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(50)))
    # Standard Webhooks secret ("whsec_" + base64): the receiver verifies with it.
    secret: Mapped[str] = mapped_column(String(100))
    # Send the office-only facts (priorities, SLA deadlines) too; off by default.
    include_internal: Mapped[bool] = mapped_column(default=False, server_default="false")
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")
    # Since when every attempt failed (None after a success); too long and it is disabled.
    failing_since: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class WebhookDelivery(IdMixin, Base):
    """One event for one endpoint: its body is fixed when made, its id is the webhook-id."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The sender's queue: pending deliveries by when they are due.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_webhook_deliveries_endpoint_id_created_at", "endpoint_id", "created_at"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    # The outbox event told (no foreign key: the outbox may be trimmed).
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[DeliveryState] = mapped_column(
        value_enum(DeliveryState, "webhook_delivery_state")
    )
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # When the next attempt is due; while one runs, also its lease.
    next_attempt_at: Mapped[datetime]
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(IdMixin, Base):
    """One try at sending a delivery: the log an admin reads."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index("ix_webhook_attempts_delivery_id_attempted_at", "delivery_id", "attempted_at"),
    )

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
