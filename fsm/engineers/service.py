"""Engineers: their profiles, skills and weekly shifts."""

from __future__ import annotations

import builtins
import itertools
import uuid
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.principal import Principal
from fsm.db import like_pattern
from fsm.engineers.models import Engineer, EngineerShift, engineer_skills
from fsm.engineers.schemas import EngineerCreate, EngineerUpdate, Shift
from fsm.errors import NotFound, field_error
from fsm.geo import to_db_point
from fsm.pagination import Page, PageRequest
from fsm.schemas import check_timezone
from fsm.skills.models import Skill
from fsm.skills.service import SkillService
from fsm.users.models import Role, User
from fsm.users.service import UserService


class EngineerNotFound(NotFound):
    """No such engineer, or not one the caller may see."""


def _check_shifts(shifts: list[Shift]) -> None:
    """Shifts must each end after they start and not overlap on a weekday."""
    ordered = sorted(enumerate(shifts), key=lambda p: (p[1].weekday, p[1].starts_at))
    for index, shift in ordered:
        if shift.starts_at >= shift.ends_at:
            raise field_error(f"shifts[{index}]", "starts_at must be before ends_at")
    for (_, earlier), (index, later) in itertools.pairwise(ordered):
        if earlier.weekday == later.weekday and later.starts_at < earlier.ends_at:
            raise field_error(f"shifts[{index}]", "overlaps another shift on the same weekday")


class EngineerService:
    """Engineers; staff see all, an engineer only themself."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, engineer_id: uuid.UUID, *, viewer: Principal) -> Engineer:
        """The engineer, if the viewer may see them."""
        engineer = await self.session.get(Engineer, engineer_id)
        if engineer is None or not (viewer.is_staff or engineer.user_id == viewer.user_id):
            raise EngineerNotFound(f"engineer {engineer_id} not found")
        return engineer

    async def get_for_user(self, user_id: uuid.UUID) -> Engineer:
        """The engineer profile of a signed-in engineer."""
        engineer = (
            await self.session.scalars(select(Engineer).where(Engineer.user_id == user_id))
        ).one_or_none()
        if engineer is None:
            raise EngineerNotFound("the signed-in user has no engineer profile")
        return engineer

    async def list(
        self,
        page: PageRequest,
        *,
        skill: str | None = None,
        name_contains: str | None = None,
        is_active: bool | None = True,
    ) -> Page[Engineer]:
        """Engineers by name, filtered by skill code, name and whether they can sign in."""
        stmt = select(Engineer).join(User, User.id == Engineer.user_id)
        conditions: list[Any] = []
        if skill is not None:
            conditions.append(
                Engineer.id.in_(
                    select(engineer_skills.c.engineer_id)
                    .join(Skill, Skill.id == engineer_skills.c.skill_id)
                    .where(Skill.code == skill)
                )
            )
        if name_contains:
            conditions.append(User.full_name.ilike(like_pattern(name_contains)))
        if is_active is not None:
            conditions.append(User.is_active.is_(is_active))
        total = await self.session.scalar(
            select(func.count())
            .select_from(Engineer)
            .join(User, User.id == Engineer.user_id)
            .where(*conditions)
        )
        rows = (
            await self.session.scalars(
                stmt.where(*conditions)
                .order_by(User.full_name, Engineer.id)
                .limit(page.limit)
                .offset(page.offset)
            )
        ).all()
        return Page(items=rows, total=total or 0, limit=page.limit, offset=page.offset)

    async def create(self, data: EngineerCreate) -> Engineer:
        """Create the engineer's user and profile in one go."""
        check_timezone(data.timezone)
        _check_shifts(data.shifts)
        skills = await SkillService(self.session).by_codes(data.skills)
        user = await UserService(self.session).create(
            email=data.email, full_name=data.full_name, password=data.password, role=Role.ENGINEER
        )
        engineer = Engineer(
            user=user,
            phone=data.phone,
            timezone=data.timezone,
            home_base=to_db_point(data.home_base),
            max_visits_per_day=data.max_visits_per_day,
            skills=skills,
            shifts=[
                EngineerShift(weekday=s.weekday, starts_at=s.starts_at, ends_at=s.ends_at)
                for s in data.shifts
            ],
        )
        self.session.add(engineer)
        await self.session.flush()
        await self.session.refresh(engineer)
        return engineer

    async def update(
        self, engineer_id: uuid.UUID, data: EngineerUpdate, *, viewer: Principal
    ) -> Engineer:
        """Change the given fields of an engineer's profile."""
        engineer = await self.get(engineer_id, viewer=viewer)
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        if "timezone" in changes:
            check_timezone(changes["timezone"])
        if "home_base" in changes:
            changes["home_base"] = to_db_point(changes["home_base"])
        for name, value in changes.items():
            setattr(engineer, name, value)
        await self.session.flush()
        await self.session.refresh(engineer)
        return engineer

    async def replace_skills(
        self, engineer_id: uuid.UUID, codes: builtins.list[str], *, viewer: Principal
    ) -> Engineer:
        """Set the engineer's skills to exactly `codes`."""
        engineer = await self.get(engineer_id, viewer=viewer)
        engineer.skills = await SkillService(self.session).by_codes(codes)
        await self.session.flush()
        return engineer

    async def replace_shifts(
        self, engineer_id: uuid.UUID, shifts: builtins.list[Shift], *, viewer: Principal
    ) -> Engineer:
        """Set the engineer's weekly shift to exactly `shifts`."""
        _check_shifts(shifts)
        engineer = await self.get(engineer_id, viewer=viewer)
        engineer.shifts.clear()
        # Deleting the old rows first keeps the (engineer, weekday, start) key free for reuse.
        await self.session.flush()
        engineer.shifts.extend(
            EngineerShift(weekday=s.weekday, starts_at=s.starts_at, ends_at=s.ends_at)
            for s in shifts
        )
        await self.session.flush()
        await self.session.refresh(engineer, ["shifts"])
        return engineer
