"""What the client app's services share: the company scope, keyset pages, visit summaries.

Everything in this package answers a client user: another company's object is reported
exactly like an unknown one, and what leaves carries no priority, SLA internals, internal
comments or events, costs, or engineers' surnames and phones.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from equipment.service_periods.models import ServicePeriod
from fsm.auth.principal import Principal
from fsm.engineers.models import Engineer
from fsm.errors import Forbidden
from fsm.users.models import User
from fsm.workorders.models import WorkOrder
from fsm.workorders.visit_models import Visit, VisitStatus
from mobile_api.client.schemas import PeriodItem, VisitSummary
from mobile_api.cursor import CursorValue, encode_cursor


@dataclass(frozen=True, slots=True)
class Slice:
    """A keyset page: the rows and the cursor of the next page."""

    items: Sequence[Any]
    next_cursor: str | None


def page_of(
    rows: Sequence[Any], limit: int, key: Callable[[Any], tuple[CursorValue, ...]]
) -> Slice:
    """Cut the extra row fetched to learn whether another page follows."""
    if len(rows) <= limit:
        return Slice(items=rows, next_cursor=None)
    kept = rows[:limit]
    return Slice(items=kept, next_cursor=encode_cursor(*key(kept[-1])))


def first_name(full_name: str | None) -> str | None:
    """The first word of a person's name: all a client learns about staff and engineers."""
    if not full_name:
        return None
    parts = full_name.split()
    return parts[0] if parts else None


def period_item(period: ServicePeriod) -> PeriodItem:
    """Wire form of a service period for the client."""
    return PeriodItem(
        id=period.id,
        equipment_id=period.equipment_id,
        starts_on=period.starts_on,
        ends_on=period.ends_on,
        status=period.status,
        request_id=period.work_order_id,
    )


async def visit_summaries(
    session: AsyncSession,
    viewer: Principal,
    condition: Any,
    *,
    newest_first: bool,
    limit: int | None = None,
) -> list[VisitSummary]:
    """Visits of the viewer's work orders (its company's, at its sites) matching
    `condition`, engineers by first name."""
    stmt = (
        select(Visit, WorkOrder.number, User.full_name)
        .join(WorkOrder, WorkOrder.id == Visit.work_order_id)
        .outerjoin(Engineer, Engineer.id == Visit.engineer_id)
        .outerjoin(User, User.id == Engineer.user_id)
        .where(
            WorkOrder.client_id == viewer.client_id,
            *viewer.site_scope(WorkOrder.site_id),
            condition,
        )
        .options(raiseload(Visit.required_skills))
    )
    if newest_first:
        stmt = stmt.order_by(Visit.window_starts_at.desc(), Visit.id)
    else:
        stmt = stmt.order_by(Visit.window_starts_at, Visit.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = (await session.execute(stmt)).all()
    return [
        VisitSummary(
            id=visit.id,
            request_id=visit.work_order_id,
            request_number=number,
            status=visit.status,
            window_starts_at=visit.window_starts_at,
            window_ends_at=visit.window_ends_at,
            planned_start_at=visit.planned_start_at,
            completed_at=visit.completed_at,
            labour_minutes=visit.labour_minutes,
            engineer_first_name=first_name(full_name),
            has_report=visit.status is VisitStatus.COMPLETED,
        )
        for visit, number, full_name in rows
    ]


class ClientScope:
    """A service bound to one client user and its company (or the sites it is limited to).

    What stands at a site outside a limited user's sites answers exactly like another
    company's: as unknown. `at_sites` is that rule for a query's site column.
    """

    def __init__(self, session: AsyncSession, *, viewer: Principal) -> None:
        if not viewer.is_client or viewer.client_id is None:
            raise Forbidden("this is the client app")
        self.session = session
        self.viewer = viewer
        self.client_id: uuid.UUID = viewer.client_id

    def at_sites(self, site_column: Any) -> tuple[Any, ...]:
        """The viewer's site limit on `site_column` (nothing for a company-wide user)."""
        return self.viewer.site_scope(site_column)
