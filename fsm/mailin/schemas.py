"""Received-mail wire types (the dispatcher's queue)."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from fsm.mailin.models import HoldReason, InboundMail, InboundMailState
from fsm.schemas import Count

# What a list shows of a message's text; the whole text is in the one-message answer.
EXCERPT_CHARS = 500


class InboundMailRead(msgspec.Struct, kw_only=True):
    """A message the mail-in endpoint received, and what became of it."""

    id: uuid.UUID
    message_id: str
    sender: str
    subject: str
    body: str
    received_at: datetime
    state: InboundMailState
    hold_reason: HoldReason | None
    client_id: uuid.UUID | None
    work_order_id: uuid.UUID | None
    image_count: Count
    decided_by_id: uuid.UUID | None
    decided_at: datetime | None


class InboundMailAssign(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where a held message goes: a new work order at a site, or a comment on a work order."""

    site_id: uuid.UUID | None = None
    work_order_id: uuid.UUID | None = None


def inbound_mail_read(record: InboundMail, *, full: bool = True) -> InboundMailRead:
    """The wire form of a received message (its text cut short in lists)."""
    return InboundMailRead(
        id=record.id,
        message_id=record.message_id,
        sender=record.sender,
        subject=record.subject,
        body=record.body if full else record.body[:EXCERPT_CHARS],
        received_at=record.received_at,
        state=record.state,
        hold_reason=record.hold_reason,
        client_id=record.client_id,
        work_order_id=record.work_order_id,
        image_count=record.image_count,
        decided_by_id=record.decided_by_id,
        decided_at=record.decided_at,
    )
