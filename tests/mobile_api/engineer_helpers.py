"""Builders for the engineer app tests: an engineer with a day of visits, made through services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.equipment.models import Equipment
from fsm.engineers.models import Engineer
from fsm.users.models import Role, User
from fsm.visits.service import VisitDraft
from fsm.workorders.models import Priority, WorkOrder, WorkOrderType
from fsm.workorders.service import WorkOrderDraft
from fsm.workorders.visit_models import Visit
from tests.auth_helpers import login
from tests.equipment.helpers import make_equipment
from tests.factories import make_engineer, make_site, make_user
from tests.fsm.wo_helpers import principal_of, visits, work_orders

BASE = "/mobile/v1/engineer"
BERLIN = ZoneInfo("Europe/Berlin")
# A fixed local day, far from any midnight or clock change of the test run.
DAY = date(2031, 6, 10)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """An instant at a Berlin wall-clock time, in UTC."""
    return datetime.combine(day, time(hour, minute), BERLIN).astimezone(UTC)


@dataclass
class Route:
    """An engineer's day: the engineer, their user, the dispatcher, the visits by position."""

    engineer: Engineer
    user: User
    dispatcher: User
    visits: list[Visit]
    orders: list[WorkOrder]
    units: list[Equipment]


async def order_for(
    session: AsyncSession,
    dispatcher: User,
    *,
    unit: Equipment | None = None,
    priority: Priority = Priority.NORMAL,
    title: str = "Boiler leaking",
) -> tuple[WorkOrder, Equipment]:
    """A work order on a unit (a new one unless given)."""
    if unit is None:
        site = await make_site(session, access_notes="Key at the reception")
        unit = await make_equipment(session, site=site)
    order = await work_orders(session).create(
        WorkOrderDraft(
            site_id=unit.site_id,
            type=WorkOrderType.REPAIR,
            title=title,
            priority=priority,
            equipment_id=unit.id,
        ),
        actor=principal_of(dispatcher),
    )
    return order, unit


async def assigned_visit(
    session: AsyncSession,
    order: WorkOrder,
    engineer: Engineer,
    dispatcher: User,
    *,
    starts_at: datetime,
    position: int | None = None,
) -> Visit:
    """A visit planned and assigned through the services."""
    service = visits(session)
    visit = await service.create(
        VisitDraft(
            work_order_id=order.id,
            window_starts_at=starts_at - timedelta(hours=1),
            window_ends_at=starts_at + timedelta(hours=3),
            estimated_minutes=60,
        ),
        actor=principal_of(dispatcher),
    )
    return await service.assign(
        visit.id,
        engineer.id,
        actor=principal_of(dispatcher),
        planned_start_at=starts_at,
        route_position=position,
    )


async def make_route(
    session: AsyncSession,
    *,
    stops: int = 3,
    day: date = DAY,
    priorities: list[Priority] | None = None,
) -> Route:
    """An engineer with `stops` visits on `day`, positions in reverse of their start times."""
    dispatcher = await make_user(session, role=Role.DISPATCHER)
    engineer = await make_engineer(session)
    priorities = priorities or [Priority.NORMAL] * stops
    made: list[Visit] = []
    orders: list[WorkOrder] = []
    units: list[Equipment] = []
    for n in range(stops):
        order, unit = await order_for(session, dispatcher, priority=priorities[n], title=f"Job {n}")
        # Position 1 starts latest: the route, not the clock, sets the order.
        visit = await assigned_visit(
            session,
            order,
            engineer,
            dispatcher,
            starts_at=local(day, 16 - n),
            position=stops - n,
        )
        made.append(visit)
        orders.append(order)
        units.append(unit)
    await session.commit()
    return Route(
        engineer=engineer,
        user=engineer.user,
        dispatcher=dispatcher,
        visits=made,
        orders=orders,
        units=units,
    )


async def other_engineers_visit(session: AsyncSession, dispatcher: User) -> Visit:
    """A visit of some other engineer on the same day."""
    other = await make_engineer(session)
    order, _ = await order_for(session, dispatcher)
    visit = await assigned_visit(session, order, other, dispatcher, starts_at=local(DAY, 9))
    await session.commit()
    return visit


async def headers_of(
    client: httpx.AsyncClient, user: User, key: uuid.UUID | None = None
) -> dict[str, str]:
    """Bearer headers, with an Idempotency-Key when given."""
    headers = await login(client, user)
    if key is not None:
        headers["Idempotency-Key"] = str(key)
    return headers
