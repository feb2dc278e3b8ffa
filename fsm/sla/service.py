"""SLA policies and business calendars (the clock of a work order: fsm/workorders/sla_clock.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.db import utcnow
from fsm.errors import Conflict, NotFound, field_error, reference_error
from fsm.schemas import check_timezone
from fsm.sla.calendar import BusinessCalendar
from fsm.sla.models import SlaCalendar, SlaPolicy
from fsm.sla.schemas import CalendarCreate, CalendarUpdate, PolicyCreate, PolicyUpdate, Targets


class CalendarNotFound(NotFound):
    """No such business calendar."""


class PolicyNotFound(NotFound):
    """No such SLA policy."""


class NameTaken(Conflict):
    """Another calendar or policy has this name."""


class VersionSuperseded(Conflict):
    """A later version replaced this one; only the current version is edited."""


def _check_calendar(timezone: str, hours: list[dict[str, Any]], holidays: list[str]) -> None:
    check_timezone(timezone)
    try:
        BusinessCalendar.from_json(timezone, hours, holidays)
    except ValueError as exc:
        # The calendar names the bad entry first: "holidays[1] ..." or "hours[2] ...".
        field = "holidays" if str(exc).startswith("holidays") else "hours"
        raise field_error(field, str(exc)) from exc


def _targets_json(targets: Targets) -> dict[str, Any]:
    return {
        p: {"reaction_minutes": t.reaction_minutes, "resolution_minutes": t.resolution_minutes}
        for p, t in (
            ("low", targets.low),
            ("normal", targets.normal),
            ("high", targets.high),
            ("critical", targets.critical),
        )
    }


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
        hours = [{"weekday": h.weekday, "start": h.start, "end": h.end} for h in data.hours]
        _check_calendar(data.timezone, hours, data.holidays)
        await self._check_calendar_name(data.name, None)
        calendar = SlaCalendar(
            name=data.name, timezone=data.timezone, hours=hours, holidays=sorted(data.holidays)
        )
        self.session.add(calendar)
        await self.session.flush()
        return calendar

    async def _check_calendar_name(self, name: str, family_id: uuid.UUID | None) -> None:
        holder = await self.session.scalar(
            select(SlaCalendar.family_id).where(
                SlaCalendar.name == name, SlaCalendar.superseded_at.is_(None)
            )
        )
        if holder is not None and holder != family_id:
            raise NameTaken(f"a calendar named {name} exists", details={"field": "name"})

    async def list_calendars(self) -> Sequence[SlaCalendar]:
        """The current version of every calendar."""
        return (
            await self.session.scalars(
                select(SlaCalendar)
                .where(SlaCalendar.superseded_at.is_(None))
                .order_by(SlaCalendar.name)
            )
        ).all()

    async def get_calendar(self, calendar_id: uuid.UUID) -> SlaCalendar:
        """Any version of a calendar."""
        calendar = await self.session.get(SlaCalendar, calendar_id)
        if calendar is None:
            raise CalendarNotFound(f"calendar {calendar_id} not found")
        return calendar

    async def calendar_versions(self, calendar_id: uuid.UUID) -> Sequence[SlaCalendar]:
        """Every version of the calendar, oldest first."""
        calendar = await self.get_calendar(calendar_id)
        stmt = (
            select(SlaCalendar)
            .where(SlaCalendar.family_id == calendar.family_id)
            .order_by(SlaCalendar.version)
        )
        return (await self.session.scalars(stmt)).all()

    async def update_calendar(self, calendar_id: uuid.UUID, data: CalendarUpdate) -> SlaCalendar:
        """Write the calendar's next version, and the next version of every current policy on
        it: work opened from now on counts on the new hours, open work keeps its own."""
        old = await self.get_calendar(calendar_id)
        if old.superseded_at is not None:
            raise VersionSuperseded(
                f"calendar version {old.version} was replaced; edit the current version",
                details={"field": "id"},
            )
        name = old.name if isinstance(data.name, msgspec.UnsetType) else data.name
        timezone = old.timezone if isinstance(data.timezone, msgspec.UnsetType) else data.timezone
        hours = (
            old.hours
            if isinstance(data.hours, msgspec.UnsetType)
            else [{"weekday": h.weekday, "start": h.start, "end": h.end} for h in data.hours]
        )
        holidays = (
            old.holidays if isinstance(data.holidays, msgspec.UnsetType) else sorted(data.holidays)
        )
        if (name, timezone, hours, holidays) == (old.name, old.timezone, old.hours, old.holidays):
            return old
        _check_calendar(timezone, hours, holidays)
        await self._check_calendar_name(name, old.family_id)
        now = utcnow()
        old.superseded_at = now
        await self.session.flush()
        new = SlaCalendar(
            name=name,
            timezone=timezone,
            hours=hours,
            holidays=holidays,
            family_id=old.family_id,
            version=old.version + 1,
        )
        self.session.add(new)
        await self.session.flush()
        on_it = (
            await self.session.scalars(
                select(SlaPolicy).where(
                    SlaPolicy.calendar_id == old.id, SlaPolicy.superseded_at.is_(None)
                )
            )
        ).all()
        for policy in on_it:
            await self._next_policy_version(policy, {"calendar_id": new.id}, now)
        return new

    async def create_policy(self, data: PolicyCreate) -> SlaPolicy:
        """Add a policy; making it the default takes that role from the previous one."""
        await self._check_policy_calendar(data.calendar_id)
        await self._check_policy_name(data.name, None)
        if data.is_default:
            await self.session.execute(
                update(SlaPolicy).where(SlaPolicy.is_default).values(is_default=False)
            )
        policy = SlaPolicy(
            name=data.name,
            calendar_id=data.calendar_id,
            targets=_targets_json(data.targets),
            pause_statuses=sorted(set(data.pause_statuses)),
            reaction_statuses=sorted(set(data.reaction_statuses)),
            is_default=data.is_default,
        )
        self.session.add(policy)
        await self.session.flush()
        await self.session.refresh(policy, ["calendar"])
        return policy

    async def _check_policy_calendar(self, calendar_id: uuid.UUID | None) -> None:
        if calendar_id is None:
            return
        calendar = await self.session.get(SlaCalendar, calendar_id)
        if calendar is None:
            raise reference_error("calendar_id", "no such calendar")
        if calendar.superseded_at is not None:
            raise field_error("calendar_id", "a replaced calendar version; name the current one")

    async def _check_policy_name(self, name: str, family_id: uuid.UUID | None) -> None:
        holder = await self.session.scalar(
            select(SlaPolicy.family_id).where(
                SlaPolicy.name == name, SlaPolicy.superseded_at.is_(None)
            )
        )
        if holder is not None and holder != family_id:
            raise NameTaken(f"a policy named {name} exists", details={"field": "name"})

    async def list_policies(self) -> Sequence[SlaPolicy]:
        """The current version of every policy."""
        return (
            await self.session.scalars(
                select(SlaPolicy).where(SlaPolicy.superseded_at.is_(None)).order_by(SlaPolicy.name)
            )
        ).all()

    async def get_policy(self, policy_id: uuid.UUID) -> SlaPolicy:
        """Any version of a policy."""
        policy = await self.session.get(SlaPolicy, policy_id)
        if policy is None:
            raise PolicyNotFound(f"SLA policy {policy_id} not found")
        return policy

    async def current_policy(self, policy_id: uuid.UUID) -> SlaPolicy:
        """The current version of the policy any of whose versions is `policy_id` (what a
        contract names keeps meaning the policy, whatever edits came after)."""
        return (await self.current_policies({policy_id}))[policy_id]

    async def current_policies(self, policy_ids: set[uuid.UUID]) -> dict[uuid.UUID, SlaPolicy]:
        """`current_policy` for many ids at once."""
        if not policy_ids:
            return {}
        given = (
            await self.session.execute(
                select(SlaPolicy.id, SlaPolicy.family_id).where(SlaPolicy.id.in_(policy_ids))
            )
        ).all()
        missing = policy_ids - {row.id for row in given}
        if missing:
            raise PolicyNotFound(f"SLA policy {sorted(missing)[0]} not found")
        current = {
            p.family_id: p
            for p in (
                await self.session.scalars(
                    select(SlaPolicy).where(
                        SlaPolicy.family_id.in_({row.family_id for row in given}),
                        SlaPolicy.superseded_at.is_(None),
                    )
                )
            ).all()
        }
        return {row.id: current[row.family_id] for row in given}

    async def policy_versions(self, policy_id: uuid.UUID) -> Sequence[SlaPolicy]:
        """Every version of the policy, oldest first."""
        policy = await self.get_policy(policy_id)
        stmt = (
            select(SlaPolicy)
            .where(SlaPolicy.family_id == policy.family_id)
            .order_by(SlaPolicy.version)
        )
        return (await self.session.scalars(stmt)).all()

    async def update_policy(self, policy_id: uuid.UUID, data: PolicyUpdate) -> SlaPolicy:
        """Write the policy's next version: work opened from now on runs on it, open work
        keeps the version it started on (its deadlines do not move)."""
        old = await self.get_policy(policy_id)
        if old.superseded_at is not None:
            raise VersionSuperseded(
                f"policy version {old.version} was replaced; edit the current version",
                details={"field": "id"},
            )
        changes: dict[str, Any] = {
            k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET
        }
        if "targets" in changes:
            changes["targets"] = _targets_json(data.targets)  # type: ignore[arg-type]
        for name in ("pause_statuses", "reaction_statuses"):
            if name in changes:
                changes[name] = sorted(set(changes[name]))
        changes = {k: v for k, v in changes.items() if getattr(old, k) != v}
        if not changes:
            return old
        if "calendar_id" in changes:
            await self._check_policy_calendar(changes["calendar_id"])
        if "name" in changes:
            await self._check_policy_name(changes["name"], old.family_id)
        return await self._next_policy_version(old, changes, utcnow())

    async def _next_policy_version(
        self, old: SlaPolicy, changes: dict[str, Any], now: datetime
    ) -> SlaPolicy:
        is_default = changes.pop("is_default", old.is_default)
        old.superseded_at = now
        old.is_default = False
        await self.session.flush()
        if is_default:
            await self.session.execute(
                update(SlaPolicy).where(SlaPolicy.is_default).values(is_default=False)
            )
        terms: dict[str, Any] = {
            "name": old.name,
            "calendar_id": old.calendar_id,
            "targets": old.targets,
            "pause_statuses": old.pause_statuses,
            "reaction_statuses": old.reaction_statuses,
        }
        terms.update(changes)
        new = SlaPolicy(
            **terms, is_default=is_default, family_id=old.family_id, version=old.version + 1
        )
        self.session.add(new)
        await self.session.flush()
        await self.session.refresh(new, ["calendar"])
        return new

    async def default_policy(self) -> SlaPolicy | None:
        """The policy for work no contract covers."""
        return (
            await self.session.scalars(select(SlaPolicy).where(SlaPolicy.is_default))
        ).one_or_none()
