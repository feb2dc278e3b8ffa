"""SLA policies, calendars and the clock of each work order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.errors import Conflict, NotFound, field_error
from fsm.schemas import check_timezone
from fsm.sla.calendar import BusinessCalendar, due_at, paused_business_minutes
from fsm.sla.models import SlaCalendar, SlaPolicy
from fsm.sla.schemas import CalendarCreate, PolicyCreate
from fsm.workorders.models import (
    SlaPause,
    Visibility,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderStatus,
)

# Statuses in which the resolution clock has nothing left to measure.
_FINISHED = frozenset({WorkOrderStatus.RESOLVED, WorkOrderStatus.CLOSED, WorkOrderStatus.CANCELLED})


class CalendarNotFound(NotFound):
    """No such business calendar."""


class PolicyNotFound(NotFound):
    """No such SLA policy."""


class NameTaken(Conflict):
    """Another calendar or policy has this name."""


def business_calendar(policy: SlaPolicy) -> BusinessCalendar:
    """The calendar a policy's minutes run on (around the clock when it names none)."""
    if policy.calendar is None:
        return BusinessCalendar.always_open()
    return BusinessCalendar.from_json(
        policy.calendar.timezone, policy.calendar.hours, policy.calendar.holidays
    )


class SlaService:
    """Policies and calendars (admin), and the clocks of work orders (everyone's writes)."""

    def __init__(self, session: AsyncSession, *, warning_minutes: int = 60) -> None:
        self.session = session
        self.warning = timedelta(minutes=warning_minutes)

    # -- calendars and policies ---------------------------------------------------------

    async def create_calendar(self, data: CalendarCreate) -> SlaCalendar:
        """Add a business calendar; its hours and holidays are checked before saving."""
        check_timezone(data.timezone)
        hours = [{"weekday": h.weekday, "start": h.start, "end": h.end} for h in data.hours]
        try:
            BusinessCalendar.from_json(data.timezone, hours, data.holidays)
        except ValueError as exc:
            # The calendar names the bad entry first: "holidays[1] ..." or "hours[2] ...".
            field = "holidays" if str(exc).startswith("holidays") else "hours"
            raise field_error(field, str(exc)) from exc
        if await self.session.scalar(select(SlaCalendar.id).where(SlaCalendar.name == data.name)):
            raise NameTaken(f"a calendar named {data.name} exists", details={"field": "name"})
        calendar = SlaCalendar(
            name=data.name, timezone=data.timezone, hours=hours, holidays=sorted(data.holidays)
        )
        self.session.add(calendar)
        await self.session.flush()
        return calendar

    async def list_calendars(self) -> Sequence[SlaCalendar]:
        return (await self.session.scalars(select(SlaCalendar).order_by(SlaCalendar.name))).all()

    async def create_policy(self, data: PolicyCreate) -> SlaPolicy:
        """Add a policy; making it the default takes that role from the previous one."""
        if (
            data.calendar_id is not None
            and await self.session.get(SlaCalendar, data.calendar_id) is None
        ):
            raise field_error("calendar_id", "no such calendar")
        if await self.session.scalar(select(SlaPolicy.id).where(SlaPolicy.name == data.name)):
            raise NameTaken(f"a policy named {data.name} exists", details={"field": "name"})
        if data.is_default:
            await self.session.execute(
                update(SlaPolicy).where(SlaPolicy.is_default).values(is_default=False)
            )
        targets = {
            p: {"reaction_minutes": t.reaction_minutes, "resolution_minutes": t.resolution_minutes}
            for p, t in (
                ("low", data.targets.low),
                ("normal", data.targets.normal),
                ("high", data.targets.high),
                ("critical", data.targets.critical),
            )
        }
        policy = SlaPolicy(
            name=data.name,
            calendar_id=data.calendar_id,
            targets=targets,
            pause_statuses=sorted(set(data.pause_statuses)),
            reaction_statuses=sorted(set(data.reaction_statuses)),
            is_default=data.is_default,
        )
        self.session.add(policy)
        await self.session.flush()
        await self.session.refresh(policy, ["calendar"])
        return policy

    async def list_policies(self) -> Sequence[SlaPolicy]:
        return (await self.session.scalars(select(SlaPolicy).order_by(SlaPolicy.name))).all()

    async def get_policy(self, policy_id: uuid.UUID) -> SlaPolicy:
        policy = await self.session.get(SlaPolicy, policy_id)
        if policy is None:
            raise PolicyNotFound(f"SLA policy {policy_id} not found")
        return policy

    async def default_policy(self) -> SlaPolicy | None:
        """The policy for work no contract covers."""
        return (
            await self.session.scalars(select(SlaPolicy).where(SlaPolicy.is_default))
        ).one_or_none()

    # -- clocks ---------------------------------------------------------------------------

    async def start_clock(self, work_order: WorkOrder, policy: SlaPolicy | None) -> None:
        """Set the deadlines of a new work order from its policy."""
        work_order.sla_policy_id = policy.id if policy is not None else None
        await self.recompute(work_order, work_order.created_at)

    async def on_status_change(
        self,
        work_order: WorkOrder,
        old: WorkOrderStatus,
        new: WorkOrderStatus,
        now: datetime,
        *,
        reason: str | None = None,
    ) -> None:
        """Pause, resume, mark reaction or resolution, and recompute the deadlines."""
        policy = await self._policy_of(work_order)
        pausing = {WorkOrderStatus(s) for s in policy.pause_statuses} if policy else set()
        # Resolved work waits on nobody: its clock stands still until reopened.
        pausing.add(WorkOrderStatus.RESOLVED)
        if new in pausing and old not in pausing:
            work_order.pauses.append(SlaPause(paused_at=now, reason=reason or new.value))
        if old in pausing and new not in pausing:
            for pause in work_order.pauses:
                if pause.resumed_at is None:
                    pause.resumed_at = now
        reaction = {WorkOrderStatus(s) for s in policy.reaction_statuses} if policy else set()
        if new in reaction:
            self.mark_first_response(work_order, now)
        if new is WorkOrderStatus.RESOLVED:
            work_order.resolved_at = now
        elif new is WorkOrderStatus.REOPENED:
            work_order.resolved_at = None
        elif new is WorkOrderStatus.CLOSED:
            work_order.closed_at = now
        await self.recompute(work_order, now)

    def mark_first_response(self, work_order: WorkOrder, now: datetime) -> None:
        """The first reaction counts once; a late one is a reaction breach."""
        if work_order.first_response_at is not None:
            return
        work_order.first_response_at = now
        if work_order.reaction_due_at is not None and now > work_order.reaction_due_at:
            work_order.is_reaction_breached = True

    async def recompute(self, work_order: WorkOrder, now: datetime) -> None:
        """Deadlines, paused time and the next deadline, from the pause records alone.

        Everything is derived from the start instant, the policy and the stored pauses, so
        a change of priority, policy or pause history gives exact figures again.
        """
        policy = await self._policy_of(work_order)
        previous_next_due = work_order.sla_next_due_at
        if policy is None:
            work_order.reaction_due_at = work_order.resolution_due_at = None
            work_order.sla_next_due_at = None
            work_order.paused_minutes = 0
            return
        calendar = business_calendar(policy)
        target = policy.targets[work_order.priority.value]
        pauses = [(p.paused_at, p.resumed_at) for p in work_order.pauses]
        start = work_order.created_at
        work_order.reaction_due_at = due_at(calendar, start, target["reaction_minutes"], pauses)
        work_order.resolution_due_at = due_at(calendar, start, target["resolution_minutes"], pauses)
        work_order.paused_minutes = round(paused_business_minutes(calendar, start, pauses, now))
        if work_order.status in _FINISHED:
            work_order.sla_next_due_at = None
        elif work_order.first_response_at is None:
            work_order.sla_next_due_at = work_order.reaction_due_at
        else:
            work_order.sla_next_due_at = work_order.resolution_due_at
        if work_order.sla_next_due_at != previous_next_due:
            work_order.sla_at_risk_notified_at = None

    async def _policy_of(self, work_order: WorkOrder) -> SlaPolicy | None:
        if work_order.sla_policy_id is None:
            return None
        return await self.session.get(SlaPolicy, work_order.sla_policy_id)

    # -- the watch ------------------------------------------------------------------------

    async def watch(self, now: datetime) -> tuple[int, int]:
        """Flag deadlines about to pass and passed ones, each once, with a timeline event.

        Set-based, so it costs the same whether one order or a million are open.
        Returns (at risk, breached) counts.
        """
        open_statuses = [s for s in WorkOrderStatus if s not in _FINISHED]
        breached = 0
        for due_col, done_col, flag_col, target in (
            (
                WorkOrder.reaction_due_at,
                WorkOrder.first_response_at,
                WorkOrder.is_reaction_breached,
                "reaction",
            ),
            (
                WorkOrder.resolution_due_at,
                WorkOrder.resolved_at,
                WorkOrder.is_resolution_breached,
                "resolution",
            ),
        ):
            ids = (
                await self.session.scalars(
                    update(WorkOrder)
                    .where(
                        WorkOrder.status.in_(open_statuses),
                        done_col.is_(None),
                        due_col < now,
                        flag_col.is_(False),
                    )
                    .values({flag_col: True})
                    .returning(WorkOrder.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            breached += len(ids)
            self._add_events(ids, "sla_breached", {"target": target}, now)
        at_risk_ids = (
            await self.session.scalars(
                update(WorkOrder)
                .where(
                    WorkOrder.status.in_(open_statuses),
                    WorkOrder.sla_next_due_at.is_not(None),
                    WorkOrder.sla_next_due_at >= now,
                    WorkOrder.sla_next_due_at < now + self.warning,
                    WorkOrder.sla_at_risk_notified_at.is_(None),
                )
                .values(sla_at_risk_notified_at=now)
                .returning(WorkOrder.id)
                .execution_options(synchronize_session=False)
            )
        ).all()
        self._add_events(at_risk_ids, "sla_at_risk", {}, now)
        await self.session.flush()
        return len(at_risk_ids), breached

    def _add_events(
        self, ids: Sequence[uuid.UUID], kind: str, data: dict[str, str], now: datetime
    ) -> None:
        self.session.add_all(
            WorkOrderEvent(
                work_order_id=i,
                kind=kind,
                visibility=Visibility.INTERNAL,
                occurred_at=now,
                data=data,
            )
            for i in ids
        )
