"""All clients' support funnel, read from the day rollups the database keeps: the same
figures as each client's funnel counted from its own orders, however the orders were
written (one at a time, in bulk, deleted), before and after the rollups are folded."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.clients.models import Client
from fsm.users.models import Role, User
from fsm.workorders.models import Channel, WorkOrder, WorkOrderStatus
from reports.funnel import AGE_BUCKETS, Funnel, funnel
from reports.models import ReportLeftDay, ReportOpenedDay
from reports.rollups import fold_rollups
from tests.factories import make_client, make_site, make_user
from tests.fsm.wo_helpers import open_order

NOW = datetime(2031, 3, 20, 12, 0, tzinfo=UTC)
MONTH = date(2031, 3, 1)
_OUT = (WorkOrderStatus.RESOLVED, WorkOrderStatus.CLOSED, WorkOrderStatus.CANCELLED)


def _summed(parts: list[Funnel]) -> dict[str, Any]:
    """Each client's funnel (all in UTC) added up, as all clients' should read."""
    channels: dict[str, dict[str, Any]] = {}
    reaction = [0] * len(parts[0].reaction_minutes)
    ages = [0] * len(parts[0].open_by_age_days)
    backlog = [0] * len(parts[0].backlog)
    without = 0
    for part in parts:
        for line in part.channels:
            total = channels.setdefault(
                line.channel.value, {"channel": line.channel.value, "opened": 0, "by_status": {}}
            )
            total["opened"] += line.opened
            for status, count in line.by_status.items():
                total["by_status"][status] = total["by_status"].get(status, 0) + count
        for index, bucket in enumerate(part.reaction_minutes):
            reaction[index] += bucket.requests
        for index, bucket in enumerate(part.open_by_age_days):
            ages[index] += bucket.requests
        for index, day in enumerate(part.backlog):
            backlog[index] += day.open
        without += part.without_reaction
    return {
        "channels": [channels[key] for key in sorted(channels)],
        "reaction": reaction,
        "without": without,
        "ages": ages,
        "backlog": backlog,
    }


def _read(report: Funnel) -> dict[str, Any]:
    return {
        "channels": msgspec.to_builtins(report.channels),
        "reaction": [b.requests for b in report.reaction_minutes],
        "without": report.without_reaction,
        "ages": [b.requests for b in report.open_by_age_days],
        "backlog": [d.open for d in report.backlog],
    }


async def _random_orders(
    session: AsyncSession, rng: random.Random, clients: list[Client], staff: User
) -> list[WorkOrder]:
    """Orders over February to April: any channel and status, some reacted, some left."""
    sites = [await make_site(session, client=c) for c in clients]
    orders = []
    for _ in range(40):
        order = await open_order(session, site=rng.choice(sites), actor=staff)
        created = datetime(2031, 2, 10, tzinfo=UTC) + timedelta(minutes=rng.randrange(60 * 24 * 60))
        order.created_at = created
        order.channel = rng.choice(list(Channel))
        order.status = rng.choice(list(WorkOrderStatus))
        order.first_response_at = (
            created + timedelta(minutes=rng.choice([5, 15, 16, 200, 2000]))
            if rng.random() < 0.7
            else None
        )
        left = created + timedelta(hours=rng.randrange(1, 24 * 20))
        order.resolved_at = left if order.status is WorkOrderStatus.RESOLVED else None
        order.closed_at = left if order.status in _OUT and rng.random() < 0.5 else None
        order.updated_at = left + timedelta(hours=1)
        orders.append(order)
    await session.flush()
    return orders


async def _compare(session: AsyncSession, clients: list[Client]) -> None:
    everyone = await funnel(session, MONTH, now=NOW)
    each = [await funnel(session, MONTH, now=NOW, client_id=c.id) for c in clients]
    assert _read(everyone) == _summed(each)


class TestAllClientsFunnelFromRollups:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    async def test_equals_the_sum_of_each_clients_own_funnel_through_every_kind_of_write(
        self, session: AsyncSession, seed: int
    ) -> None:
        rng = random.Random(seed)
        clients = [await make_client(session, timezone="UTC") for _ in range(3)]
        staff = await make_user(session, role=Role.DISPATCHER)
        orders = await _random_orders(session, rng, clients, staff)
        await _compare(session, clients)

        # One statement over many rows: every open phone request of the first client reacted.
        await session.execute(
            update(WorkOrder)
            .where(WorkOrder.client_id == clients[0].id, WorkOrder.channel == Channel.PHONE)
            .values(first_response_at=WorkOrder.created_at + timedelta(minutes=30))
        )
        # Rows changed one by one, and some deleted.
        for order in rng.sample(orders, 10):
            order.status = WorkOrderStatus.CLOSED
            order.closed_at = order.created_at + timedelta(days=2)
        await session.flush()
        doomed = [o.id for o in rng.sample(orders, 5)]
        session.expunge_all()
        await session.execute(delete(WorkOrder).where(WorkOrder.id.in_(doomed)))
        await _compare(session, clients)

        await fold_rollups(session)
        await _compare(session, clients)
        # Folded: one row per key.
        keys = (
            ReportOpenedDay.day,
            ReportOpenedDay.channel,
            ReportOpenedDay.status,
            ReportOpenedDay.reaction_bucket,
        )
        doubled = await session.scalar(
            select(func.count()).select_from(
                select(*keys).group_by(*keys).having(func.count() > 1).subquery()
            )
        )
        assert doubled == 0
        left_doubled = await session.scalar(
            select(func.count()).select_from(
                select(ReportLeftDay.day)
                .group_by(ReportLeftDay.day)
                .having(func.count() > 1)
                .subquery()
            )
        )
        assert left_doubled == 0

    async def test_an_age_bound_counts_to_the_minute(self, session: AsyncSession) -> None:
        owner = await make_client(session, timezone="UTC")
        site = await make_site(session, client=owner)
        staff = await make_user(session, role=Role.DISPATCHER)
        # Just inside and just outside each bound, and one opened in the future.
        ages = [
            age
            for bound in AGE_BUCKETS
            for age in (
                timedelta(days=bound) - timedelta(minutes=1),
                timedelta(days=bound, minutes=1),
            )
        ]
        for age in [*ages, -timedelta(hours=1)]:
            order = await open_order(session, site=site, actor=staff)
            order.created_at = NOW - age
        await session.flush()

        report = await funnel(session, MONTH, now=NOW)

        # <=1 day: 1; <=3: the one past 1 day and the one under 3; ...; > 30 days: 1.
        assert [b.requests for b in report.open_by_age_days] == [1, 2, 2, 2, 1]
        assert (
            report.open_by_age_days
            == (await funnel(session, MONTH, now=NOW, client_id=owner.id)).open_by_age_days
        )
