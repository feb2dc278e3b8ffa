"""Solver runs: stored by the request, claimed and solved by a worker's job with progress,
failed or interrupted, limited over all processes, and no transaction held open while the
solver works. The whole path through the real queue and worker is in test_controller_runs.py."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch.models import DispatchPlan, DispatchPlanStatus
from dispatch.runs import (
    INTERRUPTED,
    RUN_TASK,
    SolveRequest,
    TooManyDispatchRuns,
    defer_unclaimed,
    fail_interrupted,
    run_stored,
)
from dispatch.service import DispatchService, route_plan_of
from dispatch.solver import (
    HaversineTravel,
    Location,
    TravelMatrix,
    TravelMatrixError,
    TravelProvider,
)
from fsm.db import utcnow
from fsm.queue import InProcessQueue
from fsm.settings import SettingsError, SolverSettings, load_settings
from fsm.visits.service import VisitDraft
from tests.dispatch.conftest import taking_turns
from tests.dispatch.test_service import DAY, SmallDay, small_day
from tests.fsm.wo_helpers import principal_of, visits

SETTINGS = SolverSettings(time_limit_s=1, max_time_limit_s=2, sync_limit_s=1)


def background_service(
    session: AsyncSession, settings: SolverSettings = SETTINGS
) -> DispatchService:
    return DispatchService(session, visits(session), settings)


async def solve_stored(
    factory: async_sessionmaker[AsyncSession],
    plan: DispatchPlan,
    *,
    job_id: int = 1,
    travel: TravelProvider | None = None,
    executor: ThreadPoolExecutor | None = None,
    progress_every_s: float = 0.2,
) -> bool:
    """What the worker's `dispatch.run` job does for the plan."""
    return await run_stored(
        factory,
        plan.id,
        job_id=job_id,
        travel=travel or HaversineTravel(),
        executor=executor,
        progress_every_s=progress_every_s,
    )


class _Unreachable:
    """A routing engine that is down."""

    def matrix(self, locations: Sequence[Location]) -> TravelMatrix:
        raise TravelMatrixError("routing engine at http://osrm.invalid unreachable")


class _WatchingTravel:
    """Straight-line travel that notes whether the session was in a transaction meanwhile."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.in_transaction: list[bool] = []

    def matrix(self, locations: Sequence[Location]) -> TravelMatrix:
        self.in_transaction.append(self.session.in_transaction())
        return HaversineTravel().matrix(locations)


class _Gated:
    """Straight-line travel that waits until let through: a solve caught in the middle."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()

    def matrix(self, locations: Sequence[Location]) -> TravelMatrix:
        self.entered.set()
        self.gate.wait(timeout=30)
        return HaversineTravel().matrix(locations)


async def _solve_until(
    factory: async_sessionmaker[AsyncSession], plan: DispatchPlan
) -> datetime | None:
    async with factory() as session:
        until: datetime | None = await session.scalar(
            select(DispatchPlan.solve_until_at).where(DispatchPlan.id == plan.id)
        )
        return until


async def _until_started(factory: async_sessionmaker[AsyncSession], plan: DispatchPlan) -> None:
    """Until the run's thread has started and its budget end is stored."""
    for _ in range(600):
        if await _solve_until(factory, plan) is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the run never started")


async def stored_run(session: AsyncSession) -> tuple[SmallDay, DispatchPlan]:
    """A small day and a background draft of it, as the request stored it (not committed)."""
    day = await small_day(session)
    plan = await background_service(session).draft(
        DAY, "Europe/Berlin", actor=principal_of(day.dispatcher), background=True
    )
    return day, plan


async def stored(session: AsyncSession, plan: DispatchPlan) -> DispatchPlan:
    await session.refresh(plan)
    return plan


@pytest.fixture
def turns(session_factory: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """The test's sessions, one task at a time: a run's job beside another task."""
    return taking_turns(session_factory)


class TestStoredRun:
    async def test_the_request_stores_what_it_read_and_a_job_solves_it_with_progress(
        self, session: AsyncSession, turns: async_sessionmaker[AsyncSession]
    ) -> None:
        day, plan = await stored_run(session)
        await session.commit()  # the request ends: its unit of work commits
        assert plan.status is DispatchPlanStatus.SOLVING
        assert plan.progress is not None
        assert plan.progress["solutions_found"] == 0
        assert plan.solve_until_at is None
        request = msgspec.convert(plan.run_request, SolveRequest)
        assert request.time_limit_s == 1
        assert {v.id for v in request.problem.visits} == {str(v.id) for v in day.visits}

        assert await solve_stored(turns, plan)
        plan = await stored(session, plan)
        assert plan.status is DispatchPlanStatus.DRAFT
        assert plan.finished_at is not None
        assert plan.solve_until_at is not None
        assert plan.progress is not None
        assert plan.progress["solutions_found"] >= 1
        assert plan.progress["best_objective"] is not None
        assert plan.run_request is None  # the snapshot is not kept past its run
        routes = route_plan_of(plan)
        assert routes is not None
        assert routes.metrics.served_count == 4

    async def test_the_run_solves_the_day_the_request_read_not_a_later_one(
        self, session: AsyncSession, turns: async_sessionmaker[AsyncSession]
    ) -> None:
        day, plan = await stored_run(session)
        await session.commit()
        # A visit planned after the request is not in its draft; the next draft takes it.
        first = day.visits[0]
        later = await visits(session).create(
            VisitDraft(
                work_order_id=first.work_order_id,
                window_starts_at=first.window_starts_at,
                window_ends_at=first.window_ends_at,
                estimated_minutes=30,
            ),
            actor=principal_of(day.dispatcher),
        )
        await session.commit()
        assert await solve_stored(turns, plan)
        routes = route_plan_of(await stored(session, plan))
        assert routes is not None
        seen = {s.visit_id for r in routes.routes for s in r.stops} | {
            d.visit_id for d in routes.dropped
        }
        assert seen == {str(v.id) for v in day.visits}
        assert str(later.id) not in seen

    async def test_runs_in_the_background_when_the_budget_exceeds_the_sync_limit(
        self, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        service = background_service(session)
        actor = principal_of(day.dispatcher)
        quick = await service.draft(DAY, "Europe/Berlin", actor=actor, time_limit_s=1)
        await session.commit()  # the request ends: its unit of work commits
        assert quick.status is DispatchPlanStatus.DRAFT
        assert quick.run_request is None
        slow = await service.draft(DAY, "Europe/Berlin", actor=actor, time_limit_s=2)
        await session.commit()  # the request ends: its unit of work commits
        assert slow.status is DispatchPlanStatus.SOLVING
        assert slow.run_request is not None

    async def test_a_solver_failure_fails_the_plan_with_the_reason(
        self, session: AsyncSession, turns: async_sessionmaker[AsyncSession]
    ) -> None:
        _, plan = await stored_run(session)
        await session.commit()  # the request ends: its unit of work commits
        assert await solve_stored(turns, plan, travel=_Unreachable())
        plan = await stored(session, plan)
        assert plan.status is DispatchPlanStatus.FAILED
        assert plan.error is not None
        assert "unreachable" in plan.error
        assert route_plan_of(plan) is None

    async def test_a_worker_stopping_mid_run_stores_it_interrupted(
        self, session: AsyncSession, turns: async_sessionmaker[AsyncSession]
    ) -> None:
        _, plan = await stored_run(session)
        await session.commit()
        travel = _Gated()
        # No progress writes meanwhile: the stop lands while the job waits on the solver,
        # not in the middle of a statement on the tests' one shared connection.
        job = asyncio.create_task(solve_stored(turns, plan, travel=travel, progress_every_s=3600))
        try:
            assert await asyncio.to_thread(travel.entered.wait, 30)
            await _until_started(turns, plan)
            job.cancel()
            with pytest.raises(asyncio.CancelledError):
                await job
        finally:
            travel.gate.set()
        plan = await stored(session, plan)
        assert (plan.status, plan.error) == (DispatchPlanStatus.FAILED, INTERRUPTED)


class TestClaim:
    async def test_only_the_job_that_claimed_a_run_solves_it_and_its_retry_may_again(
        self, session: AsyncSession, turns: async_sessionmaker[AsyncSession]
    ) -> None:
        _, plan = await stored_run(session)
        await session.commit()
        travel = _Gated()
        first = asyncio.create_task(solve_stored(turns, plan, job_id=7, travel=travel))
        try:
            assert await asyncio.to_thread(travel.entered.wait, 30)
            # A second job for the same plan (a sweep's duplicate) finds it claimed.
            assert not await solve_stored(turns, plan, job_id=8)
        finally:
            travel.gate.set()
        assert await first
        assert (await stored(session, plan)).run_job_id == 7
        assert (await stored(session, plan)).status is DispatchPlanStatus.DRAFT
        # Solved: not again, by anyone.
        assert not await solve_stored(turns, plan, job_id=7)

    async def test_the_same_job_retried_after_its_worker_died_solves_the_run(
        self, session: AsyncSession, turns: async_sessionmaker[AsyncSession]
    ) -> None:
        _, plan = await stored_run(session)
        await session.commit()
        # The dead worker had claimed it and started its thread.
        await session.execute(
            update(DispatchPlan)
            .where(DispatchPlan.id == plan.id)
            .values(run_job_id=11, solve_until_at=utcnow() + timedelta(seconds=1))
        )
        await session.commit()
        dead_attempt_end = utcnow() + timedelta(seconds=1)
        assert not await solve_stored(turns, plan, job_id=12)
        assert await solve_stored(turns, plan, job_id=11)
        plan = await stored(session, plan)
        assert plan.status is DispatchPlanStatus.DRAFT
        # The retry's budget ran from its own thread's start, not the dead attempt's.
        assert plan.solve_until_at is not None
        assert plan.solve_until_at > dead_attempt_end

    async def test_a_run_failed_as_interrupted_is_not_solved_late(
        self, session: AsyncSession, turns: async_sessionmaker[AsyncSession]
    ) -> None:
        _, plan = await stored_run(session)
        await session.commit()
        later = utcnow() + timedelta(minutes=10)
        assert await fail_interrupted(session, grace_s=60, now=later, max_queue_s=120) == 1
        await session.commit()
        assert not await solve_stored(turns, plan)
        plan = await stored(session, plan)
        assert (plan.status, plan.error) == (DispatchPlanStatus.FAILED, INTERRUPTED)
        assert plan.run_request is None


class TestLostDefer:
    async def test_the_sweep_queues_again_only_runs_no_job_claimed(
        self, session: AsyncSession, turns: async_sessionmaker[AsyncSession]
    ) -> None:
        day = await small_day(session)
        service = background_service(session, dataclasses.replace(SETTINGS, max_concurrent_runs=3))
        actor = principal_of(day.dispatcher)
        made = []
        for _ in range(3):  # three requests, each its own unit of work
            made.append(await service.draft(DAY, "Europe/Berlin", actor=actor, background=True))
            await session.commit()
        lost, claimed, young = made
        minute_ago = utcnow() - timedelta(minutes=1)
        for plan in (lost, claimed):
            plan.created_at = minute_ago
        claimed.run_job_id = 5
        await session.commit()
        deferred: list[dict[str, Any]] = []

        async def record(**arguments: Any) -> None:
            deferred.append(arguments)

        queue = InProcessQueue({RUN_TASK: record})
        assert await defer_unclaimed(turns, queue, older_than=utcnow() - timedelta(seconds=30)) == 1
        assert deferred == [{"plan_id": str(lost.id)}]
        assert young.run_job_id is None


class TestUnitOfWork:
    async def test_a_rolled_back_request_stores_no_run_and_takes_no_place(
        self, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        await session.commit()
        service = background_service(session, dataclasses.replace(SETTINGS, max_concurrent_runs=1))
        actor = principal_of(day.dispatcher)

        dropped = await service.draft(DAY, "Europe/Berlin", actor=actor, background=True)
        await session.rollback()  # the request failed after all
        assert await session.get(DispatchPlan, dropped.id) is None
        kept = await service.draft(DAY, "Europe/Berlin", actor=actor, background=True)
        await session.commit()  # the one place was not taken by the rolled-back run
        assert (await stored(session, kept)).status is DispatchPlanStatus.SOLVING


class TestRunLimit:
    async def test_refuses_a_run_beyond_the_limit_and_stores_nothing(
        self, session: AsyncSession, turns: async_sessionmaker[AsyncSession]
    ) -> None:
        day = await small_day(session)
        service = background_service(session, dataclasses.replace(SETTINGS, max_concurrent_runs=1))
        actor = principal_of(day.dispatcher)
        first = await service.draft(DAY, "Europe/Berlin", actor=actor, background=True)
        await session.commit()  # the request ends: its unit of work commits
        plans_before = await session.scalar(select(func.count()).select_from(DispatchPlan))
        with pytest.raises(TooManyDispatchRuns) as caught:
            await service.draft(DAY, "Europe/Berlin", actor=actor, background=True)
        await session.rollback()
        # Not started yet: expected to end one budget from now.
        assert 1 <= caught.value.retry_after_s <= 2
        assert caught.value.details == {"max_concurrent_runs": 1}
        assert (
            await session.scalar(select(func.count()).select_from(DispatchPlan))
        ) == plans_before
        await session.refresh(first)
        assert await solve_stored(turns, first)
        again = await service.draft(DAY, "Europe/Berlin", actor=actor, background=True)
        await session.commit()  # the first one ended: its place is free
        assert again.status is DispatchPlanStatus.SOLVING

    async def test_a_run_a_dead_worker_left_takes_no_place(self, session: AsyncSession) -> None:
        day = await small_day(session)
        service = background_service(session, dataclasses.replace(SETTINGS, max_concurrent_runs=1))
        actor = principal_of(day.dispatcher)
        dead = DispatchPlan(
            day=DAY,
            timezone="Europe/Berlin",
            status=DispatchPlanStatus.SOLVING,
            solve_until_at=utcnow() - timedelta(hours=1),
        )
        session.add(dead)
        await session.commit()
        plan = await service.draft(DAY, "Europe/Berlin", actor=actor, background=True)
        assert plan.status is DispatchPlanStatus.SOLVING

    async def test_a_run_waiting_for_a_thread_is_not_failed_and_gets_its_budget_from_its_start(
        self, session: AsyncSession, turns: async_sessionmaker[AsyncSession]
    ) -> None:
        day = await small_day(session)
        # The worker's one solving thread is still busy with a run it gave up on.
        pool = ThreadPoolExecutor(max_workers=1)
        gate = threading.Event()
        pool.submit(gate.wait)
        try:
            plan = await background_service(session).draft(
                DAY, "Europe/Berlin", actor=principal_of(day.dispatcher), background=True
            )
            await session.commit()  # the request ends: its unit of work commits
            job = asyncio.create_task(solve_stored(turns, plan, executor=pool))
            await asyncio.sleep(0.5)
            assert plan.solve_until_at is None
            # Another process reading it well past budget and grace sees it still solving.
            elsewhere = DispatchService(
                session,
                visits(session),
                SolverSettings(time_limit_s=1, run_grace_s=0),
                clock=lambda: utcnow() + timedelta(seconds=30),
            )
            assert (await elsewhere.get(plan.id)).status is DispatchPlanStatus.SOLVING
            freed_at = utcnow()
            gate.set()
            assert await job
        finally:
            gate.set()
            pool.shutdown(wait=False)
        plan = await stored(session, plan)
        assert plan.status is DispatchPlanStatus.DRAFT
        assert plan.solve_until_at is not None
        assert plan.solve_until_at >= freed_at + timedelta(seconds=1)

    def test_the_limit_comes_from_the_environment(self) -> None:
        assert load_settings({}).solver.max_concurrent_runs == 2
        environ = {"FSM_DISPATCH_MAX_CONCURRENT_RUNS": "4"}
        assert load_settings(environ).solver.max_concurrent_runs == 4
        with pytest.raises(SettingsError, match="FSM_DISPATCH_MAX_CONCURRENT_RUNS"):
            load_settings({"FSM_DISPATCH_MAX_CONCURRENT_RUNS": "0"})


class TestInterruptedRun:
    async def _left_solving(self, session: AsyncSession, minutes_ago: int) -> DispatchPlan:
        plan = DispatchPlan(
            day=DAY,
            timezone="Europe/Berlin",
            status=DispatchPlanStatus.SOLVING,
            solve_until_at=utcnow() - timedelta(minutes=minutes_ago),
        )
        session.add(plan)
        await session.commit()
        return plan

    async def test_is_failed_when_read_after_budget_and_grace(self, session: AsyncSession) -> None:
        stale = await self._left_solving(session, minutes_ago=5)
        fresh = await self._left_solving(session, minutes_ago=0)
        service = DispatchService(session, visits(session), SolverSettings(run_grace_s=60))
        assert (await service.get(stale.id)).status is DispatchPlanStatus.FAILED
        assert stale.error == INTERRUPTED
        assert (await service.get(fresh.id)).status is DispatchPlanStatus.SOLVING

    async def test_a_run_that_never_started_is_failed_after_the_longest_wait(
        self, session: AsyncSession
    ) -> None:
        plan = DispatchPlan(
            day=DAY,
            timezone="Europe/Berlin",
            status=DispatchPlanStatus.SOLVING,
            created_at=utcnow() - timedelta(minutes=5),
        )
        session.add(plan)
        await session.commit()
        assert await fail_interrupted(session, grace_s=60, now=utcnow(), max_queue_s=600) == 0
        assert await fail_interrupted(session, grace_s=60, now=utcnow(), max_queue_s=120) == 1
        await session.commit()
        assert (await stored(session, plan)).status is DispatchPlanStatus.FAILED

    async def test_start_up_sweep_fails_only_overdue_runs(self, session: AsyncSession) -> None:
        stale = await self._left_solving(session, minutes_ago=5)
        fresh = await self._left_solving(session, minutes_ago=0)
        assert await fail_interrupted(session, grace_s=60, now=utcnow(), max_queue_s=120) == 1
        await session.commit()
        assert (await stored(session, stale)).status is DispatchPlanStatus.FAILED
        assert (await stored(session, fresh)).status is DispatchPlanStatus.SOLVING


class TestSyncRun:
    async def test_holds_no_transaction_while_solving(self, session: AsyncSession) -> None:
        day = await small_day(session)
        travel = _WatchingTravel(session)
        plan = await DispatchService(session, visits(session), SETTINGS, travel=travel).draft(
            DAY, "Europe/Berlin", actor=principal_of(day.dispatcher)
        )
        await session.commit()  # the request ends: its unit of work commits
        assert plan.status is DispatchPlanStatus.DRAFT
        assert travel.in_transaction == [False]
        # Stored all the same, with the run's figures.
        assert (await stored(session, plan)).progress is not None
