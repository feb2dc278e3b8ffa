"""Audit entries, written by a flush hook for every change an admin's request makes.

The hook runs after each flush (when ids are known and the attribute history still holds
the old values) and records, for each audited row created, changed or deleted, the changed
columns before and after. It is on only for sessions whose unit of work belongs to an admin
(`enable_audit`), so imports, jobs and other roles' everyday work do not flood it.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, String, event, insert, inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from fsm.db import Base, IdMixin, utcnow

__all__ = ["AUDITED_TABLES", "AuditEntry", "enable_audit"]

# What an admin configures; work orders, visits and photos have their own timelines.
AUDITED_TABLES = frozenset(
    {
        "users",
        "clients",
        "client_contacts",
        "sites",
        "skills",
        "engineers",
        "engineer_shifts",
        "sla_calendars",
        "sla_policies",
        "custom_field_definitions",
        "reply_templates",
        "equipment_models",
        "equipment",
        "contracts",
        "contract_coverages",
        "checklist_templates",
    }
)
# Never copied into the log.
_SECRET_COLUMNS = frozenset({"password_hash"})
_ACTOR = "audit_actor_id"


class AuditEntry(IdMixin, Base):
    """One row created, changed or deleted by an admin: who, when, before and after."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_entity_entity_id", "entity", "entity_id"),
        Index("ix_audit_entries_at", "at"),
    )

    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # created, updated or deleted
    action: Mapped[str] = mapped_column(String(20))
    entity: Mapped[str] = mapped_column(String(100))
    entity_id: Mapped[str] = mapped_column(String(100))
    # The changed columns only: before holds their old values, after their new ones.
    before: Mapped[dict[str, Any]] = mapped_column(JSONB)
    after: Mapped[dict[str, Any]] = mapped_column(JSONB)


def enable_audit(session: AsyncSession, actor_id: uuid.UUID) -> None:
    """Record every audited change this session flushes as made by `actor_id`."""
    session.sync_session.info[_ACTOR] = actor_id


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    # Points, ranges and SQL expressions: their text is what a reader can use.
    return str(value)


def _entry(obj: Any, action: str, actor_id: uuid.UUID, at: dt.datetime) -> dict[str, Any] | None:
    state = inspect(obj)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for column in state.mapper.column_attrs:
        key = column.key
        if key in _SECRET_COLUMNS or key in {"created_at", "updated_at"}:
            continue
        history = state.attrs[key].history
        if action == "created":
            after[key] = _jsonable(state.dict.get(key))
        elif action == "deleted":
            before[key] = _jsonable(state.dict.get(key))
        elif history.has_changes():
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if _jsonable(old) != _jsonable(new):
                before[key], after[key] = _jsonable(old), _jsonable(new)
    if action == "updated" and not after:
        return None
    return {
        "id": uuid.uuid4(),
        "actor_id": actor_id,
        "at": at,
        "action": action,
        "entity": state.mapper.local_table.name,
        "entity_id": str(state.identity[0]) if state.identity else str(getattr(obj, "id", "")),
        "before": before,
        "after": after,
    }


@event.listens_for(Session, "after_flush")
def _record_changes(session: Session, _context: object) -> None:
    actor_id = session.info.get(_ACTOR)
    if actor_id is None:
        return
    at = utcnow()
    rows = []
    for objects, action in (
        (session.new, "created"),
        (session.dirty, "updated"),
        (session.deleted, "deleted"),
    ):
        for obj in objects:
            table = getattr(inspect(obj).mapper.local_table, "name", None)
            if table not in AUDITED_TABLES:
                continue
            row = _entry(obj, action, actor_id, at)
            if row is not None:
                rows.append(row)
    if rows:
        session.connection().execute(insert(AuditEntry), rows)
