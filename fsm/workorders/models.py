"""Work orders and what hangs off them: SLA pauses, timeline events, comments, custom fields."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    FetchedValue,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fsm.db import Base, IdMixin, TimestampMixin, value_enum
from fsm.skills.models import Skill


class WorkOrderType(enum.StrEnum):
    """What kind of work is asked for."""

    REPAIR = "repair"
    MAINTENANCE = "maintenance"
    INSTALLATION = "installation"
    INSPECTION = "inspection"


class Priority(enum.StrEnum):
    """How urgent the work is; internal, never shown to clients."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


class Channel(enum.StrEnum):
    """How the request reached us."""

    CLIENT_APP = "client_app"
    PHONE = "phone"
    EMAIL = "email"
    WEB = "web"
    SCHEDULED = "scheduled"


class WorkOrderStatus(enum.StrEnum):
    """Where a work order stands."""

    NEW = "new"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Visibility(enum.StrEnum):
    """Who may read a timeline event."""

    PUBLIC = "public"
    INTERNAL = "internal"


work_order_skills = Table(
    "work_order_skills",
    Base.metadata,
    Column("work_order_id", ForeignKey("work_orders.id", ondelete="CASCADE"), primary_key=True),
    Column("skill_id", ForeignKey("skills.id", ondelete="RESTRICT"), primary_key=True, index=True),
)


class WorkOrderCounter(Base):
    """The last number handed out in a year; numbers are sequential per year, no gaps."""

    __tablename__ = "work_order_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int]


class WorkOrder(IdMixin, TimestampMixin, Base):
    """A request for work at a client's site, with its SLA clock."""

    __tablename__ = "work_orders"
    __table_args__ = (
        # The dispatcher's queues: open work by the next SLA deadline, per status.
        Index("ix_work_orders_status_sla_next_due_at", "status", "sla_next_due_at", "id"),
        # Open work by next deadline, for the queues over every open status (keyset on id).
        Index(
            "ix_work_orders_open_sla_next_due_at",
            "sla_next_due_at",
            "id",
            postgresql_where=text(
                "status IN ('new', 'scheduled', 'in_progress', 'on_hold', 'reopened')"
            ),
        ),
        # Newest first per client, per site and overall; the id is the keyset tie-breaker.
        Index("ix_work_orders_client_id_created_at_id", "client_id", "created_at", "id"),
        Index("ix_work_orders_site_id_created_at_id", "site_id", "created_at", "id"),
        Index("ix_work_orders_created_at_id", "created_at", "id"),
        # Covering the id: a queue by priority and status counts its matches from the index.
        Index("ix_work_orders_priority_status", "priority", "status", postgresql_include=["id"]),
        # A unit's requests in time (first-time fix looks for the one after a resolution).
        Index("ix_work_orders_equipment_id_created_at", "equipment_id", "created_at"),
        Index("ix_work_orders_contract_id", "contract_id"),
        # "No reaction yet": a small partial index over the orders still waiting for one.
        Index(
            "ix_work_orders_awaiting_reaction",
            "created_at",
            postgresql_where=text("first_response_at IS NULL"),
        ),
        # ... and the same orders by next deadline, the order that queue is read in.
        Index(
            "ix_work_orders_awaiting_reaction_sla_next_due_at",
            "sla_next_due_at",
            "id",
            postgresql_where=text("first_response_at IS NULL"),
        ),
        # The month's resolved orders (first-time fix), read by when they were resolved.
        Index(
            "ix_work_orders_resolved_at",
            "resolved_at",
            postgresql_where=text("resolved_at IS NOT NULL"),
        ),
        # Number or title search ("contains", any case) through trigrams.
        Index(
            "ix_work_orders_title_trgm",
            "title",
            postgresql_using="gin",
            postgresql_ops={"title": "gin_trgm_ops"},
        ),
        Index(
            "ix_work_orders_number_trgm",
            "number",
            postgresql_using="gin",
            postgresql_ops={"number": "gin_trgm_ops"},
        ),
        CheckConstraint("reopen_count >= 0", name="reopen_count_not_negative"),
    )

    number: Mapped[str] = mapped_column(String(20), unique=True)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"))
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    equipment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("equipment.id", ondelete="RESTRICT")
    )
    contract_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT")
    )
    # Set on planned maintenance: the service period this order fulfils. Unique, so two
    # generator runs can never open the same period twice (no FK: periods point back here).
    service_period_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    type: Mapped[WorkOrderType] = mapped_column(value_enum(WorkOrderType, "work_order_type"))
    priority: Mapped[Priority] = mapped_column(value_enum(Priority, "work_order_priority"))
    channel: Mapped[Channel] = mapped_column(value_enum(Channel, "work_order_channel"))
    status: Mapped[WorkOrderStatus] = mapped_column(
        value_enum(WorkOrderStatus, "work_order_status")
    )
    # The status to return to when a hold ends.
    status_before_hold: Mapped[WorkOrderStatus | None] = mapped_column(
        value_enum(WorkOrderStatus, "work_order_status")
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    # Who asked for it at the client (a request typed in from a phone call).
    requester_contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("client_contacts.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    sla_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sla_policies.id", ondelete="SET NULL")
    )
    # The version of the policy the order runs on: later edits of the policy do not touch it.
    sla_policy_version: Mapped[int | None]
    reaction_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    is_reaction_breached: Mapped[bool] = mapped_column(default=False, server_default="false")
    is_resolution_breached: Mapped[bool] = mapped_column(default=False, server_default="false")
    # Business minutes the clock stood still (closed pauses only; an open pause adds to it).
    paused_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    # The deadline that matters now (reaction until first response, then resolution);
    # NULL while paused or once fulfilled. Kept by the service, sorted on by the queues.
    sla_next_due_at: Mapped[datetime | None]
    sla_at_risk_notified_at: Mapped[datetime | None]
    reopen_count: Mapped[int] = mapped_column(default=0, server_default="0")

    required_skills: Mapped[list[Skill]] = relationship(
        secondary=work_order_skills, lazy="selectin", order_by=Skill.code
    )
    pauses: Mapped[list[SlaPause]] = relationship(
        back_populates="work_order",
        lazy="selectin",
        order_by="SlaPause.paused_at",
        cascade="all, delete-orphan",
    )
    rating: Mapped[WorkOrderRating | None] = relationship(lazy="selectin", viewonly=True)


class SlaPause(IdMixin, Base):
    """One stretch during which the SLA clock stood still (waiting on the client)."""

    __tablename__ = "sla_pauses"
    __table_args__ = (
        CheckConstraint(
            "resumed_at IS NULL OR resumed_at >= paused_at", name="resumes_after_pause"
        ),
        # At most one running pause per work order.
        Index(
            "uq_sla_pauses_running",
            "work_order_id",
            unique=True,
            postgresql_where=text("resumed_at IS NULL"),
        ),
    )

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    paused_at: Mapped[datetime]
    resumed_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(500))

    work_order: Mapped[WorkOrder] = relationship(back_populates="pauses")


class WorkOrderEvent(Base):
    """One entry of a work order's append-only timeline."""

    __tablename__ = "work_order_events"
    __table_args__ = (Index("ix_work_order_events_work_order_id_id", "work_order_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(50))
    visibility: Mapped[Visibility] = mapped_column(value_enum(Visibility, "event_visibility"))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    occurred_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")


class Comment(IdMixin, Base):
    """A note on a work order from staff or the client; internal ones stay in the back office."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_work_order_id_created_at", "work_order_id", "created_at"),)

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE")
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    is_internal: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class CustomFieldKind(enum.StrEnum):
    """The type of a custom field's value."""

    TEXT = "text"
    LONG_TEXT = "long_text"
    NUMBER = "number"
    DATE = "date"
    CHECKBOX = "checkbox"
    DROPDOWN = "dropdown"
    DEPENDENT_DROPDOWN = "dependent_dropdown"


class RequiredAt(enum.StrEnum):
    """When a custom field must have a value."""

    CREATION = "creation"
    RESOLUTION = "resolution"
    NEVER = "never"


class CustomFieldDefinition(IdMixin, Base):
    """A typed extra field on work orders of one type."""

    __tablename__ = "custom_field_definitions"
    __table_args__ = (UniqueConstraint("work_order_type", "key"),)

    work_order_type: Mapped[WorkOrderType] = mapped_column(
        value_enum(WorkOrderType, "work_order_type")
    )
    key: Mapped[str] = mapped_column(String(50))
    label: Mapped[str] = mapped_column(String(200))
    kind: Mapped[CustomFieldKind] = mapped_column(value_enum(CustomFieldKind, "custom_field_kind"))
    required_at: Mapped[RequiredAt] = mapped_column(
        value_enum(RequiredAt, "custom_field_required_at")
    )
    # dropdown: {"choices": [...]};
    # dependent_dropdown: {"depends_on": key, "choices": {parent_value: [...]}}
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    position: Mapped[int] = mapped_column(default=0, server_default="0")
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")


class ReplyTemplate(IdMixin, TimestampMixin, Base):
    """A canned staff reply with placeholders such as {client_name}."""

    __tablename__ = "reply_templates"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[str] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")


class WorkOrderRating(IdMixin, Base):
    """How the client rated a resolved work order (1 to 5); one per order."""

    __tablename__ = "work_order_ratings"
    __table_args__ = (
        CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
        # The satisfaction report reads a month of ratings by when they were given.
        Index("ix_work_order_ratings_created_at", "created_at"),
    )

    # Unique: a second rating is refused here even if two arrive at once.
    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), unique=True
    )
    # The order's client, copied in by the database on insert (migration 0023's trigger):
    # the satisfaction report counts a month of ratings per client without the orders.
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), server_default=FetchedValue()
    )
    rated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
