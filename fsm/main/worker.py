"""`fsm worker`: the job queue's tasks, the periodic ones, and the outbox relay.

One mechanism for periodic work: procrastinate's periodic tasks. Every worker offers them;
the queue defers each tick once (a unique row per task and tick), so with any number of
workers each runs once per tick, and the jobs also take their advisory lock as before.

Background dispatch runs are `dispatch.run` jobs (dispatch/runs.py), solved in a thread pool
of `FSM_DISPATCH_MAX_CONCURRENT_RUNS` threads.

Beside procrastinate's worker loop, each worker process runs:
- the outbox relay: it LISTENs on `fsm_outbox` and turns new events into mail deliveries
  (one worker at a time, the others skip), then defers one `fsm.send_mail` job each;
- the stalled-job watch: jobs of a worker that stopped sending heartbeats (killed) go back
  to the queue for another worker.
A relay or defer lost to a crash is made good by `fsm.mail_sweep` every minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import procrastinate
from procrastinate import RetryStrategy
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dispatch.runs import RUN_TASK, run_stored, travel_of
from fsm.db import create_engine, create_session_factory, session_scope, utcnow
from fsm.main import scheduler
from fsm.notifications.service import MailNotSent, pending_deliveries, relay, send_deliveries
from fsm.outbox import CHANNEL
from fsm.photos.jobs import THUMBNAIL_TASK, make_thumbnail
from fsm.queue import ProcrastinateQueue, conninfo, create_queue_app
from fsm.settings import Settings
from fsm.storage import ObjectStore

log = logging.getLogger("fsm.worker")

SEND_MAIL = "fsm.send_mail"
# Mails per send job: several workers share a burst, each over one connection.
SEND_BATCH = 20
SEND_WEBHOOKS = "fsm.webhooks"


@dataclass
class Runtime:
    """What the tasks of this process work with."""

    settings: Settings
    factory: async_sessionmaker[AsyncSession]
    store: ObjectStore
    queue: procrastinate.App
    # Dispatch runs solve here, not in the default pool: they must not wait behind other work.
    solver_pool: ThreadPoolExecutor


_runtime: Runtime | None = None


def _rt() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the worker runtime is not configured")
    return _runtime


def register_tasks(app: procrastinate.App) -> procrastinate.App:
    """Put every task and periodic task of the product on a procrastinate app."""

    @app.task(name=THUMBNAIL_TASK)
    async def thumbnail(photo_id: str) -> None:
        rt = _rt()
        await make_thumbnail(rt.factory, rt.store, rt.settings.photos, uuid.UUID(photo_id))

    # A run the worker died in is retried as the same job, which may claim its plan again.
    @app.task(name=RUN_TASK, pass_context=True, retry=RetryStrategy(max_attempts=3, wait=5))
    async def dispatch_run(context: procrastinate.JobContext, plan_id: str) -> None:
        rt = _rt()
        job_id = context.job.id
        if job_id is None:
            raise RuntimeError("a dispatch run job without an id")
        await run_stored(
            rt.factory,
            uuid.UUID(plan_id),
            job_id=job_id,
            travel=travel_of(rt.settings.solver),
            executor=rt.solver_pool,
        )

    @app.task(
        name=SEND_MAIL,
        retry=RetryStrategy(max_attempts=8, exponential_wait=2, retry_exceptions={MailNotSent}),
    )
    async def send_mail(delivery_ids: list[int]) -> None:
        rt = _rt()
        await send_deliveries(rt.factory, rt.settings.mail, delivery_ids)

    @app.periodic(cron="* * * * *", periodic_id="mail_sweep")
    @app.task(name="fsm.mail_sweep", queueing_lock="fsm.mail_sweep")
    async def mail_sweep(timestamp: int) -> None:
        rt = _rt()
        await relay_and_defer(rt)
        async with session_scope(rt.factory) as session:
            stuck = await pending_deliveries(
                session, created_before=utcnow() - timedelta(minutes=1)
            )
        await _defer_sends(rt, stuck)

    @app.periodic(cron="* * * * *", periodic_id="sla_watch")
    @app.task(name="fsm.sla_watch", queueing_lock="fsm.sla_watch")
    async def sla_watch(timestamp: int) -> None:
        rt = _rt()
        await scheduler.run_sla_watch(rt.settings, rt.factory)

    @app.periodic(cron="* * * * *", periodic_id="photo_thumbnails")
    @app.task(name="fsm.photo_thumbnails", queueing_lock="fsm.photo_thumbnails")
    async def photo_thumbnails(timestamp: int) -> None:
        rt = _rt()
        await scheduler.run_photo_thumbnails(rt.settings, rt.factory)

    @app.periodic(cron="0 2 * * *", periodic_id="maintenance")
    @app.task(name="fsm.maintenance", queueing_lock="fsm.maintenance")
    async def maintenance(timestamp: int) -> None:
        rt = _rt()
        await scheduler.run_maintenance_job(rt.settings, rt.factory)

    @app.periodic(cron="30 3 * * *", periodic_id="photo_cleanup")
    @app.task(name="fsm.photo_cleanup", queueing_lock="fsm.photo_cleanup")
    async def photo_cleanup(timestamp: int) -> None:
        rt = _rt()
        await scheduler.run_photo_cleanup(rt.settings, rt.factory)

    @app.periodic(cron="45 3 * * *", periodic_id="mobile_housekeeping")
    @app.task(name="fsm.mobile_housekeeping", queueing_lock="fsm.mobile_housekeeping")
    async def mobile_housekeeping(timestamp: int) -> None:
        rt = _rt()
        await scheduler.run_mobile_housekeeping(rt.settings, rt.factory)

    @app.periodic(cron="* * * * *", periodic_id="dispatch_sweep")
    @app.task(name="fsm.dispatch_sweep", queueing_lock="fsm.dispatch_sweep")
    async def dispatch_sweep(timestamp: int) -> None:
        rt = _rt()
        await scheduler.run_dispatch_sweep(rt.settings, rt.factory, ProcrastinateQueue(rt.queue))

    # Webhooks keep their own retry schedule (fsm/webhooks/delivery.py): the task only has
    # to run often; a duplicate run finds nothing due (queueing lock, SKIP LOCKED).
    @app.periodic(cron="* * * * *", periodic_id="webhooks")
    @app.task(name=SEND_WEBHOOKS, queueing_lock=SEND_WEBHOOKS)
    async def webhooks(timestamp: int | None = None) -> None:
        rt = _rt()
        await scheduler.run_webhooks_job(rt.settings, rt.factory)

    @app.periodic(cron="*/5 * * * *", periodic_id="report_rollups")
    @app.task(name="fsm.report_rollups", queueing_lock="fsm.report_rollups")
    async def report_rollups(timestamp: int) -> None:
        await scheduler.run_report_rollups(_rt().factory)

    @app.periodic(cron="15 4 * * *", periodic_id="queue_housekeeping")
    @app.task(name="fsm.queue_housekeeping", queueing_lock="fsm.queue_housekeeping")
    async def queue_housekeeping(timestamp: int) -> None:
        # Finished jobs are history for a week, then forgotten.
        await _rt().queue.job_manager.delete_old_jobs(nb_hours=24 * 7, include_failed=True)

    return app


async def relay_and_defer(rt: Runtime) -> int:
    """Relay the outbox to mail until it is drained; defer a send job per new delivery."""
    total = 0
    while True:
        ids = await relay(rt.factory)
        if not ids:
            return total
        await _defer_sends(rt, ids)
        total += len(ids)


async def _defer_sends(rt: Runtime, ids: Sequence[int]) -> None:
    """Send jobs of up to `SEND_BATCH` mails each (one SMTP connection per job)."""
    send = rt.queue.configure_task(name=SEND_MAIL)
    for start in range(0, len(ids), SEND_BATCH):
        await send.defer_async(delivery_ids=list(ids[start : start + SEND_BATCH]))


async def _relay_loop(rt: Runtime, wake: asyncio.Event, *, poll_s: float) -> None:
    """Relay whenever an event commits (NOTIFY), and every `poll_s` in case one was missed."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=poll_s)
        notified = wake.is_set()
        wake.clear()
        try:
            if notified:
                # New events: a webhook run now rather than at the next minute (at most one
                # waits in the queue: its queueing lock).
                with contextlib.suppress(procrastinate.exceptions.AlreadyEnqueued):
                    await rt.queue.configure_task(name=SEND_WEBHOOKS).defer_async()
            await relay_and_defer(rt)
        except Exception:
            log.exception("outbox relay failed; retrying")
            await asyncio.sleep(poll_s)


async def _listen(rt: Runtime, wake: asyncio.Event) -> asyncpg.Connection:
    connection = await asyncpg.connect(conninfo(rt.settings.database))
    await connection.add_listener(CHANNEL, lambda *_: wake.set())
    return connection


async def _stalled_watch(rt: Runtime) -> None:
    """Put back in the queue the jobs of workers that stopped beating (killed, cut off)."""
    every = rt.settings.worker.heartbeat_s
    while True:
        await asyncio.sleep(every)
        try:
            stalled = await rt.queue.job_manager.get_stalled_jobs(
                seconds_since_heartbeat=rt.settings.worker.stalled_after_s
            )
            for job in stalled:
                if job.id is None:
                    continue
                with contextlib.suppress(Exception):  # another worker retried it first
                    await rt.queue.job_manager.retry_job_by_id_async(job.id, retry_at=utcnow())
                    log.warning("job %s (%s) of a dead worker retried", job.id, job.task_name)
        except Exception:
            log.exception("stalled-job watch failed; retrying")


async def run_worker(
    settings: Settings,
    *,
    concurrency: int | None = None,
    name: str | None = None,
    engine: AsyncEngine | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Run jobs until stopped (SIGINT/SIGTERM): the worker loop, relay and stalled watch."""
    global _runtime
    owned = engine is None
    engine = engine or create_engine(settings.database)
    queue = register_tasks(create_queue_app(settings.database, pool_size=4))
    rt = Runtime(
        settings=settings,
        factory=create_session_factory(engine),
        store=ObjectStore(settings.s3),
        queue=queue,
        solver_pool=ThreadPoolExecutor(
            max_workers=settings.solver.max_concurrent_runs, thread_name_prefix="dispatch-run"
        ),
    )
    _runtime = rt
    wake = asyncio.Event()
    async with queue.open_async():
        listener = await _listen(rt, wake)
        side = [
            asyncio.create_task(_relay_loop(rt, wake, poll_s=2.0), name="outbox-relay"),
            asyncio.create_task(_stalled_watch(rt), name="stalled-watch"),
        ]
        wake.set()
        try:
            await queue.run_worker_async(
                concurrency=concurrency or settings.worker.concurrency,
                name=name or "fsm-worker",
                update_heartbeat_interval=settings.worker.heartbeat_s,
                stalled_worker_timeout=settings.worker.stalled_after_s,
                install_signal_handlers=install_signal_handlers,
            )
        finally:
            for task in side:
                task.cancel()
            await asyncio.gather(*side, return_exceptions=True)
            await listener.close()
            # A thread still solving ends with its budget; its run is stored interrupted.
            rt.solver_pool.shutdown(wait=False, cancel_futures=True)
            if owned:
                await engine.dispose()
