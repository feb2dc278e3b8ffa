"""The recurring jobs' bodies, each in a transaction of its own with the app's services.

They run on the job queue's periodic tasks (fsm/main/worker.py) and on demand (`fsm jobs
...`, `POST /maintenance/run`). Each run takes a PostgreSQL advisory lock first or works
row by row with SKIP LOCKED, so two runs never overlap; the jobs are set-based and
idempotent, and unique constraints are the last line of defence.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from equipment.service_periods.jobs import run_maintenance
from fsm.db import session_scope, utcnow
from fsm.jobs import run_locked
from fsm.main.services import Services
from fsm.queue import JobQueue
from fsm.settings import Settings
from fsm.workorders.sla_clock import SlaClock

log = logging.getLogger("fsm.main.scheduler")


async def run_sla_watch(
    settings: Settings, factory: async_sessionmaker[AsyncSession]
) -> tuple[int, int] | None:
    """One SLA watch under its lock: (at risk, breached), or None when it runs elsewhere."""
    warning = settings.workorders.sla_warning_minutes
    counts: list[tuple[int, int]] = []

    async def work(session: AsyncSession) -> None:
        at_risk, breached = await SlaClock(session, warning_minutes=warning).watch(utcnow())
        counts.append((at_risk, breached))
        if at_risk or breached:
            log.info("SLA watch: %d at risk, %d breached", at_risk, breached)

    if not await run_locked(factory, "sla_watch", work):
        return None
    return counts[0]


async def run_maintenance_job(
    settings: Settings, factory: async_sessionmaker[AsyncSession], *, today: date | None = None
) -> tuple[int, int, int] | None:
    """One maintenance run in a transaction of its own, with the app's work-order service.

    None when another process holds the job's lock.
    """
    async with session_scope(factory) as session:
        return await run_maintenance(
            session,
            Services(session, settings).work_orders,
            horizon_days=settings.scheduler.maintenance_horizon_days,
            now=utcnow(),
            today=today,
        )


async def run_photo_thumbnails(
    settings: Settings, factory: async_sessionmaker[AsyncSession]
) -> tuple[int, int, int]:
    """One thumbnail sweep: (verified, rejected, failed).

    No advisory lock: each photo is taken with SKIP LOCKED, so sweeps in several processes
    share the work instead of repeating it.
    """
    from fsm.photos.jobs import sweep_thumbnails
    from fsm.storage import ObjectStore

    result = await sweep_thumbnails(factory, ObjectStore(settings.s3), settings.photos)
    if result.verified or result.rejected or result.failed:
        log.info(
            "photo thumbnails: %d verified, %d rejected, %d failed",
            result.verified,
            result.rejected,
            result.failed,
        )
    return result.verified, result.rejected, result.failed


async def run_photo_cleanup(settings: Settings, factory: async_sessionmaker[AsyncSession]) -> int:
    """One purge of abandoned photo reservations; how many were dropped."""
    from fsm.photos.jobs import purge_abandoned
    from fsm.storage import ObjectStore

    dropped = await purge_abandoned(factory, ObjectStore(settings.s3))
    if dropped:
        log.info("photo cleanup: %d abandoned reservations dropped", dropped)
    return dropped


async def run_mobile_housekeeping(
    settings: Settings, factory: async_sessionmaker[AsyncSession]
) -> tuple[int, int]:
    """One purge of the apps' offline bookkeeping: (keys deleted, feed rows deleted)."""
    from mobile_api.engineer.service import purge_change_feed
    from mobile_api.idempotency import purge_expired_keys

    counts: list[int] = []

    async def work(session: AsyncSession) -> None:
        now = utcnow()
        retention = timedelta(days=settings.mobile.change_feed_retention_days)
        counts.append(await purge_expired_keys(session, now=now))
        counts.append(await purge_change_feed(session, before=now - retention))

    if not await run_locked(factory, "mobile_housekeeping", work):
        return 0, 0
    keys, rows = counts
    log.info("mobile housekeeping: %d idempotency keys, %d change-feed rows purged", keys, rows)
    return keys, rows


async def run_dispatch_sweep(
    settings: Settings, factory: async_sessionmaker[AsyncSession], queue: JobQueue
) -> int:
    """Mark failed the dispatch runs a dead worker left `solving`, and queue again the runs
    whose job was lost before any worker claimed them; how many were failed.

    Reads already report such a run failed without writing; this gives the row its state.
    """
    from dispatch.runs import defer_unclaimed, fail_interrupted

    solver = settings.solver
    now = utcnow()
    async with session_scope(factory) as session:
        failed = await fail_interrupted(
            session, grace_s=solver.run_grace_s, now=now, max_queue_s=solver.max_time_limit_s
        )
    if failed:
        log.info("dispatch sweep: %d interrupted runs marked failed", failed)
    # A run younger than this may still be on its way to the queue from its request.
    queued = await defer_unclaimed(factory, queue, older_than=now - timedelta(seconds=30))
    if queued:
        log.info("dispatch sweep: %d runs no job had claimed queued again", queued)
    return failed


async def run_webhooks_job(
    settings: Settings, factory: async_sessionmaker[AsyncSession]
) -> tuple[int, int]:
    """One webhook run: (deliveries made, attempts sent). Safe in several workers at once:
    the outbox consumer and each delivery are taken with SKIP LOCKED."""
    from fsm.webhooks.delivery import run_webhooks

    made, sent = await run_webhooks(factory, settings.webhooks)
    if made or sent:
        log.info("webhooks: %d deliveries made, %d attempts sent", made, sent)
    return made, sent


async def run_report_rollups(factory: async_sessionmaker[AsyncSession]) -> int:
    """Fold the reports' day rollups (rows appended by the work orders' triggers)."""
    from reports.rollups import fold_rollups

    async with session_scope(factory) as session:
        removed = await fold_rollups(session)
    if removed:
        log.info("report rollups: %d rows folded away", removed)
    return removed
