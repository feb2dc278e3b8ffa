"""Engineer utilisation per day and week: shift minutes split into travel, on site and idle,
the planned on-site minutes beside the actual ones.

Days are the engineer's (its time zone). Shift minutes come from the weekly shift, the
same local hours on every date, so a day with a daylight-saving change still has the
shift's wall-clock length. Travel is from setting off (`en_route`) to arriving
(`on_site`), on site from arriving to the next move (completed, cancelled, or back), each
counted on the local day it started, by the device's time where the app sent one. Idle is
what the shift leaves (never below zero: work outside the shift is not idle time). Planned
on site is the estimated minutes of the visits planned to start that day.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.engineers.models import Engineer, EngineerShift
from fsm.errors import field_error
from fsm.schemas import Count
from fsm.users.models import User
from fsm.workorders.visit_models import Visit, VisitStatus, VisitStatusEvent
from reports.formats import Table, Tables

__all__ = ["DayUse", "EngineerUse", "Utilisation", "utilisation", "utilisation_tables"]

MAX_DAYS = 62


class DayUse(msgspec.Struct, kw_only=True):
    """One engineer's day (or ISO week: `day` is its Monday)."""

    day: date
    shift_minutes: Count
    planned_on_site_minutes: Count
    travel_minutes: Count
    on_site_minutes: Count
    idle_minutes: Count


class EngineerUse(msgspec.Struct, kw_only=True):
    """An engineer's days and weeks."""

    engineer_id: uuid.UUID
    name: str
    timezone: str
    days: list[DayUse]
    weeks: list[DayUse]


class Utilisation(msgspec.Struct, kw_only=True):
    """Utilisation of the engineers asked for over a range of days."""

    starts_on: date
    ends_on: date
    engineers: list[EngineerUse]


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


async def utilisation(
    session: AsyncSession, start: date, end: date, *, engineer_id: uuid.UUID | None = None
) -> Utilisation:
    """Each engineer's days from `start` to `end` (inclusive) and the ISO weeks they touch."""
    if end < start:
        raise field_error("to", "must not be before from")
    if (end - start).days >= MAX_DAYS:
        raise field_error("to", f"at most {MAX_DAYS} days per request")
    stmt = select(Engineer, User.full_name).join(User, User.id == Engineer.user_id)
    if engineer_id is not None:
        stmt = stmt.where(Engineer.id == engineer_id)
    engineers = (await session.execute(stmt.order_by(User.full_name, Engineer.id))).all()
    ids = [engineer.id for engineer, _ in engineers]
    # Generous bounds in UTC; each event is placed on its engineer's local day below.
    lo = datetime.combine(start - timedelta(days=1), time(), ZoneInfo("UTC"))
    hi = datetime.combine(end + timedelta(days=2), time(), ZoneInfo("UTC"))
    # Travel and on-site time: from an en-route or on-site event to the visit's next event,
    # placed on the engineer's local day of the first one. Summed in the database, which
    # returns a row per engineer, day and kind instead of every event of the team.
    when = func.coalesce(VisitStatusEvent.device_at, VisitStatusEvent.occurred_at)
    paired = (
        select(
            Visit.engineer_id.label("engineer_id"),
            VisitStatusEvent.to_status.label("status"),
            when.label("at"),
            func.lead(when)
            .over(partition_by=VisitStatusEvent.visit_id, order_by=(when, VisitStatusEvent.id))
            .label("next_at"),
        )
        .join(Visit, Visit.id == VisitStatusEvent.visit_id)
        .where(Visit.engineer_id.in_(ids), when >= lo, when < hi)
        .subquery()
    )
    local_day = func.date(func.timezone(Engineer.timezone, paired.c.at))
    spent = (
        (
            await session.execute(
                select(
                    paired.c.engineer_id,
                    local_day,
                    paired.c.status,
                    func.sum(func.extract("epoch", paired.c.next_at - paired.c.at) / 60),
                )
                .join(Engineer, Engineer.id == paired.c.engineer_id)
                .where(
                    paired.c.status.in_((VisitStatus.EN_ROUTE, VisitStatus.ON_SITE)),
                    paired.c.next_at.is_not(None),
                )
                .group_by(paired.c.engineer_id, local_day, paired.c.status)
            )
        ).all()
        if ids
        else []
    )
    planned = (
        (
            await session.execute(
                select(Visit.engineer_id, Visit.planned_start_at, Visit.estimated_minutes).where(
                    Visit.engineer_id.in_(ids),
                    Visit.planned_start_at >= lo,
                    Visit.planned_start_at < hi,
                    Visit.status != VisitStatus.CANCELLED,
                )
            )
        ).all()
        if ids
        else []
    )
    shifts = (
        (
            await session.scalars(select(EngineerShift).where(EngineerShift.engineer_id.in_(ids)))
        ).all()
        if ids
        else []
    )
    # Each engineer's own rows, sorted out once.
    shifts_of: dict[uuid.UUID, list[EngineerShift]] = {}
    for shift in shifts:
        shifts_of.setdefault(shift.engineer_id, []).append(shift)
    planned_of: dict[uuid.UUID, list[tuple[datetime, int]]] = {}
    for owner, starts_at, estimated in planned:
        if starts_at is not None and owner is not None:  # the query filters; nullable columns
            planned_of.setdefault(owner, []).append((starts_at, estimated))
    spent_of: dict[uuid.UUID, list[tuple[date, VisitStatus, float]]] = {}
    for owner, day, status, minutes in spent:
        spent_of.setdefault(owner, []).append((day, status, float(minutes)))
    out = []
    for engineer, name in engineers:
        zone = ZoneInfo(engineer.timezone)
        days = {
            start + timedelta(days=n): [0.0, 0.0, 0.0, 0.0]  # shift, planned, travel, on site
            for n in range((end - start).days + 1)
        }
        for shift in shifts_of.get(engineer.id, []):
            for day, figures in days.items():
                if day.weekday() == shift.weekday:
                    opens = datetime.combine(day, shift.starts_at)
                    figures[0] += _minutes(datetime.combine(day, shift.ends_at) - opens)
        for starts_at, estimated in planned_of.get(engineer.id, []):
            local = starts_at.astimezone(zone).date()
            if local in days:
                days[local][1] += estimated
        for day, status, minutes in spent_of.get(engineer.id, []):
            if day in days:
                days[day][2 if status is VisitStatus.EN_ROUTE else 3] += minutes
        day_lines = [_use(day, figures) for day, figures in days.items()]
        weeks: dict[date, list[float]] = {}
        for day, figures in days.items():
            week = weeks.setdefault(day - timedelta(days=day.weekday()), [0.0, 0.0, 0.0, 0.0])
            for index, value in enumerate(figures):
                week[index] += value
        out.append(
            EngineerUse(
                engineer_id=engineer.id,
                name=name,
                timezone=engineer.timezone,
                days=day_lines,
                weeks=[_use(day, figures) for day, figures in sorted(weeks.items())],
            )
        )
    return Utilisation(starts_on=start, ends_on=end, engineers=out)


def _use(day: date, figures: list[float]) -> DayUse:
    shift, planned, travel, on_site = (round(value) for value in figures)
    return DayUse(
        day=day,
        shift_minutes=shift,
        planned_on_site_minutes=planned,
        travel_minutes=travel,
        on_site_minutes=on_site,
        idle_minutes=max(0, shift - travel - on_site),
    )


def utilisation_tables(report: Utilisation) -> Tables:
    """Utilisation as tables: one row per engineer and day, then per engineer and week."""
    header = ["engineer", "day", "shift", "planned on site", "travel", "on site", "idle"]

    def rows(weekly: bool) -> list[list[str | int | float | None]]:
        return [
            [
                e.name,
                d.day.isoformat(),
                d.shift_minutes,
                d.planned_on_site_minutes,
                d.travel_minutes,
                d.on_site_minutes,
                d.idle_minutes,
            ]
            for e in report.engineers
            for d in (e.weeks if weekly else e.days)
        ]

    return Tables(
        title=f"Engineer utilisation {report.starts_on} to {report.ends_on}",
        notes=["Minutes; days in each engineer's time zone; weeks start on Monday."],
        tables=[
            Table(name="Days", header=header, rows=rows(False)),
            Table(name="Weeks", header=header, rows=rows(True)),
        ],
    )
