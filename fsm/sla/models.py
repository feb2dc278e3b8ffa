"""SLA policies and the business calendars their clocks run on."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fsm.db import Base, IdMixin, TimestampMixin


class _Versioned:
    """A first version is its own family: its id is chosen here so `family_id` can be it."""

    def __init__(self, **values: Any) -> None:
        values.setdefault("id", uuid.uuid4())
        values.setdefault("family_id", values["id"])
        super().__init__(**values)


class SlaCalendar(_Versioned, IdMixin, TimestampMixin, Base):
    """Working days and hours in a timezone, with holidays."""

    __tablename__ = "sla_calendars"
    __table_args__ = (
        Index(
            "uq_sla_calendars_current_name",
            "name",
            unique=True,
            postgresql_where=text("superseded_at IS NULL"),
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    # [{"weekday": 0, "start": "08:00", "end": "17:00"}, ...]; "24:00" ends at midnight.
    hours: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    # ["2026-12-25", ...], local dates
    holidays: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    # Versions: an edit writes the next version and supersedes this one, so what was
    # opened on a version keeps its terms. Every version of one calendar or policy shares
    # `family_id` (the first version's id); the current one has no `superseded_at`.
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    superseded_at: Mapped[datetime | None]


class SlaPolicy(_Versioned, IdMixin, TimestampMixin, Base):
    """Reaction and resolution targets per priority, on a calendar or around the clock."""

    __tablename__ = "sla_policies"
    __table_args__ = (
        # One default policy at most: used when no contract names one.
        Index(
            "uq_sla_policies_default",
            "is_default",
            unique=True,
            postgresql_where=text("is_default"),
        ),
        Index(
            "uq_sla_policies_current_name",
            "name",
            unique=True,
            postgresql_where=text("superseded_at IS NULL"),
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    # NULL: targets count calendar minutes around the clock (24/7).
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sla_calendars.id", ondelete="RESTRICT")
    )
    # {"critical": {"reaction_minutes": 30, "resolution_minutes": 240}, ...} for every priority.
    targets: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Statuses that stop the clock, and statuses that fulfil the reaction target.
    pause_statuses: Mapped[list[str]] = mapped_column(JSONB)
    reaction_statuses: Mapped[list[str]] = mapped_column(JSONB)
    is_default: Mapped[bool] = mapped_column(default=False, server_default="false")
    # Versions: an edit writes the next version and supersedes this one, so what was
    # opened on a version keeps its terms. Every version of one calendar or policy shares
    # `family_id` (the first version's id); the current one has no `superseded_at`.
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    superseded_at: Mapped[datetime | None]

    calendar: Mapped[SlaCalendar | None] = relationship(lazy="joined")
