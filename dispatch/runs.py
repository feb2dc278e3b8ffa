"""Solver runs: a background run is a job on the queue, solved by `fsm worker`.

A run is one solve for one plan. A sync run solves within the request (in a thread, no
transaction held). A background run is stored with the request: the plan row, `solving`,
carries its `SolveRequest` (the snapshot the request read); once the request has committed,
its answer defers a `dispatch.run` job (`defer_run`), and a worker claims the plan for that
job, solves in a thread of its own, writes progress every second and stores the result in a
short transaction. So a run survives the API process that asked for it, runs on any worker,
and is solved once: only the job that claimed the plan (or its retry, when the worker
running it died) may store a result.

At most `max_concurrent_runs` runs are solving or waiting at once, over all processes: more
are refused (429) rather than queued, so a run's budget starts soon after it was asked for;
`solve_until_at` is set when its thread starts. A run whose worker died and was not retried,
or that no worker took, is `interrupted`: `fail_interrupted` (the worker's minute sweep)
turns it `failed` once its budget (or the longest wait) and a grace period have passed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time as clock
import uuid
from concurrent.futures import Executor
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch import solver
from dispatch.models import DispatchPlan, DispatchPlanStatus
from dispatch.solver.model import ObjectiveValue, Seconds
from fsm.db import session_scope, utcnow
from fsm.errors import TooManyRequests
from fsm.jobs import lock_key
from fsm.queue import JobQueue
from fsm.schemas import INT32_MAX
from fsm.settings import SolverSettings

log = logging.getLogger("dispatch.runs")

RUN_TASK = "dispatch.run"
INTERRUPTED = "interrupted"
_SOLVER_ERRORS = (solver.NoPlanFound, solver.TravelMatrixError)
# Runs are admitted one request at a time, so two requests cannot both take the last place.
_ADMISSION_LOCK = lock_key("dispatch.run.admission")


class TooManyDispatchRuns(TooManyRequests):
    """As many runs as allowed are solving; try again when one ends."""


class SolveRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a solve needs, as the request read it: what a worker is given."""

    problem: solver.RoutingProblem
    # The plan the engineers work from (an insert), else None (a day draft).
    committed: solver.RoutePlan | None = None
    progress: tuple[solver.EngineerProgress, ...] = ()
    # Visits the solver cannot route (no coordinates): named dropped in the result.
    unlocated: tuple[solver.DroppedVisit, ...] = ()
    time_limit_s: int


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


def travel_of(settings: SolverSettings) -> solver.TravelProvider:
    """The travel model of the settings: OSRM when configured, else straight lines."""
    if settings.osrm_url:
        return solver.OsrmTravel(base_url=settings.osrm_url)
    return solver.HaversineTravel(
        road_factor=settings.road_factor, speed_kmh=settings.average_speed_kmh
    )


def solve(
    request: SolveRequest,
    live: solver.SearchProgress,
    *,
    travel: solver.TravelProvider,
    search: solver.SearchSettings | None = None,
) -> solver.RoutePlan:
    """The one solve of a run, sync or background: re-plan, then name the unlocated dropped."""
    routes = solver.replan(
        request.problem,
        request.committed,
        request.progress,
        time_limit_s=request.time_limit_s,
        travel=travel,
        search=search,
        search_progress=live,
    )
    return _with_unlocated(routes, request.unlocated)


def _with_unlocated(
    routes: solver.RoutePlan, unlocated: tuple[solver.DroppedVisit, ...]
) -> solver.RoutePlan:
    """The solver's plan with the visits it never saw (unlocated sites) named as dropped."""
    if not unlocated:
        return routes
    critical = sum(1 for d in unlocated if d.priority is solver.Priority.CRITICAL)
    metrics = msgspec.structs.replace(
        routes.metrics,
        dropped_count=routes.metrics.dropped_count + len(unlocated),
        dropped_critical_count=routes.metrics.dropped_critical_count + critical,
    )
    return msgspec.structs.replace(routes, dropped=(*routes.dropped, *unlocated), metrics=metrics)


def finish_plan(plan: DispatchPlan, outcome: solver.RoutePlan | str) -> None:
    """Put a run's result (a plan, or the error text) on a plan row."""
    plan.finished_at = utcnow()
    plan.run_request = None
    if isinstance(outcome, str):
        plan.status = DispatchPlanStatus.FAILED
        plan.error = outcome
        plan.plan = {}
    else:
        plan.status = DispatchPlanStatus.DRAFT
        plan.error = None
        plan.plan = msgspec.to_builtins(outcome)


async def run_in_thread(
    request: SolveRequest,
    live: solver.SearchProgress,
    *,
    travel: solver.TravelProvider,
    search: solver.SearchSettings | None = None,
    executor: Executor | None = None,
) -> solver.RoutePlan | str:
    """Solve in a thread (of `executor`, else the default pool); a solver failure comes back
    as its message."""

    def job() -> solver.RoutePlan:
        return solve(request, live, travel=travel, search=search)

    try:
        return await asyncio.get_running_loop().run_in_executor(executor, job)
    except _SOLVER_ERRORS as exc:
        return str(exc)


def _interrupted(*, grace_s: int, now: datetime, max_queue_s: int) -> list[ColumnElement[bool]]:
    """The rule: `solving` past budget and grace, or waiting past the longest wait and grace.

    A run whose thread has not started has no `solve_until_at`; it counts as interrupted
    only once it has waited `max_queue_s` (the longest a run keeps a worker busy) and the
    grace: no worker took it.
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
    """Mark `failed` the runs (or one run) left `solving` by a dead worker; no commit.

    Done by the worker's periodic sweep and before a plan is changed; a read only reports
    such a run failed (`is_interrupted`).
    """
    conditions = _interrupted(grace_s=grace_s, now=now, max_queue_s=max_queue_s)
    if plan_id is not None:
        conditions.append(DispatchPlan.id == plan_id)
    result = await session.execute(
        update(DispatchPlan)
        .where(*conditions)
        .values(
            status=DispatchPlanStatus.FAILED, error=INTERRUPTED, finished_at=now, run_request=None
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def is_interrupted(
    session: AsyncSession, plan_id: uuid.UUID, *, grace_s: int, now: datetime, max_queue_s: int
) -> bool:
    """Whether a dead worker left this run `solving` (the rule of `fail_interrupted`)."""
    conditions = _interrupted(grace_s=grace_s, now=now, max_queue_s=max_queue_s)
    stmt = select(DispatchPlan.id).where(DispatchPlan.id == plan_id, *conditions)
    return await session.scalar(stmt) is not None


async def admit(session: AsyncSession, settings: SolverSettings, *, now: datetime) -> None:
    """Take a place for a background run in this transaction, or refuse when all are taken.

    The places are the plans `solving` and not interrupted, in every process; the check
    holds a lock until the transaction ends, so the new plan is counted by the next one.

    Raises:
        TooManyDispatchRuns: `max_concurrent_runs` runs are solving (429, with Retry-After
            until the first of them should end).
    """
    await session.execute(select(func.pg_advisory_xact_lock(_ADMISSION_LOCK)))
    _, late = _interrupted(
        grace_s=settings.run_grace_s, now=now, max_queue_s=settings.max_time_limit_s
    )
    stmt = select(DispatchPlan.solve_until_at, DispatchPlan.progress).where(
        DispatchPlan.status == DispatchPlanStatus.SOLVING,
        # NULL (a run not started, not waiting too long) is not late.
        not_(func.coalesce(late, false())),
    )
    rows = (await session.execute(stmt)).all()
    if len(rows) < settings.max_concurrent_runs:
        return
    ends = [
        until if until is not None else now + timedelta(seconds=_budget_of(progress, settings))
        for until, progress in rows
    ]
    retry_after_s = max(1, math.ceil((min(ends) - now).total_seconds()))
    raise TooManyDispatchRuns(
        f"{len(rows)} dispatch runs are solving; try again in {retry_after_s} s",
        retry_after_s=retry_after_s,
        details={"max_concurrent_runs": settings.max_concurrent_runs},
    )


def _budget_of(progress: dict[str, Any] | None, settings: SolverSettings) -> float:
    budget = (progress or {}).get("time_limit_s")
    return float(budget) if isinstance(budget, int | float) else float(settings.time_limit_s)


async def defer_run(queue: JobQueue, plan_id: uuid.UUID) -> None:
    """Leave a stored run to a worker (after the request committed); if the queue cannot be
    reached, the worker's sweep defers it (`defer_unclaimed`)."""
    try:
        await queue.defer(RUN_TASK, queueing_lock=_queueing_lock(plan_id), plan_id=str(plan_id))
    except Exception:
        log.exception("dispatch run %s not queued; the sweep will queue it", plan_id)


def _queueing_lock(plan_id: uuid.UUID) -> str:
    # One waiting job per plan: a sweep's second defer of a run still queued is refused.
    return f"{RUN_TASK}:{plan_id}"


async def defer_unclaimed(
    factory: async_sessionmaker[AsyncSession], queue: JobQueue, *, older_than: datetime
) -> int:
    """Defer again the runs stored before `older_than` that no job has claimed; how many.

    A run whose defer was lost (the API process died between commit and queue) is solved
    all the same; one still waiting in the queue is not queued twice (its queueing lock).
    """
    async with session_scope(factory) as session:
        stmt = select(DispatchPlan.id).where(
            DispatchPlan.status == DispatchPlanStatus.SOLVING,
            DispatchPlan.run_job_id.is_(None),
            DispatchPlan.run_request.is_not(None),
            DispatchPlan.created_at < older_than,
        )
        plan_ids = list((await session.scalars(stmt)).all())
    for plan_id in plan_ids:
        await defer_run(queue, plan_id)
    return len(plan_ids)


async def claim(
    factory: async_sessionmaker[AsyncSession], plan_id: uuid.UUID, job_id: int
) -> SolveRequest | None:
    """Take a stored run for job `job_id`; None when it is not to be solved (again).

    The first job to claim a run holds it; the same job retried after its worker died may
    solve it again, another job for the same plan may not. A plan no longer `solving`
    (stored, failed as interrupted) is left alone.
    """
    async with session_scope(factory) as session:
        stored = await session.scalar(
            update(DispatchPlan)
            .where(
                DispatchPlan.id == plan_id,
                DispatchPlan.status == DispatchPlanStatus.SOLVING,
                DispatchPlan.run_request.is_not(None),
                or_(DispatchPlan.run_job_id.is_(None), DispatchPlan.run_job_id == job_id),
            )
            # A retried job's run starts over, waiting for its thread like a new one: the
            # budget end of the dead attempt would have the sweep fail it mid-solve. The
            # thread sets the new end when it starts.
            .values(run_job_id=job_id, solve_until_at=None)
            .returning(DispatchPlan.run_request)
            .execution_options(synchronize_session=False)
        )
    if stored is None:
        return None
    return msgspec.convert(stored, SolveRequest)


async def run_stored(
    factory: async_sessionmaker[AsyncSession],
    plan_id: uuid.UUID,
    *,
    job_id: int,
    travel: solver.TravelProvider,
    search: solver.SearchSettings | None = None,
    executor: Executor | None = None,
    progress_every_s: float = 1.0,
) -> bool:
    """The `dispatch.run` job: claim the run, solve it with progress, store the result.

    Returns whether this job solved it. Cancelled (the worker stops), the plan is stored
    failed as interrupted; the solving thread cannot be stopped and its result is dropped.
    """
    request = await claim(factory, plan_id, job_id)
    if request is None:
        log.info("dispatch run %s is not for job %s (solved, failed or claimed)", plan_id, job_id)
        return False
    loop = asyncio.get_running_loop()
    began = asyncio.Event()
    live = solver.SearchProgress()
    limit = request.time_limit_s

    def timed_job() -> solver.RoutePlan | str:
        loop.call_soon_threadsafe(began.set)
        try:
            return solve(request, live, travel=travel, search=search)
        except _SOLVER_ERRORS as exc:
            return str(exc)

    started: float | None = None
    work = loop.run_in_executor(executor, timed_job)
    beginning = asyncio.ensure_future(began.wait())
    outcome: solver.RoutePlan | str
    try:
        while not work.done():
            waiting_for: set[asyncio.Future[Any]] = {work}
            if started is None:
                waiting_for.add(beginning)
            await asyncio.wait(
                waiting_for, timeout=progress_every_s, return_when=asyncio.FIRST_COMPLETED
            )
            if started is None and began.is_set():
                # The budget runs from here, not from when the run was asked for.
                started = clock.monotonic()
                await _save_progress(
                    factory,
                    plan_id,
                    job_id,
                    progress_json(limit, 0.0, live),
                    solve_until_at=utcnow() + timedelta(seconds=limit),
                )
            elif started is not None and not work.done():
                await _save_progress(
                    factory,
                    plan_id,
                    job_id,
                    progress_json(limit, clock.monotonic() - started, live),
                )
        outcome = work.result()
    except asyncio.CancelledError:
        work.cancel()
        await _store(factory, plan_id, job_id, INTERRUPTED, None)
        raise
    except Exception:
        log.exception("dispatch run for plan %s failed", plan_id)
        outcome = "the solver failed unexpectedly"
    finally:
        beginning.cancel()
    elapsed = clock.monotonic() - started if started is not None else 0.0
    await _store(factory, plan_id, job_id, outcome, progress_json(limit, elapsed, live))
    return True


def _held_by(plan_id: uuid.UUID, job_id: int) -> list[ColumnElement[bool]]:
    return [
        DispatchPlan.id == plan_id,
        DispatchPlan.status == DispatchPlanStatus.SOLVING,
        DispatchPlan.run_job_id == job_id,
    ]


async def _save_progress(
    factory: async_sessionmaker[AsyncSession],
    plan_id: uuid.UUID,
    job_id: int,
    progress: dict[str, Any],
    *,
    solve_until_at: datetime | None = None,
) -> None:
    values: dict[str, Any] = {"progress": progress}
    if solve_until_at is not None:
        values["solve_until_at"] = solve_until_at
    async with session_scope(factory) as session:
        await session.execute(
            update(DispatchPlan)
            .where(*_held_by(plan_id, job_id))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


async def _store(
    factory: async_sessionmaker[AsyncSession],
    plan_id: uuid.UUID,
    job_id: int,
    outcome: solver.RoutePlan | str,
    progress: dict[str, Any] | None,
) -> None:
    try:
        async with session_scope(factory) as session:
            stmt = select(DispatchPlan).where(*_held_by(plan_id, job_id)).with_for_update()
            plan = (await session.scalars(stmt)).one_or_none()
            # Marked interrupted meanwhile (or deleted): the late result is not wanted.
            if plan is None:
                return
            finish_plan(plan, outcome)
            if progress is not None:
                plan.progress = progress
    except Exception:
        log.exception("storing the dispatch run for plan %s failed", plan_id)
