"""Mail out, end to end: API changes -> outbox -> `fsm worker` -> a real SMTP server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, text

from fsm.db import utcnow
from fsm.main.mailsink import MailSink, Received
from fsm.notifications.models import DeliveryStatus, MailDelivery
from fsm.outbox import EventKind, record
from fsm.users.models import Role, User
from fsm.users.service import UserService
from tests.auth_helpers import login
from tests.conftest import Live, running_worker
from tests.factories import make_client, make_engineer, make_site, make_user


def _to(messages: list[Received], user: User) -> list[Received]:
    return [m for m in messages if m.recipients == (user.email,)]


async def _deliveries_to(live: Live, user: User) -> list[MailDelivery]:
    async with live.factory() as session:
        stmt = select(MailDelivery).where(MailDelivery.user_id == user.id)
        return list((await session.scalars(stmt)).all())


class TestMailOut:
    async def test_each_person_gets_their_mails_in_their_language_and_nothing_internal(
        self, live: Live, sink: MailSink, live_client: httpx.AsyncClient
    ) -> None:
        async with live.factory() as session:
            company = await make_client(session)
            site = await make_site(session, client=company)
            client_user = await make_user(
                session, role=Role.CLIENT, client=company, language="ru", full_name="Анна Павлова"
            )
            stranger = await make_user(session, role=Role.CLIENT)  # another company's user
            dispatcher = await make_user(session, role=Role.DISPATCHER)
            quiet = await make_user(session, role=Role.DISPATCHER)
            engineer = await make_engineer(session)
            await session.commit()

        # The quiet dispatcher does not want mail about critical requests.
        quiet_headers = await login(live_client, quiet)
        answer = await live_client.put(
            "/api/v1/auth/me/notifications",
            json={"mail": {"critical_request": False}},
            headers=quiet_headers,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["mail"]["critical_request"] is False

        client_headers = await login(live_client, client_user)
        opened = await live_client.post(
            "/mobile/v1/client/requests",
            json={"title": "Лифт застрял между этажами", "site_id": str(site.id)},
            headers=client_headers,
        )
        assert opened.status_code == 201, opened.text
        order_id, number = opened.json()["id"], opened.json()["number"]
        staff = await login(live_client, dispatcher)
        changed = await live_client.patch(
            f"/api/v1/work-orders/{order_id}", json={"priority": "critical"}, headers=staff
        )
        assert changed.status_code == 200, changed.text
        now = utcnow().replace(microsecond=0)
        planned = await live_client.post(
            "/api/v1/visits",
            json={
                "work_order_id": order_id,
                "window_starts_at": now.isoformat(),
                "window_ends_at": (now + timedelta(hours=4)).isoformat(),
                "estimated_minutes": 60,
            },
            headers=staff,
        )
        assert planned.status_code == 201, planned.text
        assigned = await live_client.post(
            f"/api/v1/visits/{planned.json()['id']}/assign",
            json={"engineer_id": str(engineer.id), "planned_start_at": now.isoformat()},
            headers=staff,
        )
        assert assigned.status_code == 200, assigned.text

        async with running_worker(live.settings):
            # The client's two, the dispatcher's one, the engineer's one.
            messages = await sink.wait_for(4)
            await _all_sent(live, 4, [client_user, dispatcher, engineer.user])

        received, scheduled = _to(messages, client_user)
        assert received.message["Subject"] == f"Мы получили вашу заявку {number}"
        assert "Лифт застрял между этажами" in received.body("plain")
        assert "Лифт застрял между этажами" in received.body("html")
        assert scheduled.message["Subject"].startswith(f"Визит по заявке {number} назначен")
        assert engineer.user.full_name.split()[0] in scheduled.body("plain")
        for mail in (received, scheduled):
            assert mail.message["Auto-Submitted"] == "auto-generated"
            for part in ("plain", "html"):
                assert "critical" not in mail.body(part).lower()
        (critical,) = _to(messages, dispatcher)
        assert critical.message["Subject"] == f"Critical request: {number}"
        (job,) = _to(messages, engineer.user)
        assert job.message["Subject"].startswith("New job on")
        assert number in job.body("plain")
        assert _to(messages, quiet) == []
        assert _to(messages, stranger) == []
        assert await _deliveries_to(live, quiet) == []

    async def test_a_branch_manager_gets_mail_only_about_its_own_sites_requests(
        self, live: Live, sink: MailSink, live_client: httpx.AsyncClient
    ) -> None:
        async with live.factory() as session:
            company = await make_client(session)
            north = await make_site(session, client=company)
            south = await make_site(session, client=company)
            branch = await make_user(session, role=Role.CLIENT, client=company)
            colleague = await make_user(session, role=Role.CLIENT, client=company)
            dispatcher = await make_user(session, role=Role.DISPATCHER)
            await session.flush()
            await UserService(session).update(branch.id, site_ids=[north.id])
            await session.commit()
        staff = await login(live_client, dispatcher)
        numbers = {}
        for site in (south, north):
            opened = await live_client.post(
                "/api/v1/work-orders",
                json={"site_id": str(site.id), "type": "repair", "title": "Door stuck"},
                headers=staff,
            )
            assert opened.status_code == 201, opened.text
            numbers[site.id] = opened.json()["number"]

        async with running_worker(live.settings):
            # The colleague's two (both sites), the branch manager's one (the north).
            messages = await sink.wait_for(3)
            await _all_sent(live, 3, [branch, colleague])

        (mine,) = _to(messages, branch)
        assert numbers[north.id] in mine.message["Subject"]
        assert numbers[south.id] not in mine.body("plain")
        assert len(_to(messages, colleague)) == 2
        deliveries = await _deliveries_to(live, branch)
        assert len(deliveries) == 1


async def _all_sent(live: Live, count: int, users: list[User]) -> None:
    """Wait until `count` deliveries to `users` are marked sent."""
    ids = [u.id for u in users]
    async with asyncio.timeout(30):
        while True:
            async with live.factory() as session:
                sent = await session.scalar(
                    select(func.count())
                    .select_from(MailDelivery)
                    .where(
                        MailDelivery.user_id.in_(ids),
                        MailDelivery.status == DeliveryStatus.SENT,
                    )
                )
            if sent == count:
                return
            await asyncio.sleep(0.1)


class _StallingSink(MailSink):
    """Takes the first message's data and never answers, as a server that hangs mid-send."""

    stalled: asyncio.Event | None = None

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        if self.stalled is None:
            self.stalled = asyncio.Event()
        if not self.stalled.is_set():
            self.stalled.set()
            await asyncio.Event().wait()
        return await super().handle_DATA(server, session, envelope)  # type: ignore[arg-type]


class TestWorkerKilledMidJob:
    async def test_the_mail_is_sent_exactly_once_by_another_worker(self, live: Live) -> None:
        server = _StallingSink(port=live.settings.mail.smtp_port)
        server.stalled = asyncio.Event()
        await server.start()
        async with live.factory() as session:
            company = await make_client(session)
            user = await make_user(session, role=Role.CLIENT, client=company)
            record(
                session,
                EventKind.REQUEST_RECEIVED,
                client_id=company.id,
                payload={"number": "WO-2026-999999", "title": "Door stuck"},
            )
            await session.commit()
        env = {
            **os.environ,
            "FSM_ENV": "test",
            "FSM_DATABASE_URL": live.database_url,
            "FSM_SMTP_PORT": str(live.settings.mail.smtp_port),
            "FSM_WORKER_HEARTBEAT_S": "0.5",
            "FSM_WORKER_STALLED_AFTER_S": "2",
        }
        doomed = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "fsm.main.cli", "worker", "--name", "doomed"),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(60):
                await server.stalled.wait()  # the doomed worker is in the middle of sending
            doomed.send_signal(signal.SIGKILL)
            await doomed.wait()
            async with live.factory() as session:
                running = await session.scalar(
                    text(
                        "SELECT count(*) FROM procrastinate_jobs "
                        "WHERE task_name = 'fsm.send_mail' AND status = 'doing'"
                    )
                )
            assert running == 1  # left behind by the dead worker
            async with running_worker(live.settings):
                (mail,) = await server.wait_for(1, timeout_s=60)
                await _all_sent(live, 1, [user])
                await _job_done(live)
            assert mail.recipients == (user.email,)
            assert mail.message["Subject"] == "We received your request WO-2026-999999"
            (delivery,) = await _deliveries_to(live, user)
            assert delivery.status is DeliveryStatus.SENT
            # The killed attempt was undone with its transaction; only the sent one counts.
            assert delivery.attempts == 1
            assert len(server.received) == 1
        finally:
            if doomed.returncode is None:
                doomed.kill()
                await doomed.wait()
            await server.stop()


async def _job_done(live: Live) -> None:
    async with asyncio.timeout(30):
        while True:
            async with live.factory() as session:
                states = (
                    (
                        await session.execute(
                            text(
                                "SELECT status::text FROM procrastinate_jobs "
                                "WHERE task_name = 'fsm.send_mail'"
                            )
                        )
                    )
                    .scalars()
                    .all()
                )
            if states and all(s == "succeeded" for s in states):
                return
            await asyncio.sleep(0.1)


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:procrastinate.*")
