"""Import runs: one uploaded file checked or loaded, with its progress and outcome."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, IdMixin, utcnow, value_enum


class ImportStatus(enum.StrEnum):
    """Where an import run stands."""

    RUNNING = "running"
    CHECKED = "checked"
    DONE = "done"
    REJECTED = "rejected"


class ImportRun(IdMixin, Base):
    """One file checked (a dry run) or loaded, all or nothing; progress counts rows."""

    __tablename__ = "import_runs"

    kind: Mapped[str] = mapped_column(String(50))
    file_format: Mapped[str] = mapped_column(String(10))
    is_dry_run: Mapped[bool]
    status: Mapped[ImportStatus] = mapped_column(value_enum(ImportStatus, "import_status"))
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    created_rows: Mapped[int] = mapped_column(default=0)
    updated_rows: Mapped[int] = mapped_column(default=0)
    unchanged_rows: Mapped[int] = mapped_column(default=0)
    # [{"row": 2, "column": "timezone", "message": "..."}]; row 1 is the header.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    started_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
