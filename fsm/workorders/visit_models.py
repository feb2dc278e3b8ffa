"""Visits: one engineer's on-site appointment for a work order, and its status trail.

The rows live with the work order they belong to: its status, its queue and its replies read
them. The rules that plan, assign and move a visit are `fsm.visits`, one layer above.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import WKBElement
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    String,
    Table,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fsm.db import Base, IdMixin, TimestampMixin, value_enum
from fsm.geo import point_column_type
from fsm.skills.models import Skill


class VisitStatus(enum.StrEnum):
    """Where a visit stands."""

    PLANNED = "planned"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


OPEN_VISIT_STATUSES = frozenset(
    {VisitStatus.PLANNED, VisitStatus.ASSIGNED, VisitStatus.EN_ROUTE, VisitStatus.ON_SITE}
)


visit_skills = Table(
    "visit_skills",
    Base.metadata,
    Column("visit_id", ForeignKey("visits.id", ondelete="CASCADE"), primary_key=True),
    Column("skill_id", ForeignKey("skills.id", ondelete="RESTRICT"), primary_key=True, index=True),
)


class Visit(IdMixin, TimestampMixin, Base):
    """The dispatchable unit: a time window, a duration, skills and (once assigned) an engineer."""

    __tablename__ = "visits"
    __table_args__ = (
        CheckConstraint("window_starts_at < window_ends_at", name="window_is_forward"),
        CheckConstraint("estimated_minutes > 0", name="estimated_minutes_positive"),
        CheckConstraint(
            "labour_minutes IS NULL OR labour_minutes >= 0", name="labour_not_negative"
        ),
        # An engineer's day: their visits by planned start.
        Index("ix_visits_engineer_id_planned_start_at", "engineer_id", "planned_start_at"),
        Index("ix_visits_status_window_starts_at", "status", "window_starts_at"),
        # A month's completed work (contract usage, labour margin), by when it was done.
        Index(
            "ix_visits_completed_at",
            "completed_at",
            postgresql_where=text("status = 'completed'"),
        ),
        CheckConstraint(
            "(signed_by_name IS NULL) = (signed_at IS NULL)", name="signature_has_name_and_time"
        ),
    )

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[VisitStatus] = mapped_column(value_enum(VisitStatus, "visit_status"))
    window_starts_at: Mapped[datetime]
    window_ends_at: Mapped[datetime]
    estimated_minutes: Mapped[int]
    # The hours within the window work may start, per weekday in the site's time (the shape
    # of a site's opening hours; fsm/visits/windows.py); empty: the whole window.
    weekly_hours: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
    engineer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("engineers.id", ondelete="RESTRICT")
    )
    planned_start_at: Mapped[datetime | None]
    route_position: Mapped[int | None]
    labour_minutes: Mapped[int | None]
    completed_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    # What the engineer wrote for the client on completion; the internal note never is.
    client_summary: Mapped[str | None] = mapped_column(String(2000))
    # The client's signature at completion: an image through the photo flow, who and when.
    signature_photo_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("photos.id", ondelete="SET NULL", use_alter=True)
    )
    signed_by_name: Mapped[str | None] = mapped_column(String(200))
    signed_at: Mapped[datetime | None]
    # A dispatcher's lock: planning keeps the visit with this engineer and/or at this start.
    locked_engineer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("engineers.id", ondelete="RESTRICT"), index=True
    )
    locked_start_at: Mapped[datetime | None]
    # Bumped on every change; a dispatch plan built on an older version is refused.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    required_skills: Mapped[list[Skill]] = relationship(
        secondary=visit_skills, lazy="selectin", order_by=Skill.code
    )

    __mapper_args__ = {"version_id_col": version}


class VisitStatusEvent(Base):
    """One status change of a visit: who, when (server and device), and where."""

    __tablename__ = "visit_status_events"
    __table_args__ = (
        Index("ix_visit_status_events_visit_id_id", "visit_id", "id"),
        # Utilisation reads a team's events of some weeks by when they happened.
        Index("ix_visit_status_events_at", text("coalesce(device_at, occurred_at)")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"))
    from_status: Mapped[VisitStatus | None] = mapped_column(value_enum(VisitStatus, "visit_status"))
    to_status: Mapped[VisitStatus] = mapped_column(value_enum(VisitStatus, "visit_status"))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    occurred_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    device_at: Mapped[datetime | None]
    location: Mapped[WKBElement | None] = mapped_column(point_column_type())
    note: Mapped[str | None] = mapped_column(String(500))

    visit: Mapped[Visit] = relationship()
