"""Planned maintenance: service periods coming due become work orders with one visit each.

Set-based: one query finds the periods, each distinct window is worked out once, and rows
go in with one INSERT ... SELECT over parallel arrays per table. Planned work is due by its
service period (not by a reaction target), and its visit falls on the contract's preferred
weekdays and hours that the site is open. Running it
twice creates nothing twice: periods already linked are skipped, and the unique
`work_orders.service_period_id` refuses a duplicate should two runs ever race past the
advisory lock the scheduler takes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import Contract, ContractStatus, Coverage
from equipment.equipment.models import Equipment, EquipmentModel, EquipmentStatus
from equipment.service_periods.models import PeriodStatus, ServicePeriod
from fsm.sites.models import Site
from fsm.skills.models import Skill
from fsm.visits.windows import Pattern, weekly_pattern, windows_between
from fsm.workorders.models import (
    WorkOrder,
)
from fsm.workorders.service import ScheduledWork, WorkOrderService
from fsm.workorders.visit_models import Visit, VisitStatus

# Planned visits opened in one statement over parallel arrays (of the orders this run
# opened), then given their orders' skills.
_INSERT_VISITS = """
INSERT INTO visits (id, work_order_id, status, window_starts_at, window_ends_at,
                    weekly_hours, estimated_minutes, created_at, updated_at)
SELECT b.id, b.work_order_id, 'planned', b.starts_at, b.ends_at, CAST(b.hours AS jsonb),
       b.minutes, CAST(:now AS timestamptz), CAST(:now AS timestamptz)
FROM unnest(CAST(:ids AS uuid[]), CAST(:orders AS uuid[]), CAST(:starts AS timestamptz[]),
            CAST(:ends AS timestamptz[]), CAST(:hours AS text[]), CAST(:minutes AS integer[]))
     AS b(id, work_order_id, starts_at, ends_at, hours, minutes)
"""
_INSERT_VISIT_SKILLS = """
INSERT INTO visit_skills (visit_id, skill_id)
SELECT v.id, s.skill_id
FROM unnest(CAST(:created AS uuid[])) AS c(id)
JOIN visits v ON v.work_order_id = c.id
JOIN work_order_skills s ON s.work_order_id = c.id
"""

# Each period the run opened an order for is scheduled with it.
_LINK_PERIODS = """
UPDATE service_periods p SET status = 'scheduled', work_order_id = m.work_order_id
FROM unnest(CAST(:periods AS uuid[]), CAST(:orders AS uuid[])) AS m(period_id, work_order_id)
WHERE p.id = m.period_id AND p.status = 'planned' AND p.work_order_id IS NULL
"""


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """When a maintenance visit may start: the first to the last allowed hour of the period,
    and the weekly hours within it (the site's open hours the contract prefers)."""

    starts_at: datetime
    ends_at: datetime
    weekly_hours: Pattern


def maintenance_window(
    starts_on: date,
    ends_on: date,
    timezone: str,
    opening_hours: Sequence[dict[str, Any]],
    *,
    preferred_weekdays: Sequence[int],
    preferred_start: time | None,
    preferred_end: time | None,
) -> MaintenanceWindow:
    """The period's days on the preferred weekdays and hours the site is open, in UTC.

    The window runs from the first such hour to the last; `weekly_hours` says which hours
    in between (every day the site is closed, or not preferred, is left out). A period with
    no such hour at all (one closed day) keeps its whole days, unrestricted: the work is
    still due.
    """
    zone = ZoneInfo(timezone)
    start = datetime.combine(starts_on, time(), zone).astimezone(UTC)
    end = datetime.combine(ends_on + timedelta(days=1), time(), zone).astimezone(UTC)
    pattern = weekly_pattern(opening_hours, preferred_weekdays, preferred_start, preferred_end)
    # Only the first and the last allowed stretch bound the window: look at a week from
    # each end (every weekday of the pattern comes round within seven days).
    week = timedelta(days=7)
    head = windows_between(pattern, timezone, start, min(end, start + week))
    tail = windows_between(pattern, timezone, max(start, end - week), end)
    if not head or not tail:
        return MaintenanceWindow(starts_at=start, ends_at=end, weekly_hours=[])
    return MaintenanceWindow(starts_at=head[0][0], ends_at=tail[-1][1], weekly_hours=pattern)


def visit_window(
    starts_on: date, ends_on: date, timezone: str, opening_hours: Sequence[dict[str, Any]]
) -> tuple[datetime, datetime]:
    """The period's days clipped to the site's opening hours, as UTC instants.

    From the first opening on or after the first day to the last closing on or before the
    last day; a site without opening hours is open all day. (No contract preferences.)
    """
    window = maintenance_window(
        starts_on,
        ends_on,
        timezone,
        opening_hours,
        preferred_weekdays=(),
        preferred_start=None,
        preferred_end=None,
    )
    return window.starts_at, window.ends_at


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
    SLA policy or the default one, skills, timeline, due by the period's end), the rule
    every order follows; the visits (on the contract's preferred weekdays and hours the
    site is open) and the period links are set here. Returns how many work orders were
    opened. Set-based: a handful of statements whatever the number of periods. Flushes
    nothing of the ORM's; does not commit.
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
                Coverage.preferred_weekdays,
                Coverage.preferred_start,
                Coverage.preferred_end,
                Contract.sla_policy_id,
            )
            .join(Coverage, Coverage.id == ServicePeriod.coverage_id)
            .join(Contract, Contract.id == ServicePeriod.contract_id)
            .join(Equipment, Equipment.id == ServicePeriod.equipment_id)
            .join(EquipmentModel, EquipmentModel.id == Equipment.model_id)
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
    sites = {
        row.id: (row.timezone, row.opening_hours)
        for row in await session.execute(
            select(Site.id, Site.timezone, Site.opening_hours).where(
                Site.id.in_({row.site_id for row in candidates})
            )
        )
    }
    skill_ids = await _skill_ids(session, candidates)
    # Many periods share their days, site and preferences: each window is worked out once.
    windows: dict[tuple[Any, ...], tuple[MaintenanceWindow, str]] = {}
    scheduled: list[ScheduledWork] = []
    visit_windows: list[tuple[MaintenanceWindow, str]] = []
    for row in candidates:
        key = (
            row.starts_on,
            row.ends_on,
            row.site_id,
            tuple(row.preferred_weekdays),
            row.preferred_start,
            row.preferred_end,
        )
        found = windows.get(key)
        if found is None:
            timezone, hours = sites[row.site_id]
            window = maintenance_window(
                row.starts_on,
                row.ends_on,
                timezone,
                hours,
                preferred_weekdays=row.preferred_weekdays,
                preferred_start=row.preferred_start,
                preferred_end=row.preferred_end,
            )
            found = windows[key] = (window, json.dumps(window.weekly_hours))
        visit_windows.append(found)
        scheduled.append(
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
                # Due when the period's last allowed hour ends.
                due_at=found[0].ends_at,
                skill_ids=skill_ids[(row.model_id, tuple(row.skills))],
            )
        )
    created = await work_orders.open_scheduled(scheduled, now=now)
    if not created:
        return 0
    # Only what this run opened, filtered here: the statements then need no join against
    # tables whose statistics do not know yet about the rows just inserted.
    opened = [
        (work, window, row)
        for work, window, row in zip(scheduled, visit_windows, candidates, strict=True)
        if work.id in created
    ]
    await session.execute(
        text(_INSERT_VISITS),
        {
            "ids": [uuid.uuid4() for _ in opened],
            "orders": [work.id for work, _, _ in opened],
            "starts": [window.starts_at for _, (window, _), _ in opened],
            "ends": [window.ends_at for _, (window, _), _ in opened],
            "hours": [hours for _, (_, hours), _ in opened],
            "minutes": [row.visit_minutes for _, _, row in opened],
            "now": now,
        },
    )
    orders = [work.id for work, _, _ in opened]
    await session.execute(text(_INSERT_VISIT_SKILLS), {"created": orders})
    await session.execute(
        text(_LINK_PERIODS),
        {"periods": [work.service_period_id for work, _, _ in opened], "orders": orders},
    )
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
