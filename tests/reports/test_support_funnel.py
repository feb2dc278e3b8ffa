"""The support funnel: channels and stages, reaction times, backlog by age and by day;
hand-computed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from fsm.workorders.models import Channel, WorkOrderStatus
from tests.auth_helpers import login
from tests.factories import make_client, make_site, make_user
from tests.fsm.wo_helpers import open_order

URL = "/api/v1/reports/support-funnel"


def utc(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


class TestSupportFunnel:
    async def test_channels_reactions_and_backlog_as_computed_by_hand(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session, timezone="Europe/Berlin")
        site = await make_site(session, client=owner)
        staff = await make_user(session, role=Role.DISPATCHER)

        async def request(
            channel: Channel,
            created: datetime,
            status: WorkOrderStatus,
            *,
            reacted_after: timedelta | None = None,
            resolved: datetime | None = None,
            closed: datetime | None = None,
        ) -> None:
            order = await open_order(session, site=site, actor=staff)
            order.channel, order.created_at, order.status = channel, created, status
            order.first_response_at = created + reacted_after if reacted_after else None
            order.resolved_at, order.closed_at = resolved, closed
            await session.flush()

        await request(Channel.PHONE, utc(2, 20, 9), WorkOrderStatus.ON_HOLD)  # February's
        await request(
            Channel.PHONE,
            utc(3, 2, 9),
            WorkOrderStatus.RESOLVED,
            reacted_after=timedelta(minutes=10),
            resolved=utc(3, 3, 10),
        )
        await request(
            Channel.EMAIL,
            utc(3, 2, 10),
            WorkOrderStatus.IN_PROGRESS,
            reacted_after=timedelta(minutes=90),
        )
        await request(Channel.EMAIL, utc(3, 5, 8), WorkOrderStatus.NEW)
        await request(
            Channel.PHONE,
            utc(3, 5, 9),
            WorkOrderStatus.CLOSED,
            reacted_after=timedelta(days=2),
            closed=utc(3, 6, 10),
        )
        await session.commit()

        response = await client.get(
            f"{URL}?month=2026-03&client_id={owner.id}", headers=await login(client, staff)
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["timezone"] == "Europe/Berlin"
        assert [(c["channel"], c["opened"], c["by_status"]) for c in body["channels"]] == [
            ("email", 2, {"in_progress": 1, "new": 1}),
            ("phone", 2, {"resolved": 1, "closed": 1}),
        ]
        assert [b["requests"] for b in body["reaction_minutes"]] == [1, 0, 1, 0, 1]
        assert body["without_reaction"] == 1
        # Still open today: February's, the one in progress and the new one; all > 30 days.
        assert [b["requests"] for b in body["open_by_age_days"]] == [0, 0, 0, 0, 3]
        backlog = [d["open"] for d in body["backlog"]]
        assert len(backlog) == 31
        assert backlog[:7] == [1, 3, 2, 2, 4, 3, 3]
        assert backlog[-1] == 3
