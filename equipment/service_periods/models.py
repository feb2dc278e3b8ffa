"""Service periods: the windows in which a covered unit is owed one maintenance visit."""

from __future__ import annotations

import enum
import uuid
from datetime import date

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, IdMixin, value_enum


class PeriodStatus(enum.StrEnum):
    """Where a service period stands."""

    PLANNED = "planned"
    SCHEDULED = "scheduled"
    DONE = "done"
    MISSED = "missed"


class ServicePeriod(IdMixin, Base):
    """[starts_on, ends_on] of one covered unit; expects one completed maintenance visit."""

    __tablename__ = "service_periods"
    __table_args__ = (
        UniqueConstraint("coverage_id", "starts_on"),
        CheckConstraint("starts_on <= ends_on", name="starts_before_it_ends"),
        # What the generator scans: planned periods by the day their window opens.
        Index("ix_service_periods_status_starts_on", "status", "starts_on"),
        Index("ix_service_periods_equipment_id_starts_on", "equipment_id", "starts_on"),
        # Maintenance compliance reads the periods ending in a month.
        Index("ix_service_periods_ends_on", "ends_on"),
    )

    coverage_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contract_coverages.id", ondelete="CASCADE")
    )
    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    equipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"))
    starts_on: Mapped[date]
    ends_on: Mapped[date]  # inclusive
    status: Mapped[PeriodStatus] = mapped_column(
        value_enum(PeriodStatus, "service_period_status"),
        default=PeriodStatus.PLANNED,
    )
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="SET NULL"), unique=True
    )
