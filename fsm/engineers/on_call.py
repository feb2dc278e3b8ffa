"""The on-call rota: who answers critical work outside the shifts, with which skills, where.

A duty is a span of instants (at most 14 days) an engineer is on call, for some of their
skills (none named: all of them) and within a circle around a point (none: anywhere). An
urgent insert into a running day (`dispatch`) routes an engineer on call then, from home,
for critical visits only; their own shifts are planned as always. Duties of one engineer do
not overlap.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from fsm.auth.guards import requires_staff
from fsm.auth.principal import Principal
from fsm.engineers.models import Engineer, EngineerOnCall
from fsm.errors import Conflict, NotFound, field_error
from fsm.geo import GeoPoint, from_db_point, to_db_point
from fsm.schemas import PLANNING_FROM, PLANNING_UNTIL, AwareDatetime, OptionalText
from fsm.users.models import User

# The longest duty one entry may hold; a rota is entered duty by duty.
MAX_DUTY_DAYS = 14
EARLIEST, LATEST = PLANNING_FROM, PLANNING_UNTIL
SkillCode = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
RadiusKm = Annotated[int, msgspec.Meta(ge=1, le=500)]


class Area(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A circle on the map: the sites the duty answers for."""

    centre: GeoPoint
    radius_km: RadiusKm


class OnCallCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One duty of one engineer."""

    engineer_id: uuid.UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    # Skill codes among the engineer's; empty: every skill they hold.
    skills: Annotated[list[SkillCode], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    area: Area | None = None
    note: OptionalText | None = None


class OnCallRead(msgspec.Struct, kw_only=True):
    """A duty of the rota."""

    id: uuid.UUID
    engineer_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    skills: list[str]
    area: Area | None
    note: str | None
    created_at: datetime


def on_call_read(duty: EngineerOnCall) -> OnCallRead:
    centre = from_db_point(duty.area_centre)
    return OnCallRead(
        id=duty.id,
        engineer_id=duty.engineer_id,
        starts_at=duty.starts_at,
        ends_at=duty.ends_at,
        skills=list(duty.skills),
        area=Area(centre=centre, radius_km=duty.area_radius_km)
        if centre is not None and duty.area_radius_km is not None
        else None,
        note=duty.note,
        created_at=duty.created_at,
    )


class OnCallNotFound(NotFound):
    """No such duty."""


class OnCallOverlaps(Conflict):
    """The engineer is already on call for part of that time."""


async def on_call_between(
    session: AsyncSession,
    starts_at: datetime,
    ends_at: datetime,
    *,
    engineer_ids: Iterable[uuid.UUID] | None = None,
) -> list[EngineerOnCall]:
    """Duties overlapping [starts_at, ends_at), by engineer and start."""
    stmt = (
        select(EngineerOnCall)
        .where(EngineerOnCall.starts_at < ends_at, EngineerOnCall.ends_at > starts_at)
        .order_by(EngineerOnCall.engineer_id, EngineerOnCall.starts_at)
    )
    if engineer_ids is not None:
        stmt = stmt.where(EngineerOnCall.engineer_id.in_(list(engineer_ids)))
    return list((await session.scalars(stmt)).all())


def _check_span(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise field_error("ends_at", "must be after starts_at")
    if ends_at - starts_at > timedelta(days=MAX_DUTY_DAYS):
        raise field_error("ends_at", f"a duty lasts at most {MAX_DUTY_DAYS} days")
    if starts_at < EARLIEST or ends_at > LATEST:
        raise field_error("starts_at", "must lie between the years 2000 and 2199")


class OnCallService:
    """The rota's duties."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, data: OnCallCreate, *, actor: Principal) -> EngineerOnCall:
        """Put an engineer on call.

        Raises:
            ValidationFailed: an unknown engineer, a span reversed, over 14 days or outside
                2000-2199, or a skill the engineer does not hold (422).
            OnCallOverlaps: the engineer is on call for part of that time already (409).
        """
        _check_span(data.starts_at, data.ends_at)
        # Locked: one duty of an engineer entered at a time, so the overlap check holds.
        engineer = await self.session.get(
            Engineer,
            data.engineer_id,
            with_for_update=True,
            options=[selectinload(Engineer.skills)],
        )
        if engineer is None:
            raise field_error("engineer_id", "no such engineer")
        user = await self.session.get(User, engineer.user_id)
        if user is None or not user.is_active:
            raise field_error("engineer_id", "the engineer's account is deactivated")
        held = {skill.code for skill in engineer.skills}
        missing = sorted(set(data.skills) - held)
        if missing:
            raise field_error("skills", "the engineer does not hold: " + ", ".join(missing))
        overlapping = await on_call_between(
            self.session, data.starts_at, data.ends_at, engineer_ids=[engineer.id]
        )
        if overlapping:
            raise OnCallOverlaps(
                "the engineer is already on call for part of that time",
                details={"on_call_ids": [str(d.id) for d in overlapping]},
            )
        duty = EngineerOnCall(
            engineer_id=engineer.id,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            skills=sorted(set(data.skills)),
            area_centre=to_db_point(data.area.centre) if data.area else None,
            area_radius_km=data.area.radius_km if data.area else None,
            note=data.note,
            created_by_id=actor.user_id,
        )
        self.session.add(duty)
        await self.session.flush()
        await self.session.refresh(duty)
        return duty

    async def list(
        self, starts_at: datetime, ends_at: datetime, *, engineer_id: uuid.UUID | None = None
    ) -> list[EngineerOnCall]:
        """The duties overlapping the span (one engineer's, or all), by engineer and start."""
        return await on_call_between(
            self.session,
            starts_at,
            ends_at,
            engineer_ids=[engineer_id] if engineer_id is not None else None,
        )

    async def delete(self, duty_id: uuid.UUID) -> None:
        """Take a duty off the rota."""
        duty = await self.session.get(EngineerOnCall, duty_id)
        if duty is None:
            raise OnCallNotFound(f"on-call duty {duty_id} not found")
        await self.session.delete(duty)
        await self.session.flush()


async def provide_on_call(db_session: NamedDependency[AsyncSession]) -> OnCallService:
    return OnCallService(db_session)


class OnCallController(Controller):
    """The on-call rota (staff only: duties carry internal notes)."""

    path = "/api/v1/on-call"
    tags = ["engineers"]
    guards = [requires_staff]
    dependencies = {"on_call": Provide(provide_on_call)}

    @post("/", operation_id="CreateOnCallDuty")
    async def create_duty(
        self,
        on_call: NamedDependency[OnCallService],
        principal: NamedDependency[Principal],
        data: JSONBody[OnCallCreate],
    ) -> OnCallRead:
        """Put an engineer on call: urgent inserts may route them then for critical work."""
        return on_call_read(await on_call.create(data, actor=principal))

    @get("/", operation_id="ListOnCallDuties")
    async def list_duties(
        self,
        on_call: NamedDependency[OnCallService],
        starts_at: Annotated[
            AwareDatetime | None,
            QueryParameter(name="from", description="Overlapping from (default: now)"),
        ] = None,
        days: Annotated[int, QueryParameter(ge=1, le=62, description="How many days on")] = 14,
        engineer_id: Annotated[uuid.UUID | None, QueryParameter(description="One engineer")] = (
            None
        ),
    ) -> list[OnCallRead]:
        """The duties overlapping `from` .. `from` + `days`, by engineer and start."""
        begins = starts_at or datetime.now(ZoneInfo("UTC"))
        if not EARLIEST <= begins < LATEST - timedelta(days=days):
            raise field_error("from", "must lie between the years 2000 and 2199")
        found = await on_call.list(begins, begins + timedelta(days=days), engineer_id=engineer_id)
        return [on_call_read(d) for d in found]

    @delete("/{duty_id:uuid}", operation_id="DeleteOnCallDuty")
    async def delete_duty(
        self, on_call: NamedDependency[OnCallService], duty_id: FromPath[uuid.UUID]
    ) -> None:
        """Take a duty off the rota."""
        await on_call.delete(duty_id)
