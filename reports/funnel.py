"""The support funnel of a month: requests by channel and stage, how fast they got a first
reaction, the open backlog by age, and the backlog at the end of each day.

Days are the zone's (a client's own zone when one client is asked for, else UTC). A request
leaves the backlog when it is resolved, or closed or cancelled without being resolved
(`updated_at` stands in for when it was cancelled: the status change is its last write).
Reaction times are wall-clock minutes from opening to the first reaction. Both rules are
SQL functions of migration 0023 (`report_left_at`, `report_reaction_bucket`).

One client's funnel is counted from its own work orders. All clients' is read from the day
rollups the database keeps (`reports.models`), so it costs the same at a million work
orders as at a thousand.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.service_periods.periods import add_months
from fsm.clients.models import Client
from fsm.schemas import Count
from fsm.workorders.models import Channel, WorkOrder, WorkOrderStatus
from reports.formats import Table, Tables
from reports.models import ReportLeftDay, ReportOpenedDay

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


@dataclass
class _Counts:
    """What the funnel is made of, however it was counted."""

    channels: dict[Channel, StageCount] = field(default_factory=dict)
    reaction: dict[int, int] = field(default_factory=dict)  # bucket -> requests; -1: none
    ages: dict[int, int] = field(default_factory=dict)
    at_start: int = 0
    arrivals: dict[date, int] = field(default_factory=dict)
    departures: dict[date, int] = field(default_factory=dict)

    def add_stage(self, channel: Channel, status: WorkOrderStatus, count: int) -> None:
        line = self.channels.setdefault(
            channel, StageCount(channel=channel, opened=0, by_status={})
        )
        line.opened += count
        line.by_status[status.value] = line.by_status.get(status.value, 0) + count


def left_at() -> ColumnElement[datetime]:
    """When a work order left the backlog (migration 0023's `report_left_at` owns the rule)."""
    return func.report_left_at(
        WorkOrder.status, WorkOrder.resolved_at, WorkOrder.closed_at, WorkOrder.updated_at
    )


async def funnel(
    session: AsyncSession, month: date, *, now: datetime, client_id: uuid.UUID | None = None
) -> Funnel:
    """The funnel of the calendar month of `month` (one client, or all)."""
    first = month.replace(day=1)
    if client_id is None:
        zone_name = "UTC"
        counts = await _all_clients(session, first, now)
    else:
        client = await session.get(Client, client_id)
        zone_name = client.timezone if client is not None else "UTC"
        counts = await _one_client(session, client_id, ZoneInfo(zone_name), first, now)
    backlog, open_now, day = [], counts.at_start, first
    last_day = min(
        add_months(first, 1) - timedelta(days=1), now.astimezone(ZoneInfo(zone_name)).date()
    )
    while day <= last_day:
        open_now += counts.arrivals.get(day, 0) - counts.departures.get(day, 0)
        backlog.append(DayBacklog(day=day, open=open_now))
        day += timedelta(days=1)
    return Funnel(
        month=first.strftime("%Y-%m"),
        timezone=zone_name,
        channels=sorted(counts.channels.values(), key=lambda c: c.channel.value),
        reaction_minutes=_buckets(counts.reaction, REACTION_BUCKETS),
        without_reaction=counts.reaction.get(-1, 0),
        open_by_age_days=_buckets(counts.ages, AGE_BUCKETS),
        backlog=backlog,
    )


async def _one_client(
    session: AsyncSession, client_id: uuid.UUID, zone: ZoneInfo, first: date, now: datetime
) -> _Counts:
    """Counted from the client's own work orders (index on client and creation time)."""
    zone_name = zone.key
    starts_at = datetime.combine(first, time(), zone)
    ends_at = datetime.combine(add_months(first, 1), time(), zone)
    mine = WorkOrder.client_id == client_id
    in_month = (mine, WorkOrder.created_at >= starts_at, WorkOrder.created_at < ends_at)
    counts = _Counts()
    for channel, status, count in (
        await session.execute(
            select(WorkOrder.channel, WorkOrder.status, func.count())
            .where(*in_month)
            .group_by(WorkOrder.channel, WorkOrder.status)
        )
    ).all():
        counts.add_stage(channel, status, count)
    reaction_bucket = func.report_reaction_bucket(WorkOrder.created_at, WorkOrder.first_response_at)
    counts.reaction = dict(
        (
            await session.execute(
                select(reaction_bucket, func.count()).where(*in_month).group_by(reaction_bucket)
            )
        ).all()
    )
    age_days = func.extract("epoch", now - WorkOrder.created_at) / 86400
    age_bucket = case(
        *((age_days <= bound, index) for index, bound in enumerate(AGE_BUCKETS)),
        else_=len(AGE_BUCKETS),
    )
    counts.ages = dict(
        (
            await session.execute(
                select(age_bucket, func.count())
                .where(mine, WorkOrder.status.not_in(_OUT), WorkOrder.created_at <= now)
                .group_by(age_bucket)
            )
        ).all()
    )
    left = left_at()
    # The backlog at the month's start, then each day's arrivals and departures.
    counts.at_start = int(
        await session.scalar(
            select(func.count()).where(
                mine, WorkOrder.created_at < starts_at, (left.is_(None)) | (left >= starts_at)
            )
        )
        or 0
    )
    local_day = func.date(func.timezone(zone_name, WorkOrder.created_at))
    counts.arrivals = dict(
        (
            await session.execute(
                select(local_day, func.count()).where(*in_month).group_by(local_day)
            )
        ).all()
    )
    left_day = func.date(func.timezone(zone_name, left))
    counts.departures = dict(
        (
            await session.execute(
                select(left_day, func.count())
                .where(mine, left >= starts_at, left < ends_at)
                .group_by(left_day)
            )
        ).all()
    )
    return counts


async def _all_clients(session: AsyncSession, first: date, now: datetime) -> _Counts:
    """Counted from the day rollups (UTC days): a month's funnel reads a few thousand rows
    whatever the history's length. Only the open backlog's ages need exact instants: the
    rollup counts whole days, and the days an age bound falls in are counted from the work
    orders themselves (index on creation time)."""
    following = add_months(first, 1)
    opened, gone = ReportOpenedDay, ReportLeftDay
    in_month = (opened.day >= first, opened.day < following)
    counts = _Counts()
    for channel, status, count in (
        await session.execute(
            select(opened.channel, opened.status, func.sum(opened.requests))
            .where(*in_month)
            .group_by(opened.channel, opened.status)
            .having(func.sum(opened.requests) != 0)
        )
    ).all():
        counts.add_stage(channel, status, int(count))
    counts.reaction = {
        bucket: int(count)
        for bucket, count in (
            await session.execute(
                select(opened.reaction_bucket, func.sum(opened.requests))
                .where(*in_month)
                .group_by(opened.reaction_bucket)
            )
        ).all()
    }
    counts.arrivals = {
        day: int(count)
        for day, count in (
            await session.execute(
                select(opened.day, func.sum(opened.requests)).where(*in_month).group_by(opened.day)
            )
        ).all()
    }
    counts.departures = {
        day: int(count)
        for day, count in (
            await session.execute(
                select(gone.day, func.sum(gone.requests))
                .where(gone.day >= first, gone.day < following)
                .group_by(gone.day)
            )
        ).all()
    }
    # Every request opened before the month that had not left before it.
    opened_before = await session.scalar(
        select(func.sum(opened.requests)).where(opened.day < first)
    )
    left_before = await session.scalar(select(func.sum(gone.requests)).where(gone.day < first))
    counts.at_start = int(opened_before or 0) - int(left_before or 0)
    counts.ages = await _open_ages(session, now)
    return counts


async def _open_ages(session: AsyncSession, now: datetime) -> dict[int, int]:
    """Open requests (all clients) by age bucket, at `now`."""
    today = now.astimezone(UTC).date()
    opened = ReportOpenedDay
    per_day: dict[date, int] = {
        day: int(count)
        for day, count in (
            await session.execute(
                select(opened.day, func.sum(opened.requests))
                .where(opened.day < today, opened.status.not_in(_OUT))
                .group_by(opened.day)
            )
        ).all()
    }
    # Opened since each bound (age <= bound days), and since ever; the day a bound falls in
    # and today so far are counted exactly.
    since = [now - timedelta(days=bound) for bound in AGE_BUCKETS]
    midnight = datetime.combine(today, time(), UTC)

    def rest_of_day(start: datetime) -> ColumnElement[bool]:
        next_midnight = datetime.combine(start.astimezone(UTC).date(), time(), UTC)
        next_midnight += timedelta(days=1)
        return (WorkOrder.created_at >= start) & (WorkOrder.created_at < next_midnight)

    so_far = (WorkOrder.created_at >= midnight) & (WorkOrder.created_at <= now)
    row = (
        await session.execute(
            select(
                *(func.count().filter(rest_of_day(start)) for start in since),
                func.count().filter(so_far),
            ).where(WorkOrder.status.not_in(_OUT), or_(*(rest_of_day(s) for s in since), so_far))
        )
    ).one()
    todays = int(row[-1])
    opened_since = [
        todays
        + int(row[index])
        + sum(n for day, n in per_day.items() if day > start.astimezone(UTC).date())
        for index, start in enumerate(since)
    ]
    everything = todays + sum(per_day.values())
    ages: dict[int, int] = {}
    below = 0
    for index, count in enumerate([*opened_since, everything]):
        ages[index] = count - below
        below = count
    return ages


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
