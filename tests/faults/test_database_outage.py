"""The database stops under a running API and comes back; the API is killed mid sync batch.

Real processes throughout: a PostgreSQL cluster of this module's own, stopped with pg_ctl,
and the API as a uvicorn process, killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.main.localinfra import LocalPostgres
from fsm.users.models import Role
from fsm.workorders.models import Comment
from fsm.workorders.visit_models import Visit, VisitStatus, VisitStatusEvent
from tests.factories import PASSWORD, make_user
from tests.faults.conftest import ApiProcess
from tests.mobile_api.engineer_helpers import BASE, make_route


async def _sign_in(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _wait_for(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], status: int
) -> httpx.Response:
    """Ask until the answer has `status` (the pool notices a restarted server on use)."""
    deadline = time.monotonic() + 15
    while True:
        response = await http.get(path, headers=headers)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.1)


async def test_a_stopped_database_answers_503_then_the_same_process_recovers(
    own_postgres: LocalPostgres,
    own_sessions: async_sessionmaker[AsyncSession],
    api_process: ApiProcess,
) -> None:
    async with own_sessions() as session:
        admin = await make_user(session, role=Role.ADMIN)
        await session.commit()
    api_process.start()
    async with httpx.AsyncClient(base_url=api_process.url, timeout=10) as http:
        headers = await _sign_in(http, admin.email)
        assert (await http.get("/api/v1/clients", headers=headers)).status_code == 200

        own_postgres.stop()
        try:
            answers = [await http.get("/api/v1/clients", headers=headers) for _ in range(5)]
            sign_in = await http.post(
                "/api/v1/auth/login", json={"email": admin.email, "password": PASSWORD}
            )
            health = await http.get("/health")
        finally:
            own_postgres.start(fsync=False)
        # Same process, no restart: the pool replaces its dead connections.
        after = await _wait_for(http, "/api/v1/clients", headers, 200)
        recovered = await http.get("/health")

    for answer in [*answers, sign_in]:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "database_unavailable"
        assert answer.headers["Retry-After"] == "5"
    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"
    assert health.json()["database"]["status"] == "down"
    assert health.json()["object_store"]["status"] == "ok"

    assert after.status_code == 200, after.text
    assert recovered.status_code == 200
    assert recovered.json()["status"] == "ok"

    log = api_process.log()
    assert "Traceback" not in log
    assert log.count("database unavailable:") == 1, log
    assert log.count("database available again") == 1, log


def _comment(visit: Visit, n: int) -> dict[str, Any]:
    return {
        "kind": "comment",
        "id": str(uuid.uuid4()),
        "visit_id": str(visit.id),
        "data": {"body": f"note {n}"},
    }


async def _comments(session: AsyncSession, visit: Visit) -> list[str]:
    rows = await session.scalars(
        select(Comment.body).where(Comment.work_order_id == visit.work_order_id)
    )
    return list(rows)


async def _trail(session: AsyncSession, visit: Visit) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(VisitStatusEvent)
        .where(VisitStatusEvent.visit_id == visit.id)
    )
    return count or 0


async def test_an_api_killed_mid_sync_batch_loses_and_doubles_nothing_on_replay(
    own_sessions: async_sessionmaker[AsyncSession], api_process: ApiProcess
) -> None:
    async with own_sessions() as session:
        route = await make_route(session, stops=1)
    visit = route.visits[0]
    async with own_sessions() as session:
        trail_before = await _trail(session, visit)
    actions: list[dict[str, Any]] = [
        {
            "kind": "status",
            "id": str(uuid.uuid4()),
            "visit_id": str(visit.id),
            "data": {"status": "en_route"},
        },
        {
            "kind": "status",
            "id": str(uuid.uuid4()),
            "visit_id": str(visit.id),
            "data": {"status": "on_site"},
        },
        *(_comment(visit, n) for n in range(198)),
    ]
    if api_process.process is None:
        api_process.start()
    async with httpx.AsyncClient(base_url=api_process.url, timeout=60) as http:
        headers = await _sign_in(http, route.user.email)
        sending = asyncio.create_task(
            http.post(f"{BASE}/sync", json={"actions": actions}, headers=headers)
        )
        # A batch is one transaction (a savepoint per action): kill while it is open and
        # has written, which pg_stat_activity shows as a backend holding a transaction id.
        deadline = time.monotonic() + 30
        writing = 0
        while not writing and time.monotonic() < deadline:
            async with own_sessions() as session:
                writing = await _open_writes(session)
            if not writing:
                await asyncio.sleep(0.005)
        api_process.kill()
        with contextlib.suppress(httpx.TransportError):
            await sending  # the process died under the request, as intended
        async with own_sessions() as session:
            at_kill = await _comments(session, visit)
        assert writing, "the batch was never seen writing"
        assert at_kill == [], "the kill should land inside the batch"

        api_process.start()
        replay = await http.post(f"{BASE}/sync", json={"actions": actions}, headers=headers)
        again = await http.post(f"{BASE}/sync", json={"actions": actions}, headers=headers)

    assert replay.status_code == 200, replay.text
    assert [r["outcome"] for r in replay.json()["results"]] == ["applied"] * len(actions)
    assert [r["outcome"] for r in again.json()["results"]] == ["duplicate"] * len(actions)
    async with own_sessions() as session:
        bodies = await _comments(session, visit)
        trail = await _trail(session, visit)
        status = await session.scalar(select(Visit.status).where(Visit.id == visit.id))
    assert sorted(bodies) == sorted(f"note {n}" for n in range(198))
    assert status is VisitStatus.ON_SITE
    assert trail == trail_before + 2  # en route and on site, once each


async def _open_writes(session: AsyncSession) -> int:
    count = await session.scalar(
        text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND backend_xid IS NOT NULL"
            " AND pid <> pg_backend_pid()"
        )
    )
    return int(count or 0)
