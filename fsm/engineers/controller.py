"""Engineer endpoints: staff manage engineers; an engineer reads their own profile."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, patch, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_admin, requires_engineer, requires_roles, requires_staff
from fsm.auth.principal import Principal
from fsm.engineers.schemas import (
    EngineerCreate,
    EngineerRead,
    EngineerUpdate,
    ShiftsReplace,
    SkillsReplace,
    engineer_read,
)
from fsm.engineers.service import EngineerService
from fsm.pagination import PageOut, PageRequest, page_out
from fsm.schemas import LimitQuery, OffsetQuery
from fsm.users.models import Role


async def provide_engineer_service(db_session: NamedDependency[AsyncSession]) -> EngineerService:
    return EngineerService(db_session)


class EngineerController(Controller):
    """Engineers and their skills and shifts."""

    path = "/api/v1/engineers"
    tags = ["engineers"]
    guards = [requires_roles(Role.ADMIN, Role.DISPATCHER, Role.ENGINEER)]
    dependencies = {"engineers": Provide(provide_engineer_service)}

    @get("/", operation_id="ListEngineers", guards=[requires_staff])
    async def list_engineers(
        self,
        engineers: NamedDependency[EngineerService],
        skill: Annotated[str | None, QueryParameter(description="Holds this skill code")] = None,
        q: Annotated[str | None, QueryParameter(description="Name contains (any case)")] = None,
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[EngineerRead]:
        """List active engineers."""
        page = await engineers.list(
            PageRequest(limit=limit, offset=offset), skill=skill, name_contains=q
        )
        return page_out(page, engineer_read)

    @post("/", operation_id="CreateEngineer", guards=[requires_admin])
    async def create_engineer(
        self, engineers: NamedDependency[EngineerService], data: JSONBody[EngineerCreate]
    ) -> EngineerRead:
        """Create an engineer with their sign-in."""
        return engineer_read(await engineers.create(data))

    @get("/me", operation_id="GetMyEngineerProfile", guards=[requires_engineer])
    async def get_my_profile(
        self, engineers: NamedDependency[EngineerService], principal: NamedDependency[Principal]
    ) -> EngineerRead:
        """The signed-in engineer's own profile."""
        return engineer_read(await engineers.get_for_user(principal.user_id))

    @get("/{engineer_id:uuid}", operation_id="GetEngineer")
    async def get_engineer(
        self,
        engineers: NamedDependency[EngineerService],
        principal: NamedDependency[Principal],
        engineer_id: FromPath[uuid.UUID],
    ) -> EngineerRead:
        """One engineer: staff any, an engineer only themself."""
        return engineer_read(await engineers.get(engineer_id, viewer=principal))

    @patch("/{engineer_id:uuid}", operation_id="UpdateEngineer", guards=[requires_staff])
    async def update_engineer(
        self,
        engineers: NamedDependency[EngineerService],
        principal: NamedDependency[Principal],
        engineer_id: FromPath[uuid.UUID],
        data: JSONBody[EngineerUpdate],
    ) -> EngineerRead:
        """Change an engineer's profile."""
        return engineer_read(await engineers.update(engineer_id, data, viewer=principal))

    @put(
        "/{engineer_id:uuid}/skills", operation_id="ReplaceEngineerSkills", guards=[requires_staff]
    )
    async def replace_skills(
        self,
        engineers: NamedDependency[EngineerService],
        principal: NamedDependency[Principal],
        engineer_id: FromPath[uuid.UUID],
        data: JSONBody[SkillsReplace],
    ) -> EngineerRead:
        """Set an engineer's skills."""
        engineer = await engineers.replace_skills(engineer_id, data.skills, viewer=principal)
        return engineer_read(engineer)

    @put(
        "/{engineer_id:uuid}/shifts", operation_id="ReplaceEngineerShifts", guards=[requires_staff]
    )
    async def replace_shifts(
        self,
        engineers: NamedDependency[EngineerService],
        principal: NamedDependency[Principal],
        engineer_id: FromPath[uuid.UUID],
        data: JSONBody[ShiftsReplace],
    ) -> EngineerRead:
        """Set an engineer's weekly shift."""
        engineer = await engineers.replace_shifts(engineer_id, data.shifts, viewer=principal)
        return engineer_read(engineer)
