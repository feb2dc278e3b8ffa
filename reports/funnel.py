"""The support funnel of a month: requests by channel and stage, how fast they got a first
reaction, the open backlog by age, and the backlog at the end of each day.

Days are the zone's (a client's own zone when one client is asked for, else UTC). A request
leaves the backlog when it is resolved, or closed or cancelled without being resolved
(`updated_at` stands in for when it was cancelled: the status change is its last write).
Reaction times are wall-clock minutes from opening to the first reaction.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import ColumnElement, case, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.service_periods.periods import add_months
from fsm.clients.models import Client
from fsm.schemas import Count
from fsm.workorders.models import Channel, WorkOrder, WorkOrderStatus
from reports.formats import Table, Tables

__all__ = ["Funnel", "funnel", "funnel_tables"]

# Upper bounds of the reaction-time buckets, in minutes; the last bucket is open-ended.
REACTION_BUCKETS = (15, 60, 240, 1440)
# Upper bounds of the open backlog's age buckets, in days.
AGE_BUCKETS = (1, 3, 7, 30)
_OUT = (WorkOrderStatus.RESOLVED, WorkOrderStatus.CLOSED, WorkOrderStatus.CANCELLED)


class StageCount(msgspec.Struct, kw_only=True):
    """Requests opened in the month through one channel, by where they stand now."""

    channel: Channel
    opened: Count
    by_status: dict[str, Count]


class Bucket(msgspec.Struct, kw_only=True):
    """How many fell in one bucket (`up_to` None: above the last bound)."""

    up_to: Count | None
    requests: Count


class DayBacklog(msgspec.Struct, kw_only=True):
    """Open requests at the end of a day."""

    day: date
    open: Count


class Funnel(msgspec.Struct, kw_only=True):
    """The month's funnel."""

    month: str
    timezone: str
    channels: list[StageCount]
    reaction_minutes: list[Bucket]
    without_reaction: Count
    open_by_age_days: list[Bucket]
    backlog: list[DayBacklog]


def _bucket(value: ColumnElement[Any], bounds: tuple[int, ...]) -> ColumnElement[int]:
    return case(*((value <= bound, index) for index, bound in enumerate(bounds)), else_=len(bounds))


async def funnel(
    session: AsyncSession, month: date, *, now: datetime, client_id: uuid.UUID | None = None
) -> Funnel:
    """The funnel of the calendar month of `month` (one client, or all)."""
    zone_name = "UTC"
    scope: list[ColumnElement[bool]] = [true()]
    if client_id is not None:
        client = await session.get(Client, client_id)
        zone_name = client.timezone if client is not None else "UTC"
        scope = [WorkOrder.client_id == client_id]
    zone = ZoneInfo(zone_name)
    first = month.replace(day=1)
    starts_at = datetime.combine(first, time(), zone)
    ends_at = datetime.combine(add_months(first, 1), time(), zone)
    in_month = (*scope, WorkOrder.created_at >= starts_at, WorkOrder.created_at < ends_at)
    channels: dict[Channel, StageCount] = {}
    for channel, status, count in (
        await session.execute(
            select(WorkOrder.channel, WorkOrder.status, func.count())
            .where(*in_month)
            .group_by(WorkOrder.channel, WorkOrder.status)
        )
    ).all():
        line = channels.setdefault(channel, StageCount(channel=channel, opened=0, by_status={}))
        line.opened += count
        line.by_status[status.value] = count
    minutes = func.extract("epoch", WorkOrder.first_response_at - WorkOrder.created_at) / 60
    reaction_bucket = _bucket(minutes, REACTION_BUCKETS)
    reaction: dict[int, int] = dict(
        (
            await session.execute(
                select(reaction_bucket, func.count())
                .where(*in_month, WorkOrder.first_response_at.is_not(None))
                .group_by(reaction_bucket)
            )
        ).all()
    )
    without = await session.scalar(
        select(func.count()).where(*in_month, WorkOrder.first_response_at.is_(None))
    )
    age_days = func.extract("epoch", now - WorkOrder.created_at) / 86400
    age_bucket = _bucket(age_days, AGE_BUCKETS)
    ages: dict[int, int] = dict(
        (
            await session.execute(
                select(age_bucket, func.count())
                .where(*scope, WorkOrder.status.not_in(_OUT), WorkOrder.created_at <= now)
                .group_by(age_bucket)
            )
        ).all()
    )
    left_at = func.coalesce(
        WorkOrder.resolved_at,
        case((WorkOrder.status.in_(_OUT), WorkOrder.closed_at), else_=None),
        case((WorkOrder.status == WorkOrderStatus.CANCELLED, WorkOrder.updated_at), else_=None),
    )
    # The backlog at the month's start, then each day's arrivals and departures.
    at_start = await session.scalar(
        select(func.count()).where(
            *scope,
            WorkOrder.created_at < starts_at,
            (left_at.is_(None)) | (left_at >= starts_at),
        )
    )
    local_day = func.date(func.timezone(zone_name, WorkOrder.created_at))
    arrivals: dict[date, int] = dict(
        (
            await session.execute(
                select(local_day, func.count()).where(*in_month).group_by(local_day)
            )
        ).all()
    )
    left_day = func.date(func.timezone(zone_name, left_at))
    departures: dict[date, int] = dict(
        (
            await session.execute(
                select(left_day, func.count())
                .where(*scope, left_at >= starts_at, left_at < ends_at)
                .group_by(left_day)
            )
        ).all()
    )
    backlog, open_now, day = [], int(at_start or 0), first
    last_day = min(add_months(first, 1) - timedelta(days=1), now.astimezone(zone).date())
    while day <= last_day:
        open_now += arrivals.get(day, 0) - departures.get(day, 0)
        backlog.append(DayBacklog(day=day, open=open_now))
        day += timedelta(days=1)
    return Funnel(
        month=first.strftime("%Y-%m"),
        timezone=zone_name,
        channels=sorted(channels.values(), key=lambda c: c.channel.value),
        reaction_minutes=_buckets(reaction, REACTION_BUCKETS),
        without_reaction=int(without or 0),
        open_by_age_days=_buckets(ages, AGE_BUCKETS),
        backlog=backlog,
    )


def _buckets(counts: dict[int, int], bounds: tuple[int, ...]) -> list[Bucket]:
    return [
        Bucket(up_to=bounds[index] if index < len(bounds) else None, requests=counts.get(index, 0))
        for index in range(len(bounds) + 1)
    ]


def funnel_tables(report: Funnel) -> Tables:
    """The funnel as tables."""
    statuses = [s.value for s in WorkOrderStatus]
    return Tables(
        title=f"Support funnel {report.month}",
        notes=[f"Days in {report.timezone}; reaction in wall-clock minutes."],
        tables=[
            Table(
                name="Channels",
                header=["channel", "opened", *statuses],
                rows=[
                    [c.channel.value, c.opened, *(c.by_status.get(s, 0) for s in statuses)]
                    for c in report.channels
                ],
            ),
            Table(
                name="Reaction minutes",
                header=["up to", "requests"],
                rows=[[b.up_to, b.requests] for b in report.reaction_minutes]
                + [["no reaction", report.without_reaction]],
            ),
            Table(
                name="Open by age (days)",
                header=["up to", "requests"],
                rows=[[b.up_to, b.requests] for b in report.open_by_age_days],
            ),
            Table(
                name="Backlog",
                header=["day", "open"],
                rows=[[d.day.isoformat(), d.open] for d in report.backlog],
            ),
        ],
    )
