"""The outbox: events written with the change that caused them, read in a safe order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fsm.db import utcnow
from fsm.outbox import EventKind, OutboxConsumer, OutboxEvent, Position, consume, read_after, record
from fsm.users.models import Role
from fsm.visits.service import StatusReport
from fsm.workorders.models import Priority, WorkOrderStatus
from fsm.workorders.sla_clock import SlaClock
from fsm.workorders.visit_models import VisitStatus
from tests.factories import make_engineer, make_user
from tests.fsm.wo_helpers import move, open_order, plan_visit, principal_of, visits, work_orders


async def _told(session: AsyncSession) -> list[OutboxEvent]:
    return list((await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))).all())


class TestEventsOfTheDomain:
    async def test_a_request_and_its_visit_tell_client_engineer_and_office(
        self, session: AsyncSession
    ) -> None:
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        first, second = await make_engineer(session), await make_engineer(session)
        order = await open_order(session, actor=dispatcher, priority=Priority.CRITICAL)
        start = utcnow().replace(microsecond=0)
        visit = await plan_visit(
            session, order, actor=dispatcher, engineer=first, planned_start_at=start
        )
        service = visits(session)
        actor = principal_of(dispatcher)
        await service.assign(visit.id, second.id, actor=actor, planned_start_at=start)
        later = start.replace(hour=(start.hour + 1) % 24)
        await service.assign(visit.id, second.id, actor=actor, planned_start_at=later)
        await service.report_status(visit.id, StatusReport(VisitStatus.EN_ROUTE), actor=actor)
        await session.flush()

        every = [e for e in await _told(session) if e.work_order_id == order.id]
        # The client's live view hears each move of the status (mobile_api.streams).
        moves = [e.payload["status"] for e in every if e.kind == "request_status_changed"]
        assert moves == ["scheduled", "in_progress"]
        told = [e for e in every if e.kind != "request_status_changed"]
        assert [(e.kind, e.engineer_id) for e in told] == [
            ("request_received", None),
            ("critical_request", None),
            ("job_added", first.id),
            ("visit_scheduled", first.id),
            ("job_removed", first.id),
            ("job_added", second.id),
            ("job_time_changed", second.id),
            ("visit_scheduled", second.id),
            ("engineer_en_route", second.id),
        ]
        assert {e.client_id for e in told} == {order.client_id}
        critical = told[1]
        assert critical.audience == "staff"
        # The priority is the office's: never in the part a client may read.
        assert "priority" not in critical.payload
        assert critical.staff == {"priority": "critical"}
        scheduled = told[3]
        assert scheduled.audience == "client"
        assert scheduled.payload["number"] == order.number
        assert scheduled.payload["engineer_first_name"] == first.user.full_name.split()[0]
        assert scheduled.payload["planned_start_at"] == start.isoformat()

    async def test_resolution_low_rating_and_cannot_complete_are_told(
        self, session: AsyncSession
    ) -> None:
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        engineer = await make_engineer(session)
        order = await open_order(session, actor=dispatcher)
        visit = await plan_visit(session, order, actor=dispatcher, engineer=engineer)
        await visits(session).report_cannot_complete(
            visit.id,
            StatusReport(VisitStatus.CANCELLED, note="gate locked"),
            reason="no_access",
            actor=principal_of(engineer.user),
        )
        await move(session, order, WorkOrderStatus.CANCELLED, actor=dispatcher)
        other = await open_order(session, actor=dispatcher)
        await move(session, other, WorkOrderStatus.RESOLVED, actor=dispatcher)
        client_user = await make_user(session, role=Role.CLIENT, client_id=other.client_id)
        await work_orders(session).rate(other.id, 2, "late", actor=principal_of(client_user))
        await session.flush()

        told = {(e.work_order_id, e.kind): e for e in await _told(session)}
        cannot = told[(order.id, "cannot_complete")]
        assert cannot.audience == "staff"
        assert cannot.staff == {"reason": "no_access", "note": "gate locked"}
        assert "note" not in cannot.payload
        assert told[(other.id, "request_resolved")].audience == "client"
        assert told[(other.id, "low_rating")].staff["score"] == 2

    async def test_the_sla_watch_tells_the_office_with_the_deadline_kept_internal(
        self, session: AsyncSession
    ) -> None:
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        order = await open_order(session, actor=dispatcher, priority=Priority.HIGH)
        past = utcnow() - timedelta(minutes=5)
        order.reaction_due_at = order.resolution_due_at = past
        order.first_response_at = None
        await session.flush()

        await SlaClock(session).watch(utcnow())
        await session.flush()

        mine = [e for e in await _told(session) if e.work_order_id == order.id]
        told = [e for e in mine if e.kind == "sla_breached"]
        assert {e.staff["target"] for e in told} == {"reaction", "resolution"}
        for event in told:
            assert event.audience == "staff"
            assert event.staff["priority"] == "high"
            assert event.staff["due_at"] == past.isoformat()
            assert event.payload == {"number": order.number, "title": order.title}

    async def test_a_rolled_back_change_tells_no_one(self, session: AsyncSession) -> None:
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        before = len(await _told(session))
        savepoint = await session.begin_nested()
        await open_order(session, actor=dispatcher)
        await session.flush()
        await savepoint.rollback()
        assert len(await _told(session)) == before


@pytest.fixture
async def committing(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions that really commit; the events they write are removed afterwards."""
    factory = async_sessionmaker(engine, expire_on_commit=False)
    yield factory
    async with factory() as session:
        await session.execute(delete(OutboxEvent).where(OutboxEvent.kind == "sla_at_risk"))
        await session.execute(delete(OutboxConsumer).where(OutboxConsumer.name.like("test-%")))
        await session.commit()


class TestReadingInOrder:
    async def test_a_late_commit_is_never_skipped_by_a_reader_past_it(
        self, committing: async_sessionmaker[AsyncSession]
    ) -> None:
        consumer = f"test-{uuid.uuid4().hex[:8]}"
        async with committing() as reader:
            # Start from now: earlier events are other tests' business.
            await consume(reader, consumer, limit=100_000)
            await reader.commit()
        slow, quick = committing(), committing()
        record(slow, EventKind.SLA_AT_RISK, client_id=None, payload={"n": "slow"})
        await slow.flush()  # the slow transaction takes the lower id first
        record(quick, EventKind.SLA_AT_RISK, client_id=None, payload={"n": "quick"})
        await quick.commit()

        async with committing() as reader:
            assert await consume(reader, consumer) == []  # the slow one still runs
            await reader.commit()
        await slow.commit()
        async with committing() as reader:
            events = await consume(reader, consumer)
            assert events is not None
            # Both, in the order of their transactions: the quick one was held back.
            assert [e.payload["n"] for e in events] == ["slow", "quick"]
            await reader.commit()
        async with committing() as reader:
            assert await consume(reader, consumer) == []
            after = await read_after(reader, events[0].position)
            assert [e.payload["n"] for e in after] == ["quick"]
        await slow.close()
        await quick.close()

    async def test_a_busy_consumer_is_skipped_not_waited_for(
        self, committing: async_sessionmaker[AsyncSession]
    ) -> None:
        consumer = f"test-{uuid.uuid4().hex[:8]}"
        async with committing() as first:
            await consume(first, consumer, limit=100_000)
            await first.commit()
        async with committing() as first, committing() as second:
            assert await consume(first, consumer) is not None
            assert await consume(second, consumer) is None


class TestPosition:
    def test_a_token_round_trips_and_nonsense_is_refused(self) -> None:
        assert Position.parse(Position(12, 345).token) == Position(12, 345)
        assert Position.parse("12") is None
        assert Position.parse("a.b") is None
        assert Position.parse("-1.2") is None
