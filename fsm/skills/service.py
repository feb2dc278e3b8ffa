"""Skills: the catalogue of qualifications."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.errors import Conflict, UnknownReference
from fsm.skills.models import Skill
from fsm.skills.schemas import SkillCreate


class SkillCodeTaken(Conflict):
    """A skill with this code exists."""


class UnknownSkills(UnknownReference):
    """Some skill codes name no skill (409 `unknown_reference`, like an unknown id)."""

    code = "unknown_reference"


class SkillService:
    """Reading and adding skills."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self) -> Sequence[Skill]:
        """Every skill, by code."""
        return (await self.session.scalars(select(Skill).order_by(Skill.code))).all()

    async def create(self, data: SkillCreate) -> Skill:
        """Add a skill to the catalogue."""
        if await self.session.scalar(select(Skill.id).where(Skill.code == data.code)):
            raise SkillCodeTaken(f"skill {data.code} exists", details={"field": "code"})
        skill = Skill(code=data.code, name=data.name.strip())
        self.session.add(skill)
        await self.session.flush()
        return skill

    async def by_codes(
        self, codes: Iterable[str], *, field: str = "skills"
    ) -> builtins.list[Skill]:
        """The skills named by `codes`, all of them or an error naming the unknown ones."""
        wanted = sorted(set(codes))
        if not wanted:
            return []
        found = (await self.session.scalars(select(Skill).where(Skill.code.in_(wanted)))).all()
        missing = sorted(set(wanted) - {s.code for s in found})
        if missing:
            raise UnknownSkills(
                f"{field}: unknown skill codes {', '.join(missing)}",
                details=[{"field": field, "message": f"unknown skill code {c}"} for c in missing],
            )
        return sorted(found, key=lambda s: s.code)
