"""The SLA clock of each work order: deadlines from its policy, pauses, warnings, breaches.

Policies and calendars are fsm/sla's; applying them to a work order is the work order's own
business, so the dependency runs one way (workorders -> sla).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.outbox import EventKind, record
from fsm.sla.calendar import due_at, paused_business_minutes
from fsm.sla.models import SlaPolicy
from fsm.sla.service import business_calendar
from fsm.workorders.models import (
    SlaPause,
    Visibility,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderStatus,
)

# Statuses in which the resolution clock has nothing left to measure.
_FINISHED = frozenset({WorkOrderStatus.RESOLVED, WorkOrderStatus.CLOSED, WorkOrderStatus.CANCELLED})
# What the watch reads back of each order it flags, to tell the dispatchers.
_TOLD = (
    WorkOrder.id,
    WorkOrder.client_id,
    WorkOrder.number,
    WorkOrder.title,
    WorkOrder.priority,
)


class SlaClock:
    """Deadlines and their watch; every write to a work order that moves them goes here."""

    def __init__(self, session: AsyncSession, *, warning_minutes: int = 60) -> None:
        self.session = session
        self.warning = timedelta(minutes=warning_minutes)

    async def start_clock(self, work_order: WorkOrder, policy: SlaPolicy | None) -> None:
        """Set the deadlines of a new work order from its policy."""
        work_order.sla_policy_id = policy.id if policy is not None else None
        work_order.sla_policy_version = policy.version if policy is not None else None
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
        previous_next_due = work_order.sla_next_due_at
        if work_order.service_period_id is not None:
            # Planned maintenance is due by its service period (set when it was opened),
            # whatever the policy's reaction and resolution targets say.
            work_order.reaction_due_at = None
            work_order.sla_next_due_at = (
                None if work_order.status in _FINISHED else work_order.resolution_due_at
            )
            if work_order.sla_next_due_at != previous_next_due:
                work_order.sla_at_risk_notified_at = None
            return
        policy = await self._policy_of(work_order)
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
            rows = (
                await self.session.execute(
                    update(WorkOrder)
                    .where(
                        WorkOrder.status.in_(open_statuses),
                        done_col.is_(None),
                        due_col < now,
                        flag_col.is_(False),
                    )
                    .values({flag_col: True})
                    .returning(*_TOLD, due_col)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            breached += len(rows)
            self._add_events([r.id for r in rows], "sla_breached", {"target": target}, now)
            self._tell(rows, EventKind.SLA_BREACHED, target, now)
        at_risk = (
            await self.session.execute(
                update(WorkOrder)
                .where(
                    WorkOrder.status.in_(open_statuses),
                    WorkOrder.sla_next_due_at.is_not(None),
                    WorkOrder.sla_next_due_at >= now,
                    WorkOrder.sla_next_due_at < now + self.warning,
                    WorkOrder.sla_at_risk_notified_at.is_(None),
                )
                .values(sla_at_risk_notified_at=now)
                .returning(*_TOLD, WorkOrder.sla_next_due_at)
                .execution_options(synchronize_session=False)
            )
        ).all()
        self._add_events([r.id for r in at_risk], "sla_at_risk", {}, now)
        self._tell(at_risk, EventKind.SLA_AT_RISK, None, now)
        await self.session.flush()
        return len(at_risk), breached

    def _tell(
        self, rows: Sequence[Any], kind: EventKind, target: str | None, now: datetime
    ) -> None:
        """One outbox event per order for the dispatchers; the deadline is theirs alone."""
        for row in rows:
            record(
                self.session,
                kind,
                client_id=row.client_id,
                work_order_id=row.id,
                payload={"number": row.number, "title": row.title},
                staff={
                    "target": target,
                    "due_at": row[-1].isoformat() if row[-1] else None,
                    "priority": row.priority.value,
                },
                occurred_at=now,
            )

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
