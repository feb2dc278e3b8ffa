"""A plan read against the day it started from: per visit kept, moved, new, unassigned or
fixed, and per engineer the whole day in order (finished and started work included).

One order of an engineer's day serves the draft's answer and the commit's numbering:
finished visits first (by when they were finished), then the one on site, then the one en
route, then the rest by planned start. Positions are 1..n over that whole day.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated

import msgspec

from dispatch import solver
from dispatch.on_call import engineer_of
from fsm.workorders.visit_models import VisitStatus

V = VisitStatus
# Where an engineer's day puts a visit of each status (see the module docstring).
_DAY_GROUP = {V.COMPLETED: 0, V.ON_SITE: 1, V.EN_ROUTE: 2, V.ASSIGNED: 3}
FIXED = (V.EN_ROUTE, V.ON_SITE, V.COMPLETED)


class HeldVisit(msgspec.Struct, frozen=True, kw_only=True):
    """A visit of the day as the draft found it."""

    status: VisitStatus
    engineer_id: str | None = None
    planned_start_at: datetime | None = None
    completed_at: datetime | None = None
    locked_engineer_id: str | None = None
    locked_start_at: datetime | None = None


class ChangeKind(enum.StrEnum):
    """What the plan does to a visit of the day."""

    KEPT = "kept"
    MOVED = "moved"
    NEW = "new"
    UNASSIGNED = "unassigned"
    # Finished or under way: the plan leaves it as the field has it.
    FIXED = "fixed"


class MoveReason(enum.StrEnum):
    """Why a held visit moved."""

    HOLDER_NOT_ON_PLAN = "holder_not_on_plan"
    LOCKED = "locked"
    RETIMED = "retimed"
    WORTH_IT = "worth_it"


Position = Annotated[int, msgspec.Meta(ge=1, le=10_000)]


class VisitChange(msgspec.Struct, frozen=True, kw_only=True):
    """One visit of the day: where it was, where the plan puts it, and why."""

    visit_id: str
    change: ChangeKind
    from_engineer_id: str | None
    to_engineer_id: str | None
    from_start_at: datetime | None
    to_start_at: datetime | None
    reason: str | None = None
    detail: str | None = None


class DayStop(msgspec.Struct, frozen=True, kw_only=True):
    """A visit in an engineer's day under the plan."""

    position: Position
    visit_id: str
    status: VisitStatus
    start_at: datetime | None
    change: ChangeKind


class EngineerDay(msgspec.Struct, frozen=True, kw_only=True):
    """One engineer's whole day under the plan, held and finished visits included."""

    engineer_id: str
    stops: tuple[DayStop, ...]


class DayAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The plan per visit and per engineer."""

    visits: tuple[VisitChange, ...]
    days: tuple[EngineerDay, ...]


def day_order(
    items: Iterable[tuple[str, VisitStatus, datetime | None, datetime | None]],
) -> list[str]:
    """Visit ids of one engineer's day in order, from (id, status, planned start, finished)."""

    def key(item: tuple[str, VisitStatus, datetime | None, datetime | None]) -> tuple[object, ...]:
        visit_id, status, start, finished = item
        at = finished if status is V.COMPLETED else start
        stamp = at.timestamp() if at is not None else float("inf")
        return (_DAY_GROUP.get(status, 3), stamp, visit_id)

    return [item[0] for item in sorted(items, key=key)]


def day_answer(
    before: Mapping[str, HeldVisit],
    plan: solver.RoutePlan,
    engineer_ids: Iterable[str],
) -> DayAnswer:
    """Read a plan against the day it started from."""
    on_plan = set(engineer_ids)
    placed: dict[str, tuple[str, solver.PlannedStop]] = {
        stop.visit_id: (engineer_of(route.engineer_id), stop)
        for route in plan.routes
        for stop in route.stops
    }
    dropped = {d.visit_id: d for d in plan.dropped}
    changes: dict[str, VisitChange] = {}
    for visit_id, held in before.items():
        holder = held.engineer_id if held.status is not V.PLANNED else None
        start = held.planned_start_at if holder else None
        where = placed.get(visit_id)
        if held.status in FIXED:
            kind, to_engineer, to_start = ChangeKind.FIXED, holder, start
            reason = detail = None
        elif where is None:
            drop = dropped.get(visit_id)
            kind, to_engineer, to_start = ChangeKind.UNASSIGNED, None, None
            reason = drop.reason.value if drop else None
            detail = drop.detail if drop else None
            if drop is None and holder is not None and holder not in on_plan:
                reason = MoveReason.HOLDER_NOT_ON_PLAN.value
                detail = "its engineer is not on this plan (absent, no shift, or not chosen)"
        else:
            to_engineer, stop = where
            to_start = stop.start_at
            reason = detail = None
            if holder is None:
                kind = ChangeKind.NEW
            elif holder == to_engineer and start == to_start:
                kind = ChangeKind.KEPT
            else:
                kind = ChangeKind.MOVED
                reason, detail = _why_moved(held, holder, to_engineer, on_plan)
        changes[visit_id] = VisitChange(
            visit_id=visit_id,
            change=kind,
            from_engineer_id=holder,
            to_engineer_id=to_engineer,
            from_start_at=start,
            to_start_at=to_start,
            reason=reason,
            detail=detail,
        )
    days: list[EngineerDay] = []
    for engineer_id in sorted(on_plan):
        rows: dict[str, tuple[str, VisitStatus, datetime | None, datetime | None]] = {}
        for visit_id, held in before.items():
            if held.status in FIXED and held.engineer_id == engineer_id:
                rows[visit_id] = (visit_id, held.status, held.planned_start_at, held.completed_at)
        for visit_id, (owner, stop) in placed.items():
            if owner == engineer_id and visit_id not in rows:
                rows[visit_id] = (visit_id, V.ASSIGNED, stop.start_at, None)
        order = day_order(rows.values())
        days.append(
            EngineerDay(
                engineer_id=engineer_id,
                stops=tuple(
                    DayStop(
                        position=k,
                        visit_id=visit_id,
                        status=rows[visit_id][1],
                        start_at=rows[visit_id][2],
                        change=changes[visit_id].change if visit_id in changes else ChangeKind.NEW,
                    )
                    for k, visit_id in enumerate(order, start=1)
                ),
            )
        )
    return DayAnswer(visits=tuple(changes.values()), days=tuple(days))


def _why_moved(
    held: HeldVisit, holder: str, to_engineer: str, on_plan: set[str]
) -> tuple[str, str]:
    if holder == to_engineer:
        return MoveReason.RETIMED.value, "same engineer, another start (re-sequenced)"
    if held.locked_engineer_id == to_engineer:
        return MoveReason.LOCKED.value, "locked to this engineer by the dispatcher"
    if holder not in on_plan:
        return (
            MoveReason.HOLDER_NOT_ON_PLAN.value,
            "its engineer is not on this plan (absent, no shift, or not chosen)",
        )
    return (
        MoveReason.WORTH_IT.value,
        "the day is cheaper with it moved, its stability cost included",
    )
