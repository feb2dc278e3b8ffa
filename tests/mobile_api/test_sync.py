"""Offline sync: queued actions applied in order, each alone; a replayed batch changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.db import utcnow
from fsm.visits.models import Visit, VisitStatus, VisitStatusEvent
from fsm.workorders.models import Comment
from tests.auth_helpers import login
from tests.factories import make_engineer
from tests.fsm.helpers import error_of
from tests.fsm.wo_helpers import principal_of, visits
from tests.mobile_api.engineer_helpers import BASE, make_route
from tests.photos import images
from tests.photos.helpers import upload

SYNC = f"{BASE}/sync"


def _status(visit: Visit, status: str, **data: Any) -> dict[str, Any]:
    return {
        "kind": "status",
        "id": str(uuid.uuid4()),
        "visit_id": str(visit.id),
        "data": {"status": status, **data},
    }


def _comment(visit: Visit, body: str) -> dict[str, Any]:
    return {
        "kind": "comment",
        "id": str(uuid.uuid4()),
        "visit_id": str(visit.id),
        "data": {"body": body},
    }


def _location(lat: float) -> dict[str, Any]:
    return {
        "kind": "location",
        "id": str(uuid.uuid4()),
        "data": {"points": [{"device_at": utcnow().isoformat(), "lat": lat, "lon": 13.4}]},
    }


async def _trail_count(session: AsyncSession, visit: Visit) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(VisitStatusEvent)
        .where(VisitStatusEvent.visit_id == visit.id)
    )
    return count or 0


class TestSync:
    async def test_applies_in_order_and_reports_each_action(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=2)
        first, second = route.visits
        actions = [
            _status(first, "en_route"),
            _status(first, "on_site"),
            _comment(first, "Water on the floor"),
            # Completing without labour is refused; the actions after it still apply.
            _status(first, "completed"),
            _status(first, "completed", labour_minutes=40),
            _location(52.6),
        ]

        response = await client.post(
            SYNC, json={"actions": actions}, headers=await login(client, route.user)
        )

        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["id"] for r in results] == [a["id"] for a in actions]
        assert [r["outcome"] for r in results] == [
            "applied",
            "applied",
            "applied",
            "rejected",
            "applied",
            "applied",
        ]
        assert results[3]["status_code"] == 409
        assert results[3]["error"]["code"] == "visit_incomplete"
        assert results[4]["answer"]["status"] == "completed"
        assert results[2]["status_code"] == 201
        assert results[2]["answer"]["body"] == "Water on the floor"
        await session.refresh(first)
        assert first.status is VisitStatus.COMPLETED
        await session.refresh(second)
        assert second.status is VisitStatus.ASSIGNED

    async def test_replaying_the_whole_batch_changes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        headers = await login(client, route.user)
        batch = {
            "actions": [_status(visit, "en_route"), _comment(visit, "On my way"), _location(52.5)]
        }
        first = await client.post(SYNC, json=batch, headers=headers)
        trail = await _trail_count(session, visit)

        again = await client.post(SYNC, json=batch, headers=headers)

        assert [r["outcome"] for r in again.json()["results"]] == ["duplicate"] * 3
        assert [r["answer"] for r in again.json()["results"]] == [
            r["answer"] for r in first.json()["results"]
        ]
        assert await _trail_count(session, visit) == trail
        comments = await session.scalar(
            select(func.count())
            .select_from(Comment)
            .where(Comment.work_order_id == visit.work_order_id)
        )
        assert comments == 1

    async def test_an_action_sent_online_first_is_a_duplicate_in_the_batch(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        headers = await login(client, route.user)
        action = _status(visit, "en_route")
        online = await client.post(
            f"{BASE}/visits/{visit.id}/status",
            json=action["data"],
            headers={**headers, "Idempotency-Key": action["id"]},
        )

        response = await client.post(SYNC, json={"actions": [action]}, headers=headers)

        result = response.json()["results"][0]
        assert result["outcome"] == "duplicate"
        assert result["answer"] == online.json()

    async def test_a_key_reused_for_another_action_is_rejected(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        first = _status(visit, "en_route")
        other = {**_status(visit, "on_site"), "id": first["id"]}

        response = await client.post(
            SYNC, json={"actions": [first, other]}, headers=await login(client, route.user)
        )

        outcomes = [
            (r["outcome"], (r["error"] or {}).get("code")) for r in response.json()["results"]
        ]
        assert outcomes == [("applied", None), ("rejected", "idempotency_key_reused")]

    async def test_a_visit_reassigned_meanwhile_is_rejected_with_the_reason(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=2)
        taken, kept = route.visits
        colleague = await make_engineer(session)
        await visits(session).assign(taken.id, colleague.id, actor=principal_of(route.dispatcher))
        await session.commit()

        response = await client.post(
            SYNC,
            json={"actions": [_status(taken, "en_route"), _status(kept, "en_route")]},
            headers=await login(client, route.user),
        )

        rejected, applied = response.json()["results"]
        assert rejected["outcome"] == "rejected"
        assert rejected["status_code"] == 404
        assert rejected["error"]["code"] == "visit_reassigned"
        assert applied["outcome"] == "applied"
        await session.refresh(taken)
        assert taken.status is VisitStatus.ASSIGNED
        assert taken.engineer_id == colleague.id

    async def test_another_engineers_visit_is_rejected_as_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        other = await make_route(session, stops=1)

        response = await client.post(
            SYNC,
            json={
                "actions": [_status(other.visits[0], "en_route"), _comment(other.visits[0], "Hi")]
            },
            headers=await login(client, route.user),
        )

        assert [r["error"]["code"] for r in response.json()["results"]] == [
            "visit_not_found",
            "visit_not_found",
        ]
        await session.refresh(other.visits[0])
        assert other.visits[0].status is VisitStatus.ASSIGNED

    async def test_an_unknown_kind_refuses_the_batch(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        response = await client.post(
            SYNC,
            json={"actions": [{"kind": "teleport", "id": str(uuid.uuid4()), "data": {}}]},
            headers=await login(client, route.user),
        )
        assert error_of(response, 422)["code"] == "validation_error"

    async def test_a_photo_that_is_not_yours_is_rejected(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        response = await client.post(
            SYNC,
            json={
                "actions": [
                    {
                        "kind": "photo_confirm",
                        "id": str(uuid.uuid4()),
                        "photo_id": str(uuid.uuid4()),
                    }
                ]
            },
            headers=await login(client, route.user),
        )
        result = response.json()["results"][0]
        assert (result["outcome"], result["error"]["code"]) == ("rejected", "photo_not_found")

    async def test_confirms_an_uploaded_photo_once(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        headers = await login(client, route.user)
        data = images.jpeg()
        reserved = await client.post(
            f"{BASE}/visits/{route.visits[0].id}/photos",
            json={
                "content_type": "image/jpeg",
                "size_bytes": len(data),
                "sha256": images.sha256_hex(data),
            },
            headers=headers,
        )
        assert reserved.status_code == 201, reserved.text
        assert (await upload(reserved.json()["upload"], data)).status_code == 200
        action = {
            "kind": "photo_confirm",
            "id": str(uuid.uuid4()),
            "photo_id": reserved.json()["photo"]["id"],
        }

        first = await client.post(SYNC, json={"actions": [action]}, headers=headers)
        again = await client.post(SYNC, json={"actions": [action]}, headers=headers)

        applied, duplicate = first.json()["results"][0], again.json()["results"][0]
        assert (applied["outcome"], applied["status_code"]) == ("applied", 200), applied
        assert applied["answer"]["state"] == "stored"
        assert duplicate["outcome"] == "duplicate"
        assert duplicate["answer"]["id"] == applied["answer"]["id"]
