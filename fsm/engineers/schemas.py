"""Engineer wire types."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from fsm.engineers.models import Engineer
from fsm.geo import GeoPoint, from_db_point
from fsm.schemas import Count, Email, LocalTime, Name, Phone
from fsm.skills.schemas import SkillCode, SkillRead, skill_read

MaxVisits = Annotated[int, msgspec.Meta(ge=1, le=50)]
Timezone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["Europe/Berlin"])]


class Shift(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One working stretch on a weekday (Monday is 0), engineer's local time."""

    weekday: Annotated[int, msgspec.Meta(ge=0, le=6)]
    starts_at: LocalTime
    ends_at: LocalTime


class EngineerCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new engineer and the user they sign in as."""

    email: Email
    full_name: Name
    password: Annotated[str, msgspec.Meta(min_length=10, max_length=200)]
    home_base: GeoPoint
    timezone: Timezone
    phone: Phone | None = None
    max_visits_per_day: MaxVisits = 8
    skills: list[SkillCode] = msgspec.field(default_factory=list)
    shifts: list[Shift] = msgspec.field(default_factory=list)


class EngineerUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields to change on an engineer; absent fields stay as they are."""

    phone: Phone | msgspec.UnsetType | None = msgspec.UNSET
    home_base: GeoPoint | msgspec.UnsetType = msgspec.UNSET
    timezone: Timezone | msgspec.UnsetType = msgspec.UNSET
    max_visits_per_day: MaxVisits | msgspec.UnsetType = msgspec.UNSET


class SkillsReplace(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The engineer's complete set of skills."""

    skills: list[SkillCode]


class ShiftsReplace(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The engineer's complete weekly shift."""

    shifts: list[Shift]


class EngineerRead(msgspec.Struct, kw_only=True):
    """An engineer with skills, home base and weekly shift."""

    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    full_name: str
    phone: str | None
    timezone: str
    home_base: GeoPoint
    max_visits_per_day: Count
    skills: list[SkillRead]
    shifts: list[Shift]
    last_location: GeoPoint | None
    last_location_at: datetime | None
    is_active: bool


def engineer_read(engineer: Engineer) -> EngineerRead:
    """Wire form of an engineer."""
    home = from_db_point(engineer.home_base)
    assert home is not None  # the column is NOT NULL
    return EngineerRead(
        id=engineer.id,
        user_id=engineer.user_id,
        email=engineer.user.email,
        full_name=engineer.user.full_name,
        phone=engineer.phone,
        timezone=engineer.timezone,
        home_base=home,
        max_visits_per_day=engineer.max_visits_per_day,
        skills=[skill_read(s) for s in engineer.skills],
        shifts=[
            Shift(weekday=s.weekday, starts_at=s.starts_at, ends_at=s.ends_at)
            for s in engineer.shifts
        ],
        last_location=from_db_point(engineer.last_location),
        last_location_at=engineer.last_location_at,
        is_active=engineer.user.is_active,
    )
