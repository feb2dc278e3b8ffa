"""Live streams across two real API processes on one database (LISTEN/NOTIFY fan-out)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.db import session_scope
from fsm.storage import ObjectStore
from fsm.users.models import Role
from fsm.users.service import UserService
from tests.conftest import Infra
from tests.factories import make_client, make_engineer, make_site, make_user
from tests.faults.conftest import ApiProcess
from tests.live.conftest import ensure_default_policy

# A guard against a hung test, not a speed goal: a missing event fails after this long
# (the streams' own polling is set to an hour, so only LISTEN/NOTIFY can beat it).
WAIT_S = 30.0


@dataclass
class Message:
    id: str | None
    event: str
    data: dict[str, Any]


@dataclass
class Stream:
    """One open SSE connection, its messages collected as they arrive."""

    messages: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    status_code: int | None = None
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when the server ends the response.
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def next(self) -> Message:
        return await asyncio.wait_for(self.messages.get(), WAIT_S)


@contextlib.asynccontextmanager
async def open_stream(
    url: str, token_headers: dict[str, str], *, last_event_id: str | None = None
) -> AsyncIterator[Stream]:
    stream = Stream()
    headers = dict(token_headers)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id

    async def read() -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(WAIT_S, read=None)) as http,
            http.stream("GET", url, headers=headers) as response,
        ):
            stream.status_code = response.status_code
            fields: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    stream.opened.set()  # the server's "connected" comment
                elif line == "":
                    if "data" in fields:
                        stream.messages.put_nowait(
                            Message(fields.get("id"), fields["event"], json.loads(fields["data"]))
                        )
                    fields = {}
                else:
                    name, _, value = line.partition(": ")
                    fields[name] = value
            stream.opened.set()
        stream.ended.set()

    task = asyncio.create_task(read())
    try:
        await asyncio.wait_for(stream.opened.wait(), WAIT_S)
        yield stream
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture(scope="module")
def two_apis(
    live_database_url: str,
    infra: Infra,
    object_store: ObjectStore,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ApiProcess, ApiProcess]]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FSM_")},
        "FSM_ENV": "test",
        "FSM_DATABASE_URL": live_database_url,
        "FSM_S3_ENDPOINT_URL": infra.s3_endpoint,
        "FSM_S3_BUCKET": object_store.bucket,
        "FSM_S3_ACCESS_KEY": infra.s3_access_key,
        "FSM_S3_SECRET_KEY": infra.s3_secret_key,
        "FSM_JWT_SECRET": "stream-secret-" + "x" * 32,
        # Far longer than a test waits: an event can only arrive by the NOTIFY fan-out.
        "FSM_STREAM_HEARTBEAT_S": "3600",
    }
    logs = tmp_path_factory.mktemp("apis")
    first = ApiProcess(env=env, log_path=logs / "first.log")
    second = ApiProcess(env=env, log_path=logs / "second.log")
    try:
        # Both boot at once (most of their start is importing the app).
        with ThreadPoolExecutor(max_workers=2) as pool:
            for started in [pool.submit(first.start), pool.submit(second.start)]:
                started.result()
        yield first, second
    finally:
        first.stop()
        second.stop()


async def _login(api: ApiProcess, email: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=api.url) as http:
        answer = await http.post(
            "/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}
        )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _next_working_morning() -> datetime:
    day = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(9), ZoneInfo("Europe/Berlin")).astimezone(UTC)


class TestClientStream:
    async def test_a_client_hears_its_own_requests_live_across_processes_and_resumes(
        self,
        two_apis: tuple[ApiProcess, ApiProcess],
        live_sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        listening, writing = two_apis
        async with session_scope(live_sessions) as session:
            await ensure_default_policy(session)
            ours, theirs = await make_client(session), await make_client(session)
            our_site, their_site = (
                await make_site(session, client=ours),
                await make_site(session, client=theirs),
            )
            member = await make_user(session, role=Role.CLIENT, client=ours)
            outsider = await make_user(session, role=Role.CLIENT, client=theirs)
            dispatcher = await make_user(session, role=Role.DISPATCHER, full_name="Dana Smith")
        staff = await _login(writing, dispatcher.email)
        member_token = await _login(listening, member.email)
        url = f"{listening.url}/mobile/v1/client/stream"

        async with (
            open_stream(url, member_token) as mine,
            open_stream(url, await _login(listening, outsider.email)) as other,
            httpx.AsyncClient(base_url=writing.url, headers=staff) as office,
        ):
            opened = await office.post(
                "/api/v1/work-orders",
                json={
                    "site_id": str(our_site.id),
                    "type": "repair",
                    "title": "Lift stuck",
                    "priority": "critical",
                },
            )
            order = opened.json()
            path = f"/api/v1/work-orders/{order['id']}"
            await office.post(
                f"{path}/comments", json={"body": "Parts cost 900 EUR net", "is_internal": True}
            )
            await office.post(f"{path}/comments", json={"body": "We are on it."})
            await office.post(
                f"{path}/transitions",
                json={
                    "to": "on_hold",
                    "reason": "client owes money",
                    "client_message": "Parts on order",
                },
            )
            first = await mine.next()
            assert (first.event, first.data["number"]) == ("request_received", order["number"])
            comment = await mine.next()
            assert comment.event == "public_comment_added"
            assert (comment.data["body"], comment.data["author_first_name"]) == (
                "We are on it.",
                "Dana",
            )
            moved = await mine.next()
            assert moved.event == "request_status_changed"
            assert (moved.data["stage"], moved.data["message"]) == ("on_hold", "Parts on order")
            # Internal notes, reasons and priorities never reach the client's stream.
            for message in (first, comment, moved):
                text = json.dumps(message.data)
                assert "critical" not in text
                assert "900 EUR" not in text
                assert "owes" not in text

            # The other company hears nothing of ours: its first message is its own request.
            theirs_opened = await office.post(
                "/api/v1/work-orders",
                json={"site_id": str(their_site.id), "type": "repair", "title": "Door"},
            )
            own = await other.next()
            assert (own.event, own.data["number"]) == (
                "request_received",
                theirs_opened.json()["number"],
            )

        # Reconnecting to the other process after the first message: the rest, in order.
        async with open_stream(
            f"{writing.url}/mobile/v1/client/stream", member_token, last_event_id=first.id
        ) as resumed:
            again = [await resumed.next(), await resumed.next()]
            assert [(m.id, m.event) for m in again] == [
                (comment.id, "public_comment_added"),
                (moved.id, "request_status_changed"),
            ]

    async def test_a_branch_manager_hears_only_of_its_own_sites_requests(
        self,
        two_apis: tuple[ApiProcess, ApiProcess],
        live_sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        listening, writing = two_apis
        async with session_scope(live_sessions) as session:
            await ensure_default_policy(session)
            company = await make_client(session)
            north = await make_site(session, client=company)
            south = await make_site(session, client=company)
            branch = await make_user(session, role=Role.CLIENT, client=company)
            colleague = await make_user(session, role=Role.CLIENT, client=company)
            dispatcher = await make_user(session, role=Role.DISPATCHER)
            await session.flush()
            await UserService(session).update(branch.id, site_ids=[north.id])
        staff = await _login(writing, dispatcher.email)
        url = f"{listening.url}/mobile/v1/client/stream"

        async with (
            open_stream(url, await _login(listening, branch.email)) as branch_stream,
            open_stream(url, await _login(listening, colleague.email)) as company_stream,
            httpx.AsyncClient(base_url=writing.url, headers=staff) as office,
        ):
            numbers = {}
            for site, title in ((south, "South door"), (north, "North lift")):
                opened = await office.post(
                    "/api/v1/work-orders",
                    json={"site_id": str(site.id), "type": "repair", "title": title},
                )
                assert opened.status_code == 201, opened.text
                numbers[site.id] = opened.json()["number"]
                comment = await office.post(
                    f"/api/v1/work-orders/{opened.json()['id']}/comments",
                    json={"body": f"On it: {title}"},
                )
                assert comment.status_code == 201, comment.text

            # The company-wide colleague hears both sites; the branch manager the north only,
            # starting with it: nothing of the south came before.
            heard = [await company_stream.next() for _ in range(4)]
            assert [m.data["number"] for m in heard if m.event == "request_received"] == [
                numbers[south.id],
                numbers[north.id],
            ]
            first, second = await branch_stream.next(), await branch_stream.next()
            assert (first.event, first.data["number"]) == ("request_received", numbers[north.id])
            assert (second.event, second.data["body"]) == (
                "public_comment_added",
                "On it: North lift",
            )

    async def test_an_open_stream_follows_its_account_narrowed_and_ends_with_its_session(
        self,
        two_apis: tuple[ApiProcess, ApiProcess],
        live_sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        listening, writing = two_apis
        async with session_scope(live_sessions) as session:
            await ensure_default_policy(session)
            company = await make_client(session)
            north = await make_site(session, client=company)
            south = await make_site(session, client=company)
            member = await make_user(session, role=Role.CLIENT, client=company)
            dispatcher = await make_user(session, role=Role.DISPATCHER)
        staff = await _login(writing, dispatcher.email)
        token = await _login(listening, member.email)

        async with (
            open_stream(f"{listening.url}/mobile/v1/client/stream", token) as stream,
            httpx.AsyncClient(base_url=writing.url, headers=staff) as office,
        ):

            async def open_at(site_id: uuid.UUID, title: str) -> str:
                opened = await office.post(
                    "/api/v1/work-orders",
                    json={"site_id": str(site_id), "type": "repair", "title": title},
                )
                assert opened.status_code == 201, opened.text
                return str(opened.json()["number"])

            first = await open_at(south.id, "South door")
            assert (await stream.next()).data["number"] == first
            # Narrowed to the north while the app stays connected: the south goes quiet.
            async with session_scope(live_sessions) as session:
                await UserService(session).update(member.id, site_ids=[north.id])
            await open_at(south.id, "South window")
            north_number = await open_at(north.id, "North lift")
            assert (await stream.next()).data["number"] == north_number

            # Signed out elsewhere: the next event ends the stream instead of reaching it.
            async with httpx.AsyncClient(base_url=listening.url, headers=token) as app:
                assert (await app.post("/api/v1/auth/logout")).status_code == 204
            await open_at(north.id, "North stairs")
            await asyncio.wait_for(stream.ended.wait(), WAIT_S)
            assert stream.messages.empty()

    async def test_a_bad_last_event_id_and_another_role_are_refused(
        self,
        two_apis: tuple[ApiProcess, ApiProcess],
        live_sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        api, _ = two_apis
        async with session_scope(live_sessions) as session:
            member = await make_user(session, role=Role.CLIENT)
            dispatcher = await make_user(session, role=Role.DISPATCHER)
        async with httpx.AsyncClient(base_url=api.url) as http:
            bad = await http.get(
                "/mobile/v1/client/stream",
                headers={**await _login(api, member.email), "Last-Event-ID": "yesterday"},
            )
            assert bad.status_code == 422
            staff = await _login(api, dispatcher.email)
            for path in ("/mobile/v1/client/stream", "/mobile/v1/engineer/stream"):
                assert (await http.get(path, headers=staff)).status_code == 403


class TestEngineerStream:
    async def test_an_engineer_hears_only_its_own_jobs_come_and_go(
        self,
        two_apis: tuple[ApiProcess, ApiProcess],
        live_sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        listening, writing = two_apis
        async with session_scope(live_sessions) as session:
            await ensure_default_policy(session)
            site = await make_site(session)
            dispatcher = await make_user(session, role=Role.DISPATCHER)
            mine = await make_engineer(session)
            other = await make_engineer(session)
            mine_email, other_email = mine.user.email, other.user.email
        staff = await _login(writing, dispatcher.email)
        url = f"{listening.url}/mobile/v1/engineer/stream"
        start = _next_working_morning()
        async with (
            open_stream(url, await _login(listening, mine_email)) as my_stream,
            open_stream(url, await _login(listening, other_email)) as other_stream,
            httpx.AsyncClient(base_url=writing.url, headers=staff) as office,
        ):
            order = (
                await office.post(
                    "/api/v1/work-orders",
                    json={"site_id": str(site.id), "type": "repair", "title": "Lift"},
                )
            ).json()
            visit = await office.post(
                "/api/v1/visits",
                json={
                    "work_order_id": order["id"],
                    "window_starts_at": start.isoformat(),
                    "window_ends_at": (start + timedelta(hours=4)).isoformat(),
                    "estimated_minutes": 60,
                },
            )
            assert visit.status_code == 201, visit.text
            visit_id = visit.json()["id"]
            for engineer in (mine, other):
                assigned = await office.post(
                    f"/api/v1/visits/{visit_id}/assign",
                    json={"engineer_id": str(engineer.id), "planned_start_at": start.isoformat()},
                )
                assert assigned.status_code == 200, assigned.text

            added = await my_stream.next()
            assert (added.event, added.data["visit_id"]) == ("job_added", visit_id)
            taken = await my_stream.next()
            assert (taken.event, taken.data["visit_id"]) == ("job_removed", visit_id)
            # The other engineer heard only its own: the job given to it.
            theirs = await other_stream.next()
            assert (theirs.event, theirs.data["visit_id"]) == ("job_added", visit_id)
