"""The change feed: what changed for one engineer since a cursor, nothing of anyone else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.principal import Principal
from fsm.visits.models import VisitStatus
from fsm.visits.service import StatusReport
from fsm.workorders.models import WorkOrderStatus
from tests.auth_helpers import login
from tests.factories import make_engineer
from tests.fsm.helpers import invalid_fields
from tests.fsm.wo_helpers import principal_of, visits, work_orders
from tests.mobile_api.engineer_helpers import (
    BASE,
    DAY,
    assigned_visit,
    local,
    make_route,
    order_for,
)

CHANGES = f"{BASE}/changes"


async def _feed(
    client: httpx.AsyncClient, headers: dict[str, str], since: str | None = None
) -> dict[str, Any]:
    params = {"since": since} if since is not None else None
    response = await client.get(CHANGES, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestChanges:
    async def test_first_call_gives_the_current_state_and_then_nothing_new(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=2)
        headers = await login(client, route.user)

        state = await _feed(client, headers)
        quiet = await _feed(client, headers, state["next_cursor"])

        assert {v["id"] for v in state["visits"]} == {str(v.id) for v in route.visits}
        assert (quiet["visits"], quiet["removed_visit_ids"], quiet["comments"]) == ([], [], [])
        assert quiet["has_more"] is False

    async def test_new_changed_and_removed_visits_and_new_comments(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=3)
        moved, taken, commented = route.visits
        headers = await login(client, route.user)
        cursor = (await _feed(client, headers))["next_cursor"]
        dispatcher = principal_of(route.dispatcher)
        colleague = await make_engineer(session)
        # A new visit for me, one moved to a new time, one given to a colleague, a comment.
        order, _ = await order_for(session, route.dispatcher)
        new = await assigned_visit(
            session, order, route.engineer, route.dispatcher, starts_at=local(DAY, 8)
        )
        await visits(session).assign(
            moved.id,
            route.engineer.id,
            actor=dispatcher,
            planned_start_at=local(DAY, 11),
            route_position=9,
        )
        await visits(session).assign(taken.id, colleague.id, actor=dispatcher)
        await work_orders(session).add_comment(
            commented.work_order_id, "Parts arrived", actor=dispatcher, is_internal=True
        )
        await session.commit()

        changes = await _feed(client, headers, cursor)

        assert {v["id"] for v in changes["visits"]} == {str(new.id), str(moved.id)}
        moved_now = next(v for v in changes["visits"] if v["id"] == str(moved.id))
        assert moved_now["route_position"] == 9
        # Only the id of a visit taken away: nothing of the colleague it went to.
        assert changes["removed_visit_ids"] == [str(taken.id)]
        assert str(colleague.id) not in str(changes)
        assert [c["body"] for c in changes["comments"]] == ["Parts arrived"]
        after = await _feed(client, headers, changes["next_cursor"])
        assert (after["visits"], after["removed_visit_ids"], after["comments"]) == ([], [], [])

    async def test_a_cancelled_work_order_removes_its_visits(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        headers = await login(client, route.user)
        cursor = (await _feed(client, headers))["next_cursor"]
        await work_orders(session).transition(
            route.orders[0].id,
            WorkOrderStatus.CANCELLED,
            actor=principal_of(route.dispatcher),
            reason="client withdrew",
        )
        await session.commit()

        changes = await _feed(client, headers, cursor)

        assert changes["removed_visit_ids"] == [str(route.visits[0].id)]
        assert changes["visits"] == []

    async def test_my_own_status_moves_come_back_as_changed_visits(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        headers = await login(client, route.user)
        cursor = (await _feed(client, headers))["next_cursor"]
        me: Principal = principal_of(route.user)
        await visits(session).report_status(
            visit.id, StatusReport(status=VisitStatus.EN_ROUTE), actor=me
        )
        await session.commit()

        changes = await _feed(client, headers, cursor)

        assert [(v["id"], v["status"]) for v in changes["visits"]] == [(str(visit.id), "en_route")]

    async def test_nothing_of_another_engineer_appears(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        other = await make_route(session, stops=1)
        headers = await login(client, route.user)
        cursor = (await _feed(client, headers))["next_cursor"]
        await visits(session).assign(
            other.visits[0].id,
            other.engineer.id,
            actor=principal_of(other.dispatcher),
            planned_start_at=local(DAY, 7) + timedelta(minutes=5),
        )
        await work_orders(session).add_comment(
            other.orders[0].id, "Secret", actor=principal_of(other.dispatcher), is_internal=True
        )
        await session.commit()

        changes = await _feed(client, headers, cursor)

        assert (changes["visits"], changes["removed_visit_ids"], changes["comments"]) == (
            [],
            [],
            [],
        )

    async def test_pages_with_has_more_until_everything_is_read(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=3)
        headers = await login(client, route.user)
        cursor = (await _feed(client, headers))["next_cursor"]
        for visit in route.visits:
            await visits(session).report_status(
                visit.id, StatusReport(status=VisitStatus.EN_ROUTE), actor=principal_of(route.user)
            )
        await session.commit()

        seen: list[str] = []
        pages = 0
        while True:
            response = await client.get(
                CHANGES, params={"since": cursor, "limit": 1}, headers=headers
            )
            page = response.json()
            seen.extend(v["id"] for v in page["visits"])
            cursor, pages = page["next_cursor"], pages + 1
            if not page["has_more"]:
                break

        assert sorted(seen) == sorted(str(v.id) for v in route.visits)
        assert pages >= 3

    async def test_a_forged_cursor_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        response = await client.get(
            CHANGES, params={"since": "not-a-cursor"}, headers=await login(client, route.user)
        )
        assert invalid_fields(response) == ["since"]
