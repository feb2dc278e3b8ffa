"""Audit log wire types."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from fsm.audit.models import AuditEntry


class AuditEntryRead(msgspec.Struct, kw_only=True):
    """One admin change: the changed columns before and after."""

    id: uuid.UUID
    actor_id: uuid.UUID | None
    at: datetime
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any]
    after: dict[str, Any]


def audit_entry_read(entry: AuditEntry) -> AuditEntryRead:
    """Wire form of an entry."""
    return AuditEntryRead(
        id=entry.id,
        actor_id=entry.actor_id,
        at=entry.at,
        action=entry.action,
        entity=entry.entity,
        entity_id=entry.entity_id,
        before=entry.before,
        after=entry.after,
    )
