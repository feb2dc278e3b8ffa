"""Times from the phone: a timestamp without a UTC offset, or one from the future, is a 422."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.db import utcnow
from fsm.workorders.models import WorkOrderType
from fsm.workorders.visit_models import Visit, VisitStatus
from tests.auth_helpers import login
from tests.checklists.helpers import make_template
from tests.fsm.helpers import invalid_fields
from tests.mobile_api.engineer_helpers import BASE, make_route

NAIVE = "2026-11-23T10:00:00"
ONE_QUESTION = {
    "sections": [
        {"title": "Check", "items": [{"key": "works", "label": "Works", "kind": "yes_no"}]}
    ]
}


def _url(visit: Visit, tail: str) -> str:
    return f"{BASE}/visits/{visit.id}{tail}"


class TestNaiveTimestamps:
    async def test_a_location_ping_without_offset_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)

        response = await client.post(
            f"{BASE}/location",
            json={"points": [{"device_at": NAIVE, "lat": 52.5, "lon": 13.4}]},
            headers=await login(client, route.user),
        )

        assert invalid_fields(response) == ["points[0].device_at"]
        await session.refresh(route.engineer)
        assert route.engineer.last_location_at is None

    async def test_a_status_time_without_offset_is_422_and_changes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]

        response = await client.post(
            _url(visit, "/status"),
            json={"status": "en_route", "device_at": NAIVE},
            headers=await login(client, route.user),
        )

        assert invalid_fields(response) == ["device_at"]
        await session.refresh(visit)
        assert visit.status is VisitStatus.ASSIGNED

    async def test_a_checklist_answer_time_without_offset_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_template(session, raw=ONE_QUESTION, work_types=[WorkOrderType.REPAIR])
        route = await make_route(session, stops=1)

        response = await client.put(
            _url(route.visits[0], "/checklist/answers"),
            json={"answers": [{"item_key": "works", "value": True, "answered_at": NAIVE}]},
            headers=await login(client, route.user),
        )

        assert invalid_fields(response) == ["answers[0].answered_at"]

    async def test_times_with_an_offset_are_taken_as_that_instant(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        headers = await login(client, route.user)
        device_at = (utcnow() - timedelta(minutes=3)).replace(microsecond=0)
        in_berlin = device_at.astimezone(ZoneInfo("Europe/Berlin"))

        response = await client.post(
            _url(visit, "/status"),
            json={"status": "en_route", "device_at": in_berlin.isoformat()},
            headers=headers,
        )
        detail = await client.get(_url(visit, ""), headers=headers)

        assert response.status_code == 200, response.text
        [step] = [s for s in detail.json()["trail"] if s["to_status"] == "en_route"]
        assert datetime.fromisoformat(step["device_at"]) == device_at


class TestStatusFromTheFuture:
    async def test_a_status_stamped_ahead_of_the_server_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]

        response = await client.post(
            _url(visit, "/status"),
            json={
                "status": "en_route",
                "device_at": (utcnow() + timedelta(minutes=10)).isoformat(),
            },
            headers=await login(client, route.user),
        )

        assert invalid_fields(response) == ["device_at"]
        await session.refresh(visit)
        assert visit.status is VisitStatus.ASSIGNED

    async def test_a_clock_a_little_ahead_is_tolerated(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)

        response = await client.post(
            _url(route.visits[0], "/status"),
            json={"status": "en_route", "device_at": (utcnow() + timedelta(minutes=1)).isoformat()},
            headers=await login(client, route.user),
        )

        assert response.status_code == 200, response.text


class TestClientSummary:
    async def test_completion_stores_the_summary_for_the_client_apart_from_the_note(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        visit = route.visits[0]
        headers = await login(client, route.user)
        await client.post(_url(visit, "/status"), json={"status": "on_site"}, headers=headers)

        response = await client.post(
            _url(visit, "/status"),
            json={
                "status": "completed",
                "labour_minutes": 30,
                "note": "Customer was rude, bill the extra trip",
                "client_summary": "  Replaced the pump seal; the boiler holds pressure.  ",
            },
            headers=headers,
        )

        assert response.status_code == 200, response.text
        await session.refresh(visit)
        assert visit.client_summary == "Replaced the pump seal; the boiler holds pressure."

    async def test_a_summary_goes_only_with_completion(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)

        response = await client.post(
            _url(route.visits[0], "/status"),
            json={"status": "en_route", "client_summary": "On my way"},
            headers=await login(client, route.user),
        )

        assert invalid_fields(response) == ["client_summary"]

    async def test_a_summary_over_2000_characters_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)

        response = await client.post(
            _url(route.visits[0], "/status"),
            json={"status": "completed", "labour_minutes": 5, "client_summary": "x" * 2001},
            headers=await login(client, route.user),
        )

        assert invalid_fields(response) == ["client_summary"]

    async def test_another_engineers_visit_stays_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        route = await make_route(session, stops=1)
        other = await make_route(session, stops=1)

        response = await client.post(
            _url(other.visits[0], "/status"),
            json={"status": "completed", "labour_minutes": 5, "client_summary": "Done"},
            headers=await login(client, route.user),
        )

        assert response.status_code == 404
        await session.refresh(other.visits[0])
        assert other.visits[0].client_summary is None
