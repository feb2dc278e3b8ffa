"""Solver runs: in the background with progress, failed or interrupted, and no transaction
held open while the solver works."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch.models import DispatchPlan, DispatchPlanStatus
from dispatch.runs import INTERRUPTED, DispatchRuns, TooManyDispatchRuns, fail_interrupted
from dispatch.service import DispatchService, route_plan_of
from dispatch.solver import (
    HaversineTravel,
    Location,
    TravelMatrix,
    TravelMatrixError,
    TravelProvider,
)
from fsm.db import utcnow
from fsm.settings import SettingsError, SolverSettings, load_settings
from tests.dispatch.test_service import DAY, small_day
from tests.fsm.wo_helpers import principal_of, visits

SETTINGS = SolverSettings(time_limit_s=1, max_time_limit_s=2, sync_limit_s=1)


def background_service(
    session: AsyncSession, runs: DispatchRuns, travel: TravelProvider | None = None
) -> DispatchService:
    return DispatchService(session, visits(session), SETTINGS, runs=runs, travel=travel)


def runs_of(factory: async_sessionmaker[AsyncSession]) -> DispatchRuns:
    return DispatchRuns(factory, progress_every_s=0.2)


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


async def stored(session: AsyncSession, plan: DispatchPlan) -> DispatchPlan:
    await session.refresh(plan)
    return plan


class TestBackgroundRun:
    async def test_goes_from_solving_to_draft_with_progress(
        self, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        day = await small_day(session)
        runs = runs_of(session_factory)
        plan = await background_service(session, runs).draft(
            DAY, "Europe/Berlin", actor=principal_of(day.dispatcher), background=True
        )
        await session.commit()  # the request ends: its unit of work commits
        assert plan.status is DispatchPlanStatus.SOLVING
        assert plan.progress is not None
        assert plan.progress["solutions_found"] == 0
        assert plan.id in runs.running
        await runs.wait(plan.id)
        plan = await stored(session, plan)
        assert plan.status is DispatchPlanStatus.DRAFT
        assert plan.finished_at is not None
        assert plan.progress is not None
        assert plan.progress["solutions_found"] >= 1
        assert plan.progress["best_objective"] is not None
        routes = route_plan_of(plan)
        assert routes is not None
        assert routes.metrics.served_count == 4

    async def test_runs_in_the_background_when_the_budget_exceeds_the_sync_limit(
        self, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        day = await small_day(session)
        runs = runs_of(session_factory)
        service = background_service(session, runs)
        actor = principal_of(day.dispatcher)
        quick = await service.draft(DAY, "Europe/Berlin", actor=actor, time_limit_s=1)
        await session.commit()  # the request ends: its unit of work commits
        assert quick.status is DispatchPlanStatus.DRAFT
        slow = await service.draft(DAY, "Europe/Berlin", actor=actor, time_limit_s=2)
        await session.commit()  # the request ends: its unit of work commits
        assert slow.status is DispatchPlanStatus.SOLVING
        await runs.wait()
        assert (await stored(session, slow)).status is DispatchPlanStatus.DRAFT

    async def test_a_solver_failure_fails_the_plan_with_the_reason(
        self, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        day = await small_day(session)
        runs = runs_of(session_factory)
        plan = await background_service(session, runs, travel=_Unreachable()).draft(
            DAY, "Europe/Berlin", actor=principal_of(day.dispatcher), background=True
        )
        await session.commit()  # the request ends: its unit of work commits
        await runs.wait(plan.id)
        plan = await stored(session, plan)
        assert plan.status is DispatchPlanStatus.FAILED
        assert plan.error is not None
        assert "unreachable" in plan.error
        assert route_plan_of(plan) is None

    async def test_stopping_the_process_fails_its_runs_as_interrupted(
        self, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        day = await small_day(session)
        runs = runs_of(session_factory)
        plan = await background_service(session, runs).draft(
            DAY, "Europe/Berlin", actor=principal_of(day.dispatcher), background=True
        )
        await session.commit()  # the request ends: its unit of work commits
        await runs.stop()
        plan = await stored(session, plan)
        assert plan.status is DispatchPlanStatus.FAILED
        assert plan.error == INTERRUPTED
        assert runs.running == frozenset()


class TestUnitOfWork:
    async def test_a_run_starts_only_when_the_request_commits_and_never_after_a_rollback(
        self, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        day = await small_day(session)
        await session.commit()
        runs = DispatchRuns(session_factory, max_concurrent=1, progress_every_s=0.2)
        service = background_service(session, runs)
        actor = principal_of(day.dispatcher)

        dropped = await service.draft(DAY, "Europe/Berlin", actor=actor, background=True)
        assert runs.running == {dropped.id}  # its place is held until the request ends
        await session.rollback()  # the request failed after all

        assert runs.running == frozenset()  # the place is given back, no run started
        assert await session.get(DispatchPlan, dropped.id) is None
        kept = await service.draft(DAY, "Europe/Berlin", actor=actor, background=True)
        await session.commit()  # its place was given back: the one slot is free
        assert runs.running == {kept.id}
        await runs.wait(kept.id)
        assert (await stored(session, kept)).status is DispatchPlanStatus.DRAFT


class TestRunLimit:
    async def test_refuses_a_run_beyond_the_limit_and_stores_nothing(
        self, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        day = await small_day(session)
        runs = DispatchRuns(session_factory, max_concurrent=1, progress_every_s=0.2)
        service = background_service(session, runs)
        actor = principal_of(day.dispatcher)
        first = await service.draft(DAY, "Europe/Berlin", actor=actor, background=True)
        await session.commit()  # the request ends: its unit of work commits
        plans_before = await session.scalar(select(func.count()).select_from(DispatchPlan))
        with pytest.raises(TooManyDispatchRuns) as caught:
            await service.draft(DAY, "Europe/Berlin", actor=actor, background=True)
        assert caught.value.retry_after_s >= 1
        assert caught.value.details == {"max_concurrent_runs": 1}
        assert runs.running == {first.id}
        assert (
            await session.scalar(select(func.count()).select_from(DispatchPlan))
        ) == plans_before
        await runs.wait(first.id)
        again = await service.draft(DAY, "Europe/Berlin", actor=actor, background=True)
        await session.commit()  # the request ends: its unit of work commits
        await runs.wait(again.id)
        assert (await stored(session, again)).status is DispatchPlanStatus.DRAFT

    async def test_a_run_waiting_for_a_thread_is_not_failed_and_gets_its_budget_from_its_start(
        self, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        day = await small_day(session)
        # The one solving thread is still busy with a run its process gave up on.
        pool = ThreadPoolExecutor(max_workers=1)
        gate = threading.Event()
        pool.submit(gate.wait)
        try:
            runs = DispatchRuns(session_factory, progress_every_s=0.2, executor=pool)
            plan = await background_service(session, runs).draft(
                DAY, "Europe/Berlin", actor=principal_of(day.dispatcher), background=True
            )
            await session.commit()  # the request ends: its unit of work commits
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
            await runs.wait(plan.id)
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
