"""Client satisfaction: ratings per client and per engineer with their trend against the
month before, and every low rating with its request, so someone looks at each.

A rating counts in the month (at the client, its time zone) it was given. The engineer of a
rating is the one who completed the request's last completed visit. Low is 1 or 2 of 5.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.service_periods.periods import add_months
from fsm.engineers.models import Engineer
from fsm.schemas import Count
from fsm.users.models import User
from fsm.workorders.models import WorkOrder, WorkOrderRating
from reports.formats import Table, Tables, local_time
from reports.models import ReportVisitFacts
from reports.sla import clients_at, near_utc

__all__ = ["LowRating", "RatingGroup", "Satisfaction", "satisfaction", "satisfaction_tables"]

LOW_SCORE = 2
Average = Annotated[float, msgspec.Meta(ge=1, le=5)]
Trend = Annotated[float, msgspec.Meta(ge=-4, le=4)]


class RatingGroup(msgspec.Struct, kw_only=True):
    """Ratings of one client or engineer: this month and the month before."""

    id: uuid.UUID
    name: str
    ratings: Count
    average: Average | None
    previous_ratings: Count
    previous_average: Average | None
    # This month's average less the previous month's; None unless both have ratings.
    trend: Trend | None


class LowRating(msgspec.Struct, kw_only=True):
    """A rating of 1 or 2 with its request."""

    work_order_id: uuid.UUID
    number: str
    title: str
    client_name: str
    engineer_name: str | None
    score: Count
    comment: str | None
    rated_at: datetime


class Satisfaction(msgspec.Struct, kw_only=True):
    """Ratings of a month, per client and per engineer, and the low ones."""

    month: str
    clients: list[RatingGroup]
    engineers: list[RatingGroup]
    low_ratings: list[LowRating]


async def satisfaction(
    session: AsyncSession,
    month: date,
    *,
    client_id: uuid.UUID | None = None,
    engineer_id: uuid.UUID | None = None,
) -> Satisfaction:
    """The month's ratings (and the previous month's, for the trend)."""
    first = month.replace(day=1)
    previous, following = add_months(first, -1), add_months(first, 1)
    starts, month_starts, ends = (
        datetime.combine(day, datetime.min.time()) for day in (previous, first, following)
    )
    # The engineer of the last completed visit, as the database keeps it per work order.
    engineer = ReportVisitFacts.engineer_id
    # Months are cut at the client's midnight.
    bounds = clients_at(starts=starts, middle=month_starts, ends=ends)
    this_month = (WorkOrderRating.created_at >= bounds.c.middle).label("this_month")
    where = [
        *near_utc(WorkOrderRating.created_at, starts, ends),
        WorkOrderRating.created_at >= bounds.c.starts,
        WorkOrderRating.created_at < bounds.c.ends,
    ]
    if client_id is not None:
        where.append(WorkOrderRating.client_id == client_id)
    if engineer_id is not None:
        where.append(engineer == engineer_id)

    def rated(*columns: Any) -> Select[Any]:
        return (
            select(*columns)
            .select_from(WorkOrderRating)
            .join(bounds, bounds.c.id == WorkOrderRating.client_id)
            .outerjoin(
                ReportVisitFacts, ReportVisitFacts.work_order_id == WorkOrderRating.work_order_id
            )
            .where(*where)
        )

    # Counted in the database, per client and per engineer in one pass; only the low
    # ratings come back one by one, with their order.
    per_client = tuple_(bounds.c.id, bounds.c.name, this_month)
    per_engineer = tuple_(engineer, this_month)
    tallies = (
        await session.execute(
            rated(
                func.grouping(bounds.c.id),
                bounds.c.id,
                bounds.c.name,
                engineer,
                this_month,
                func.count(),
                func.sum(WorkOrderRating.score),
            ).group_by(func.grouping_sets(per_client, per_engineer))
        )
    ).all()
    lows = (
        await session.execute(
            rated(
                WorkOrderRating.work_order_id,
                WorkOrder.number,
                WorkOrder.title,
                bounds.c.name,
                engineer,
                WorkOrderRating.score,
                WorkOrderRating.comment,
                WorkOrderRating.created_at,
            )
            .join(WorkOrder, WorkOrder.id == WorkOrderRating.work_order_id)
            .where(this_month, WorkOrderRating.score <= LOW_SCORE)
            .order_by(WorkOrderRating.created_at, WorkOrderRating.id)
        )
    ).all()
    engineer_ids = {row[3] for row in tallies if row[0] and row[3] is not None}
    names = (
        dict(
            (
                await session.execute(
                    select(Engineer.id, User.full_name)
                    .join(User, User.id == Engineer.user_id)
                    .where(Engineer.id.in_(engineer_ids))
                )
            ).all()
        )
        if engineer_ids
        else {}
    )
    by_client: dict[uuid.UUID, _Group] = {}
    by_engineer: dict[uuid.UUID, _Group] = {}
    for by_engineer_row, owner, owner_name, who, current, count, total in tallies:
        if by_engineer_row:
            if who is None:
                continue  # ratings of requests no engineer completed
            group = by_engineer.setdefault(who, _Group(names.get(who, "")))
        else:
            group = by_client.setdefault(owner, _Group(owner_name))
        if current:
            group.ratings, group.score = group.ratings + count, group.score + total
        else:
            group.before, group.before_score = group.before + count, group.before_score + total
    return Satisfaction(
        month=first.strftime("%Y-%m"),
        clients=_groups(by_client),
        engineers=_groups(by_engineer),
        low_ratings=[
            LowRating(
                work_order_id=order_id,
                number=number,
                title=title,
                client_name=owner_name,
                engineer_name=names.get(who) if who else None,
                score=score,
                comment=comment,
                rated_at=rated_at,
            )
            for order_id, number, title, owner_name, who, score, comment, rated_at in lows
        ],
    )


@dataclass
class _Group:
    name: str
    ratings: int = 0
    score: int = 0
    before: int = 0
    before_score: int = 0


def _average(total: int, count: int) -> float | None:
    return round(total / count, 2) if count else None


def _groups(table: dict[uuid.UUID, _Group]) -> list[RatingGroup]:
    out = []
    for key, group in table.items():
        if not group.ratings:
            continue  # rated only the month before: nothing to say about this month
        now_avg = _average(group.score, group.ratings)
        then_avg = _average(group.before_score, group.before)
        out.append(
            RatingGroup(
                id=key,
                name=group.name,
                ratings=group.ratings,
                average=now_avg,
                previous_ratings=group.before,
                previous_average=then_avg,
                trend=round(now_avg - then_avg, 2)
                if now_avg is not None and then_avg is not None
                else None,
            )
        )
    return sorted(out, key=lambda g: (g.average or 0, g.name))


def satisfaction_tables(report: Satisfaction) -> Tables:
    """The satisfaction report as tables."""
    utc = ZoneInfo("UTC")
    header = ["name", "ratings", "average", "ratings before", "average before", "trend"]

    def rows(groups: list[RatingGroup]) -> list[list[str | int | float | None]]:
        return [
            [g.name, g.ratings, g.average, g.previous_ratings, g.previous_average, g.trend]
            for g in groups
        ]

    return Tables(
        title=f"Client satisfaction {report.month}",
        notes=["Ratings 1-5; low is 1 or 2. Rated times in UTC."],
        tables=[
            Table(name="Clients", header=header, rows=rows(report.clients)),
            Table(name="Engineers", header=header, rows=rows(report.engineers)),
            Table(
                name="Low ratings",
                header=["number", "title", "client", "engineer", "score", "comment", "rated"],
                rows=[
                    [
                        r.number,
                        r.title,
                        r.client_name,
                        r.engineer_name,
                        r.score,
                        r.comment,
                        local_time(r.rated_at, utc),
                    ]
                    for r in report.low_ratings
                ],
            ),
        ],
    )
