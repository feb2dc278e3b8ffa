"""Signed webhooks against a real HTTP receiver that verifies every signature."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.db import session_scope, utcnow
from fsm.main.app import create_app
from fsm.main.worker import run_worker
from fsm.settings import Settings
from fsm.storage import ObjectStore
from fsm.users.models import Role
from fsm.webhooks.delivery import fan_out, send_due
from fsm.webhooks.models import WebhookEndpoint
from tests.auth_helpers import login
from tests.factories import make_site, make_user
from tests.live.conftest import ensure_default_policy
from tests.live.receiver import Receiver, running_receiver

ENDPOINTS = "/api/v1/webhooks/endpoints"


@pytest.fixture
def live_settings(settings: Settings, live_database_url: str) -> Settings:
    webhooks = dataclasses.replace(
        settings.webhooks, allow_private_targets=True, first_retry_s=60, max_attempts=3
    )
    database = dataclasses.replace(settings.database, url=live_database_url)
    return dataclasses.replace(settings, database=database, webhooks=webhooks)


@pytest.fixture
async def live_api(
    live_settings: Settings,
    live_sessions: async_sessionmaker[AsyncSession],
    object_store: ObjectStore,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(live_settings, session_factory=live_sessions, object_store=object_store)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    # Committed for real: this test's endpoints must not receive the next test's events.
    async with session_scope(live_sessions) as session:
        await session.execute(delete(WebhookEndpoint))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


async def _tell_everything(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, *, at_s: float = 0
) -> int:
    """Fan the outbox out, then send what is due `at_s` seconds from now."""
    async with session_scope(sessions) as session:
        await fan_out(session)
    async with httpx.AsyncClient() as http:
        return await send_due(
            sessions, settings.webhooks, http, now=utcnow() + timedelta(seconds=at_s)
        )


class TestRegistering:
    async def test_private_plain_http_and_non_admin_registrations_are_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin = await make_user(session, role=Role.ADMIN)
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        headers = await login(client, admin)
        for url in (
            "https://127.0.0.1/hook",
            "https://10.1.2.3/hook",
            "https://[::1]/hook",
            "https://localhost/hook",
            "http://example.com/hook",
        ):
            refused = await client.post(
                ENDPOINTS, json={"url": url, "event_types": ["request_received"]}, headers=headers
            )
            assert refused.status_code == 422, url
        unknown = await client.post(
            ENDPOINTS,
            json={"url": "https://203.0.113.9/h", "event_types": ["everything"]},
            headers=headers,
        )
        assert unknown.status_code == 422
        not_admin = await client.post(
            ENDPOINTS,
            json={"url": "https://203.0.113.9/h", "event_types": ["request_received"]},
            headers=await login(client, dispatcher),
        )
        assert not_admin.status_code == 403


class TestDelivering:
    async def test_an_event_arrives_signed_is_retried_with_backoff_logged_and_replayed(
        self,
        live_api: httpx.AsyncClient,
        live_sessions: async_sessionmaker[AsyncSession],
        live_settings: Settings,
        receiver: Receiver,
    ) -> None:
        async with session_scope(live_sessions) as session:
            await ensure_default_policy(session)
            site = await make_site(session)
            admin = await make_user(session, role=Role.ADMIN)
        staff = await login(live_api, admin)
        await _tell_everything(live_sessions, live_settings)  # older tests' events
        made = await live_api.post(
            ENDPOINTS,
            json={"url": receiver.url, "event_types": ["request_received"]},
            headers=staff,
        )
        assert made.status_code == 201, made.text
        endpoint = made.json()
        receiver.secret = endpoint["secret"]
        receiver.answers = [500]
        opened = await live_api.post(
            "/api/v1/work-orders",
            json={
                "site_id": str(site.id),
                "type": "repair",
                "title": "Lift stuck",
                "priority": "critical",
            },
            headers=staff,
        )
        assert opened.status_code == 201, opened.text

        assert await _tell_everything(live_sessions, live_settings) == 1
        assert [r.is_verified for r in receiver.received] == [True]
        # Not due again before the backoff has passed; then it succeeds.
        assert await _tell_everything(live_sessions, live_settings, at_s=30) == 0
        assert await _tell_everything(live_sessions, live_settings, at_s=61) == 1
        first, second = receiver.received
        assert second.is_verified
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        assert second.body["type"] == "request_received"
        data = second.body["data"]
        assert (data["number"], data["work_order_id"]) == (
            opened.json()["number"],
            opened.json()["id"],
        )
        # Priorities are internal: not sent unless the endpoint asked for internal facts.
        assert "critical" not in str(second.body)

        log = await live_api.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries", headers=staff)
        [delivery] = log.json()["items"]
        detail = await live_api.get(f"/api/v1/webhooks/deliveries/{delivery['id']}", headers=staff)
        assert detail.json()["state"] == "succeeded"
        assert [a["status_code"] for a in detail.json()["attempt_log"]] == [500, 200]

        replayed = await live_api.post(
            f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", headers=staff
        )
        assert replayed.status_code == 202
        assert await _tell_everything(live_sessions, live_settings) == 1
        assert len(receiver.received) == 3
        assert receiver.received[2].is_verified
        assert receiver.received[2].headers["webhook-id"] == first.headers["webhook-id"]

    async def test_an_endpoint_failing_for_days_is_disabled_and_can_be_enabled(
        self,
        live_api: httpx.AsyncClient,
        live_sessions: async_sessionmaker[AsyncSession],
        live_settings: Settings,
        receiver: Receiver,
    ) -> None:
        async with session_scope(live_sessions) as session:
            await ensure_default_policy(session)
            site = await make_site(session)
            admin = await make_user(session, role=Role.ADMIN)
        staff = await login(live_api, admin)
        await _tell_everything(live_sessions, live_settings)
        made = await live_api.post(
            ENDPOINTS,
            json={"url": receiver.url, "event_types": ["request_received"]},
            headers=staff,
        )
        endpoint = made.json()
        receiver.secret = endpoint["secret"]
        receiver.answers = [503] * 10
        for title in ("One", "Two"):
            await live_api.post(
                "/api/v1/work-orders",
                json={"site_id": str(site.id), "type": "repair", "title": title},
                headers=staff,
            )
        assert await _tell_everything(live_sessions, live_settings) == 2
        days = live_settings.webhooks.disable_after_days
        # Days later every attempt still fails: the endpoint is switched off.
        assert await _tell_everything(live_sessions, live_settings, at_s=days * 86400) == 2
        seen = await live_api.get(f"{ENDPOINTS}/{endpoint['id']}", headers=staff)
        assert seen.json()["is_active"] is False
        assert seen.json()["disabled_at"] is not None
        later = days * 86400 + 7 * 3600
        assert await _tell_everything(live_sessions, live_settings, at_s=later) == 0
        assert len(receiver.received) == 4

        enabled = await live_api.patch(
            f"{ENDPOINTS}/{endpoint['id']}", json={"is_active": True}, headers=staff
        )
        assert (enabled.json()["is_active"], enabled.json()["failing_since"]) == (True, None)
        receiver.answers = []
        assert await _tell_everything(live_sessions, live_settings, at_s=later) == 2
        assert all(r.is_verified for r in receiver.received)


class TestOnTheQueue:
    async def test_a_worker_delivers_a_new_event_by_itself(
        self,
        live_api: httpx.AsyncClient,
        live_sessions: async_sessionmaker[AsyncSession],
        live_settings: Settings,
        receiver: Receiver,
    ) -> None:
        async with session_scope(live_sessions) as session:
            await ensure_default_policy(session)
            site = await make_site(session)
            admin = await make_user(session, role=Role.ADMIN)
        staff = await login(live_api, admin)
        await _tell_everything(live_sessions, live_settings)
        made = await live_api.post(
            ENDPOINTS,
            json={"url": receiver.url, "event_types": ["request_received"]},
            headers=staff,
        )
        receiver.secret = made.json()["secret"]
        worker = asyncio.create_task(
            run_worker(live_settings, concurrency=2, name="hooks", install_signal_handlers=False)
        )
        try:
            opened = await live_api.post(
                "/api/v1/work-orders",
                json={"site_id": str(site.id), "type": "repair", "title": "Told by the queue"},
                headers=staff,
            )
            # A guard against a hang, not a speed goal.
            assert await asyncio.to_thread(receiver.arrived.wait, 60)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        [got] = receiver.received
        assert got.is_verified
        assert got.body["data"]["number"] == opened.json()["number"]
