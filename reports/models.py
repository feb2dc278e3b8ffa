"""The reports' rollups: signed day counts the database appends as work orders change, and
the visit facts first-time fix reads.

Migration 0023 owns the rules (triggers on `work_orders` and the SQL functions
`report_left_at` and `report_reaction_bucket`); these models only name the tables so the
reports can read them. Several rows may share a key until `reports.rollups.compact` folds
them: a reader always sums.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, value_enum
from fsm.workorders.models import Channel, WorkOrderStatus


class ReportOpenedDay(Base):
    """Requests opened on one UTC day, by channel, current status and reaction bucket."""

    __tablename__ = "report_opened_days"
    __table_args__ = (Index("ix_report_opened_days_day", "day"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    day: Mapped[date]
    channel: Mapped[Channel] = mapped_column(value_enum(Channel, "work_order_channel"))
    status: Mapped[WorkOrderStatus] = mapped_column(
        value_enum(WorkOrderStatus, "work_order_status")
    )
    # 0..4: first reaction within 15, 60, 240, 1 440 minutes or later; -1: none yet.
    reaction_bucket: Mapped[int] = mapped_column(SmallInteger)
    requests: Mapped[int] = mapped_column(BigInteger)


class ReportLeftDay(Base):
    """Requests that left the backlog on one UTC day (`report_left_at`)."""

    __tablename__ = "report_left_days"
    __table_args__ = (Index("ix_report_left_days_day", "day"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    day: Mapped[date]
    requests: Mapped[int] = mapped_column(BigInteger)


class ReportVisitFacts(Base):
    """What first-time fix needs of a work order's visits (migration 0023's triggers keep
    it): how many went on site, the engineer of the last completed one, and when the first
    was completed. No row: no visit went on site or was completed."""

    __tablename__ = "report_visit_facts"

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), primary_key=True
    )
    on_site_visits: Mapped[int]
    engineer_id: Mapped[uuid.UUID | None]
    # When its first visit was completed (a service period is done that day).
    first_completed_at: Mapped[datetime | None]
