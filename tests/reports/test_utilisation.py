"""Engineer utilisation: shift minutes split into travel, on site and idle, planned beside
actual, per local day and week; hand-computed."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from fsm.workorders.visit_models import Visit, VisitStatus, VisitStatusEvent
from tests.auth_helpers import login
from tests.factories import make_engineer, make_user
from tests.fsm.wo_helpers import open_order, plan_visit

URL = "/api/v1/reports/utilisation"


def utc(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 30, hour, minute, tzinfo=UTC)


class TestUtilisation:
    async def test_a_day_after_the_clocks_went_forward_as_computed_by_hand(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff = await make_user(session, role=Role.DISPATCHER)
        # Mon-Fri 08:00-17:00 in Berlin: 540 minutes a day.
        engineer = await make_engineer(session)

        async def visit(
            planned: datetime, estimated: int, moves: list[tuple[VisitStatus, datetime]]
        ) -> Visit:
            order = await open_order(session, actor=staff)
            planned_visit = await plan_visit(
                session, order, actor=staff, engineer=engineer, planned_start_at=planned
            )
            planned_visit.estimated_minutes = estimated
            for status, at in moves:
                session.add(
                    VisitStatusEvent(
                        visit_id=planned_visit.id, to_status=status, occurred_at=at, device_at=at
                    )
                )
            await session.flush()
            return planned_visit

        # Monday 30 March (CEST, UTC+2): 08:30 set off, 09:00 on site, 10:15 done.
        await visit(
            utc(7),
            60,
            [
                (VisitStatus.EN_ROUTE, utc(6, 30)),
                (VisitStatus.ON_SITE, utc(7)),
                (VisitStatus.COMPLETED, utc(8, 15)),
            ],
        )
        # 12:40 set off, 13:00 on site, 13:20 could not finish.
        await visit(
            utc(11),
            45,
            [
                (VisitStatus.EN_ROUTE, utc(10, 40)),
                (VisitStatus.ON_SITE, utc(11)),
                (VisitStatus.CANCELLED, utc(11, 20)),
            ],
        )
        await session.commit()

        response = await client.get(
            f"{URL}?from=2026-03-30&to=2026-03-31&engineer_id={engineer.id}",
            headers=await login(client, staff),
        )

        assert response.status_code == 200, response.text
        [mine] = response.json()["engineers"]
        monday, tuesday = mine["days"]
        assert monday == {
            "day": "2026-03-30",
            "shift_minutes": 540,
            "planned_on_site_minutes": 105,
            "travel_minutes": 50,
            "on_site_minutes": 95,
            "idle_minutes": 395,
        }
        assert (tuesday["shift_minutes"], tuesday["idle_minutes"]) == (540, 540)
        [week] = mine["weeks"]
        assert week["day"] == "2026-03-30"
        assert (week["shift_minutes"], week["idle_minutes"]) == (1080, 935)

    async def test_a_range_too_long_names_to(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()

        response = await client.get(
            f"{URL}?from=2026-01-01&to=2026-06-30", headers=await login(client, staff)
        )

        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "to"
