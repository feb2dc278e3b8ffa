"""Client app: opening, listing and following requests; comments, reopening and ratings."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fsm.db import utcnow
from fsm.geo import GeoPoint, to_db_point
from fsm.users.models import Role
from fsm.visits.service import StatusReport
from fsm.workorders.models import Channel, Priority, WorkOrder, WorkOrderStatus
from fsm.workorders.visit_models import VisitStatus
from tests.factories import make_user
from tests.fsm.wo_helpers import (
    move,
    parse_at,
    plan_visit,
    principal_of,
    services,
    visits,
    work_orders,
)
from tests.mobile_api.client_helpers import (
    BASE,
    INTERNAL_COMMENT,
    Company,
    assert_no_secrets,
    counting_queries,
    headers_of,
    make_company,
    open_critical,
)


async def _order_count(session: AsyncSession, company: Company) -> int:
    count = await session.scalar(
        select(func.count()).select_from(WorkOrder).where(WorkOrder.client_id == company.client.id)
    )
    return count or 0


class TestOpenRequest:
    async def test_a_request_about_a_unit_opens_at_its_site_through_the_client_channel(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()

        response = await client.post(
            f"{BASE}/requests",
            json={
                "title": "Alarm beeps",
                "description": "Since this morning",
                "equipment_id": str(company.unit.id),
            },
            headers=await headers_of(client, company.user),
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["site_id"] == str(company.site.id)
        assert body["status"] == "new"
        assert body["stage"] == "received"
        assert [e["kind"] for e in body["timeline"]] == ["created"]
        order = await session.get(WorkOrder, uuid.UUID(body["id"]))
        assert order is not None
        assert order.channel is Channel.CLIENT_APP
        assert order.priority is Priority.NORMAL
        assert order.contract_id == company.contract.id

    async def test_a_request_about_a_site_needs_no_unit(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()

        response = await client.post(
            f"{BASE}/requests",
            json={"title": "Lights out in hall", "site_id": str(company.site.id)},
            headers=await headers_of(client, company.user),
        )

        assert response.status_code == 201, response.text
        assert response.json()["equipment_id"] is None

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"title": "Nothing named"}, "site_id"),
            ({"title": "  ", "site_id": "{site}"}, "title"),
            ({"title": "x", "site_id": "{site}", "priority": "high"}, "priority"),
        ],
    )
    async def test_a_bad_request_is_a_422_naming_the_field(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        body: dict[str, str],
        field: str,
    ) -> None:
        company = await make_company(session)
        await session.commit()
        payload = {k: v.format(site=company.site.id) for k, v in body.items()}

        response = await client.post(
            f"{BASE}/requests", json=payload, headers=await headers_of(client, company.user)
        )

        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == field

    async def test_a_retry_with_the_same_idempotency_key_opens_one_request(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()
        headers = {
            **await headers_of(client, company.user),
            "Idempotency-Key": str(uuid.uuid4()),
        }
        body = {"title": "Alarm beeps", "equipment_id": str(company.unit.id)}
        before = await _order_count(session, company)

        first = await client.post(f"{BASE}/requests", json=body, headers=headers)
        retry = await client.post(f"{BASE}/requests", json=body, headers=headers)
        other = await client.post(
            f"{BASE}/requests", json={**body, "title": "Else"}, headers=headers
        )

        assert first.status_code == retry.status_code == 201
        assert retry.content == first.content
        assert retry.headers["idempotent-replayed"] == "true"
        assert other.status_code == 422
        assert await _order_count(session, company) == before + 1


class TestListRequests:
    async def test_newest_first_by_cursor_and_filtered_by_open_or_closed(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)  # its order is resolved: closed for the client
        headers = await headers_of(client, company.user)
        await session.commit()
        opened = []
        for n in range(3):
            response = await client.post(
                f"{BASE}/requests",
                json={"title": f"Fault {n}", "site_id": str(company.site.id)},
                headers=headers,
            )
            opened.append(response.json()["id"])

        first = (await client.get(f"{BASE}/requests?limit=2", headers=headers)).json()
        rest = (
            await client.get(
                f"{BASE}/requests",
                params={"limit": "2", "cursor": first["next_cursor"]},
                headers=headers,
            )
        ).json()
        open_only = (await client.get(f"{BASE}/requests?state=open", headers=headers)).json()
        closed_only = (await client.get(f"{BASE}/requests?state=closed", headers=headers)).json()

        listed = [i["id"] for i in first["items"] + rest["items"]]
        assert listed == [*reversed(opened), str(company.order.id)]
        assert rest["next_cursor"] is None
        assert {i["id"] for i in open_only["items"]} == set(opened)
        assert [i["id"] for i in closed_only["items"]] == [str(company.order.id)]


class TestHoldReason:
    async def test_the_client_reads_the_message_and_staff_read_both(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session, resolved=False)
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        staff = await headers_of(client, dispatcher)
        order = f"/api/v1/work-orders/{company.order.id}"

        held = await client.post(
            f"{order}/transitions",
            json={
                "to": "on_hold",
                "reason": "waiting for overdue payment",
                "client_message": "parts on order",
            },
            headers=staff,
        )

        assert held.status_code == 200, held.text
        customer = await headers_of(client, company.user)
        detail = await client.get(f"{BASE}/requests/{company.order.id}", headers=customer)
        assert detail.status_code == 200, detail.text
        [hold] = [e for e in detail.json()["timeline"] if e["data"].get("to") == "on_hold"]
        assert hold["data"] == {"from": "in_progress", "to": "on_hold", "message": "parts on order"}
        assert "overdue payment" not in detail.text
        back_office = await client.get(f"{order}/timeline", headers=customer)
        assert back_office.status_code == 403
        assert "overdue payment" not in back_office.text
        seen_by_staff = (await client.get(f"{order}/timeline", headers=staff)).json()
        by_kind = {e["kind"]: e for e in seen_by_staff if e["data"].get("to") == "on_hold"}
        assert by_kind["status_changed"]["data"]["message"] == "parts on order"
        assert by_kind["status_reason"]["data"]["reason"] == "waiting for overdue payment"
        assert by_kind["status_reason"]["visibility"] == "internal"
        # Engineers are not the office either: they read the public entries only.
        engineer = await headers_of(client, company.engineer.user)
        seen_by_engineer = await client.get(f"{order}/timeline", headers=engineer)
        assert seen_by_engineer.status_code == 200, seen_by_engineer.text
        assert "overdue payment" not in seen_by_engineer.text


class TestRequestDetail:
    async def test_shows_stage_engineer_first_name_and_the_public_timeline_only(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session, resolved=False)
        await session.commit()

        response = await client.get(
            f"{BASE}/requests/{company.order.id}", headers=await headers_of(client, company.user)
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "in_progress"
        assert body["engineer"]["first_name"] == "Erik"
        assert body["engineer"]["visit_status"] == "completed"
        assert body["eta"] is None
        kinds = [e["kind"] for e in body["timeline"]]
        assert "note" not in kinds
        assert kinds[0] == "created"
        assert "visit_assigned" in kinds
        annotated = next(e for e in body["timeline"] if e["kind"] == "annotated")
        assert annotated["data"] == {}
        assert_no_secrets(body)

    async def _en_route(self, session: AsyncSession, company: Company) -> WorkOrder:
        staff = await make_user(session, role=Role.DISPATCHER)
        order = await open_critical(session, company.unit, staff=staff, title="Leak")
        visit = await plan_visit(
            session,
            order,
            actor=staff,
            engineer=company.engineer,
            planned_start_at=utcnow() + timedelta(hours=1),
        )
        await visits(session).report_status(
            visit.id,
            StatusReport(status=VisitStatus.EN_ROUTE),
            actor=principal_of(company.engineer.user),
        )
        return order

    async def test_en_route_without_a_position_the_eta_is_the_planned_start(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        order = await self._en_route(session, company)
        await session.commit()

        body = (
            await client.get(
                f"{BASE}/requests/{order.id}", headers=await headers_of(client, company.user)
            )
        ).json()

        assert body["stage"] == "engineer_en_route"
        assert body["engineer"]["visit_status"] == "en_route"
        assert body["eta"]["source"] == "planned_start"
        assert parse_at(body["eta"]["arrives_at"]) > utcnow() + timedelta(minutes=50)

    async def test_en_route_with_a_fresh_position_the_eta_is_a_travel_estimate(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        order = await self._en_route(session, company)
        # About 2.2 km from the site, reported after setting off.
        located_at = utcnow()
        company.engineer.last_location = to_db_point(GeoPoint(lat=52.50, lon=13.40))
        company.engineer.last_location_at = located_at
        await session.commit()

        body = (
            await client.get(
                f"{BASE}/requests/{order.id}", headers=await headers_of(client, company.user)
            )
        ).json()

        eta = body["eta"]
        assert eta["source"] == "travel_estimate"
        assert 2.5 < eta["distance_km"] < 3.5
        assert (
            located_at + timedelta(minutes=2)
            <= parse_at(eta["arrives_at"])
            <= located_at + timedelta(minutes=8)
        )

    async def test_a_position_synced_with_setting_off_is_a_travel_estimate(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        staff = await make_user(session, role=Role.DISPATCHER)
        order = await open_critical(session, company.unit, staff=staff, title="Leak")
        visit = await plan_visit(
            session,
            order,
            actor=staff,
            engineer=company.engineer,
            planned_start_at=utcnow() + timedelta(hours=1),
        )
        await session.commit()
        # Offline: set off, then a fix a minute later; both reach the server only now.
        set_off_at = utcnow() - timedelta(minutes=3)
        located_at = set_off_at + timedelta(minutes=1)
        actions = [
            {
                "kind": "status",
                "id": str(uuid.uuid4()),
                "visit_id": str(visit.id),
                "data": {"status": "en_route", "device_at": set_off_at.isoformat()},
            },
            {
                "kind": "location",
                "id": str(uuid.uuid4()),
                "data": {
                    "points": [{"device_at": located_at.isoformat(), "lat": 52.50, "lon": 13.40}]
                },
            },
        ]
        engineer = await headers_of(client, company.engineer.user)
        r = await client.post(
            "/mobile/v1/engineer/sync", json={"actions": actions}, headers=engineer
        )
        assert r.status_code == 200, r.text
        assert [a["outcome"] for a in r.json()["results"]] == ["applied", "applied"]

        body = (
            await client.get(
                f"{BASE}/requests/{order.id}", headers=await headers_of(client, company.user)
            )
        ).json()

        eta = body["eta"]
        assert eta["source"] == "travel_estimate"
        assert 2.5 < eta["distance_km"] < 3.5
        assert (
            located_at + timedelta(minutes=2)
            <= parse_at(eta["arrives_at"])
            <= located_at + timedelta(minutes=8)
        )

    async def test_a_position_from_before_setting_off_is_not_used(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        company.engineer.last_location = to_db_point(GeoPoint(lat=52.50, lon=13.40))
        company.engineer.last_location_at = utcnow() - timedelta(hours=3)
        order = await self._en_route(session, company)
        await session.commit()

        body = (
            await client.get(
                f"{BASE}/requests/{order.id}", headers=await headers_of(client, company.user)
            )
        ).json()

        assert body["eta"]["source"] == "planned_start"
        assert body["eta"]["distance_km"] is None

    async def test_the_number_of_queries_does_not_grow_with_the_history(
        self, client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        company = await make_company(session, resolved=False)
        staff = await make_user(session, role=Role.DISPATCHER)
        busy = await open_critical(session, company.unit, staff=staff, title="Busy")
        for _ in range(4):
            await plan_visit(session, busy, actor=staff, engineer=company.engineer)
            await work_orders(session).add_comment(
                busy.id, "On it", actor=principal_of(staff), is_internal=False
            )
        await session.commit()
        headers = await headers_of(client, company.user)

        with counting_queries(engine) as for_small:
            await client.get(f"{BASE}/requests/{company.order.id}", headers=headers)
        with counting_queries(engine) as for_busy:
            response = await client.get(f"{BASE}/requests/{busy.id}", headers=headers)

        assert len(response.json()["visits"]) == 4
        assert len(for_busy) == len(for_small)

    async def test_an_unchanged_request_revalidates_to_304_until_something_happens(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()
        headers = await headers_of(client, company.user)
        url = f"{BASE}/requests/{company.order.id}"

        etag = (await client.get(url, headers=headers)).headers["etag"]
        unchanged = await client.get(url, headers={**headers, "If-None-Match": etag})
        await client.post(f"{url}/comments", json={"body": "Thanks!"}, headers=headers)
        changed = await client.get(url, headers={**headers, "If-None-Match": etag})

        assert unchanged.status_code == 304
        assert changed.status_code == 200
        assert changed.json()["timeline"][-1]["kind"] == "comment_added"


class TestComments:
    async def test_internal_comments_never_show_and_client_comments_are_public(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        headers = await headers_of(client, company.user)
        url = f"{BASE}/requests/{company.order.id}/comments"

        posted = await client.post(url, json={"body": "Is it fixed?"}, headers=headers)
        listed = (await client.get(url, headers=headers)).json()
        staff_view = await client.get(
            f"/api/v1/work-orders/{company.order.id}/comments",
            headers=await headers_of(client, staff),
        )

        assert posted.status_code == 201, posted.text
        assert posted.json()["is_mine"] is True
        # (One test transaction: every comment has the same server time, so no order here.)
        bodies = sorted(c["body"] for c in listed["items"])
        assert bodies == ["Is it fixed?", "We will send someone today"]
        assert INTERNAL_COMMENT not in str(listed)
        theirs = next(c for c in listed["items"] if c["body"] != "Is it fixed?")
        ours = next(c for c in listed["items"] if c["body"] == "Is it fixed?")
        assert theirs["author_first_name"] == "Dora"
        assert theirs["is_from_client"] is False
        assert ours["is_from_client"] is True
        mine = next(c for c in staff_view.json() if c["body"] == "Is it fixed?")
        assert mine["is_internal"] is False

    async def test_comments_page_by_cursor(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()
        headers = await headers_of(client, company.user)
        url = f"{BASE}/requests/{company.order.id}/comments"
        for n in range(3):
            await client.post(url, json={"body": f"ping {n}"}, headers=headers)

        first = (await client.get(url, params={"limit": "3"}, headers=headers)).json()
        rest = (
            await client.get(
                url, params={"limit": "3", "cursor": first["next_cursor"]}, headers=headers
            )
        ).json()

        # Every comment exactly once across the pages (ties on the time break on the id).
        bodies = [c["body"] for c in first["items"] + rest["items"]]
        assert sorted(bodies) == ["We will send someone today", "ping 0", "ping 1", "ping 2"]
        assert len(first["items"]) == 3
        assert rest["next_cursor"] is None

    async def test_an_empty_comment_is_a_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()

        response = await client.post(
            f"{BASE}/requests/{company.order.id}/comments",
            json={"body": "   "},
            headers=await headers_of(client, company.user),
        )

        assert response.status_code == 422


class TestReopen:
    async def test_resolved_work_reopens_within_the_window(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()

        response = await client.post(
            f"{BASE}/requests/{company.order.id}/reopen",
            json={"reason": "Leaking again"},
            headers=await headers_of(client, company.user),
        )

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "reopened"
        assert response.json()["stage"] == "reopened"

    async def test_after_the_window_it_is_a_409_with_the_services_message(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        company.order.resolved_at = utcnow() - timedelta(days=8)
        await session.commit()

        response = await client.post(
            f"{BASE}/requests/{company.order.id}/reopen",
            json={},
            headers=await headers_of(client, company.user),
        )

        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "reopen_window_closed"
        assert error["message"] == ("the 7-day reopen window has passed; please open a new request")

    async def test_work_still_open_cannot_be_reopened(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session, resolved=False)
        await session.commit()

        response = await client.post(
            f"{BASE}/requests/{company.order.id}/reopen",
            json={},
            headers=await headers_of(client, company.user),
        )

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "illegal_transition"

    async def test_the_detail_says_until_when_it_may_be_reopened(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()

        body = (
            await client.get(
                f"{BASE}/requests/{company.order.id}",
                headers=await headers_of(client, company.user),
            )
        ).json()

        assert company.order.resolved_at is not None
        assert parse_at(body["reopen_until"]) == company.order.resolved_at + timedelta(days=7)


class TestRating:
    @pytest.mark.parametrize("score", [0, 6])
    async def test_a_score_outside_one_to_five_is_a_422(
        self, client: httpx.AsyncClient, session: AsyncSession, score: int
    ) -> None:
        company = await make_company(session)
        await session.commit()

        response = await client.post(
            f"{BASE}/requests/{company.order.id}/rating",
            json={"score": score},
            headers=await headers_of(client, company.user),
        )

        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "score"

    async def test_resolved_work_is_rated_once(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()
        headers = await headers_of(client, company.user)
        url = f"{BASE}/requests/{company.order.id}"

        before = (await client.get(url, headers=headers)).json()
        rated = await client.post(
            f"{url}/rating", json={"score": 5, "comment": "Quick and tidy"}, headers=headers
        )
        after = (await client.get(url, headers=headers)).json()
        again = await client.post(f"{url}/rating", json={"score": 1}, headers=headers)

        assert before["can_rate"] is True
        assert rated.status_code == 201, rated.text
        assert rated.json()["score"] == 5
        assert after["rating"]["comment"] == "Quick and tidy"
        assert after["can_rate"] is False
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "already_rated"

    async def test_closed_work_may_be_rated(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        staff = await make_user(session, role=Role.DISPATCHER)
        await move(session, company.order, WorkOrderStatus.CLOSED, actor=staff)
        await session.commit()

        response = await client.post(
            f"{BASE}/requests/{company.order.id}/rating",
            json={"score": 3},
            headers=await headers_of(client, company.user),
        )

        assert response.status_code == 201

    async def test_open_work_cannot_be_rated_yet(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session, resolved=False)
        await session.commit()

        response = await client.post(
            f"{BASE}/requests/{company.order.id}/rating",
            json={"score": 4},
            headers=await headers_of(client, company.user),
        )

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "rating_not_allowed"

    async def test_staff_see_the_rating_on_the_work_orders_timeline(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        await client.post(
            f"{BASE}/requests/{company.order.id}/rating",
            json={"score": 2, "comment": "Came late"},
            headers=await headers_of(client, company.user),
        )

        timeline = (
            await client.get(
                f"/api/v1/work-orders/{company.order.id}/timeline",
                headers=await headers_of(client, staff),
            )
        ).json()

        rated = next(e for e in timeline if e["kind"] == "rated")
        assert rated["data"] == {"score": 2, "comment": "Came late"}


async def test_the_service_refuses_staff_as_client_app_callers(session: AsyncSession) -> None:
    """The scoping holds below the web layer too: the app's service answers clients only."""
    from fsm.errors import Forbidden

    staff = await make_user(session, role=Role.DISPATCHER)

    with pytest.raises(Forbidden):
        services(session).client_requests(principal_of(staff))


async def test_the_client_app_and_the_work_order_service_show_a_client_the_same_things(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """One visibility rule for events and comments, whichever surface asks."""
    company = await make_company(session)
    await session.commit()
    viewer = principal_of(company.user)
    service = work_orders(session)

    detail = await client.get(
        f"{BASE}/requests/{company.order.id}", headers=await headers_of(client, company.user)
    )
    comments = await client.get(
        f"{BASE}/requests/{company.order.id}/comments",
        headers=await headers_of(client, company.user),
    )

    assert detail.status_code == 200, detail.text
    by_service = await service.timeline(company.order.id, viewer=viewer)
    assert [e["id"] for e in detail.json()["timeline"]] == [e.id for e in by_service]
    assert "note" not in {e.kind for e in by_service}  # the internal event stays inside
    assert comments.status_code == 200, comments.text
    by_service_comments = await service.comments(company.order.id, viewer=viewer)
    assert [c["id"] for c in comments.json()["items"]] == [str(c.id) for c in by_service_comments]
    assert INTERNAL_COMMENT not in {c.body for c in by_service_comments}
