"""SLA policy and calendar endpoints (admin writes, staff reads)."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_admin, requires_staff
from fsm.sla.schemas import (
    CalendarCreate,
    CalendarRead,
    PolicyCreate,
    PolicyRead,
    calendar_read,
    policy_read,
)
from fsm.sla.service import SlaService


class SlaController(Controller):
    """Business calendars and SLA policies."""

    path = "/api/v1/sla"
    tags = ["sla"]
    guards = [requires_staff]

    @get("/calendars", operation_id="ListSlaCalendars")
    async def list_calendars(self, db_session: NamedDependency[AsyncSession]) -> list[CalendarRead]:
        """Every business calendar."""
        return [calendar_read(c) for c in await SlaService(db_session).list_calendars()]

    @post("/calendars", operation_id="CreateSlaCalendar", guards=[requires_admin])
    async def create_calendar(
        self, db_session: NamedDependency[AsyncSession], data: JSONBody[CalendarCreate]
    ) -> CalendarRead:
        """Add a business calendar."""
        return calendar_read(await SlaService(db_session).create_calendar(data))

    @get("/policies", operation_id="ListSlaPolicies")
    async def list_policies(self, db_session: NamedDependency[AsyncSession]) -> list[PolicyRead]:
        """Every SLA policy."""
        return [policy_read(p) for p in await SlaService(db_session).list_policies()]

    @post("/policies", operation_id="CreateSlaPolicy", guards=[requires_admin])
    async def create_policy(
        self, db_session: NamedDependency[AsyncSession], data: JSONBody[PolicyCreate]
    ) -> PolicyRead:
        """Add an SLA policy (optionally the default one)."""
        return policy_read(await SlaService(db_session).create_policy(data))
