"""The audit log endpoint (admins only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.audit.schemas import AuditEntryRead, audit_entry_read
from fsm.audit.service import AuditService
from fsm.auth.guards import requires_admin
from fsm.pagination import PageOut, PageRequest, page_out
from fsm.schemas import LimitQuery, OffsetQuery


class AuditController(Controller):
    """Who changed what configuration, when, before and after."""

    path = "/api/v1/audit-log"
    tags = ["audit"]
    guards = [requires_admin]

    @get("/", operation_id="ListAuditEntries")
    async def list_audit_entries(
        self,
        db_session: NamedDependency[AsyncSession],
        entity: Annotated[
            str | None, QueryParameter(max_length=100, description="Table, e.g. sla_policies")
        ] = None,
        entity_id: Annotated[str | None, QueryParameter(max_length=100)] = None,
        actor_id: Annotated[uuid.UUID | None, QueryParameter(description="By this admin")] = None,
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[AuditEntryRead]:
        """Admin changes, newest first."""
        page = await AuditService(db_session).list(
            PageRequest(limit=limit, offset=offset),
            entity=entity,
            entity_id=entity_id,
            actor_id=actor_id,
        )
        return page_out(page, audit_entry_read)
