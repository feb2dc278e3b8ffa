"""SLA policy and calendar endpoints (admin writes, staff reads)."""

from __future__ import annotations

import uuid

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_admin, requires_staff
from fsm.sla.schemas import (
    CalendarCreate,
    CalendarRead,
    CalendarUpdate,
    PolicyCreate,
    PolicyRead,
    PolicyUpdate,
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

    @patch(
        "/calendars/{calendar_id:uuid}", operation_id="UpdateSlaCalendar", guards=[requires_admin]
    )
    async def update_calendar(
        self,
        db_session: NamedDependency[AsyncSession],
        calendar_id: FromPath[uuid.UUID],
        data: JSONBody[CalendarUpdate],
    ) -> CalendarRead:
        """Write the calendar's next version (and of the policies on it); open work keeps its
        terms. Only the current version is edited (409 `version_superseded`)."""
        return calendar_read(await SlaService(db_session).update_calendar(calendar_id, data))

    @get("/calendars/{calendar_id:uuid}/versions", operation_id="ListSlaCalendarVersions")
    async def list_calendar_versions(
        self, db_session: NamedDependency[AsyncSession], calendar_id: FromPath[uuid.UUID]
    ) -> list[CalendarRead]:
        """Every version of the calendar, oldest first."""
        versions = await SlaService(db_session).calendar_versions(calendar_id)
        return [calendar_read(c) for c in versions]

    @get("/policies/{policy_id:uuid}", operation_id="GetSlaPolicy")
    async def get_policy(
        self, db_session: NamedDependency[AsyncSession], policy_id: FromPath[uuid.UUID]
    ) -> PolicyRead:
        """One version of a policy (a work order names the version it runs on)."""
        return policy_read(await SlaService(db_session).get_policy(policy_id))

    @patch("/policies/{policy_id:uuid}", operation_id="UpdateSlaPolicy", guards=[requires_admin])
    async def update_policy(
        self,
        db_session: NamedDependency[AsyncSession],
        policy_id: FromPath[uuid.UUID],
        data: JSONBody[PolicyUpdate],
    ) -> PolicyRead:
        """Write the policy's next version: work opened from now on runs on it, open work keeps
        the version it started on. Only the current version is edited (409)."""
        return policy_read(await SlaService(db_session).update_policy(policy_id, data))

    @get("/policies/{policy_id:uuid}/versions", operation_id="ListSlaPolicyVersions")
    async def list_policy_versions(
        self, db_session: NamedDependency[AsyncSession], policy_id: FromPath[uuid.UUID]
    ) -> list[PolicyRead]:
        """Every version of the policy, oldest first."""
        return [policy_read(p) for p in await SlaService(db_session).policy_versions(policy_id)]
