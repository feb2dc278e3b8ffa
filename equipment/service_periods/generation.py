"""Planned maintenance: service periods coming due become work orders with one visit each.

Set-based: one query finds the periods, deadlines are computed once per SLA policy (every
order of a run opens at the same instant), and rows go in with multi-row INSERTs. Running it
twice creates nothing twice: periods already linked are skipped, and the unique
`work_orders.service_period_id` refuses a duplicate should two runs ever race past the
advisory lock the scheduler takes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import Contract, ContractStatus, Coverage
from equipment.equipment.models import Equipment, EquipmentModel, EquipmentStatus
from equipment.service_periods.models import PeriodStatus, ServicePeriod
from fsm.sites.models import Site
from fsm.skills.models import Skill
from fsm.visits.models import Visit, VisitStatus, visit_skills
from fsm.workorders.models import (
    WorkOrder,
)
from fsm.workorders.service import ScheduledWork, WorkOrderService

BATCH = 5_000


def visit_window(
    starts_on: date, ends_on: date, timezone: str, opening_hours: Sequence[dict[str, Any]]
) -> tuple[datetime, datetime]:
    """The period's days clipped to the site's opening hours, as UTC instants.

    From the first opening on or after the first day to the last closing on or before the
    last day; a site without opening hours is open all day.
    """
    zone = ZoneInfo(timezone)
    opens: dict[int, time] = {}
    closes: dict[int, time] = {}
    for entry in opening_hours:
        weekday = int(entry["weekday"])
        o, c = time.fromisoformat(entry["opens"]), time.fromisoformat(entry["closes"])
        opens[weekday] = min(opens.get(weekday, o), o)
        closes[weekday] = max(closes.get(weekday, c), c)
    start = datetime.combine(starts_on, time(), zone)
    end = datetime.combine(ends_on + timedelta(days=1), time(), zone)
    if opens:
        span = (ends_on - starts_on).days
        first = next(
            (
                starts_on + timedelta(days=i)
                for i in range(min(7, span + 1))
                if (starts_on + timedelta(days=i)).weekday() in opens
            ),
            None,
        )
        last = next(
            (
                ends_on - timedelta(days=i)
                for i in range(min(7, span + 1))
                if (ends_on - timedelta(days=i)).weekday() in closes
            ),
            None,
        )
        if first is not None and last is not None:
            start = datetime.combine(first, opens[first.weekday()], zone)
            end = datetime.combine(last, closes[last.weekday()], zone)
    return start.astimezone(UTC), end.astimezone(UTC)


async def generate_maintenance(
    session: AsyncSession,
    work_orders: WorkOrderService,
    *,
    today: date,
    horizon_days: int,
    now: datetime,
) -> int:
    """Open one maintenance work order and visit per period whose window opens soon.

    Periods of active coverage on active equipment, starting by `today + horizon_days` and
    not yet over. The work orders are opened by `WorkOrderService.open_scheduled` (numbers,
    SLA policy or the default one, skills, timeline), the rule every order follows; the
    visits and the period links are set here. Returns how many work orders were opened.
    Flushes, does not commit.
    """
    candidates = (
        await session.execute(
            select(
                ServicePeriod.id,
                ServicePeriod.starts_on,
                ServicePeriod.ends_on,
                ServicePeriod.contract_id,
                Equipment.id,
                Equipment.client_id,
                Equipment.site_id,
                Equipment.serial_number,
                Equipment.model_id,
                EquipmentModel.manufacturer,
                EquipmentModel.model,
                Coverage.visit_minutes,
                Coverage.skills,
                Contract.sla_policy_id,
                Site.timezone,
                Site.opening_hours,
            )
            .join(Coverage, Coverage.id == ServicePeriod.coverage_id)
            .join(Contract, Contract.id == ServicePeriod.contract_id)
            .join(Equipment, Equipment.id == ServicePeriod.equipment_id)
            .join(EquipmentModel, EquipmentModel.id == Equipment.model_id)
            .join(Site, Site.id == Equipment.site_id)
            .where(
                ServicePeriod.status == PeriodStatus.PLANNED,
                ServicePeriod.work_order_id.is_(None),
                ServicePeriod.starts_on <= today + timedelta(days=horizon_days),
                ServicePeriod.ends_on >= today,
                Coverage.is_active,
                Contract.status == ContractStatus.ACTIVE,
                Equipment.status == EquipmentStatus.ACTIVE,
                ~exists().where(WorkOrder.service_period_id == ServicePeriod.id),
            )
            .order_by(ServicePeriod.starts_on, ServicePeriod.id)
        )
    ).all()
    if not candidates:
        return 0
    skill_ids = await _skill_ids(session, candidates)
    scheduled = [
        ScheduledWork(
            id=uuid.uuid4(),
            client_id=row.client_id,
            site_id=row.site_id,
            equipment_id=row[4],
            contract_id=row.contract_id,
            service_period_id=row[0],
            sla_policy_id=row.sla_policy_id,
            title=f"Planned maintenance: {row.manufacturer} {row.model} #{row.serial_number}",
            description=f"Service period {row.starts_on} to {row.ends_on}",
            skill_ids=skill_ids[(row.model_id, tuple(row.skills))],
        )
        for row in candidates
    ]
    created = await work_orders.open_scheduled(scheduled, now=now)
    visits: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for work, row in zip(scheduled, candidates, strict=True):
        if work.id not in created:
            continue
        window_starts_at, window_ends_at = visit_window(
            row.starts_on, row.ends_on, row.timezone, row.opening_hours
        )
        visit_id = uuid.uuid4()
        visits.append(
            {
                "id": visit_id,
                "work_order_id": work.id,
                "status": VisitStatus.PLANNED,
                "window_starts_at": window_starts_at,
                "window_ends_at": window_ends_at,
                "estimated_minutes": row.visit_minutes,
                "created_at": now,
                "updated_at": now,
            }
        )
        links.extend({"visit_id": visit_id, "skill_id": s} for s in work.skill_ids)
    await _insert_many(session, Visit, visits)
    await _insert_many(session, visit_skills, links)
    await session.execute(
        update(ServicePeriod)
        # Every period that now has its order, without a parameter per row.
        .where(
            ServicePeriod.id == WorkOrder.service_period_id,
            ServicePeriod.status == PeriodStatus.PLANNED,
            ServicePeriod.work_order_id.is_(None),
        )
        .values(status=PeriodStatus.SCHEDULED, work_order_id=WorkOrder.id)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return len(created)


async def settle_periods(session: AsyncSession, *, today: date) -> tuple[int, int]:
    """Mark periods done once their visit is completed, missed once they ended without.

    Returns (done, missed).
    """
    completed = exists().where(
        Visit.work_order_id == ServicePeriod.work_order_id,
        Visit.status == VisitStatus.COMPLETED,
    )
    done = await session.execute(
        update(ServicePeriod)
        .where(ServicePeriod.status == PeriodStatus.SCHEDULED, completed)
        .values(status=PeriodStatus.DONE)
        .execution_options(synchronize_session=False)
    )
    missed = await session.execute(
        update(ServicePeriod)
        .where(
            ServicePeriod.status.in_([PeriodStatus.PLANNED, PeriodStatus.SCHEDULED]),
            ServicePeriod.ends_on < today,
            ~completed,
        )
        .values(status=PeriodStatus.MISSED)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(done), _rowcount(missed)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def _insert_many(session: AsyncSession, target: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        if chunk:
            await session.execute(insert(getattr(target, "__table__", target)), chunk)


async def _skill_ids(
    session: AsyncSession, rows: Sequence[Any]
) -> dict[tuple[uuid.UUID, tuple[str, ...]], list[uuid.UUID]]:
    """The skills each (model, coverage skills) pair needs: the model's plus the plan's."""
    model_skills: dict[uuid.UUID, set[uuid.UUID]] = {}
    model_ids = {row.model_id for row in rows}
    links = await session.execute(
        text(
            "SELECT equipment_model_id, skill_id FROM equipment_model_skills "
            "WHERE equipment_model_id = ANY(:ids)"
        ),
        {"ids": list(model_ids)},
    )
    for model_id, skill_id in links:
        model_skills.setdefault(model_id, set()).add(skill_id)
    codes = {code for row in rows for code in row.skills}
    by_code = (
        {
            s.code: s.id
            for s in (await session.scalars(select(Skill).where(Skill.code.in_(codes)))).all()
        }
        if codes
        else {}
    )
    needs: dict[tuple[uuid.UUID, tuple[str, ...]], list[uuid.UUID]] = {}
    for row in rows:
        key = (row.model_id, tuple(row.skills))
        if key not in needs:
            ids = set(model_skills.get(row.model_id, set()))
            ids.update(by_code[c] for c in row.skills if c in by_code)
            needs[key] = sorted(ids)
    return needs
