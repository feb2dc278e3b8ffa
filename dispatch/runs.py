"""Solver runs: the search in a worker thread, its progress and its result stored on the plan.

A run is one solve for one plan. In the background the request has already stored the plan
as `solving`; an asyncio task then waits on the solving thread, writes progress every second
and stores the result in a short transaction of its own. A run that outlives its process
leaves the plan `solving`; `fail_interrupted` turns such plans `failed` once their budget and
a grace period have passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time as clock
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch import solver
from dispatch.models import DispatchPlan, DispatchPlanStatus
from fsm.db import session_scope, utcnow

log = logging.getLogger("dispatch.runs")

# A solve job: everything bound but the live progress it reports into.
SolveJob = Callable[[solver.SearchProgress], solver.RoutePlan]

INTERRUPTED = "interrupted"
_SOLVER_ERRORS = (solver.NoPlanFound, solver.TravelMatrixError)


class RunProgress(msgspec.Struct, kw_only=True):
    """How far a solver run has got."""

    time_limit_s: float
    elapsed_s: float
    solutions_found: int
    best_objective: int | None
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


async def run_job(job: SolveJob, live: solver.SearchProgress) -> solver.RoutePlan | str:
    """Solve in a worker thread; a solver failure comes back as its message."""
    try:
        return await asyncio.to_thread(job, live)
    except _SOLVER_ERRORS as exc:
        return str(exc)


async def fail_interrupted(
    session: AsyncSession, *, grace_s: int, now: datetime, plan_id: uuid.UUID | None = None
) -> int:
    """Mark `failed` the runs (or one run) still `solving` past budget and grace; no commit."""
    conditions = [
        DispatchPlan.status == DispatchPlanStatus.SOLVING,
        DispatchPlan.solve_until_at < now - timedelta(seconds=grace_s),
    ]
    if plan_id is not None:
        conditions.append(DispatchPlan.id == plan_id)
    result = await session.execute(
        update(DispatchPlan)
        .where(*conditions)
        .values(status=DispatchPlanStatus.FAILED, error=INTERRUPTED, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


class DispatchRuns:
    """The background runs of this process, each an asyncio task around a solving thread."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        progress_every_s: float = 1.0,
    ) -> None:
        self.session_factory = session_factory
        self.progress_every_s = progress_every_s
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}

    def start(self, plan_id: uuid.UUID, job: SolveJob, *, time_limit_s: float) -> None:
        """Solve for a stored `solving` plan without waiting for it."""
        task = asyncio.create_task(
            self._run(plan_id, job, time_limit_s), name=f"dispatch-run-{plan_id}"
        )
        self._tasks[plan_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(plan_id, None))

    @property
    def running(self) -> frozenset[uuid.UUID]:
        """Plans this process is solving now."""
        return frozenset(self._tasks)

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

    async def _run(self, plan_id: uuid.UUID, job: SolveJob, time_limit_s: float) -> None:
        started = clock.monotonic()
        live = solver.SearchProgress()
        work = asyncio.ensure_future(run_job(job, live))
        outcome: solver.RoutePlan | str
        try:
            while not work.done():
                await asyncio.wait({work}, timeout=self.progress_every_s)
                if not work.done():
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
        await self._store(
            plan_id, outcome, progress_json(time_limit_s, clock.monotonic() - started, live)
        )

    async def _save_progress(self, plan_id: uuid.UUID, progress: dict[str, Any]) -> None:
        async with session_scope(self.session_factory) as session:
            await session.execute(
                update(DispatchPlan)
                .where(
                    DispatchPlan.id == plan_id,
                    DispatchPlan.status == DispatchPlanStatus.SOLVING,
                )
                .values(progress=progress)
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
