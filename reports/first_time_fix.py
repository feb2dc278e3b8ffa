"""First-time fix rate per engineer, equipment model and work type.

A request resolved in the month (at the client, its time zone) was fixed the first time when
one visit went on site for it, it was never reopened, and no new request for the same unit
was opened within `follow_up_days` of its resolution. The engineer is the one of its last
completed visit; requests without equipment count for the engineer and the work type only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated

import msgspec
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from equipment.equipment.models import Equipment, EquipmentModel
from equipment.service_periods.periods import add_months
from fsm.engineers.models import Engineer
from fsm.schemas import Count
from fsm.users.models import User
from fsm.workorders.models import WorkOrder
from reports.formats import Table, Tables
from reports.models import ReportVisitFacts
from reports.sla import Percent, clients_at, near_utc

__all__ = ["FirstTimeFix", "FixGroup", "first_time_fix", "first_time_fix_tables"]

FollowUpDays = Annotated[int, msgspec.Meta(ge=1, le=365)]


class FixGroup(msgspec.Struct, kw_only=True):
    """Requests resolved for one engineer, model or work type, and how many at once."""

    key: str
    name: str
    resolved: Count
    fixed_first_time: Count
    rate_pct: Percent | None


class FirstTimeFix(msgspec.Struct, kw_only=True):
    """First-time fix rates of a month, three ways."""

    month: str
    follow_up_days: Count
    engineers: list[FixGroup]
    equipment_models: list[FixGroup]
    work_types: list[FixGroup]


async def first_time_fix(
    session: AsyncSession,
    month: date,
    *,
    follow_up_days: int = 30,
    client_id: uuid.UUID | None = None,
    engineer_id: uuid.UUID | None = None,
) -> FirstTimeFix:
    """First-time fix rates of the requests resolved in the calendar month of `month`."""
    first = datetime.combine(month.replace(day=1), datetime.min.time())
    following = datetime.combine(add_months(month.replace(day=1), 1), datetime.min.time())
    # The month at each client's midnight, as instants computed once a client.
    bounds = clients_at(starts=first, ends=following)
    # How many visits went on site, and who did the last one: kept per work order by the
    # database (reports.models.ReportVisitFacts), one row to read instead of the visits.
    facts = ReportVisitFacts
    on_site_visits = func.coalesce(facts.on_site_visits, 0)
    engineer_of = facts.engineer_id
    later = aliased(WorkOrder)
    follow_up = (
        select(later.id)
        .where(
            later.equipment_id == WorkOrder.equipment_id,
            later.id != WorkOrder.id,
            later.created_at > WorkOrder.resolved_at,
            later.created_at <= WorkOrder.resolved_at + timedelta(days=follow_up_days),
        )
        .exists()
    )
    rows_of = (
        select(
            WorkOrder.type.label("type"),
            EquipmentModel.id.label("model_id"),
            EquipmentModel.manufacturer.label("maker"),
            EquipmentModel.model.label("model"),
            engineer_of.label("engineer_id"),
            and_(on_site_visits == 1, WorkOrder.reopen_count == 0, ~follow_up).label("fixed"),
        )
        .join(bounds, bounds.c.id == WorkOrder.client_id)
        .outerjoin(facts, facts.work_order_id == WorkOrder.id)
        .outerjoin(Equipment, Equipment.id == WorkOrder.equipment_id)
        .outerjoin(EquipmentModel, EquipmentModel.id == Equipment.model_id)
        .where(
            WorkOrder.resolved_at.is_not(None),
            *near_utc(WorkOrder.resolved_at, first, following),
            WorkOrder.resolved_at >= bounds.c.starts,
            WorkOrder.resolved_at < bounds.c.ends,
        )
    )
    if client_id is not None:
        rows_of = rows_of.where(WorkOrder.client_id == client_id)
    fact = rows_of.subquery()
    # Counted in the database: a month of all clients is tens of thousands of requests.
    grouped = select(
        fact.c.type,
        fact.c.model_id,
        fact.c.maker,
        fact.c.model,
        fact.c.engineer_id,
        fact.c.fixed,
        func.count(),
    ).group_by(
        *(fact.c[name] for name in ("type", "model_id", "maker", "model", "engineer_id", "fixed"))
    )
    if engineer_id is not None:
        grouped = grouped.where(fact.c.engineer_id == engineer_id)
    rows = (await session.execute(grouped)).all()
    engineer_ids = {row[4] for row in rows if row[4] is not None}
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
    by_engineer: dict[str, _Tally] = {}
    by_model: dict[str, _Tally] = {}
    by_type: dict[str, _Tally] = {}
    labels: dict[str, str] = {}
    for kind, model_id, maker, model, engineer, fixed, count in rows:
        keyed = [(by_type, kind.value, kind.value)]
        if model_id is not None:
            keyed.append((by_model, str(model_id), f"{maker} {model}"))
        if engineer is not None:
            keyed.append((by_engineer, str(engineer), names.get(engineer, "")))
        for groups, key, label in keyed:
            tally = groups.setdefault(key, _Tally())
            tally.resolved += count
            tally.fixed += count if fixed else 0
            labels[key] = label
    return FirstTimeFix(
        month=first.strftime("%Y-%m"),
        follow_up_days=follow_up_days,
        engineers=_groups(by_engineer.items(), labels),
        equipment_models=_groups(by_model.items(), labels),
        work_types=_groups(by_type.items(), labels),
    )


@dataclass
class _Tally:
    resolved: int = 0
    fixed: int = 0


def _groups(items: Iterable[tuple[str, _Tally]], labels: dict[str, str]) -> list[FixGroup]:
    return sorted(
        (
            FixGroup(
                key=key,
                name=labels[key],
                resolved=tally.resolved,
                fixed_first_time=tally.fixed,
                rate_pct=round(100 * tally.fixed / tally.resolved, 1),
            )
            for key, tally in items
        ),
        key=lambda g: g.name,
    )


def first_time_fix_tables(report: FirstTimeFix) -> Tables:
    """The first-time fix report as tables."""
    header = ["name", "resolved", "fixed first time", "rate %"]

    def table(name: str, groups: list[FixGroup]) -> Table:
        return Table(
            name=name,
            header=header,
            rows=[[g.name, g.resolved, g.fixed_first_time, g.rate_pct] for g in groups],
        )

    return Tables(
        title=f"First-time fix rate {report.month}",
        notes=[f"No follow-up request for the unit within {report.follow_up_days} days."],
        tables=[
            table("Engineers", report.engineers),
            table("Equipment models", report.equipment_models),
            table("Work types", report.work_types),
        ],
    )
