"""Solver runs: the search in a worker thread, its progress and its result stored on the plan.

A run is one solve for one plan. In the background the request has already stored the plan
as `solving`; an asyncio task then waits on the solving thread, writes progress every second
and stores the result in a short transaction of its own. Background runs solve on a pool of
their own, as many at once as the settings allow; more are refused rather than queued, so a
run's budget starts when its thread does and `solve_until_at` is set only then. A run that
outlives its process leaves the plan `solving`; `fail_interrupted` turns such plans `failed`
once their budget and a grace period have passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time as clock
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from sqlalchemy import ColumnElement, and_, event, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from dispatch import solver
from dispatch.models import DispatchPlan, DispatchPlanStatus
from dispatch.solver.model import ObjectiveValue, Seconds
from fsm.db import session_scope, utcnow
from fsm.errors import TooManyRequests
from fsm.schemas import INT32_MAX

log = logging.getLogger("dispatch.runs")

# A solve job: everything bound but the live progress it reports into.
SolveJob = Callable[[solver.SearchProgress], solver.RoutePlan]

INTERRUPTED = "interrupted"
_SOLVER_ERRORS = (solver.NoPlanFound, solver.TravelMatrixError)


class TooManyDispatchRuns(TooManyRequests):
    """This process already solves as many plans as it may; try again when one ends."""


class RunProgress(msgspec.Struct, kw_only=True):
    """How far a solver run has got."""

    time_limit_s: Seconds
    elapsed_s: Seconds
    solutions_found: Annotated[int, msgspec.Meta(ge=0, le=INT32_MAX)]
    best_objective: ObjectiveValue | None
    updated_at: datetime


def progress_json(
    time_limit_s: float, elapsed_s: float, live: solver.SearchProgress | None
) -> dict[str, Any]:
    """The progress document stored on a plan."""
    figures = RunProgress(
        time_limit_s=time_limit_s,
        elapsed_s=round(elapsed_s, 2),
        solutions_found=live.solutions_found if live else 0,
        best_objective=live.best_objective if live else None,
        updated_at=utcnow(),
    )
    result: dict[str, Any] = msgspec.to_builtins(figures)
    return result


def finish_plan(plan: DispatchPlan, outcome: solver.RoutePlan | str) -> None:
    """Put a run's result (a plan, or the error text) on a plan row."""
    plan.finished_at = utcnow()
    if isinstance(outcome, str):
        plan.status = DispatchPlanStatus.FAILED
        plan.error = outcome
        plan.plan = {}
    else:
        plan.status = DispatchPlanStatus.DRAFT
        plan.error = None
        plan.plan = msgspec.to_builtins(outcome)


async def run_job(
    job: SolveJob, live: solver.SearchProgress, executor: Executor | None = None
) -> solver.RoutePlan | str:
    """Solve in a worker thread (of `executor`, else the default pool); a solver failure
    comes back as its message."""
    try:
        if executor is None:
            return await asyncio.to_thread(job, live)
        return await asyncio.get_running_loop().run_in_executor(executor, job, live)
    except _SOLVER_ERRORS as exc:
        return str(exc)


def _interrupted(*, grace_s: int, now: datetime, max_queue_s: int) -> list[ColumnElement[bool]]:
    """The rule: `solving` past budget and grace, or queued past the longest wait and grace.

    A run whose thread has not started yet has no `solve_until_at`; it counts as interrupted
    only once it has waited `max_queue_s` (the longest a thread of the pool stays busy) and
    the grace.
    """
    late = now - timedelta(seconds=grace_s)
    return [
        DispatchPlan.status == DispatchPlanStatus.SOLVING,
        or_(
            DispatchPlan.solve_until_at < late,
            and_(
                DispatchPlan.solve_until_at.is_(None),
                DispatchPlan.created_at < late - timedelta(seconds=max_queue_s),
            ),
        ),
    ]


async def fail_interrupted(
    session: AsyncSession,
    *,
    grace_s: int,
    now: datetime,
    max_queue_s: int,
    plan_id: uuid.UUID | None = None,
) -> int:
    """Mark `failed` the runs (or one run) a dead process left `solving`; no commit.

    Done at start-up, by the worker's periodic sweep and before a plan is changed; a read
    only reports such a run failed (`is_interrupted`).
    """
    conditions = _interrupted(grace_s=grace_s, now=now, max_queue_s=max_queue_s)
    if plan_id is not None:
        conditions.append(DispatchPlan.id == plan_id)
    result = await session.execute(
        update(DispatchPlan)
        .where(*conditions)
        .values(status=DispatchPlanStatus.FAILED, error=INTERRUPTED, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def is_interrupted(
    session: AsyncSession, plan_id: uuid.UUID, *, grace_s: int, now: datetime, max_queue_s: int
) -> bool:
    """Whether a dead process left this run `solving` (the rule of `fail_interrupted`)."""
    conditions = _interrupted(grace_s=grace_s, now=now, max_queue_s=max_queue_s)
    stmt = select(DispatchPlan.id).where(DispatchPlan.id == plan_id, *conditions)
    return await session.scalar(stmt) is not None


class DispatchRuns:
    """The background runs of this process, each an asyncio task around a solving thread of
    a pool of `max_concurrent` threads."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        max_concurrent: int = 2,
        progress_every_s: float = 1.0,
        executor: Executor | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.max_concurrent = max_concurrent
        self.progress_every_s = progress_every_s
        # Not the default pool: solving threads must not wait behind (or block) other work.
        self._owns_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(
            max_workers=max_concurrent, thread_name_prefix="dispatch-run"
        )
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        # Runs admitted (reserved or started) and when each is expected to end (monotonic).
        self._ends_at: dict[uuid.UUID, float] = {}

    def reserve(self, plan_id: uuid.UUID, *, time_limit_s: float) -> None:
        """Hold a place for a run about to be stored, or refuse when all places are taken.

        Raises:
            TooManyDispatchRuns: `max_concurrent` runs are in flight (429, with Retry-After).
        """
        now = clock.monotonic()
        if plan_id in self._ends_at:
            return
        if len(self._ends_at) >= self.max_concurrent:
            first_end = min(self._ends_at.values())
            retry_after_s = max(1, math.ceil(first_end - now))
            raise TooManyDispatchRuns(
                f"{len(self._ends_at)} dispatch runs are solving; try again in {retry_after_s} s",
                retry_after_s=retry_after_s,
                details={"max_concurrent_runs": self.max_concurrent},
            )
        self._ends_at[plan_id] = now + time_limit_s

    def release(self, plan_id: uuid.UUID) -> None:
        """Give back a place reserved for a run that will not start."""
        if plan_id not in self._tasks:
            self._ends_at.pop(plan_id, None)

    def start_when_committed(
        self, session: AsyncSession, plan_id: uuid.UUID, job: SolveJob, *, time_limit_s: float
    ) -> None:
        """Start the run once `session` commits the plan (its place is reserved already).

        The run reads and writes the plan in sessions of its own, so it must not begin
        before the row is there; if the transaction rolls back instead, the place is given
        back and nothing runs.
        """
        decided = False

        def committed(_: Session) -> None:
            nonlocal decided
            if not decided:
                decided = True
                self.start(plan_id, job, time_limit_s=time_limit_s)

        def rolled_back(_: Session) -> None:
            nonlocal decided
            if not decided:
                decided = True
                self.release(plan_id)

        event.listen(session.sync_session, "after_commit", committed)
        event.listen(session.sync_session, "after_rollback", rolled_back)

    def start(self, plan_id: uuid.UUID, job: SolveJob, *, time_limit_s: float) -> None:
        """Solve for a stored `solving` plan without waiting for it (reserving if need be)."""
        self.reserve(plan_id, time_limit_s=time_limit_s)
        task = asyncio.create_task(
            self._run(plan_id, job, time_limit_s), name=f"dispatch-run-{plan_id}"
        )
        self._tasks[plan_id] = task
        task.add_done_callback(lambda _: self._forget(plan_id))

    def _forget(self, plan_id: uuid.UUID) -> None:
        self._tasks.pop(plan_id, None)
        self._ends_at.pop(plan_id, None)

    @property
    def running(self) -> frozenset[uuid.UUID]:
        """Plans this process is solving now (or about to)."""
        return frozenset(self._ends_at)

    async def wait(self, plan_id: uuid.UUID | None = None) -> None:
        """Until one run (or every run) has stored its result."""
        tasks = [self._tasks[plan_id]] if plan_id in self._tasks else []
        if plan_id is None:
            tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks)

    async def stop(self) -> None:
        """Cancel every run; their plans are marked failed as interrupted."""
        tasks = dict(self._tasks)
        for task in tasks.values():
            task.cancel()
        for plan_id, task in tasks.items():
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # A task cancelled before its first step never ran its own clean-up.
            await self._store(plan_id, INTERRUPTED, None)
        if self._owns_executor:
            # Threads still solving finish with their budget; their results are dropped.
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, plan_id: uuid.UUID, job: SolveJob, time_limit_s: float) -> None:
        loop = asyncio.get_running_loop()
        began = asyncio.Event()

        def timed_job(live: solver.SearchProgress) -> solver.RoutePlan:
            loop.call_soon_threadsafe(began.set)
            return job(live)

        started: float | None = None
        live = solver.SearchProgress()
        work = asyncio.ensure_future(run_job(timed_job, live, self._executor))
        beginning = asyncio.ensure_future(began.wait())
        outcome: solver.RoutePlan | str
        try:
            while not work.done():
                waiting_for = {work} if started is not None else {work, beginning}
                await asyncio.wait(
                    waiting_for,
                    timeout=self.progress_every_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if started is None and began.is_set():
                    # The budget runs from here, not from when the run was asked for.
                    started = clock.monotonic()
                    self._ends_at[plan_id] = started + time_limit_s
                    await self._save_progress(
                        plan_id,
                        progress_json(time_limit_s, 0.0, live),
                        solve_until_at=utcnow() + timedelta(seconds=time_limit_s),
                    )
                elif started is not None and not work.done():
                    await self._save_progress(
                        plan_id, progress_json(time_limit_s, clock.monotonic() - started, live)
                    )
            outcome = work.result()
        except asyncio.CancelledError:
            # The thread cannot be stopped; it ends with its budget and its result is dropped.
            work.cancel()
            await self._store(plan_id, INTERRUPTED, None)
            raise
        except Exception:
            log.exception("dispatch run for plan %s failed", plan_id)
            outcome = "the solver failed unexpectedly"
        finally:
            beginning.cancel()
        elapsed = clock.monotonic() - started if started is not None else 0.0
        await self._store(plan_id, outcome, progress_json(time_limit_s, elapsed, live))

    async def _save_progress(
        self,
        plan_id: uuid.UUID,
        progress: dict[str, Any],
        *,
        solve_until_at: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {"progress": progress}
        if solve_until_at is not None:
            values["solve_until_at"] = solve_until_at
        async with session_scope(self.session_factory) as session:
            await session.execute(
                update(DispatchPlan)
                .where(
                    DispatchPlan.id == plan_id,
                    DispatchPlan.status == DispatchPlanStatus.SOLVING,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def _store(
        self,
        plan_id: uuid.UUID,
        outcome: solver.RoutePlan | str,
        progress: dict[str, Any] | None,
    ) -> None:
        try:
            async with session_scope(self.session_factory) as session:
                plan = await session.get(DispatchPlan, plan_id, with_for_update=True)
                # Marked interrupted meanwhile (or deleted): the late result is not wanted.
                if plan is None or plan.status is not DispatchPlanStatus.SOLVING:
                    return
                finish_plan(plan, outcome)
                if progress is not None:
                    plan.progress = progress
        except Exception:
            log.exception("storing the dispatch run for plan %s failed", plan_id)
