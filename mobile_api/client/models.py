"""Ratings: a client's 1-5 verdict on resolved work, given once per work order."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, SmallInteger, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, IdMixin


class WorkOrderRating(IdMixin, Base):
    """How the client rated a resolved work order; one per order."""

    __tablename__ = "work_order_ratings"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)

    # Unique: a second rating is refused here even if two arrive at once.
    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), unique=True
    )
    rated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
