"""Equipment models (the catalogue) and equipment (what is installed at a client's site)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fsm.db import Base, IdMixin, TimestampMixin, utcnow, value_enum
from fsm.skills.models import Skill

equipment_model_skills = Table(
    "equipment_model_skills",
    Base.metadata,
    Column(
        "equipment_model_id",
        ForeignKey("equipment_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("skill_id", ForeignKey("skills.id", ondelete="RESTRICT"), primary_key=True, index=True),
)


class EquipmentStatus(enum.StrEnum):
    """Whether a piece of equipment is in use."""

    ACTIVE = "active"
    OUT_OF_SERVICE = "out_of_service"
    DECOMMISSIONED = "decommissioned"


class EquipmentModel(IdMixin, TimestampMixin, Base):
    """A make and model: what servicing it takes."""

    __tablename__ = "equipment_models"
    __table_args__ = (UniqueConstraint("manufacturer", "model"),)

    manufacturer: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100), index=True)
    maintenance_interval_days: Mapped[int | None]
    # Used for this model's visits when no template names the model itself.
    default_checklist_template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("checklist_templates.id", ondelete="SET NULL")
    )
    instructions: Mapped[str] = mapped_column(Text, default="", server_default="")

    # The key of this row in the company's own records, matched by re-imports.
    external_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    required_skills: Mapped[list[Skill]] = relationship(
        secondary=equipment_model_skills, lazy="selectin", order_by=Skill.code
    )


class Equipment(IdMixin, TimestampMixin, Base):
    """One installed unit, identified by its model and serial number."""

    __tablename__ = "equipment"
    __table_args__ = (
        UniqueConstraint("model_id", "serial_number"),
        Index("ix_equipment_client_id_site_id", "client_id", "site_id"),
        Index("ix_equipment_site_id", "site_id"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"))
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("equipment_models.id", ondelete="RESTRICT")
    )
    serial_number: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(200))
    installed_on: Mapped[date | None]
    warranty_ends_on: Mapped[date | None]
    status: Mapped[EquipmentStatus] = mapped_column(
        value_enum(EquipmentStatus, "equipment_status"),
        default=EquipmentStatus.ACTIVE,
    )
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    # The key of this row in the company's own records, matched by re-imports.
    external_key: Mapped[str | None] = mapped_column(String(100), unique=True)

    model: Mapped[EquipmentModel] = relationship(lazy="joined", innerjoin=True)


class EquipmentMove(IdMixin, Base):
    """Equipment moved between two sites of its client; its history stays with it."""

    __tablename__ = "equipment_moves"

    equipment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("equipment.id", ondelete="CASCADE"), index=True
    )
    from_site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    to_site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    moved_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
