"""Skill catalogue endpoints."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_admin, requires_roles
from fsm.skills.schemas import SkillCreate, SkillRead, skill_read
from fsm.skills.service import SkillService
from fsm.users.models import Role


async def provide_skill_service(db_session: NamedDependency[AsyncSession]) -> SkillService:
    return SkillService(db_session)


class SkillController(Controller):
    """Skills: staff and engineers read the catalogue; admins extend it."""

    path = "/api/v1/skills"
    tags = ["skills"]
    guards = [requires_roles(Role.ADMIN, Role.DISPATCHER, Role.ENGINEER)]
    dependencies = {"skills": Provide(provide_skill_service)}

    @get("/", operation_id="ListSkills")
    async def list_skills(self, skills: NamedDependency[SkillService]) -> list[SkillRead]:
        """Every skill, by code."""
        return [skill_read(s) for s in await skills.list()]

    @post("/", operation_id="CreateSkill", guards=[requires_admin])
    async def create_skill(
        self, skills: NamedDependency[SkillService], data: JSONBody[SkillCreate]
    ) -> SkillRead:
        """Add a skill."""
        return skill_read(await skills.create(data))
