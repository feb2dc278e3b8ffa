"""The engineer change feed: which of an engineer's visits changed, in commit-safe order."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base

# Written by triggers (migration 0009) on visits, work orders and comments, so every path
# that changes a visit (services, dispatch plans, bulk SQL) feeds it; nobody can forget.
CURRENT_TXID = text("pg_current_xact_id()::text::bigint")


class EngineerChange(Base):
    """Something about one of an engineer's visits changed (or the visit left them).

    Rows say only *which* visit; the feed renders the visit as it is now, or "removed"
    when it is no longer the engineer's. `txid` is the writing transaction: the feed reads
    a transaction's rows only once every older transaction has ended, so a cursor never
    skips a row that commits late.
    """

    __tablename__ = "engineer_changes"
    __table_args__ = (
        Index("ix_engineer_changes_engineer_id_txid_id", "engineer_id", "txid", "id"),
        Index("ix_engineer_changes_engineer_id_visit_id", "engineer_id", "visit_id"),
        Index("ix_engineer_changes_occurred_at", "occurred_at"),
        Index("ix_engineer_changes_visit_id", "visit_id"),
        Index("ix_engineer_changes_comment_id", "comment_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    engineer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("engineers.id", ondelete="CASCADE"))
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"))
    # "visit" (the visit or its work order changed) or "comment" (a new comment).
    kind: Mapped[str] = mapped_column(String(20))
    comment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE")
    )
    txid: Mapped[int] = mapped_column(BigInteger, server_default=CURRENT_TXID)
    occurred_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
