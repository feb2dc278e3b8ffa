"""SLA wire types."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from fsm.schemas import Count, Name
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


class CalendarUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A calendar's next version; absent fields stay as they are."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    hours: list[WorkingHours] | msgspec.UnsetType = msgspec.UNSET
    holidays: list[IsoDate] | msgspec.UnsetType = msgspec.UNSET


class CalendarRead(msgspec.Struct, kw_only=True):
    """A business calendar version; `superseded_at` is set once a later version replaced it."""

    id: uuid.UUID
    name: str
    timezone: str
    hours: list[WorkingHours]
    holidays: list[str]
    family_id: uuid.UUID
    version: Count
    superseded_at: datetime | None


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


class PolicyUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A policy's next version; absent fields stay as they are. Open work orders keep the
    version they started on; work opened from now on runs on the new one."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    targets: Targets | msgspec.UnsetType = msgspec.UNSET
    calendar_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    pause_statuses: list[StatusName] | msgspec.UnsetType = msgspec.UNSET
    reaction_statuses: list[StatusName] | msgspec.UnsetType = msgspec.UNSET
    is_default: bool | msgspec.UnsetType = msgspec.UNSET


class PolicyRead(msgspec.Struct, kw_only=True):
    """An SLA policy version; `superseded_at` is set once a later version replaced it."""

    id: uuid.UUID
    name: str
    calendar_id: uuid.UUID | None
    targets: Targets
    pause_statuses: list[str]
    reaction_statuses: list[str]
    is_default: bool
    family_id: uuid.UUID
    version: Count
    superseded_at: datetime | None


def calendar_read(calendar: SlaCalendar) -> CalendarRead:
    """Wire form of a calendar."""
    return CalendarRead(
        id=calendar.id,
        name=calendar.name,
        timezone=calendar.timezone,
        hours=msgspec.convert(calendar.hours, list[WorkingHours]),
        holidays=list(calendar.holidays),
        family_id=calendar.family_id,
        version=calendar.version,
        superseded_at=calendar.superseded_at,
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
        family_id=policy.family_id,
        version=policy.version,
        superseded_at=policy.superseded_at,
    )
