"""A visit in the engineer app: detail, status moves, checklist, comments, location, access."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession

from checklists.service import AnswerInput, ChecklistService
from equipment.contracts.models import Contract, ContractStatus, Coverage, IntervalUnit
from fsm.clients.models import Client
from fsm.db import utcnow
from fsm.engineers.models import Engineer
from fsm.geo import GeoPoint, from_db_point
from fsm.photos.models import Photo, PhotoState
from fsm.users.models import Role
from fsm.visits.service import StatusReport
from fsm.workorders.models import Comment, Visibility, WorkOrderEvent, WorkOrderType
from fsm.workorders.visit_models import Visit, VisitStatus, VisitStatusEvent
from tests.auth_helpers import login
from tests.checklists.helpers import make_template
from tests.factories import make_user
from tests.fsm.helpers import assert_forbidden, assert_not_found, error_of, invalid_fields
from tests.fsm.wo_helpers import principal_of, visits, work_orders
from tests.mobile_api.engineer_helpers import (
    BASE,
    assigned_visit,
    make_route,
    other_engineers_visit,
)

ONE_QUESTION = {
    "sections": [
        {"title": "Check", "items": [{"key": "works", "label": "Works", "kind": "yes_no"}]}
    ]
}


def _url(visit: Visit | uuid.UUID, tail: str = "") -> str:
    visit_id = visit.id if isinstance(visit, Visit) else visit
    return f"{BASE}/visits/{visit_id}{tail}"


async def _status(
    client: httpx.AsyncClient, headers: dict[str, str], visit: Visit, **body: Any
) -> httpx.Response:
    return await client.post(_url(visit, "/status"), json=body, headers=headers)


class TestDetail:
    async def test_shows_history_coverage_instructions_comments_and_trail(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit, unit, order = route.visits[0], route.units[0], route.orders[0]
        unit.model.instructions = "Isolate power before opening the panel."
        today = utcnow().date()
        contract = Contract(
            client_id=unit.client_id,
            number="K-77",
            valid_from=today - timedelta(days=10),
            valid_to=today + timedelta(days=100),
            status=ContractStatus.ACTIVE,
        )
        session.add(contract)
        await session.flush()
        session.add(
            Coverage(
                contract_id=contract.id,
                equipment_id=unit.id,
                period=Range(contract.valid_from, contract.valid_to + timedelta(days=1)),
                is_active=True,
                interval_count=6,
                interval_unit=IntervalUnit.MONTH,
                visit_minutes=60,
            )
        )
        # An earlier visit to the same unit, done.
        earlier = await assigned_visit(
            session,
            order,
            route.engineer,
            route.dispatcher,
            starts_at=visit.window_starts_at - timedelta(days=30),
        )
        service = visits(session)
        engineer = principal_of(route.user)
        await make_template(session, raw=ONE_QUESTION, work_types=[WorkOrderType.REPAIR])
        checklists = ChecklistService(session, work_orders(session))
        for status in (VisitStatus.EN_ROUTE, VisitStatus.ON_SITE):
            await service.report_status(earlier.id, _report(status), actor=engineer)
        await checklists.ensure_runs([earlier.id])
        await checklists.save_answers(
            earlier.id, [AnswerInput(item_key="works", value=True)], actor=engineer
        )
        session.add(
            Photo(
                work_order_id=order.id,
                visit_id=earlier.id,
                uploaded_by_id=route.user.id,
                object_key=f"photos/{uuid.uuid4()}.jpg",
                content_type="image/jpeg",
                size_bytes=1000,
                sha256="a" * 64,
                state=PhotoState.STORED,
            )
        )
        await service.report_status(
            earlier.id, _report(VisitStatus.COMPLETED, labour_minutes=30), actor=engineer
        )
        await work_orders(session).add_comment(
            order.id, "Client says it drips", actor=principal_of(route.dispatcher), is_internal=True
        )
        await session.commit()

        response = await client.get(_url(visit), headers=await login(client, route.user))

        assert response.status_code == 200, response.text
        detail = response.json()
        assert detail["visit"]["id"] == str(visit.id)
        assert detail["instructions"] == "Isolate power before opening the panel."
        assert detail["coverage"] == {
            "is_in_contract": True,
            "contract_number": "K-77",
            "valid_to": contract.valid_to.isoformat(),
        }
        history = detail["equipment_history"]
        assert [h["visit_id"] for h in history] == [str(earlier.id)]
        assert history[0]["status"] == "completed"
        assert history[0]["photo_count"] == 1
        assert history[0]["checklist_status"] == "complete"
        assert [c["body"] for c in detail["comments"]] == ["Client says it drips"]
        assert detail["comments"][0]["is_internal"] is True
        assert [t["to_status"] for t in detail["trail"]] == ["planned", "assigned"]
        assert detail["checklist"]["status"] == "not_started"
        assert detail["visit"]["checklist"]["required_total"] == 1
        assert "priority" not in response.text

    async def test_a_unit_without_contract_is_out_of_contract(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        response = await client.get(_url(route.visits[0]), headers=await login(client, route.user))
        assert response.json()["coverage"] == {
            "is_in_contract": False,
            "contract_number": None,
            "valid_to": None,
        }

    async def test_answers_304_with_the_same_etag(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        headers = await login(client, route.user)
        first = await client.get(_url(route.visits[0]), headers=headers)
        again = await client.get(
            _url(route.visits[0]), headers={**headers, "If-None-Match": first.headers["ETag"]}
        )
        assert again.status_code == 304


def _report(status: VisitStatus, **kwargs: Any) -> StatusReport:
    return StatusReport(status=status, **kwargs)


class TestStatus:
    async def test_walks_en_route_on_site_completed_with_time_and_place(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        headers = await login(client, route.user)
        device_at = utcnow().replace(microsecond=0)
        place = {"lat": 52.53, "lon": 13.41}

        en_route = await _status(
            client,
            headers,
            visit,
            status="en_route",
            device_at=device_at.isoformat(),
            location=place,
        )
        on_site = await _status(client, headers, visit, status="on_site", location=place)
        done = await _status(
            client, headers, visit, status="completed", labour_minutes=45, location=place
        )

        assert [r.status_code for r in (en_route, on_site, done)] == [200, 200, 200], done.text
        assert en_route.json()["status"] == "en_route"
        assert on_site.json()["status"] == "on_site"
        assert done.json()["status"] == "completed"
        assert done.json()["labour_minutes"] == 45
        events = (
            await session.scalars(
                select(VisitStatusEvent)
                .where(VisitStatusEvent.visit_id == visit.id)
                .order_by(VisitStatusEvent.id)
            )
        ).all()
        assert [e.to_status for e in events][-3:] == ["en_route", "on_site", "completed"]
        assert events[-3].device_at == device_at
        assert from_db_point(events[-1].location) == GeoPoint(lat=52.53, lon=13.41)

    async def test_completion_without_labour_is_refused_listing_what_is_missing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_template(session, raw=ONE_QUESTION, work_types=[WorkOrderType.REPAIR])
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        headers = await login(client, route.user)
        await _status(client, headers, visit, status="on_site")

        response = await _status(client, headers, visit, status="completed")

        error = error_of(response, 409)
        assert error["code"] == "visit_incomplete"
        kinds = [m["kind"] for m in error["details"]["missing"]]
        assert "labour_time" in kinds
        assert len(kinds) == 2  # and the unanswered checklist item
        await session.refresh(visit)
        assert visit.status is VisitStatus.ON_SITE

    async def test_labour_goes_only_with_completion(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        response = await _status(
            client,
            await login(client, route.user),
            route.visits[0],
            status="en_route",
            labour_minutes=5,
        )
        assert invalid_fields(response) == ["labour_minutes"]

    async def test_an_illegal_move_is_a_conflict(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        headers = await login(client, route.user)
        response = await _status(
            client, headers, route.visits[0], status="completed", labour_minutes=5
        )
        assert error_of(response, 409)["code"] == "illegal_visit_transition"

    async def test_cannot_complete_ends_the_visit_and_plans_a_follow_up(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit, order = route.visits[0], route.orders[0]
        headers = await login(client, route.user)
        await _status(client, headers, visit, status="on_site")

        response = await _status(
            client,
            headers,
            visit,
            status="cannot_complete",
            reason="parts_needed",
            note="Pump seal 32mm",
        )

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        await session.refresh(visit)
        assert visit.cancel_reason == "cannot_complete: parts_needed - Pump seal 32mm"
        follow_ups = (
            await session.scalars(
                select(Visit).where(Visit.work_order_id == order.id, Visit.id != visit.id)
            )
        ).all()
        assert len(follow_ups) == 1
        assert follow_ups[0].status is VisitStatus.PLANNED
        assert follow_ups[0].window_starts_at > utcnow()
        events = (
            await session.scalars(
                select(WorkOrderEvent)
                .where(WorkOrderEvent.work_order_id == order.id)
                .order_by(WorkOrderEvent.id)
            )
        ).all()
        public = [e for e in events if e.visibility is Visibility.PUBLIC]
        internal = [e for e in events if e.visibility is Visibility.INTERNAL]
        assert "follow_up_needed" in [e.kind for e in public]
        assert "Pump seal" not in str([e.data for e in public])
        assert any(
            e.kind == "visit_not_completed" and e.data["reason"] == "parts_needed" for e in internal
        )
        # The client's timeline says a follow-up is needed, not why.
        client_user = await make_user(
            session, role=Role.CLIENT, client=await session.get(Client, order.client_id)
        )
        timeline = await work_orders(session).timeline(order.id, viewer=principal_of(client_user))
        assert "follow_up_needed" in [e.kind for e in timeline]
        assert all("parts_needed" not in str(e.data) for e in timeline)
        assert all("Pump seal" not in str(e.data) for e in timeline)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"status": "cannot_complete"}, "reason"),
            ({"status": "cannot_complete", "reason": "other"}, "note"),
            ({"status": "on_site", "reason": "no_access"}, "reason"),
        ],
    )
    async def test_cannot_complete_needs_a_reason_and_other_a_note(
        self, client: httpx.AsyncClient, session: AsyncSession, body: dict[str, Any], field: str
    ) -> None:
        route = await make_route(session, stops=1)
        response = await client.post(
            _url(route.visits[0], "/status"), json=body, headers=await login(client, route.user)
        )
        assert invalid_fields(response) == [field]


class TestIdempotentStatus:
    async def test_a_retry_with_the_same_key_replays_and_changes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        headers = {**await login(client, route.user), "Idempotency-Key": str(uuid.uuid4())}

        first = await _status(client, headers, visit, status="en_route")
        again = await _status(client, headers, visit, status="en_route")

        assert first.status_code == again.status_code == 200
        assert again.content == first.content
        assert again.headers["Idempotent-Replayed"] == "true"
        trail = (
            await session.scalars(
                select(VisitStatusEvent.to_status).where(VisitStatusEvent.visit_id == visit.id)
            )
        ).all()
        assert list(trail).count(VisitStatus.EN_ROUTE) == 1

    async def test_the_same_key_with_another_body_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        headers = {**await login(client, route.user), "Idempotency-Key": str(uuid.uuid4())}
        await _status(client, headers, visit, status="en_route")

        response = await _status(client, headers, visit, status="on_site")

        assert error_of(response, 422)["code"] == "idempotency_key_reused"

    async def test_a_refused_request_leaves_no_key_behind(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        headers = {**await login(client, route.user), "Idempotency-Key": str(uuid.uuid4())}
        refused = await _status(client, headers, visit, status="completed", labour_minutes=5)
        await _status(
            client,
            {k: v for k, v in headers.items() if k != "Idempotency-Key"},
            visit,
            status="on_site",
        )

        retried = await _status(client, headers, visit, status="completed", labour_minutes=5)

        assert refused.status_code == 409
        assert retried.status_code == 200, retried.text

    async def test_a_malformed_key_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        headers = {**await login(client, route.user), "Idempotency-Key": "yesterday"}
        response = await _status(client, headers, route.visits[0], status="en_route")
        assert invalid_fields(response) == ["Idempotency-Key"]


class TestChecklist:
    async def test_reads_and_answers_the_visit_checklist(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_template(session, raw=ONE_QUESTION, work_types=[WorkOrderType.REPAIR])
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        headers = await login(client, route.user)

        read = await client.get(_url(visit, "/checklist"), headers=headers)
        saved = await client.put(
            _url(visit, "/checklist/answers"),
            json={"answers": [{"item_key": "works", "value": True}]},
            headers=headers,
        )
        today = await client.get(f"{BASE}/today", params={"date": "2031-06-10"}, headers=headers)

        assert read.status_code == 200, read.text
        assert read.json()["status"] == "not_started"
        assert saved.status_code == 200, saved.text
        assert saved.json()["status"] == "complete"
        state = today.json()["visits"][0]["checklist"]
        assert (state["status"], state["required_total"], state["required_answered"]) == (
            "complete",
            1,
            1,
        )

    async def test_a_bad_answer_is_422_naming_the_item(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_template(session, raw=ONE_QUESTION, work_types=[WorkOrderType.REPAIR])
        route = await make_route(session, stops=1)
        response = await client.put(
            _url(route.visits[0], "/checklist/answers"),
            json={"answers": [{"item_key": "works", "value": "maybe"}]},
            headers=await login(client, route.user),
        )
        assert response.status_code == 422
        assert "works" in response.text

    async def test_no_checklist_is_404(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        response = await client.get(
            _url(route.visits[0], "/checklist"), headers=await login(client, route.user)
        )
        assert_not_found(response)


class TestComments:
    async def test_engineer_comments_are_internal_unless_public(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        headers = await login(client, route.user)

        internal = await client.post(
            _url(visit, "/comments"), json={"body": "Seal worn"}, headers=headers
        )
        public = await client.post(
            _url(visit, "/comments"),
            json={"body": "Back tomorrow", "is_public": True},
            headers=headers,
        )
        listed = await client.get(_url(visit, "/comments"), headers=headers)

        assert internal.status_code == public.status_code == 201
        assert (internal.json()["is_internal"], public.json()["is_internal"]) == (True, False)
        # One test transaction: both share now() as created_at, so compare without order.
        assert sorted((c["body"], c["is_mine"]) for c in listed.json()) == [
            ("Back tomorrow", True),
            ("Seal worn", True),
        ]
        stored = (
            await session.scalars(
                select(Comment.is_internal)
                .where(Comment.work_order_id == route.orders[0].id)
                .order_by(Comment.created_at)
            )
        ).all()
        assert sorted(stored) == [False, True]

    async def test_an_empty_comment_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        response = await client.post(
            _url(route.visits[0], "/comments"),
            json={"body": "   "},
            headers=await login(client, route.user),
        )
        assert invalid_fields(response) == ["body"]

    async def test_a_retried_comment_is_stored_once(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        headers = {**await login(client, route.user), "Idempotency-Key": str(uuid.uuid4())}
        for _ in range(3):
            response = await client.post(
                _url(route.visits[0], "/comments"), json={"body": "Once"}, headers=headers
            )
            assert response.status_code == 201
        stored = (
            await session.scalars(
                select(Comment).where(Comment.work_order_id == route.orders[0].id)
            )
        ).all()
        assert len(stored) == 1


class TestLocation:
    async def test_the_newest_ping_becomes_the_last_location_and_older_ones_are_ignored(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        headers = await login(client, route.user)
        now = utcnow().replace(microsecond=0)

        first = await client.post(
            f"{BASE}/location",
            json={
                "points": [
                    {
                        "device_at": (now - timedelta(minutes=2)).isoformat(),
                        "lat": 52.50,
                        "lon": 13.40,
                    },
                    {"device_at": now.isoformat(), "lat": 52.51, "lon": 13.41, "accuracy_m": 8},
                ]
            },
            headers=headers,
        )
        older = await client.post(
            f"{BASE}/location",
            json={
                "points": [
                    {"device_at": (now - timedelta(minutes=5)).isoformat(), "lat": 1, "lon": 1}
                ]
            },
            headers=headers,
        )

        assert first.status_code == 200, first.text
        assert first.json()["is_updated"] is True
        assert older.json()["is_updated"] is False
        assert older.json()["last_location"] == {"lat": 52.51, "lon": 13.41}
        engineer = (
            await session.scalars(
                select(Engineer)
                .where(Engineer.id == route.engineer.id)
                .execution_options(populate_existing=True)
            )
        ).one()
        assert engineer.last_location_at == now
        assert from_db_point(engineer.last_location) is not None

    async def test_an_empty_batch_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        response = await client.post(
            f"{BASE}/location", json={"points": []}, headers=await login(client, route.user)
        )
        assert response.status_code == 422


# Every endpoint naming a visit: (method, tail, body).
VISIT_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "", None),
    ("POST", "/status", {"status": "en_route"}),
    ("GET", "/checklist", None),
    ("PUT", "/checklist/answers", {"answers": [{"item_key": "works", "value": True}]}),
    ("GET", "/comments", None),
    ("POST", "/comments", {"body": "Mine?"}),
]
OTHER_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", f"{BASE}/today", None),
    ("GET", f"{BASE}/changes", None),
    (
        "POST",
        f"{BASE}/location",
        {"points": [{"device_at": "2031-01-01T00:00:00Z", "lat": 1, "lon": 1}]},
    ),
    (
        "POST",
        f"{BASE}/sync",
        {
            "actions": [
                {
                    "kind": "location",
                    "id": str(uuid.uuid4()),
                    "data": {"points": [{"device_at": "2031-01-01T00:00:00Z", "lat": 1, "lon": 1}]},
                }
            ]
        },
    ),
]


class TestAccess:
    @pytest.mark.parametrize(("method", "tail", "body"), VISIT_ENDPOINTS)
    async def test_another_engineers_visit_is_not_found(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        method: str,
        tail: str,
        body: dict[str, Any] | None,
    ) -> None:
        await make_template(session, raw=ONE_QUESTION, work_types=[WorkOrderType.REPAIR])
        route = await make_route(session, stops=1)
        foreign = await other_engineers_visit(session, route.dispatcher)
        headers = await login(client, route.user)

        theirs = await client.request(method, _url(foreign, tail), json=body, headers=headers)
        unknown = await client.request(method, _url(uuid.uuid4(), tail), json=body, headers=headers)

        assert_not_found(theirs)
        assert_not_found(unknown)
        assert theirs.json()["error"]["code"] == unknown.json()["error"]["code"]
        await session.refresh(foreign)
        assert foreign.status is VisitStatus.ASSIGNED
        comments = (
            await session.scalars(
                select(Comment).where(Comment.work_order_id == foreign.work_order_id)
            )
        ).all()
        assert comments == []

    @pytest.mark.parametrize("role", [Role.CLIENT, Role.DISPATCHER])
    @pytest.mark.parametrize(("method", "tail", "body"), VISIT_ENDPOINTS)
    async def test_client_and_dispatcher_tokens_are_forbidden_on_visits(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        role: Role,
        method: str,
        tail: str,
        body: dict[str, Any] | None,
    ) -> None:
        route = await make_route(session, stops=1)
        user = await make_user(session, role=role)
        await session.commit()
        response = await client.request(
            method, _url(route.visits[0], tail), json=body, headers=await login(client, user)
        )
        assert_forbidden(response)

    @pytest.mark.parametrize("role", [Role.CLIENT, Role.DISPATCHER])
    @pytest.mark.parametrize(("method", "url", "body"), OTHER_ENDPOINTS)
    async def test_client_and_dispatcher_tokens_are_forbidden_elsewhere(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        role: Role,
        method: str,
        url: str,
        body: dict[str, Any] | None,
    ) -> None:
        user = await make_user(session, role=role)
        await session.commit()
        response = await client.request(method, url, json=body, headers=await login(client, user))
        assert_forbidden(response)
