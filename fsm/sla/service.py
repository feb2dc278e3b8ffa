"""SLA policies and business calendars (the clock of a work order: fsm/workorders/sla_clock.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.errors import Conflict, NotFound, field_error, reference_error
from fsm.schemas import check_timezone
from fsm.sla.calendar import BusinessCalendar
from fsm.sla.models import SlaCalendar, SlaPolicy
from fsm.sla.schemas import CalendarCreate, PolicyCreate


class CalendarNotFound(NotFound):
    """No such business calendar."""


class PolicyNotFound(NotFound):
    """No such SLA policy."""


class NameTaken(Conflict):
    """Another calendar or policy has this name."""


def business_calendar(policy: SlaPolicy) -> BusinessCalendar:
    """The calendar a policy's minutes run on (around the clock when it names none)."""
    if policy.calendar is None:
        return BusinessCalendar.always_open()
    return BusinessCalendar.from_json(
        policy.calendar.timezone, policy.calendar.hours, policy.calendar.holidays
    )


class SlaService:
    """Policies and calendars: what the back office sets up once."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- calendars and policies ---------------------------------------------------------

    async def create_calendar(self, data: CalendarCreate) -> SlaCalendar:
        """Add a business calendar; its hours and holidays are checked before saving."""
        check_timezone(data.timezone)
        hours = [{"weekday": h.weekday, "start": h.start, "end": h.end} for h in data.hours]
        try:
            BusinessCalendar.from_json(data.timezone, hours, data.holidays)
        except ValueError as exc:
            # The calendar names the bad entry first: "holidays[1] ..." or "hours[2] ...".
            field = "holidays" if str(exc).startswith("holidays") else "hours"
            raise field_error(field, str(exc)) from exc
        if await self.session.scalar(select(SlaCalendar.id).where(SlaCalendar.name == data.name)):
            raise NameTaken(f"a calendar named {data.name} exists", details={"field": "name"})
        calendar = SlaCalendar(
            name=data.name, timezone=data.timezone, hours=hours, holidays=sorted(data.holidays)
        )
        self.session.add(calendar)
        await self.session.flush()
        return calendar

    async def list_calendars(self) -> Sequence[SlaCalendar]:
        return (await self.session.scalars(select(SlaCalendar).order_by(SlaCalendar.name))).all()

    async def create_policy(self, data: PolicyCreate) -> SlaPolicy:
        """Add a policy; making it the default takes that role from the previous one."""
        if (
            data.calendar_id is not None
            and await self.session.get(SlaCalendar, data.calendar_id) is None
        ):
            raise reference_error("calendar_id", "no such calendar")
        if await self.session.scalar(select(SlaPolicy.id).where(SlaPolicy.name == data.name)):
            raise NameTaken(f"a policy named {data.name} exists", details={"field": "name"})
        if data.is_default:
            await self.session.execute(
                update(SlaPolicy).where(SlaPolicy.is_default).values(is_default=False)
            )
        targets = {
            p: {"reaction_minutes": t.reaction_minutes, "resolution_minutes": t.resolution_minutes}
            for p, t in (
                ("low", data.targets.low),
                ("normal", data.targets.normal),
                ("high", data.targets.high),
                ("critical", data.targets.critical),
            )
        }
        policy = SlaPolicy(
            name=data.name,
            calendar_id=data.calendar_id,
            targets=targets,
            pause_statuses=sorted(set(data.pause_statuses)),
            reaction_statuses=sorted(set(data.reaction_statuses)),
            is_default=data.is_default,
        )
        self.session.add(policy)
        await self.session.flush()
        await self.session.refresh(policy, ["calendar"])
        return policy

    async def list_policies(self) -> Sequence[SlaPolicy]:
        return (await self.session.scalars(select(SlaPolicy).order_by(SlaPolicy.name))).all()

    async def get_policy(self, policy_id: uuid.UUID) -> SlaPolicy:
        policy = await self.session.get(SlaPolicy, policy_id)
        if policy is None:
            raise PolicyNotFound(f"SLA policy {policy_id} not found")
        return policy

    async def default_policy(self) -> SlaPolicy | None:
        """The policy for work no contract covers."""
        return (
            await self.session.scalars(select(SlaPolicy).where(SlaPolicy.is_default))
        ).one_or_none()
