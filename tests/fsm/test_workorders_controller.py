"""Work-order endpoints: opening, the status flow, reopening, priorities and the queue."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.db import utcnow
from fsm.users.models import Role, User
from fsm.workorders.models import (
    CustomFieldDefinition,
    CustomFieldKind,
    Priority,
    RequiredAt,
    WorkOrder,
    WorkOrderRating,
    WorkOrderStatus,
    WorkOrderType,
)
from tests.auth_helpers import login
from tests.factories import make_client, make_engineer, make_policy, make_site, make_skill
from tests.fsm.helpers import error_of, invalid_fields, signed_in, unknown_references
from tests.fsm.wo_helpers import (
    WORK_ORDERS,
    create_via_api,
    move,
    open_order,
    parse_at,
    plan_visit,
    set_targets,
)

S = WorkOrderStatus


async def _staff(client: httpx.AsyncClient, session: AsyncSession) -> tuple[User, dict[str, str]]:
    return await signed_in(client, session, Role.DISPATCHER)


async def _transition(
    client: httpx.AsyncClient, headers: dict[str, str], work_order: WorkOrder, to: str
) -> httpx.Response:
    return await client.post(
        f"{WORK_ORDERS}/{work_order.id}/transitions", json={"to": to}, headers=headers
    )


async def _queue(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get(WORK_ORDERS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _numbers(page: dict[str, Any]) -> list[str]:
    return [item["number"] for item in page["items"]]


class TestNumbering:
    async def test_numbers_are_sequential_within_the_year(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        site = await make_site(session)
        _, staff = await _staff(client, session)

        first = await create_via_api(client, staff, site)
        second = await create_via_api(client, staff, site)

        assert first.status_code == 201, first.text
        assert second.status_code == 201, second.text
        pattern = re.compile(r"^WO-(\d{4})-(\d{6})$")
        a = pattern.fullmatch(first.json()["number"])
        b = pattern.fullmatch(second.json()["number"])
        assert a is not None, first.json()["number"]
        assert b is not None, second.json()["number"]
        assert int(a.group(1)) == int(b.group(1)) == datetime.now(UTC).year
        assert int(b.group(2)) == int(a.group(2)) + 1


class TestCreateWorkOrder:
    async def test_staff_sets_priority_and_channel(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        site = await make_site(session)
        _, staff = await _staff(client, session)

        created = await create_via_api(client, staff, site, priority="critical", channel="email")

        assert created.status_code == 201, created.text
        assert created.json()["priority"] == "critical"
        assert created.json()["channel"] == "email"
        assert created.json()["status"] == "new"

    async def test_refuses_an_unknown_skill_code(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        site = await make_site(session)
        await make_skill(session, "hvac")
        _, staff = await _staff(client, session)

        response = await create_via_api(client, staff, site, required_skills=["hvac", "plumbin"])

        assert unknown_references(response) == ["required_skills"]
        assert "plumbin" in error_of(response, 409)["message"]

    async def test_refuses_a_blank_title(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        site = await make_site(session)
        _, staff = await _staff(client, session)

        response = await create_via_api(client, staff, site, title="   ")

        assert invalid_fields(response) == ["title"]


class TestIllegalTransition:
    async def test_closed_order_moves_nowhere(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        wo = await move(session, await open_order(session), S.RESOLVED, S.CLOSED, actor=user)
        await session.commit()

        response = await _transition(client, staff, wo, "in_progress")

        error = error_of(response, 409)
        assert error["code"] == "illegal_transition"
        assert error["details"] == {"status": "closed", "allowed": []}

    async def test_closed_order_cannot_be_reopened(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        wo = await move(session, await open_order(session), S.RESOLVED, S.CLOSED, actor=user)
        await session.commit()

        response = await _transition(client, staff, wo, "reopened")

        error = error_of(response, 409)
        assert error["code"] == "illegal_transition"
        assert error["details"]["allowed"] == []

    async def test_cancelled_order_moves_nowhere(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        wo = await move(session, await open_order(session), S.CANCELLED, actor=user)
        await session.commit()

        response = await _transition(client, staff, wo, "new")

        error = error_of(response, 409)
        assert error["code"] == "illegal_transition"
        assert error["details"] == {"status": "cancelled", "allowed": []}

    async def test_new_order_cannot_be_reopened(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        wo = await open_order(session)
        await session.commit()

        response = await _transition(client, staff, wo, "reopened")

        error = error_of(response, 409)
        assert error["code"] == "illegal_transition"
        assert error["details"]["allowed"] == [
            "cancelled",
            "in_progress",
            "on_hold",
            "resolved",
            "scheduled",
        ]

    async def test_on_hold_order_cannot_be_resolved(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        wo = await move(session, await open_order(session), S.ON_HOLD, actor=user)
        await session.commit()

        response = await _transition(client, staff, wo, "resolved")

        error = error_of(response, 409)
        assert error["code"] == "illegal_transition"
        assert error["details"]["allowed"] == ["cancelled", "in_progress", "new", "scheduled"]
        assert "resolved" in error["message"]

    async def test_refused_move_leaves_the_status(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        wo = await move(session, await open_order(session), S.CANCELLED, actor=user)
        await session.commit()

        await _transition(client, staff, wo, "in_progress")

        seen = await client.get(f"{WORK_ORDERS}/{wo.id}", headers=staff)
        assert seen.json()["status"] == "cancelled"


class TestResolve:
    async def test_refuses_while_a_visit_is_open(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        wo = await open_order(session)
        await plan_visit(session, wo, actor=user)
        await session.commit()

        response = await _transition(client, staff, wo, "resolved")

        error = error_of(response, 409)
        assert error["code"] == "open_visits_remain"
        assert error["details"] == {"open_visits": 1}

    async def test_refuses_without_a_field_required_at_resolution(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        session.add(
            CustomFieldDefinition(
                work_order_type=WorkOrderType.REPAIR,
                key="root_cause",
                label="Root cause",
                kind=CustomFieldKind.TEXT,
                required_at=RequiredAt.RESOLUTION,
            )
        )
        wo = await open_order(session)
        await session.commit()

        response = await _transition(client, staff, wo, "resolved")

        assert invalid_fields(response) == ["custom_fields.root_cause"]
        seen = await client.get(f"{WORK_ORDERS}/{wo.id}", headers=staff)
        assert seen.json()["status"] == "new"

    async def test_resolves_once_the_field_is_filled(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        session.add(
            CustomFieldDefinition(
                work_order_type=WorkOrderType.REPAIR,
                key="root_cause",
                label="Root cause",
                kind=CustomFieldKind.TEXT,
                required_at=RequiredAt.RESOLUTION,
            )
        )
        wo = await open_order(session)
        await session.commit()
        patched = await client.patch(
            f"{WORK_ORDERS}/{wo.id}",
            json={"custom_fields": {"root_cause": "worn seal"}},
            headers=staff,
        )
        assert patched.status_code == 200, patched.text

        response = await _transition(client, staff, wo, "resolved")

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "resolved"
        assert response.json()["resolved_at"] is not None


class TestReopen:
    async def _resolved(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> tuple[WorkOrder, dict[str, str], dict[str, str]]:
        company = await make_client(session)
        site = await make_site(session, client=company)
        user, staff = await _staff(client, session)
        wo = await move(session, await open_order(session, site=site), S.RESOLVED, actor=user)
        await session.commit()
        return wo, staff, staff

    async def test_staff_reopen_within_the_window(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        wo, headers, staff = await self._resolved(client, session)

        response = await client.post(
            f"{WORK_ORDERS}/{wo.id}/reopen", json={"reason": "still dripping"}, headers=headers
        )

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "reopened"
        seen = (await client.get(f"{WORK_ORDERS}/{wo.id}", headers=staff)).json()
        assert seen["status"] == "reopened"
        assert seen["reopen_count"] == 1
        assert seen["resolved_at"] is None

    async def test_refuses_after_the_window_and_asks_for_a_new_request(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        wo, headers, staff = await self._resolved(client, session)
        wo.resolved_at = utcnow() - timedelta(days=8)
        await session.commit()

        response = await client.post(f"{WORK_ORDERS}/{wo.id}/reopen", json={}, headers=headers)

        error = error_of(response, 409)
        assert error["code"] == "reopen_window_closed"
        assert "new request" in error["message"]
        seen = (await client.get(f"{WORK_ORDERS}/{wo.id}", headers=staff)).json()
        assert seen["status"] == "resolved"
        assert seen["reopen_count"] == 0


class TestChangePriority:
    async def test_deadlines_follow_the_new_priority(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        policy = await make_policy(session)
        set_targets(
            policy,
            {"low": (240, 2880), "normal": (60, 480), "high": (30, 240), "critical": (15, 120)},
        )
        _, staff = await _staff(client, session)
        wo = await open_order(session, priority=Priority.NORMAL)
        await session.commit()
        created = wo.created_at
        assert wo.reaction_due_at == created + timedelta(minutes=60)

        response = await client.patch(
            f"{WORK_ORDERS}/{wo.id}", json={"priority": "critical"}, headers=staff
        )

        assert response.status_code == 200, response.text
        sla = response.json()["sla"]
        assert response.json()["priority"] == "critical"
        assert parse_at(sla["reaction_due_at"]) == created + timedelta(minutes=15)
        assert parse_at(sla["resolution_due_at"]) == created + timedelta(minutes=120)
        assert parse_at(sla["next_due_at"]) == created + timedelta(minutes=15)

    async def test_changes_title_and_keeps_priority(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        wo = await open_order(session, priority=Priority.HIGH)
        await session.commit()

        response = await client.patch(
            f"{WORK_ORDERS}/{wo.id}", json={"title": "  Boiler replaced  "}, headers=staff
        )

        assert response.status_code == 200, response.text
        assert response.json()["title"] == "Boiler replaced"
        assert response.json()["priority"] == "high"


class TestQueue:
    async def test_filters_by_status(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        await open_order(session)
        held = await move(session, await open_order(session), S.ON_HOLD, actor=user)
        await session.commit()

        page = await _queue(client, staff, status="on_hold")

        assert _numbers(page) == [held.number]
        assert page["total"] == 1

    async def test_filters_by_priority(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        await open_order(session, priority=Priority.LOW)
        high = await open_order(session, priority=Priority.HIGH)
        critical = await open_order(session, priority=Priority.CRITICAL)
        await session.commit()

        page = await _queue(client, staff, priority=["high", "critical"], sort="created")

        assert sorted(_numbers(page)) == sorted([high.number, critical.number])

    async def test_filters_by_client_and_site(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        company = await make_client(session)
        north, south = (
            await make_site(session, client=company),
            await make_site(session, client=company),
        )
        at_north = await open_order(session, site=north)
        at_south = await open_order(session, site=south)
        await open_order(session)
        await session.commit()

        by_client = await _queue(client, staff, client_id=str(company.id))
        by_site = await _queue(client, staff, site_id=str(south.id))

        assert sorted(_numbers(by_client)) == sorted([at_north.number, at_south.number])
        assert _numbers(by_site) == [at_south.number]

    async def test_filters_by_skill(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        _, staff = await _staff(client, session)
        await make_skill(session, "hvac")
        await make_skill(session, "electrical")
        hvac = await open_order(session, skills=["hvac"])
        await open_order(session, skills=["electrical"])
        await open_order(session)
        await session.commit()

        page = await _queue(client, staff, skill="hvac")

        assert _numbers(page) == [hvac.number]

    async def test_filters_by_engineer_with_a_visit(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        engineer, other = await make_engineer(session), await make_engineer(session)
        theirs = await open_order(session)
        await plan_visit(session, theirs, actor=user, engineer=engineer)
        elsewhere = await open_order(session)
        await plan_visit(session, elsewhere, actor=user, engineer=other)
        await open_order(session)
        await session.commit()

        page = await _queue(client, staff, engineer_id=str(engineer.id))

        assert _numbers(page) == [theirs.number]

    async def test_filters_by_creation_range(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        old = await open_order(session)
        recent = await open_order(session)
        now = utcnow()
        old.created_at = now - timedelta(days=3)
        recent.created_at = now - timedelta(hours=1)
        await session.commit()
        cut = (now - timedelta(days=2)).isoformat()

        since = await _queue(client, staff, created_from=cut)
        before = await _queue(client, staff, created_to=cut)

        assert _numbers(since) == [recent.number]
        assert _numbers(before) == [old.number]

    async def test_filters_orders_without_a_reaction(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        waiting = await open_order(session)
        answered = await open_order(session)
        await open_order(session)  # opened just now
        now = utcnow()
        waiting.created_at = answered.created_at = now - timedelta(hours=2)
        answered.first_response_at = now - timedelta(hours=1)
        await session.commit()

        page = await _queue(client, staff, no_reaction_within=60)

        assert _numbers(page) == [waiting.number]

    async def test_refuses_a_reaction_time_before_any_date(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)

        response = await client.get(
            WORK_ORDERS, params={"no_reaction_within": 1_100_000_000}, headers=staff
        )

        assert invalid_fields(response) == ["no_reaction_within"]

    async def _by_deadline(self, session: AsyncSession) -> dict[str, WorkOrder]:
        now = utcnow()
        orders = {
            "breached": await open_order(session, title="Past due"),
            "at_risk": await open_order(session, title="Due soon"),
            "ok": await open_order(session, title="Due later"),
        }
        orders["breached"].sla_next_due_at = now - timedelta(minutes=5)
        orders["at_risk"].sla_next_due_at = now + timedelta(minutes=30)
        orders["ok"].sla_next_due_at = now + timedelta(days=1)
        await session.commit()
        return orders

    async def test_filters_breached(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        _, staff = await _staff(client, session)
        orders = await self._by_deadline(session)

        page = await _queue(client, staff, sla_state="breached")

        assert _numbers(page) == [orders["breached"].number]
        assert page["items"][0]["sla"]["state"] == "breached"

    async def test_filters_at_risk(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        _, staff = await _staff(client, session)
        orders = await self._by_deadline(session)

        page = await _queue(client, staff, sla_state="at_risk")

        assert _numbers(page) == [orders["at_risk"].number]
        assert page["items"][0]["sla"]["state"] == "at_risk"

    async def test_filters_ok(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        _, staff = await _staff(client, session)
        orders = await self._by_deadline(session)

        page = await _queue(client, staff, sla_state="ok")

        assert _numbers(page) == [orders["ok"].number]
        assert page["items"][0]["sla"]["state"] == "ok"

    async def test_lists_an_order_without_a_running_deadline_as_ok(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_policy(session)
        user, staff = await _staff(client, session)
        held = await move(session, await open_order(session), S.ON_HOLD, actor=user)
        await session.commit()
        shown = (await client.get(f"{WORK_ORDERS}/{held.id}", headers=staff)).json()
        assert shown["sla"]["next_due_at"] is None
        assert shown["sla"]["state"] == "ok"

        page = await _queue(client, staff, sla_state="ok")

        assert _numbers(page) == [held.number]

    async def test_searches_number_and_title(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        chiller = await open_order(session, title="Chiller down")
        other = await open_order(session, title="Door stuck")
        await session.commit()

        by_title = await _queue(client, staff, q="CHILL")
        by_number = await _queue(client, staff, q=other.number)

        assert _numbers(by_title) == [chiller.number]
        assert _numbers(by_number) == [other.number]

    async def test_search_takes_wildcards_literally(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        percent = await open_order(session, title="Valve 100% closed")
        await open_order(session, title="Valve stuck")
        await session.commit()

        page = await _queue(client, staff, q="%")

        assert _numbers(page) == [percent.number]

    async def test_sorts_by_next_deadline_with_none_last(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        later, none, sooner = (
            await open_order(session),
            await open_order(session),
            await open_order(session),
        )
        now = utcnow()
        later.sla_next_due_at = now + timedelta(hours=3)
        none.sla_next_due_at = None
        sooner.sla_next_due_at = now + timedelta(hours=1)
        await session.commit()

        page = await _queue(client, staff)

        assert _numbers(page) == [sooner.number, later.number, none.number]

    async def test_pages_with_the_total(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        orders = [await open_order(session) for _ in range(3)]
        await session.commit()

        first = await _queue(client, staff, limit=2, sort="created")
        rest = await _queue(client, staff, limit=2, offset=2, sort="created")

        assert (len(first["items"]), first["total"]) == (2, 3)
        assert (len(rest["items"]), rest["total"]) == (1, 3)
        assert sorted(_numbers(first) + _numbers(rest)) == sorted(o.number for o in orders)


async def _all_pages(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page of a queue by cursor: the numbers in order, and the pages."""
    numbers: list[str] = []
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await _queue(client, headers, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(page)
        numbers.extend(_numbers(page))
        cursor = page["next_cursor"]
        if cursor is None:
            return numbers, pages


class TestQueueByCursor:
    async def test_cursor_pages_walk_the_queue_in_order_without_gaps_or_repeats(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        orders = [await open_order(session) for _ in range(7)]
        now = utcnow()
        # Ties on the deadline and orders without one (sorted last, by id).
        dues = [now + timedelta(hours=2), now + timedelta(hours=1), now + timedelta(hours=2)]
        for order, due in zip(
            orders, [*dues, None, None, now + timedelta(hours=3), None], strict=True
        ):
            order.sla_next_due_at = due
        await session.commit()

        for sort in ("sla", "created"):
            whole = await _queue(client, staff, limit=200, sort=sort)
            numbers, pages = await _all_pages(client, staff, limit=2, sort=sort)

            assert numbers == _numbers(whole)
            assert sorted(numbers) == sorted(o.number for o in orders)
            assert [len(p["items"]) for p in pages] == [2, 2, 2, 1]
            assert all((p["total"], p["total_exact"]) == (7, True) for p in pages)

    async def test_a_foreign_or_mismatched_cursor_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        for _ in range(2):
            await open_order(session)
        await session.commit()
        by_sla = (await _queue(client, staff, limit=1))["next_cursor"]
        assert by_sla is not None

        answers = [
            await client.get(WORK_ORDERS, params=params, headers=staff)
            for params in (
                {"cursor": "not-a-cursor"},
                {"cursor": by_sla, "sort": "created"},
                {"cursor": by_sla, "offset": 1},
            )
        ]

        # A cursor this server did not give out for this order: start again (409); a cursor
        # with an offset is a malformed request (422).
        assert [r.status_code for r in answers] == [409, 409, 422]
        assert [r.json()["error"]["code"] for r in answers[:2]] == ["unknown_cursor"] * 2
        assert [r.json()["error"]["details"][0]["field"] for r in answers[:2]] == ["cursor"] * 2
        assert invalid_fields(answers[2]) == ["offset"]

    async def test_past_a_thousand_matches_the_total_says_at_least(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        site = await make_site(session)
        other = await make_site(session)
        # 1 001 orders at one site, set-based (as a bulk import would), one at another.
        await session.execute(
            text(
                "INSERT INTO work_orders (id, number, client_id, site_id, type, priority, "
                "channel, status, title) "
                "SELECT gen_random_uuid(), 'WO-T-' || g, :client, :site, 'repair', 'normal', "
                "'phone', 'new', 'Bulk ' || g FROM generate_series(1, 1001) g"
            ),
            {"client": site.client_id, "site": site.id},
        )
        await open_order(session, site=other)
        await session.commit()

        broad = await _queue(client, staff, site_id=str(site.id))
        narrow = await _queue(client, staff, site_id=str(other.id))

        assert (broad["total"], broad["total_exact"], len(broad["items"])) == (1000, False, 50)
        assert broad["next_cursor"] is not None
        assert (narrow["total"], narrow["total_exact"], narrow["next_cursor"]) == (1, True, None)

    async def test_an_engineer_paging_by_cursor_sees_only_the_work_it_visits(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff, _ = await _staff(client, session)
        engineer, colleague = await make_engineer(session), await make_engineer(session)
        own = [await open_order(session) for _ in range(3)]
        for order in own:
            await plan_visit(session, order, actor=staff, engineer=engineer)
        for _ in range(3):
            await plan_visit(session, await open_order(session), actor=staff, engineer=colleague)
        await session.commit()
        headers = await login(client, engineer.user)

        numbers, pages = await _all_pages(client, headers, limit=1)

        assert sorted(numbers) == sorted(o.number for o in own)
        assert all((p["total"], p["total_exact"]) == (3, True) for p in pages)


class TestRatingForStaff:
    async def test_the_back_office_reads_the_clients_rating_on_the_work_order(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff, headers = await _staff(client, session)
        wo = await open_order(session, actor=staff)
        unrated = await open_order(session, actor=staff)
        session.add(WorkOrderRating(work_order_id=wo.id, score=4, comment="Quick and tidy"))
        await session.commit()

        rated = await client.get(f"{WORK_ORDERS}/{wo.id}", headers=headers)
        plain = await client.get(f"{WORK_ORDERS}/{unrated.id}", headers=headers)

        assert rated.json()["rating"]["score"] == 4
        assert rated.json()["rating"]["comment"] == "Quick and tidy"
        assert plain.json()["rating"] is None
