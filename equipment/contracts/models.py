"""Contracts: what a client pays for, which equipment it covers and how often it is serviced."""

from __future__ import annotations

import enum
import uuid
from datetime import date, time
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import DATERANGE, JSONB, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fsm.db import Base, IdMixin, TimestampMixin, value_enum


class ContractStatus(enum.StrEnum):
    """Where a contract stands."""

    DRAFT = "draft"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"


class IntervalUnit(enum.StrEnum):
    """The unit of a maintenance plan's interval."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class BillingPeriod(enum.StrEnum):
    """The stretch the included labour hours are counted over."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class Contract(IdMixin, TimestampMixin, Base):
    """A service contract between us and a client."""

    __tablename__ = "contracts"
    __table_args__ = (
        CheckConstraint("valid_from <= valid_to", name="valid_from_before_valid_to"),
        CheckConstraint("included_labour_minutes >= 0", name="included_not_negative"),
        Index("ix_contracts_client_id_status", "client_id", "status"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"))
    number: Mapped[str] = mapped_column(String(50), unique=True)
    valid_from: Mapped[date]
    valid_to: Mapped[date]
    status: Mapped[ContractStatus] = mapped_column(value_enum(ContractStatus, "contract_status"))
    sla_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sla_policies.id", ondelete="RESTRICT")
    )
    billing_period: Mapped[BillingPeriod] = mapped_column(
        value_enum(BillingPeriod, "billing_period"), default=BillingPeriod.MONTH
    )
    included_labour_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    # Work outside the contract (or beyond the included hours), in the smallest currency unit.
    hourly_rate_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    callout_fee_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3), default="EUR", server_default="EUR")

    coverages: Mapped[list[Coverage]] = relationship(
        back_populates="contract", lazy="selectin", cascade="all, delete-orphan"
    )


class Coverage(IdMixin, Base):
    """One piece of equipment under a contract, with its maintenance plan."""

    __tablename__ = "contract_coverages"
    __table_args__ = (
        # A unit is covered by at most one active contract on any day; the service says so
        # with a clear 409 first, this is the last line of defence.
        ExcludeConstraint(
            ("equipment_id", "="),
            ("period", "&&"),
            name="ex_contract_coverages_equipment_id_period",
            using="gist",
            where=text("is_active"),
        ),
        CheckConstraint("interval_count > 0", name="interval_positive"),
        CheckConstraint("visit_minutes > 0", name="visit_minutes_positive"),
        Index("ix_contract_coverages_contract_id", "contract_id"),
    )

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    equipment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("equipment.id", ondelete="RESTRICT"), index=True
    )
    # The contract's validity, copied here so the exclusion constraint can see it:
    # [valid_from, valid_to + 1 day).
    period: Mapped[Any] = mapped_column(DATERANGE)
    is_active: Mapped[bool] = mapped_column(default=False)
    interval_count: Mapped[int]
    interval_unit: Mapped[IntervalUnit] = mapped_column(value_enum(IntervalUnit, "interval_unit"))
    visit_minutes: Mapped[int] = mapped_column(default=60)
    # Skill codes the maintenance visit needs, on top of the equipment model's.
    skills: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    preferred_weekdays: Mapped[list[int]] = mapped_column(JSONB, default=list, server_default="[]")
    preferred_start: Mapped[time | None]
    preferred_end: Mapped[time | None]

    contract: Mapped[Contract] = relationship(back_populates="coverages")
