"""The SLA statement of one client for one month: targets met, and every breach with its
overrun in business time and its pauses.

The month is cut at the client's midnight (its time zone). A request counts in the month it
was opened; cancelled requests and requests without a policy are left out. Deadlines are the
ones the work order's SLA clock stored (fsm.workorders.sla_clock owns them); a target is
measured once it was met or its deadline passed (`as_of` for work still open); work resolved
or closed without a recorded reaction reacted when it was resolved (or closed). An overrun is
the business time of the policy's calendar from the deadline to the reaction or resolution
(or `as_of`), less the paused time within it, so a pause after the deadline does not count
against us and a weekend with a daylight-saving change counts as closed hours.

The client's version shows its contract's service levels (the targets) instead of our
priority names, and no pause reasons (they may be internal words).
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import ColumnElement, Subquery, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.service_periods.periods import add_months
from fsm.clients.models import Client
from fsm.errors import NotFound
from fsm.schemas import Count
from fsm.sla.calendar import (
    BusinessCalendar,
    business_minutes_between,
    open_intervals,
    paused_business_minutes,
)
from fsm.sla.models import SlaPolicy
from fsm.sla.service import business_calendar
from fsm.workorders.models import Priority, SlaPause, WorkOrder, WorkOrderStatus

__all__ = [
    "BreachLine",
    "ClientBreach",
    "ClientLevelLine",
    "ClientStatement",
    "LevelLine",
    "PauseLine",
    "SlaStatement",
    "client_statement",
    "sla_statement",
]

Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
_MINUTE = timedelta(minutes=1)
_PRIORITY_ORDER = {
    p: n for n, p in enumerate((Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.LOW))
}


class ClientNotFound(NotFound):
    """No such client."""


class PauseLine(msgspec.Struct, kw_only=True):
    """One stretch the clock stood still; `reason` for staff only."""

    paused_at: datetime
    resumed_at: datetime | None
    business_minutes: Count
    reason: str | None = None


class BreachLine(msgspec.Struct, kw_only=True):
    """A target missed: by how much business time, and the request's pauses."""

    work_order_id: uuid.UUID
    number: str
    title: str
    priority: Priority
    target: str  # "reaction" or "resolution"
    due_at: datetime
    # None while the work is still not done (the overrun runs to `as_of`).
    done_at: datetime | None
    overrun_business_minutes: Count
    pauses: list[PauseLine]


class LevelLine(msgspec.Struct, kw_only=True):
    """Requests of one priority: how many, and the share of targets met."""

    priority: Priority
    reaction_minutes: Count
    resolution_minutes: Count
    requests: Count
    reaction_measured: Count
    reaction_met: Count
    reaction_met_pct: Percent | None
    resolution_measured: Count
    resolution_met: Count
    resolution_met_pct: Percent | None


class SlaStatement(msgspec.Struct, kw_only=True):
    """The staff's statement of one client and month."""

    client_id: uuid.UUID
    client_name: str
    month: str
    timezone: str
    as_of: datetime
    lines: list[LevelLine]
    breaches: list[BreachLine]


class ClientLevelLine(msgspec.Struct, kw_only=True):
    """Requests under one service level of the client's contract."""

    reaction_minutes: Count
    resolution_minutes: Count
    requests: Count
    reaction_measured: Count
    reaction_met: Count
    reaction_met_pct: Percent | None
    resolution_measured: Count
    resolution_met: Count
    resolution_met_pct: Percent | None


class ClientBreach(msgspec.Struct, kw_only=True):
    """A target missed, as the client reads it."""

    request_id: uuid.UUID
    number: str
    title: str
    target: str
    due_at: datetime
    done_at: datetime | None
    overrun_business_minutes: Count
    pauses: list[PauseLine]


class ClientStatement(msgspec.Struct, kw_only=True):
    """The client's own monthly statement: its service levels, met or missed."""

    month: str
    timezone: str
    as_of: datetime
    service_levels: list[ClientLevelLine]
    breaches: list[ClientBreach]


@dataclass
class _Tally:
    requests: int = 0
    reaction_measured: int = 0
    reaction_met: int = 0
    resolution_measured: int = 0
    resolution_met: int = 0


def month_bounds(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a calendar month starts and ends at in `zone`."""
    first = month.replace(day=1)
    return (
        datetime.combine(first, time(), zone),
        datetime.combine(add_months(first, 1), time(), zone),
    )


def clients_at(**moments: datetime) -> Subquery:
    """Every client's id and name, and each naive wall-clock moment as the instant it is in
    the client's zone (a column per moment's name): a month of all clients is cut at each
    client's midnight once a client, not by converting every row."""
    return select(
        Client.id,
        Client.name,
        *(func.timezone(Client.timezone, at).label(name) for name, at in moments.items()),
    ).subquery()


def near_utc(column: Any, starts: datetime, ends: datetime) -> list[ColumnElement[bool]]:
    """`column` within a day of the naive span [starts, ends) read as UTC: every zone's
    span lies inside it, so an index on `column` narrows the rows before a zone cuts them."""
    return [
        column >= starts.replace(tzinfo=UTC) - timedelta(days=1),
        column < ends.replace(tzinfo=UTC) + timedelta(days=1),
    ]


def _pct(met: int, measured: int) -> Percent | None:
    return round(100 * met / measured, 1) if measured else None


def _measure(
    due: datetime | None, done: datetime | None, as_of: datetime
) -> tuple[bool, bool] | None:
    """(measured, met) of one target; None when there is nothing to measure yet."""
    if due is None:
        return None
    if done is not None:
        return True, done <= due
    if due < as_of:
        return True, False
    return None


class OpenTimeIndex:
    """Open minutes of one calendar over a span, indexed once: the calendar's own stretches
    (`open_intervals`) with running totals, so each overrun is two binary searches instead of
    a walk over the days between (a large client's month holds thousands of breaches)."""

    def __init__(self, cal: BusinessCalendar, start: datetime, end: datetime) -> None:
        self.cal = cal
        self.starts: list[datetime] = []
        self.ends: list[datetime] = []
        self.before: list[float] = []
        total = 0.0
        for opens_at, closes_at in open_intervals(cal, start, end):
            self.starts.append(opens_at)
            self.ends.append(closes_at)
            self.before.append(total)
            total += (closes_at - opens_at) / _MINUTE
        self.start, self.end = start, end

    def _upto(self, instant: datetime) -> float:
        index = bisect_right(self.starts, instant) - 1
        if index < 0:
            return 0.0
        return (
            self.before[index]
            + max(timedelta(), min(instant, self.ends[index]) - self.starts[index]) / _MINUTE
        )

    def between(self, start: datetime, end: datetime) -> float:
        """Open minutes within [start, end), as `business_minutes_between` counts them."""
        if end <= start:
            return 0.0
        if start < self.start or end > self.end:
            return business_minutes_between(self.cal, start, end)
        return self._upto(end) - self._upto(start)

    def overrun(
        self, due: datetime, done: datetime, pauses: list[tuple[datetime, datetime | None]]
    ) -> int:
        """Open minutes from the deadline to done, less the paused ones among them."""
        paused = paused_business_minutes(self.cal, due, pauses, done) if pauses else 0.0
        return round(self.between(due, done) - paused)


async def sla_statement(
    session: AsyncSession,
    client_id: uuid.UUID,
    month: date | None,
    *,
    as_of: datetime,
    site_ids: Collection[uuid.UUID] | None = None,
) -> SlaStatement:
    """The statement of `client_id` for the calendar month holding `month` (default: the
    month `as_of` falls in, in the client's time zone); with `site_ids`, of the requests at
    those sites only (a branch's statement).

    The counts are one aggregate over the month's requests (index on client and creation
    time); only the breached requests are loaded, with their pauses, to measure overruns.
    """
    client = await session.get(Client, client_id)
    if client is None:
        raise ClientNotFound(f"client {client_id} not found")
    zone = ZoneInfo(client.timezone)
    month = month or as_of.astimezone(zone).date()
    starts_at, ends_at = month_bounds(month, zone)
    in_month = (
        WorkOrder.client_id == client.id,
        WorkOrder.sla_policy_id.is_not(None),
        WorkOrder.status != WorkOrderStatus.CANCELLED,
        WorkOrder.created_at >= starts_at,
        WorkOrder.created_at < ends_at,
        *(() if site_ids is None else (WorkOrder.site_id.in_(sorted(site_ids)),)),
    )
    reaction_end = func.coalesce(
        WorkOrder.first_response_at, WorkOrder.resolved_at, WorkOrder.closed_at
    )
    reaction_measured = and_(
        WorkOrder.reaction_due_at.is_not(None),
        or_(reaction_end.is_not(None), WorkOrder.reaction_due_at < as_of),
    )
    reaction_met = reaction_end <= WorkOrder.reaction_due_at
    resolution_measured = and_(
        WorkOrder.resolution_due_at.is_not(None),
        or_(WorkOrder.resolved_at.is_not(None), WorkOrder.resolution_due_at < as_of),
    )
    resolution_met = WorkOrder.resolved_at <= WorkOrder.resolution_due_at
    counts = (
        await session.execute(
            select(
                WorkOrder.priority,
                WorkOrder.sla_policy_id,
                func.count(),
                func.count().filter(reaction_measured),
                func.count().filter(reaction_met),
                func.count().filter(resolution_measured),
                func.count().filter(resolution_met),
            )
            .where(*in_month)
            .group_by(WorkOrder.priority, WorkOrder.sla_policy_id)
        )
    ).all()
    policy_ids = {row[1] for row in counts}
    policies = (
        {
            p.id: p
            for p in (
                await session.scalars(select(SlaPolicy).where(SlaPolicy.id.in_(policy_ids)))
            ).all()
        }
        if policy_ids
        else {}
    )
    tallies: dict[tuple[Priority, int, int], _Tally] = {}
    for priority, policy_id, total, r_measured, r_met, s_measured, s_met in counts:
        assert policy_id is not None  # filtered by in_month
        target = policies[policy_id].targets[priority.value]
        key = (priority, int(target["reaction_minutes"]), int(target["resolution_minutes"]))
        tally = tallies.setdefault(key, _Tally())
        tally.requests += total
        tally.reaction_measured += r_measured
        tally.reaction_met += r_met
        tally.resolution_measured += s_measured
        tally.resolution_met += s_met
    breached = (
        await session.execute(
            select(
                WorkOrder.id,
                WorkOrder.number,
                WorkOrder.title,
                WorkOrder.priority,
                WorkOrder.sla_policy_id,
                WorkOrder.reaction_due_at,
                reaction_end,
                WorkOrder.resolution_due_at,
                WorkOrder.resolved_at,
                and_(reaction_measured, or_(reaction_end.is_(None), ~reaction_met)),
                and_(
                    resolution_measured,
                    or_(WorkOrder.resolved_at.is_(None), ~resolution_met),
                ),
            )
            .where(
                *in_month,
                or_(
                    and_(reaction_measured, or_(reaction_end.is_(None), ~reaction_met)),
                    and_(
                        resolution_measured,
                        or_(WorkOrder.resolved_at.is_(None), ~resolution_met),
                    ),
                ),
            )
            .order_by(WorkOrder.created_at, WorkOrder.id)
        )
    ).all()
    pauses_of: dict[uuid.UUID, list[SlaPause]] = {}
    if breached:
        for pause in (
            await session.scalars(
                select(SlaPause)
                .where(SlaPause.work_order_id.in_([row[0] for row in breached]))
                .order_by(SlaPause.paused_at)
            )
        ).all():
            pauses_of.setdefault(pause.work_order_id, []).append(pause)
    span_start = min((row[5] for row in breached if row[5] is not None), default=as_of)
    span_start = min(
        [span_start, *(row[7] for row in breached if row[7] is not None)], default=as_of
    )
    span_end = max(
        [as_of, *(row[6] or as_of for row in breached), *(row[8] or as_of for row in breached)]
    )
    calendars = {
        pid: OpenTimeIndex(business_calendar(p), span_start, span_end)
        for pid, p in policies.items()
    }
    breaches: list[BreachLine] = []
    for (
        order_id,
        number,
        title,
        priority,
        policy_id,
        reaction_due,
        reacted,
        resolution_due,
        resolved,
        reaction_missed,
        resolution_missed,
    ) in breached:
        assert policy_id is not None  # filtered by in_month
        cal = calendars[policy_id]
        pauses = pauses_of.get(order_id, [])
        spans = [(p.paused_at, p.resumed_at) for p in pauses]
        for name, missed, due, done in (
            ("reaction", reaction_missed, reaction_due, reacted),
            ("resolution", resolution_missed, resolution_due, resolved),
        ):
            if not missed or due is None:
                continue
            breaches.append(
                BreachLine(
                    work_order_id=order_id,
                    number=number,
                    title=title,
                    priority=priority,
                    target=name,
                    due_at=due,
                    done_at=done,
                    overrun_business_minutes=cal.overrun(due, done or as_of, spans),
                    pauses=[
                        PauseLine(
                            paused_at=p.paused_at,
                            resumed_at=p.resumed_at,
                            business_minutes=round(
                                paused_business_minutes(
                                    cal.cal,
                                    p.paused_at,
                                    [(p.paused_at, p.resumed_at)],
                                    p.resumed_at or as_of,
                                )
                            ),
                            reason=p.reason,
                        )
                        for p in pauses
                    ],
                )
            )
    lines = [
        LevelLine(
            priority=priority,
            reaction_minutes=reaction,
            resolution_minutes=resolution,
            requests=t.requests,
            reaction_measured=t.reaction_measured,
            reaction_met=t.reaction_met,
            reaction_met_pct=_pct(t.reaction_met, t.reaction_measured),
            resolution_measured=t.resolution_measured,
            resolution_met=t.resolution_met,
            resolution_met_pct=_pct(t.resolution_met, t.resolution_measured),
        )
        for (priority, reaction, resolution), t in sorted(
            tallies.items(), key=lambda item: (_PRIORITY_ORDER[item[0][0]], item[0][1:])
        )
    ]
    return SlaStatement(
        client_id=client.id,
        client_name=client.name,
        month=month.strftime("%Y-%m"),
        timezone=client.timezone,
        as_of=as_of,
        lines=lines,
        breaches=breaches,
    )


def client_version(statement: SlaStatement) -> ClientStatement:
    """What the client reads: service levels by their targets, no priorities, no reasons."""
    levels: dict[tuple[int, int], _Tally] = {}
    for line in statement.lines:
        tally = levels.setdefault((line.reaction_minutes, line.resolution_minutes), _Tally())
        tally.requests += line.requests
        tally.reaction_measured += line.reaction_measured
        tally.reaction_met += line.reaction_met
        tally.resolution_measured += line.resolution_measured
        tally.resolution_met += line.resolution_met
    return ClientStatement(
        month=statement.month,
        timezone=statement.timezone,
        as_of=statement.as_of,
        service_levels=[
            ClientLevelLine(
                reaction_minutes=reaction,
                resolution_minutes=resolution,
                requests=t.requests,
                reaction_measured=t.reaction_measured,
                reaction_met=t.reaction_met,
                reaction_met_pct=_pct(t.reaction_met, t.reaction_measured),
                resolution_measured=t.resolution_measured,
                resolution_met=t.resolution_met,
                resolution_met_pct=_pct(t.resolution_met, t.resolution_measured),
            )
            for (reaction, resolution), t in sorted(levels.items())
        ],
        breaches=[
            ClientBreach(
                request_id=b.work_order_id,
                number=b.number,
                title=b.title,
                target=b.target,
                due_at=b.due_at,
                done_at=b.done_at,
                overrun_business_minutes=b.overrun_business_minutes,
                pauses=[
                    PauseLine(
                        paused_at=p.paused_at,
                        resumed_at=p.resumed_at,
                        business_minutes=p.business_minutes,
                    )
                    for p in b.pauses
                ],
            )
            for b in statement.breaches
        ],
    )


async def client_statement(
    session: AsyncSession,
    client_id: uuid.UUID,
    month: date | None,
    *,
    as_of: datetime,
    site_ids: Collection[uuid.UUID] | None = None,
) -> ClientStatement:
    """The client's own statement for the month holding `month` (of `site_ids` only, if
    given: what a site-limited client user may see)."""
    return client_version(
        await sla_statement(session, client_id, month, as_of=as_of, site_ids=site_ids)
    )
