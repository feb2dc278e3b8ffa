"""Visit wire types."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from fsm.geo import GeoPoint, from_db_point
from fsm.schemas import AwareDatetime, Count
from fsm.workorders.visit_models import Visit, VisitStatus, VisitStatusEvent

EstimatedMinutes = Annotated[int, msgspec.Meta(ge=1, le=24 * 60)]


class VisitCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A visit to plan; required skills default to the work order's."""

    work_order_id: uuid.UUID
    window_starts_at: AwareDatetime
    window_ends_at: AwareDatetime
    estimated_minutes: EstimatedMinutes
    required_skills: list[str] | None = None


class AssignRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Give the visit to an engineer."""

    engineer_id: uuid.UUID
    planned_start_at: AwareDatetime | None = None


class LockRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Lock the visit for planning: to an engineer, to a start time, or both."""

    engineer_id: uuid.UUID | None = None
    start_at: AwareDatetime | None = None


class StatusChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A status change with the device's time and position."""

    status: VisitStatus
    device_at: AwareDatetime | None = None
    location: GeoPoint | None = None
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    labour_minutes: Annotated[int, msgspec.Meta(ge=0, le=24 * 60)] | None = None


class WeeklyHours(msgspec.Struct, frozen=True, kw_only=True):
    """Hours of one weekday (Monday is 0) in which work may start, site local time."""

    weekday: Annotated[int, msgspec.Meta(ge=0, le=6)]
    opens: Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    closes: Annotated[str, msgspec.Meta(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")]


class VisitRead(msgspec.Struct, kw_only=True):
    """A visit."""

    id: uuid.UUID
    work_order_id: uuid.UUID
    status: VisitStatus
    window_starts_at: datetime
    window_ends_at: datetime
    estimated_minutes: Count
    required_skills: list[str]
    engineer_id: uuid.UUID | None
    planned_start_at: datetime | None
    route_position: Count | None
    labour_minutes: Count | None
    completed_at: datetime | None
    version: Count
    # Within the window, the hours work may start (planned maintenance: the contract's
    # preferred weekdays and hours the site is open); empty means the whole window.
    weekly_hours: list[WeeklyHours] = msgspec.field(default_factory=list)
    # Planning keeps a locked visit with this engineer and/or at this start.
    locked_engineer_id: uuid.UUID | None = None
    locked_start_at: datetime | None = None


class StatusEventRead(msgspec.Struct, kw_only=True):
    """One status change of a visit."""

    from_status: VisitStatus | None
    to_status: VisitStatus
    actor_id: uuid.UUID | None
    occurred_at: datetime
    device_at: datetime | None
    location: GeoPoint | None
    note: str | None


def visit_read(visit: Visit) -> VisitRead:
    """Wire form of a visit."""
    return VisitRead(
        id=visit.id,
        work_order_id=visit.work_order_id,
        status=visit.status,
        window_starts_at=visit.window_starts_at,
        window_ends_at=visit.window_ends_at,
        estimated_minutes=visit.estimated_minutes,
        required_skills=[s.code for s in visit.required_skills],
        engineer_id=visit.engineer_id,
        planned_start_at=visit.planned_start_at,
        route_position=visit.route_position,
        labour_minutes=visit.labour_minutes,
        completed_at=visit.completed_at,
        version=visit.version,
        weekly_hours=[WeeklyHours(**h) for h in visit.weekly_hours],
        locked_engineer_id=visit.locked_engineer_id,
        locked_start_at=visit.locked_start_at,
    )


def status_event_read(event: VisitStatusEvent) -> StatusEventRead:
    """Wire form of a visit status change."""
    return StatusEventRead(
        from_status=event.from_status,
        to_status=event.to_status,
        actor_id=event.actor_id,
        occurred_at=event.occurred_at,
        device_at=event.device_at,
        location=from_db_point(event.location),
        note=event.note,
    )
