"""SLA wire types."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from fsm.schemas import Name
from fsm.sla.models import SlaCalendar, SlaPolicy

ClockTime = Annotated[str, msgspec.Meta(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")]
IsoDate = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
Minutes = Annotated[int, msgspec.Meta(ge=1, le=525_600)]
PRIORITIES = ("low", "normal", "high", "critical")
WORK_ORDER_STATUSES = (
    "new",
    "scheduled",
    "in_progress",
    "on_hold",
    "resolved",
    "reopened",
    "closed",
    "cancelled",
)
StatusName = Annotated[str, msgspec.Meta(pattern="^(" + "|".join(WORK_ORDER_STATUSES) + ")$")]


class WorkingHours(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One open stretch on a weekday (Monday is 0), local time; `end` may be 24:00."""

    weekday: Annotated[int, msgspec.Meta(ge=0, le=6)]
    start: ClockTime
    end: ClockTime


class CalendarCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A business calendar."""

    name: Name
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    hours: list[WorkingHours]
    holidays: list[IsoDate] = msgspec.field(default_factory=list)


class CalendarRead(msgspec.Struct, kw_only=True):
    """A business calendar."""

    id: uuid.UUID
    name: str
    timezone: str
    hours: list[WorkingHours]
    holidays: list[str]


class Target(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Minutes to react and to resolve, for one priority."""

    reaction_minutes: Minutes
    resolution_minutes: Minutes


class Targets(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Targets for every priority."""

    low: Target
    normal: Target
    high: Target
    critical: Target


class PolicyCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An SLA policy; without a calendar its minutes run around the clock."""

    name: Name
    targets: Targets
    calendar_id: uuid.UUID | None = None
    pause_statuses: list[StatusName] = msgspec.field(default_factory=lambda: ["on_hold"])
    reaction_statuses: list[StatusName] = msgspec.field(
        default_factory=lambda: ["scheduled", "in_progress", "resolved", "closed"]
    )
    is_default: bool = False


class PolicyRead(msgspec.Struct, kw_only=True):
    """An SLA policy."""

    id: uuid.UUID
    name: str
    calendar_id: uuid.UUID | None
    targets: Targets
    pause_statuses: list[str]
    reaction_statuses: list[str]
    is_default: bool


def calendar_read(calendar: SlaCalendar) -> CalendarRead:
    """Wire form of a calendar."""
    return CalendarRead(
        id=calendar.id,
        name=calendar.name,
        timezone=calendar.timezone,
        hours=msgspec.convert(calendar.hours, list[WorkingHours]),
        holidays=list(calendar.holidays),
    )


def policy_read(policy: SlaPolicy) -> PolicyRead:
    """Wire form of a policy."""
    return PolicyRead(
        id=policy.id,
        name=policy.name,
        calendar_id=policy.calendar_id,
        targets=msgspec.convert(policy.targets, Targets),
        pause_statuses=list(policy.pause_statuses),
        reaction_statuses=list(policy.reaction_statuses),
        is_default=policy.is_default,
    )
