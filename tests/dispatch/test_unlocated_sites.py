"""Visits at unlocated sites (imported without coordinates): named unplannable, never routed."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.field import check_insertable
from fsm.errors import ValidationFailed
from fsm.sites.models import Site
from fsm.workorders.models import WorkOrder
from tests.auth_helpers import login
from tests.dispatch.test_service import DAY, small_day

PLANS = "/api/v1/dispatch/plans"
BODY = {"day": DAY.isoformat(), "timezone": "Europe/Berlin", "time_limit_s": 1}


class TestUnlocatedSites:
    async def test_draft_names_them_unplannable(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        unlocated = day.visits[1]
        order = await session.get(WorkOrder, unlocated.work_order_id)
        assert order is not None
        await session.execute(update(Site).where(Site.id == order.site_id).values(location=None))
        await session.commit()
        staff = await login(client, day.dispatcher)

        drafted = await client.post(PLANS, json=BODY, headers=staff)
        assert drafted.status_code == 201, drafted.text
        plan = drafted.json()
        assert plan["dropped"] == [
            {
                "visit_id": str(unlocated.id),
                "priority": "normal",
                "reason": "unlocated_site",
                "detail": "the site has no coordinates; set its location to plan this visit",
            }
        ]
        routed = {s["visit_id"] for r in plan["routes"] for s in r["stops"]}
        assert str(unlocated.id) not in routed
        assert len(routed) == 3
        assert (plan["metrics"]["served_count"], plan["metrics"]["dropped_count"]) == (3, 1)
        drawn = await client.get(f"{PLANS}/{plan['id']}/map.svg", headers=staff)
        assert drawn.status_code == 200, drawn.text

    async def test_insert_refuses_them(self, session: AsyncSession) -> None:
        day = await small_day(session)
        unlocated = day.visits[1]
        order = await session.get(WorkOrder, unlocated.work_order_id)
        assert order is not None
        await session.execute(update(Site).where(Site.id == order.site_id).values(location=None))
        origin_at = datetime.combine(DAY, time(), ZoneInfo("Europe/Berlin"))
        with pytest.raises(ValidationFailed) as refused:
            await check_insertable(session, [day.visits[0].id, unlocated.id], origin_at)
        assert refused.value.details == [
            {
                "field": "visit_ids[1]",
                "message": "the visit's site has no coordinates (unlocated); "
                "set its location first",
            }
        ]
