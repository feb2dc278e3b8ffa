"""Offline sync: queued actions applied in order, each alone; a replayed batch changes nothing."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.db import utcnow
from fsm.main.app import create_app
from fsm.main.localinfra import free_port
from fsm.photos.models import Photo, PhotoState
from fsm.settings import Settings
from fsm.storage import ObjectStore
from fsm.workorders.models import Comment
from fsm.workorders.visit_models import Visit, VisitStatus, VisitStatusEvent
from mobile_api.engineer.schemas import PhotoConfirmAction, StatusAction, SyncRequest
from mobile_api.engineer.sync import SyncRunner
from mobile_api.idempotency import IdempotencyKey, IdempotencyStore
from tests.auth_helpers import login
from tests.factories import make_engineer
from tests.fsm.helpers import error_of
from tests.fsm.wo_helpers import principal_of, services, visits
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
        # The duplicate's read links are signed anew, not the first answer's aging ones.
        assert duplicate["answer"]["urls_expire_at"] > applied["answer"]["urls_expire_at"]


class TestOneActionFailing:
    async def test_a_naive_timestamp_rejects_that_action_only(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        naive = _status(visit, "en_route", device_at="2026-11-23T10:00:00")
        actions = [naive, _comment(visit, "Stuck in traffic"), _status(visit, "en_route")]

        response = await client.post(
            SYNC, json={"actions": actions}, headers=await login(client, route.user)
        )

        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["outcome"] for r in results] == ["rejected", "applied", "applied"]
        assert results[0]["status_code"] == 422
        assert results[0]["error"]["code"] == "validation_error"
        assert [d["field"] for d in results[0]["error"]["details"]] == ["device_at"]
        await session.refresh(visit)
        assert visit.status is VisitStatus.EN_ROUTE

    async def test_a_naive_ping_rejects_the_location_action_only(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        ping = _location(52.5)
        ping["data"]["points"][0]["device_at"] = "2026-11-23T10:00:00"

        response = await client.post(
            SYNC,
            json={"actions": [ping, _comment(route.visits[0], "Parked")]},
            headers=await login(client, route.user),
        )

        results = response.json()["results"]
        assert [r["outcome"] for r in results] == ["rejected", "applied"]
        assert [d["field"] for d in results[0]["error"]["details"]] == ["points[0].device_at"]

    async def test_storage_down_rejects_the_photo_and_keeps_the_rest(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        session: AsyncSession,
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        await session.commit()
        # Nothing listens on this port: every S3 call fails to connect.
        dead = ObjectStore(replace(settings.s3, endpoint_url=f"http://127.0.0.1:{free_port()}"))
        app = create_app(settings, session_factory=session_factory, object_store=dead)
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = await login(http, route.user)
            data = images.jpeg()
            reserved = await http.post(
                f"{BASE}/visits/{visit.id}/photos",
                json={
                    "content_type": "image/jpeg",
                    "size_bytes": len(data),
                    "sha256": images.sha256_hex(data),
                },
                headers=headers,
            )
            assert reserved.status_code == 201, reserved.text
            photo_id = reserved.json()["photo"]["id"]
            actions = [
                _status(visit, "en_route"),
                {"kind": "photo_confirm", "id": str(uuid.uuid4()), "photo_id": photo_id},
                _comment(visit, "Photo follows"),
            ]

            response = await http.post(SYNC, json={"actions": actions}, headers=headers)

        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["outcome"] for r in results] == ["applied", "rejected", "applied"]
        assert (results[1]["status_code"], results[1]["error"]["code"]) == (
            503,
            "storage_unavailable",
        )
        await session.refresh(visit)
        assert visit.status is VisitStatus.EN_ROUTE
        photo = await session.get(Photo, uuid.UUID(photo_id), populate_existing=True)
        assert photo is not None
        assert photo.state is PhotoState.PENDING
        comments = await session.scalar(
            select(func.count())
            .select_from(Comment)
            .where(Comment.work_order_id == visit.work_order_id)
        )
        assert comments == 1

    async def test_an_unexpected_error_rejects_that_action_and_the_rest_commits(
        self, session: AsyncSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        principal = principal_of(route.user)

        async def broken_confirm(photo_id: uuid.UUID, sha256: str | None) -> tuple[int, Any]:
            raise TypeError("a bug in the confirm path")

        runner = SyncRunner(
            services(session).engineer_app,
            IdempotencyStore(session, ttl=timedelta(days=7)),
            principal,
            broken_confirm,
        )
        first, broken, last = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

        read = await runner.apply(
            SyncRequest(
                actions=[
                    StatusAction(id=first, visit_id=visit.id, data={"status": "en_route"}),
                    PhotoConfirmAction(id=broken, photo_id=uuid.uuid4()),
                    StatusAction(id=last, visit_id=visit.id, data={"status": "on_site"}),
                ]
            )
        )
        await session.commit()

        assert [r.outcome for r in read.results] == ["applied", "rejected", "applied"]
        error = read.results[1].error
        assert error is not None
        assert (read.results[1].status_code, error.code) == (
            500,
            "internal_error",
        )
        assert "a bug in the confirm path" not in error.message
        assert any("a bug in the confirm path" in (r.exc_text or "") for r in caplog.records)
        await session.refresh(visit)
        assert visit.status is VisitStatus.ON_SITE
        # The failed action left no key: it may be sent again.
        kept = await session.scalar(
            select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.key == broken)
        )
        assert kept == 0


class TestPathSpelling:
    async def test_an_action_sent_online_with_an_upper_case_id_is_a_duplicate_in_the_batch(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        headers = await login(client, route.user)
        action = _status(visit, "en_route")
        online = await client.post(
            f"{BASE}/visits/{str(visit.id).upper()}/status",
            json=action["data"],
            headers={**headers, "Idempotency-Key": action["id"]},
        )
        assert online.status_code == 200, online.text

        response = await client.post(SYNC, json={"actions": [action]}, headers=headers)

        result = response.json()["results"][0]
        assert result["outcome"] == "duplicate", result
        assert result["answer"] == online.json()
