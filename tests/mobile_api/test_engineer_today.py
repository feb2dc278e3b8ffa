"""Today's route: own visits in route order, ready to render, in a fixed number of queries."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fsm.db import utcnow
from fsm.users.models import Role
from fsm.workorders.models import Priority, WorkOrderType
from tests.auth_helpers import login
from tests.checklists.helpers import make_template
from tests.equipment.test_equipment_card import counting_queries
from tests.factories import make_user
from tests.mobile_api.engineer_helpers import (
    BASE,
    DAY,
    assigned_visit,
    make_route,
    order_for,
    other_engineers_visit,
)
from tests.mobile_api.test_engineer_visits import ONE_QUESTION

TODAY = f"{BASE}/today"


class TestToday:
    async def test_lists_own_visits_in_route_order_with_what_the_screen_needs(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=3)
        await other_engineers_visit(session, route.dispatcher)

        response = await client.get(
            TODAY, params={"date": DAY.isoformat()}, headers=await login(client, route.user)
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["date"] == DAY.isoformat()
        assert body["timezone"] == "Europe/Berlin"
        # Positions were given in reverse of the start times: the route wins.
        assert [v["id"] for v in body["visits"]] == [str(v.id) for v in reversed(route.visits)]
        assert [v["route_position"] for v in body["visits"]] == [1, 2, 3]
        first = body["visits"][0]
        unit = route.units[-1]
        assert first["status"] == "assigned"
        assert first["planned_arrival_at"] is not None
        assert first["window_starts_at"] < first["window_ends_at"]
        assert first["site"]["access_notes"] == "Key at the reception"
        assert first["site"]["location"] == {
            "lat": pytest.approx(52.52),
            "lon": pytest.approx(13.405),
        }
        assert first["work_order"]["number"] == route.orders[-1].number
        assert first["work_order"]["type"] == "repair"
        assert first["equipment"]["serial_number"] == unit.serial_number
        assert first["map_url"].startswith("https://www.openstreetmap.org/?mlat=52.52")
        assert first["geo_uri"].startswith("geo:52.52")
        assert first["checklist"] is None

    async def test_says_urgent_and_never_the_priority_word(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(
            session,
            stops=4,
            priorities=[Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.CRITICAL],
        )

        response = await client.get(
            TODAY, params={"date": DAY.isoformat()}, headers=await login(client, route.user)
        )

        urgent = {
            v["work_order"]["number"]: v["work_order"]["is_urgent"]
            for v in response.json()["visits"]
        }
        assert urgent == {
            route.orders[0].number: False,
            route.orders[1].number: False,
            route.orders[2].number: True,
            route.orders[3].number: True,
        }
        for word in ("priority", "critical", "high", "normal", "low"):
            assert word not in response.text.lower()

    async def test_defaults_to_today_where_the_engineer_is(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        order, _ = await order_for(session, route.dispatcher)
        now_visit = await assigned_visit(
            session, order, route.engineer, route.dispatcher, starts_at=utcnow()
        )
        await session.commit()

        response = await client.get(TODAY, headers=await login(client, route.user))

        assert response.status_code == 200
        assert [v["id"] for v in response.json()["visits"]] == [str(now_visit.id)]

    async def test_an_empty_day_is_an_empty_list(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        response = await client.get(
            TODAY, params={"date": "2031-06-11"}, headers=await login(client, route.user)
        )
        assert response.json()["visits"] == []

    async def test_a_bad_date_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        response = await client.get(
            TODAY, params={"date": "tomorrow"}, headers=await login(client, route.user)
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "validation_error"

    async def test_the_number_of_queries_does_not_grow_with_the_route(
        self, client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        # A checklist applies to every visit, so its state is part of the count.
        await make_template(session, raw=ONE_QUESTION, work_types=[WorkOrderType.REPAIR])
        short = await make_route(session, stops=1)
        long = await make_route(session, stops=6)
        short_headers = await login(client, short.user)
        long_headers = await login(client, long.user)

        with counting_queries(engine) as few:
            await client.get(TODAY, params={"date": DAY.isoformat()}, headers=short_headers)
        with counting_queries(engine) as many:
            response = await client.get(
                TODAY, params={"date": DAY.isoformat()}, headers=long_headers
            )

        assert len(response.json()["visits"]) == 6
        assert {v["checklist"]["status"] for v in response.json()["visits"]} == {"not_started"}
        assert len(many) == len(few)

    async def test_answers_304_when_the_app_has_the_same_day(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=2)
        headers = await login(client, route.user)
        first = await client.get(TODAY, params={"date": DAY.isoformat()}, headers=headers)
        etag = first.headers["ETag"]

        again = await client.get(
            TODAY, params={"date": DAY.isoformat()}, headers={**headers, "If-None-Match": etag}
        )

        assert again.status_code == 304
        assert again.content == b""


class TestTodayAccess:
    @pytest.mark.parametrize("role", [Role.CLIENT, Role.DISPATCHER, Role.ADMIN])
    async def test_only_engineers(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        user = await make_user(session, role=role)
        await session.commit()
        response = await client.get(TODAY, headers=await login(client, user))
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
