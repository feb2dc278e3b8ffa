"""Per-user notification preferences and the mail deliveries made from outbox events."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, value_enum


class NotificationPreference(Base):
    """A user's choice for one kind of event; no row means the kind's default (by mail)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(50), primary_key=True)
    by_mail: Mapped[bool]


class DeliveryStatus(enum.StrEnum):
    """A mail's life: waiting to be sent, sent, or given up after its retries."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class MailDelivery(Base):
    """One mail to one user about one outbox event (sent at most once by a worker)."""

    __tablename__ = "mail_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        Index(
            "ix_mail_deliveries_pending", "created_at", postgresql_where=text("status = 'pending'")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("outbox_events.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(5))
    status: Mapped[DeliveryStatus] = mapped_column(
        value_enum(DeliveryStatus, "mail_delivery_status"),
        default=DeliveryStatus.PENDING,
        server_default="pending",
    )
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    sent_at: Mapped[datetime | None]
