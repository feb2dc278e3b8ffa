"""Every message the mail-in endpoint took, and what became of it."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, IdMixin, value_enum


class InboundMailState(enum.StrEnum):
    """Where a received message stands."""

    # Turned into a work order or a comment on one.
    ACCEPTED = "accepted"
    # Waiting for a dispatcher to assign it (or discard it).
    HELD = "held"
    DISCARDED = "discarded"


class HoldReason(enum.StrEnum):
    """Why a message waits for a dispatcher instead of opening a work order by itself."""

    UNKNOWN_SENDER = "unknown_sender"
    # The sender's domain belongs to more than one client.
    AMBIGUOUS_SENDER = "ambiguous_sender"
    # The client has several sites (or none): a person picks the site.
    SITE_UNKNOWN = "site_unknown"
    # A reply naming a work order of another company than the sender's.
    NOT_THE_SENDERS_ORDER = "not_the_senders_order"


class InboundMail(IdMixin, Base):
    """One message to the support address; its Message-ID is unique, so a resend is a no-op."""

    __tablename__ = "inbound_mails"
    __table_args__ = (Index("ix_inbound_mails_state_received_at", "state", "received_at"),)

    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    sender: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    state: Mapped[InboundMailState] = mapped_column(
        value_enum(InboundMailState, "inbound_mail_state")
    )
    hold_reason: Mapped[HoldReason | None] = mapped_column(
        value_enum(HoldReason, "inbound_mail_hold_reason")
    )
    # The sender's company when it is known (a held message may still need its site).
    client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL")
    )
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="SET NULL"), index=True
    )
    image_count: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # The message as received, kept while it is held so its images survive the assignment.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]
