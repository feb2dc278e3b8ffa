"""Client satisfaction: ratings per client and per engineer with their trend against the
month before, and every low rating with its request, so someone looks at each.

A rating counts in the month (at the client, its time zone) it was given. The engineer of a
rating is the one who completed the request's last completed visit. Low is 1 or 2 of 5.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.service_periods.periods import add_months
from fsm.clients.models import Client
from fsm.engineers.models import Engineer
from fsm.schemas import Count
from fsm.users.models import User
from fsm.workorders.models import WorkOrder, WorkOrderRating
from fsm.workorders.visit_models import Visit, VisitStatus
from reports.formats import Table, Tables, local_time

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
    last_visit = (
        select(Visit.engineer_id)
        .where(Visit.work_order_id == WorkOrder.id, Visit.status == VisitStatus.COMPLETED)
        .order_by(Visit.completed_at.desc(), Visit.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    # The rating's wall-clock time at the client: months are cut at its midnight.
    local = func.timezone(Client.timezone, WorkOrderRating.created_at)
    stmt = (
        select(
            WorkOrderRating,
            WorkOrder.number,
            WorkOrder.title,
            Client.id,
            Client.name,
            last_visit.label("engineer_id"),
            local >= datetime.combine(first, datetime.min.time()),
        )
        .join(WorkOrder, WorkOrder.id == WorkOrderRating.work_order_id)
        .join(Client, Client.id == WorkOrder.client_id)
        .where(
            and_(
                local >= datetime.combine(previous, datetime.min.time()),
                local < datetime.combine(following, datetime.min.time()),
            )
        )
        .order_by(WorkOrderRating.created_at, WorkOrderRating.id)
    )
    if client_id is not None:
        stmt = stmt.where(WorkOrder.client_id == client_id)
    rows = (await session.execute(stmt)).all()
    if engineer_id is not None:
        rows = [row for row in rows if row[5] == engineer_id]
    engineer_ids = {row[5] for row in rows if row[5] is not None}
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
    by_client: dict[uuid.UUID, tuple[str, list[int], list[int]]] = {}
    by_engineer: dict[uuid.UUID, tuple[str, list[int], list[int]]] = {}
    low: list[LowRating] = []
    for rating, number, title, owner, owner_name, engineer, this_month in rows:
        groups = [(by_client, owner, owner_name)]
        if engineer is not None:
            groups.append((by_engineer, engineer, names.get(engineer, "")))
        for table, key, name in groups:
            current, before = table.setdefault(key, (name, [], []))[1:]
            (current if this_month else before).append(rating.score)
        if this_month and rating.score <= LOW_SCORE:
            low.append(
                LowRating(
                    work_order_id=rating.work_order_id,
                    number=number,
                    title=title,
                    client_name=owner_name,
                    engineer_name=names.get(engineer) if engineer else None,
                    score=rating.score,
                    comment=rating.comment,
                    rated_at=rating.created_at,
                )
            )
    return Satisfaction(
        month=first.strftime("%Y-%m"),
        clients=_groups(by_client),
        engineers=_groups(by_engineer),
        low_ratings=low,
    )


def _average(scores: list[int]) -> float | None:
    return round(sum(scores) / len(scores), 2) if scores else None


def _groups(table: dict[uuid.UUID, tuple[str, list[int], list[int]]]) -> list[RatingGroup]:
    out = []
    for key, (name, current, before) in table.items():
        if not current:
            continue  # rated only the month before: nothing to say about this month
        now_avg, then_avg = _average(current), _average(before)
        out.append(
            RatingGroup(
                id=key,
                name=name,
                ratings=len(current),
                average=now_avg,
                previous_ratings=len(before),
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
