"""The outbox: events worth telling, written in the transaction of the change that caused them.

A domain service calls `record()` inside its unit of work, beside the change itself, so a
rolled-back change tells no one and a committed one is told even if the process dies right
after the commit. Nothing is sent here: consumers (mail in `fsm.notifications`, streams,
webhooks) read the outbox afterwards, each at its own position, from worker processes.

Writing (any service, inside its unit of work; flushes nothing, commits nothing)::

    record(session, EventKind.VISIT_SCHEDULED, client_id=..., work_order_id=..., visit_id=...,
           engineer_id=..., payload={"number": ..., "window_starts_at": ...},
           staff={"priority": "high"})

- `payload` is client-safe: only what the company's own users may read (numbers, titles,
  dates, the engineer's first name). Anything internal (priorities, SLA deadlines, internal
  notes, reasons, rates) goes in `staff`, which only staff and the engineer concerned see.
- `client_id` is the company the event concerns (the tenant); `work_order_id`, `visit_id`
  and `engineer_id` say what and whom (any may be None). `audience` says who the event is
  for: `Audience.CLIENT` (the company's users may be told), `Audience.STAFF` (back office
  only) or `Audience.ENGINEER` (the engineer concerned, and staff). A client surface must
  show only `CLIENT` events of its own `client_id`, and only their `payload`.
- The commit sends `NOTIFY fsm_outbox` (payload: the event id), so listeners wake at once;
  a rolled-back transaction notifies no one.

Reading in order (a change feed): every event has an `id` (bigint, increasing in insertion
order) and the `txid` of its transaction. Ids alone are not a safe cursor, since a slow
transaction may commit an older id after a newer one was read. `read_after(session, after)`
therefore returns only events of transactions older than every transaction still running,
ordered by `Position(txid, id)`: a position, once passed, is never followed by an event
that sorts before it. `Position.token` / `Position.parse` turn it into a string cursor
(`"<txid>.<id>"`, e.g. for SSE `Last-Event-ID`).

Consuming exactly once (a delivery channel): `consume(session, "mail", limit=...)` takes
the named consumer's row lock (SKIP LOCKED: another worker busy on it means `None`), reads
the events after its position and moves the position past them, all in the caller's
transaction: whatever the caller writes for those events (deliveries to send) commits
together with the new position, or neither does.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, select, text, tuple_
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, utcnow

__all__ = [
    "CHANNEL",
    "STREAM_ONLY",
    "Audience",
    "EventKind",
    "OutboxConsumer",
    "OutboxEvent",
    "Position",
    "consume",
    "read_after",
    "record",
]

# The LISTEN/NOTIFY channel woken by each committed event.
CHANNEL = "fsm_outbox"


class EventKind(enum.StrEnum):
    """What happened; each kind has one audience (see `AUDIENCES`)."""

    # For the client's users.
    REQUEST_RECEIVED = "request_received"
    VISIT_SCHEDULED = "visit_scheduled"
    ENGINEER_EN_ROUTE = "engineer_en_route"
    VISIT_COMPLETED = "visit_completed"
    REQUEST_RESOLVED = "request_resolved"
    # For dispatchers.
    SLA_AT_RISK = "sla_at_risk"
    SLA_BREACHED = "sla_breached"
    CRITICAL_REQUEST = "critical_request"
    LOW_RATING = "low_rating"
    CANNOT_COMPLETE = "cannot_complete"
    # For the engineer concerned.
    JOB_ADDED = "job_added"
    JOB_REMOVED = "job_removed"
    JOB_TIME_CHANGED = "job_time_changed"
    # For the client's users, on their live stream (and for webhooks).
    REQUEST_STATUS_CHANGED = "request_status_changed"
    PUBLIC_COMMENT_ADDED = "public_comment_added"


class Audience(enum.StrEnum):
    """Who may be told of an event (staff may always read everything)."""

    CLIENT = "client"
    STAFF = "staff"
    ENGINEER = "engineer"


AUDIENCES: Mapping[EventKind, Audience] = {
    EventKind.REQUEST_RECEIVED: Audience.CLIENT,
    EventKind.VISIT_SCHEDULED: Audience.CLIENT,
    EventKind.ENGINEER_EN_ROUTE: Audience.CLIENT,
    EventKind.VISIT_COMPLETED: Audience.CLIENT,
    EventKind.REQUEST_RESOLVED: Audience.CLIENT,
    EventKind.SLA_AT_RISK: Audience.STAFF,
    EventKind.SLA_BREACHED: Audience.STAFF,
    EventKind.CRITICAL_REQUEST: Audience.STAFF,
    EventKind.LOW_RATING: Audience.STAFF,
    EventKind.CANNOT_COMPLETE: Audience.STAFF,
    EventKind.JOB_ADDED: Audience.ENGINEER,
    EventKind.JOB_REMOVED: Audience.ENGINEER,
    EventKind.JOB_TIME_CHANGED: Audience.ENGINEER,
    EventKind.REQUEST_STATUS_CHANGED: Audience.CLIENT,
    EventKind.PUBLIC_COMMENT_ADDED: Audience.CLIENT,
}

# Told on the live streams and by webhooks, never by mail: a mail for every move of a status
# or every comment would be noise beside the milestones that have their own kinds.
STREAM_ONLY: frozenset[EventKind] = frozenset(
    {EventKind.REQUEST_STATUS_CHANGED, EventKind.PUBLIC_COMMENT_ADDED}
)


class OutboxEvent(Base):
    """One event to tell, committed with the change that caused it."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_txid_id", "txid", "id"),
        Index("ix_outbox_events_client_id_id", "client_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The writing transaction (xid8 read as bigint): the order consumers read in.
    txid: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text::bigint)")
    )
    kind: Mapped[str] = mapped_column(String(50))
    audience: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    # No foreign keys: an event outlives what it tells of (a deleted work order was still
    # scheduled when it was told).
    client_id: Mapped[uuid.UUID | None]
    work_order_id: Mapped[uuid.UUID | None]
    visit_id: Mapped[uuid.UUID | None]
    engineer_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    staff: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")

    @property
    def position(self) -> Position:
        return Position(self.txid, self.id)


class OutboxConsumer(Base):
    """A reader's position in the outbox (mail, webhooks, ...), moved with what it wrote."""

    __tablename__ = "outbox_consumers"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger, server_default="0")
    event_id: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


@dataclass(frozen=True, order=True)
class Position:
    """A place in the outbox: after every event of a (txid, id) lower than it."""

    txid: int
    event_id: int

    @property
    def token(self) -> str:
        return f"{self.txid}.{self.event_id}"

    @classmethod
    def parse(cls, token: str) -> Position | None:
        """The position a `token` names, or None when it is not one."""
        txid, dot, event_id = token.partition(".")
        if not dot or not txid.isdigit() or not event_id.isdigit() or len(token) > 41:
            return None
        return cls(int(txid), int(event_id))


START = Position(0, 0)


def record(
    session: AsyncSession,
    kind: EventKind,
    *,
    client_id: uuid.UUID | None,
    work_order_id: uuid.UUID | None = None,
    visit_id: uuid.UUID | None = None,
    engineer_id: uuid.UUID | None = None,
    payload: Mapping[str, Any] | None = None,
    staff: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> OutboxEvent:
    """Add an event to the session's transaction (written at its next flush)."""
    event = OutboxEvent(
        kind=kind.value,
        audience=AUDIENCES[kind].value,
        occurred_at=occurred_at or utcnow(),
        client_id=client_id,
        work_order_id=work_order_id,
        visit_id=visit_id,
        engineer_id=engineer_id,
        payload=dict(payload or {}),
        staff=dict(staff or {}),
    )
    session.add(event)
    session.info["outbox_written"] = True
    return event


async def notify_listeners(session: AsyncSession) -> None:
    """Ask PostgreSQL to wake the outbox's listeners when this transaction commits."""
    await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


async def _horizon(session: AsyncSession) -> int:
    """The oldest transaction still running: events of older ones are all settled."""
    xmin = await session.scalar(
        text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    )
    return int(xmin or 0)


async def read_after(
    session: AsyncSession, after: Position | None, *, limit: int = 500
) -> Sequence[OutboxEvent]:
    """Settled events after `after` (from the start when None), in position order."""
    horizon = await _horizon(session)
    start = after or START
    stmt = (
        select(OutboxEvent)
        .where(
            OutboxEvent.txid < horizon,
            tuple_(OutboxEvent.txid, OutboxEvent.id) > tuple_(start.txid, start.event_id),
        )
        .order_by(OutboxEvent.txid, OutboxEvent.id)
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


async def consume(
    session: AsyncSession, name: str, *, limit: int = 500
) -> Sequence[OutboxEvent] | None:
    """The next events for consumer `name`, its position moved past them in this transaction.

    None when another transaction holds the consumer (a worker busy on it): try later.
    """
    # The horizon first, before this transaction takes any lock (and so a transaction id).
    horizon = await _horizon(session)
    locked = (
        select(OutboxConsumer)
        .where(OutboxConsumer.name == name)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    consumer = (await session.scalars(locked)).one_or_none()
    if consumer is None:
        if await session.scalar(select(OutboxConsumer.name).where(OutboxConsumer.name == name)):
            return None
        # A new consumer starts at the beginning of the outbox.
        await session.execute(
            insert(OutboxConsumer).values(name=name).on_conflict_do_nothing(index_elements=["name"])
        )
        consumer = (await session.scalars(locked)).one_or_none()
        if consumer is None:
            return None
    stmt = (
        select(OutboxEvent)
        .where(
            OutboxEvent.txid < horizon,
            tuple_(OutboxEvent.txid, OutboxEvent.id) > tuple_(consumer.txid, consumer.event_id),
        )
        .order_by(OutboxEvent.txid, OutboxEvent.id)
        .limit(limit)
    )
    events = (await session.scalars(stmt)).all()
    if events:
        consumer.txid, consumer.event_id = events[-1].txid, events[-1].id
        consumer.updated_at = utcnow()
        await session.flush()
    return events
