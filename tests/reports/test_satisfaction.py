"""Client satisfaction: averages per client and engineer with the trend, low ratings listed;
hand-computed."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.engineers.models import Engineer
from fsm.users.models import Role
from fsm.workorders.models import WorkOrderRating
from fsm.workorders.visit_models import VisitStatus
from tests.auth_helpers import login
from tests.factories import make_client, make_engineer, make_site, make_user
from tests.fsm.wo_helpers import open_order, plan_visit

URL = "/api/v1/reports/satisfaction"


class TestSatisfaction:
    async def test_averages_trends_and_low_ratings_as_computed_by_hand(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        owner = await make_client(session, name="Satisfaction GmbH", timezone="Europe/Berlin")
        site = await make_site(session, client=owner)
        staff = await make_user(session, role=Role.DISPATCHER)
        erik = await make_engineer(
            session, user=await make_user(session, role=Role.ENGINEER, full_name="Erik Early")
        )

        async def rated(score: int, at: datetime, engineer: Engineer, comment: str) -> str:
            order = await open_order(session, site=site, actor=staff, title=comment)
            visit = await plan_visit(session, order, actor=staff, engineer=engineer)
            visit.status, visit.completed_at = VisitStatus.COMPLETED, at
            session.add(
                WorkOrderRating(work_order_id=order.id, score=score, comment=comment, created_at=at)
            )
            await session.flush()
            return order.number

        # 28 Feb 23:30 UTC is 1 March 00:30 in Berlin (CET); 31 March 22:30 UTC is 1 April
        # 00:30 (CEST): months are cut at the client's midnight.
        await rated(4, datetime(2026, 2, 10, 9, tzinfo=UTC), erik, "fine")
        await rated(5, datetime(2026, 2, 28, 23, 30, tzinfo=UTC), erik, "1 March in Berlin")
        await rated(5, datetime(2026, 3, 5, 9, tzinfo=UTC), erik, "great")
        low = await rated(2, datetime(2026, 3, 12, 9, tzinfo=UTC), erik, "came late")
        await rated(3, datetime(2026, 3, 20, 9, tzinfo=UTC), erik, "ok")
        await rated(1, datetime(2026, 3, 31, 22, 30, tzinfo=UTC), erik, "April in Berlin")
        await session.commit()

        response = await client.get(
            f"{URL}?month=2026-03&client_id={owner.id}", headers=await login(client, staff)
        )

        assert response.status_code == 200, response.text
        body = response.json()
        [ours] = body["clients"]
        # March in Berlin: 5 (1 March 00:30), 5, 2, 3 -> 3.75; February: 4 -> 4.0.
        assert (ours["ratings"], ours["average"]) == (4, 3.75)
        assert (ours["previous_ratings"], ours["previous_average"]) == (1, 4.0)
        assert ours["trend"] == -0.25
        [engineer] = body["engineers"]
        assert (engineer["name"], engineer["average"]) == ("Erik Early", 3.75)
        [bad] = body["low_ratings"]
        assert (bad["number"], bad["score"], bad["comment"]) == (low, 2, "came late")
        assert bad["engineer_name"] == "Erik Early"

    async def test_engineers_cannot_read_it(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        engineer = await make_user(session, role=Role.ENGINEER)
        await session.commit()

        response = await client.get(f"{URL}?month=2026-03", headers=await login(client, engineer))

        assert response.status_code == 403
