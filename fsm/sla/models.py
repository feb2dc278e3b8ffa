"""SLA policies and the business calendars their clocks run on."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fsm.db import Base, IdMixin, TimestampMixin


class SlaCalendar(IdMixin, TimestampMixin, Base):
    """Working days and hours in a timezone, with holidays."""

    __tablename__ = "sla_calendars"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    # [{"weekday": 0, "start": "08:00", "end": "17:00"}, ...]; "24:00" ends at midnight.
    hours: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    # ["2026-12-25", ...], local dates
    holidays: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")


class SlaPolicy(IdMixin, TimestampMixin, Base):
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
    )

    name: Mapped[str] = mapped_column(String(200), unique=True)
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

    calendar: Mapped[SlaCalendar | None] = relationship(lazy="joined")
