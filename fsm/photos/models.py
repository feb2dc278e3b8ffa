"""Photo evidence: one picture of a work order (and usually of one visit), its bytes in S3."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from geoalchemy2 import WKBElement
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, IdMixin, TimestampMixin, value_enum
from fsm.geo import point_column_type


class PhotoState(enum.StrEnum):
    """Where an upload stands: reserved, checked, thumbnailed, or refused."""

    PENDING = "pending"
    STORED = "stored"
    VERIFIED = "verified"
    REJECTED = "rejected"


# States in which a photo counts as evidence (the checklist counts these).
EVIDENCE_STATES = frozenset({PhotoState.STORED, PhotoState.VERIFIED})
# States in which a client sees a photo: only once the thumbnail job has decoded it within
# the pixel limit, so no client app is handed a decompression bomb or a disguised file.
CLIENT_STATES = frozenset({PhotoState.VERIFIED})


class Photo(IdMixin, TimestampMixin, Base):
    """A photo the app uploads straight to S3; the server checks it and makes a thumbnail."""

    __tablename__ = "photos"
    __table_args__ = (
        CheckConstraint("size_bytes > 0", name="size_positive"),
        CheckConstraint("sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'", name="sha256_is_hex"),
        CheckConstraint(
            "(state = 'rejected') = (reject_reason IS NOT NULL)", name="rejected_has_reason"
        ),
        CheckConstraint(
            "state NOT IN ('stored', 'verified') OR sha256 IS NOT NULL", name="stored_has_sha256"
        ),
        CheckConstraint(
            "state <> 'verified' OR thumbnail_key IS NOT NULL", name="verified_has_thumbnail"
        ),
        Index("ix_photos_work_order_id_created_at", "work_order_id", "created_at"),
        # The checklist counts evidence per (visit, item).
        Index("ix_photos_visit_id_checklist_item_key", "visit_id", "checklist_item_key"),
        # The thumbnail sweep: photos stored, not yet thumbnailed and not given up on.
        Index(
            "ix_photos_awaiting_thumbnail",
            "thumbnail_next_attempt_at",
            "created_at",
            postgresql_where=text("state = 'stored' AND thumbnail_failed_at IS NULL"),
        ),
    )

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE")
    )
    # None for photos a client attaches to its request.
    visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"))
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    object_key: Mapped[str] = mapped_column(String(300), unique=True)
    thumbnail_key: Mapped[str | None] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[PhotoState] = mapped_column(value_enum(PhotoState, "photo_state"))
    # The error code that refused the photo (`photo_hash_mismatch`, ...).
    reject_reason: Mapped[str | None] = mapped_column(String(50))
    # From the original's EXIF once thumbnailed; until then what the app said.
    taken_at: Mapped[datetime | None]
    location: Mapped[WKBElement | None] = mapped_column(point_column_type())
    checklist_item_key: Mapped[str | None] = mapped_column(String(100))
    is_client_visible: Mapped[bool] = mapped_column(default=False, server_default="false")
    stored_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    # The thumbnail job's tries: counted when one starts; the next is due after a backoff
    # (None: due now). After too many failures it gives up and stamps `thumbnail_failed_at`.
    thumbnail_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    thumbnail_next_attempt_at: Mapped[datetime | None]
    thumbnail_failed_at: Mapped[datetime | None]
