"""The change feed: what changed for one engineer since a cursor, nothing of anyone else."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fsm.auth.principal import Principal
from fsm.clients.models import Client
from fsm.db import utcnow
from fsm.engineers.models import Engineer
from fsm.sites.models import Site
from fsm.users.models import User
from fsm.visits.service import StatusReport
from fsm.workorders.models import Channel, Priority, WorkOrder, WorkOrderStatus, WorkOrderType
from fsm.workorders.visit_models import Visit, VisitStatus
from mobile_api.cursor import decode_cursor, encode_cursor
from mobile_api.engineer.models import EngineerChange
from mobile_api.engineer.schemas import ChangesRead
from mobile_api.engineer.service import purge_change_feed
from tests.auth_helpers import login
from tests.factories import make_client, make_engineer, make_site
from tests.fsm.helpers import error_of
from tests.fsm.wo_helpers import principal_of, services, visits, work_orders
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
        await visits(session).transition_work_order(
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

    async def test_a_forged_cursor_is_409_start_again(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        response = await client.get(
            CHANGES, params={"since": "not-a-cursor"}, headers=await login(client, route.user)
        )
        error = error_of(response, 409)
        assert error["code"] == "unknown_cursor"
        assert [d["field"] for d in error["details"]] == ["since"]

    async def test_a_cursor_older_than_the_retention_gets_the_full_state_again(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=2)
        headers = await login(client, route.user)
        first = await _feed(client, headers)
        txid, row, issued = decode_cursor(first["next_cursor"], (int, int, int))
        assert isinstance(issued, int)
        # The same position, handed out 40 days ago: rows after it may have been purged.
        stale = encode_cursor(txid, row, issued - 40 * 86400)

        fresh = await _feed(client, headers, first["next_cursor"])
        again = await _feed(client, headers, stale)

        assert (first["is_full_state"], fresh["is_full_state"]) == (True, False)
        assert fresh["visits"] == []
        assert again["is_full_state"] is True
        assert {v["id"] for v in again["visits"]} == {str(v.id) for v in route.visits}

    async def test_housekeeping_drops_feed_rows_past_the_retention_only(
        self, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=2)
        old, recent = route.visits
        await session.execute(
            update(EngineerChange)
            .where(EngineerChange.visit_id == old.id)
            .values(occurred_at=utcnow() - timedelta(days=31))
        )

        purged = await purge_change_feed(session, before=utcnow() - timedelta(days=30))

        left = set((await session.scalars(select(EngineerChange.visit_id))).all())
        assert purged >= 1
        assert old.id not in left
        assert recent.id in left

    async def test_housekeeping_purges_in_bounded_batches_until_nothing_old_is_left(
        self, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=3)
        ids = [v.id for v in route.visits]
        await session.execute(
            update(EngineerChange)
            .where(EngineerChange.visit_id.in_(ids))
            .values(occurred_at=utcnow() - timedelta(days=31))
        )
        old = await session.scalar(
            select(func.count())
            .select_from(EngineerChange)
            .where(EngineerChange.occurred_at < utcnow() - timedelta(days=30))
        )
        assert old is not None
        assert old > 2  # more than one batch

        purged = await purge_change_feed(
            session, before=utcnow() - timedelta(days=30), batch_size=2
        )

        assert purged == old
        left = await session.scalar(
            select(func.count())
            .select_from(EngineerChange)
            .where(EngineerChange.occurred_at < utcnow() - timedelta(days=30))
        )
        assert left == 0

    async def test_the_feed_has_indexes_for_its_lookups_purge_and_cascades(
        self, session: AsyncSession
    ) -> None:
        rows = await session.execute(
            text("SELECT indexdef FROM pg_indexes WHERE tablename = 'engineer_changes'")
        )
        definitions = {r.indexdef.split(" USING btree ")[1] for r in rows}
        assert {
            "(engineer_id, visit_id)",
            "(occurred_at)",
            "(visit_id)",
            "(comment_id)",
        } <= definitions


@dataclass
class Committed:
    """Data committed for real, so separate transactions can race on it."""

    principal: Principal
    engineer_id: uuid.UUID
    visit_ids: list[uuid.UUID]


@pytest.fixture
async def committed_route(engine: AsyncEngine) -> AsyncIterator[Committed]:
    """An engineer with two visits, committed outside any test transaction; removed after."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        customer = await make_client(session)
        site = await make_site(session, client=customer)
        engineer = await make_engineer(session)
        order = WorkOrder(
            number=f"WO-T-{uuid.uuid4().hex[:8]}",
            client_id=customer.id,
            site_id=site.id,
            type=WorkOrderType.REPAIR,
            priority=Priority.NORMAL,
            channel=Channel.PHONE,
            status=WorkOrderStatus.SCHEDULED,
            title="Race",
        )
        session.add(order)
        await session.flush()
        made = [
            Visit(
                work_order_id=order.id,
                status=VisitStatus.ASSIGNED,
                window_starts_at=local(DAY, 9 + n),
                window_ends_at=local(DAY, 10 + n),
                estimated_minutes=30,
                engineer_id=engineer.id,
            )
            for n in range(2)
        ]
        session.add_all(made)
        await session.commit()
        user = engineer.user
    try:
        yield Committed(
            principal=principal_of(user),
            engineer_id=engineer.id,
            visit_ids=[v.id for v in made],
        )
    finally:
        async with AsyncSession(engine) as session:
            await session.execute(delete(WorkOrder).where(WorkOrder.id == order.id))
            await session.execute(delete(Engineer).where(Engineer.id == engineer.id))
            await session.execute(delete(User).where(User.id == user.id))
            await session.execute(delete(Site).where(Site.id == site.id))
            await session.execute(delete(Client).where(Client.id == customer.id))
            await session.commit()


async def _read(engine: AsyncEngine, principal: Principal, since: str | None) -> ChangesRead:
    async with AsyncSession(engine) as session:
        app = services(session).engineer_app
        changes = await app.changes(principal, since)
        await session.commit()
        return changes


async def _move(session: AsyncSession, visit_id: uuid.UUID, position: int) -> None:
    await session.execute(update(Visit).where(Visit.id == visit_id).values(route_position=position))


class TestLateCommits:
    async def test_a_change_committing_after_a_younger_one_is_not_skipped(
        self, engine: AsyncEngine, committed_route: Committed
    ) -> None:
        principal, (slow_visit, fast_visit) = committed_route.principal, committed_route.visit_ids
        cursor = (await _read(engine, principal, None)).next_cursor
        async with AsyncSession(engine) as slow, AsyncSession(engine) as fast:
            await _move(slow, slow_visit, 5)  # older transaction, still open
            await _move(fast, fast_visit, 6)
            await fast.commit()  # younger transaction, committed first

            while_open = await _read(engine, principal, cursor)
            await slow.commit()
        after = await _read(engine, principal, while_open.next_cursor)

        # Held back while an older transaction could still commit below the cursor...
        assert while_open.visits == []
        # ...then both arrive: nothing skipped.
        assert {v.id: v.route_position for v in after.visits} == {slow_visit: 5, fast_visit: 6}
