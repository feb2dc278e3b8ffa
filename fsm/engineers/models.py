"""Engineers: the people in the field, their skills, home base and weekly shifts."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, time

from geoalchemy2 import WKBElement
from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fsm.db import Base, IdMixin, TimestampMixin, utcnow, value_enum
from fsm.geo import point_column_type
from fsm.skills.models import Skill
from fsm.users.models import User

engineer_skills = Table(
    "engineer_skills",
    Base.metadata,
    Column("engineer_id", ForeignKey("engineers.id", ondelete="CASCADE"), primary_key=True),
    Column("skill_id", ForeignKey("skills.id", ondelete="RESTRICT"), primary_key=True, index=True),
)


class Engineer(IdMixin, TimestampMixin, Base):
    """A field engineer: a user with skills, a home base and a weekly shift."""

    __tablename__ = "engineers"
    __table_args__ = (CheckConstraint("max_visits_per_day > 0", name="max_visits_positive"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), unique=True
    )
    phone: Mapped[str | None] = mapped_column(String(50))
    timezone: Mapped[str] = mapped_column(String(64))
    home_base: Mapped[WKBElement] = mapped_column(point_column_type())
    max_visits_per_day: Mapped[int] = mapped_column(default=8, server_default="8")
    last_location: Mapped[WKBElement | None] = mapped_column(point_column_type())
    last_location_at: Mapped[datetime | None]
    # What an hour of this engineer's labour costs us, in cents; staff only, never shown to
    # clients or engineers (the labour cost and margin report reads it).
    cost_rate_cents: Mapped[int | None]

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)
    skills: Mapped[list[Skill]] = relationship(
        secondary=engineer_skills, lazy="selectin", order_by=Skill.code
    )
    shifts: Mapped[list[EngineerShift]] = relationship(
        back_populates="engineer",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="(EngineerShift.weekday, EngineerShift.starts_at)",
    )


class EngineerShift(IdMixin, Base):
    """One working stretch of the weekly shift, in the engineer's local time."""

    __tablename__ = "engineer_shifts"
    __table_args__ = (
        UniqueConstraint("engineer_id", "weekday", "starts_at"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("starts_at < ends_at", name="starts_before_it_ends"),
    )

    engineer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("engineers.id", ondelete="CASCADE"), index=True
    )
    # Monday is 0, as Python's date.weekday().
    weekday: Mapped[int] = mapped_column(SmallInteger)
    starts_at: Mapped[time]
    ends_at: Mapped[time]

    engineer: Mapped[Engineer] = relationship(back_populates="shifts")


class AbsenceKind(enum.StrEnum):
    """Why an engineer is away."""

    VACATION = "vacation"
    SICKNESS = "sickness"
    TRAINING = "training"
    OTHER = "other"


class EngineerAbsence(IdMixin, Base):
    """Time an engineer does not work although the weekly shift says so: planning, insert and
    assignment never give them work that overlaps it."""

    __tablename__ = "engineer_absences"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="starts_before_it_ends"),
        Index("ix_engineer_absences_engineer_id_starts_at", "engineer_id", "starts_at"),
    )

    engineer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("engineers.id", ondelete="CASCADE"))
    kind: Mapped[AbsenceKind] = mapped_column(value_enum(AbsenceKind, "absence_kind"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # Staff only, like every note about an engineer.
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class EngineerOnCall(IdMixin, Base):
    """A stretch an engineer answers for critical work outside the shifts: an urgent insert
    into a running day may route them then, for critical visits only, with these skills
    (empty: all the engineer's) and within the area (none: anywhere)."""

    __tablename__ = "engineer_on_call"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="starts_before_it_ends"),
        CheckConstraint(
            "(area_centre IS NULL) = (area_radius_km IS NULL)", name="area_centre_and_radius"
        ),
        CheckConstraint("area_radius_km BETWEEN 1 AND 500", name="area_radius_range"),
        Index("ix_engineer_on_call_starts_at", "starts_at"),
        Index("ix_engineer_on_call_engineer_id_starts_at", "engineer_id", "starts_at"),
    )

    engineer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("engineers.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # Skill codes the engineer is on call for; empty: every skill they hold.
    skills: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    area_centre: Mapped[WKBElement | None] = mapped_column(point_column_type())
    area_radius_km: Mapped[int | None]
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
