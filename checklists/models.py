"""Checklist templates with immutable published versions, and one run of answers per visit."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from equipment.equipment.models import EquipmentModel
from fsm.db import Base, IdMixin, TimestampMixin, value_enum

checklist_template_models = Table(
    "checklist_template_models",
    Base.metadata,
    Column(
        "template_id",
        ForeignKey("checklist_templates.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "equipment_model_id",
        ForeignKey("equipment_models.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class ChecklistTemplate(IdMixin, TimestampMixin, Base):
    """A checklist and what it applies to: equipment models or categories, and work types."""

    __tablename__ = "checklist_templates"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")
    # Empty lists mean "any": a template with no models and no categories fits all equipment.
    categories: Mapped[list[str]] = mapped_column(
        ARRAY(String(100)), default=list, server_default="{}"
    )
    work_types: Mapped[list[str]] = mapped_column(
        ARRAY(String(30)), default=list, server_default="{}"
    )
    equipment_models: Mapped[list[EquipmentModel]] = relationship(
        secondary=checklist_template_models, lazy="selectin", order_by=EquipmentModel.model
    )
    versions: Mapped[list[ChecklistTemplateVersion]] = relationship(
        back_populates="template", order_by="ChecklistTemplateVersion.version", viewonly=True
    )


class ChecklistTemplateVersion(IdMixin, Base):
    """One version of a template's questions; frozen once published, readable forever."""

    __tablename__ = "checklist_template_versions"
    __table_args__ = (
        UniqueConstraint("template_id", "version"),
        # At most one draft per template: edits of a published version go to a new draft.
        Index(
            "uq_checklist_template_versions_one_draft",
            "template_id",
            unique=True,
            postgresql_where=text("published_at IS NULL"),
        ),
    )

    template_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("checklist_templates.id", ondelete="CASCADE")
    )
    version: Mapped[int]
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    template: Mapped[ChecklistTemplate] = relationship(
        back_populates="versions", lazy="joined", innerjoin=True
    )


class RunStatus(enum.StrEnum):
    """How far the answers of a run are."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"


class ChecklistRun(IdMixin, TimestampMixin, Base):
    """The checklist of one visit, on the exact template version it was attached with."""

    __tablename__ = "checklist_runs"

    visit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("visits.id", ondelete="CASCADE"), unique=True
    )
    template_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("checklist_template_versions.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[RunStatus] = mapped_column(value_enum(RunStatus, "checklist_run_status"))
    required_total: Mapped[int] = mapped_column(default=0, server_default="0")
    required_answered: Mapped[int] = mapped_column(default=0, server_default="0")
    open_findings: Mapped[int] = mapped_column(default=0, server_default="0")

    template_version: Mapped[ChecklistTemplateVersion] = relationship(lazy="joined", innerjoin=True)

    # Loaded by ChecklistService with the run; not columns.
    __allow_unmapped__ = True
    answers: dict[str, ChecklistAnswer]
    findings: list[ChecklistFinding]
    photo_counts: dict[str, int]
    # Whether photo_counts hold only photos a client may see.
    photo_counts_for_client: bool


class ChecklistAnswer(Base):
    """The current answer to one item of a run; saving the same item again replaces it."""

    __tablename__ = "checklist_answers"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("checklist_runs.id", ondelete="CASCADE"), primary_key=True
    )
    item_key: Mapped[str] = mapped_column(String(63), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB)
    flag: Mapped[str | None] = mapped_column(String(30))
    # The device's time decides between two saves of one item that arrive out of order.
    answered_at: Mapped[datetime]
    answered_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class ChecklistFinding(IdMixin, Base):
    """An answer that needs attention (out of range, a critical "no"), raised on the work order."""

    __tablename__ = "checklist_findings"
    __table_args__ = (
        UniqueConstraint("run_id", "item_key"),
        Index("ix_checklist_findings_work_order_id", "work_order_id"),
        Index(
            "ix_checklist_findings_open_raised_at",
            "raised_at",
            postgresql_where=text("cleared_at IS NULL"),
        ),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("checklist_runs.id", ondelete="CASCADE"))
    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE")
    )
    item_key: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(30))
    message: Mapped[str] = mapped_column(String(500))
    follow_up_work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="SET NULL")
    )
    raised_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]
