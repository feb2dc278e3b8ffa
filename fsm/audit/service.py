"""Reading the audit log."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.audit.models import AuditEntry
from fsm.pagination import Page, PageRequest


class AuditService:
    """The log of admin changes, newest first."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(
        self,
        page: PageRequest,
        *,
        entity: str | None = None,
        entity_id: str | None = None,
        actor_id: uuid.UUID | None = None,
    ) -> Page[AuditEntry]:
        """Entries matching every filter given."""
        conditions: list[Any] = []
        if entity is not None:
            conditions.append(AuditEntry.entity == entity)
        if entity_id is not None:
            conditions.append(AuditEntry.entity_id == entity_id)
        if actor_id is not None:
            conditions.append(AuditEntry.actor_id == actor_id)
        total = await self.session.scalar(
            select(func.count()).select_from(AuditEntry).where(*conditions)
        )
        rows = (
            await self.session.scalars(
                select(AuditEntry)
                .where(*conditions)
                .order_by(AuditEntry.at.desc(), AuditEntry.id)
                .limit(page.limit)
                .offset(page.offset)
            )
        ).all()
        return Page(items=rows, total=total or 0, limit=page.limit, offset=page.offset)
