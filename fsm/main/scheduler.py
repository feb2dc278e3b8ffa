"""Recurring jobs (APScheduler 3.11) and the lock that keeps two processes from overlapping.

Every API process may run a scheduler; jobs live in APScheduler's SQLAlchemy job store in our
database (its table comes from an Alembic migration), and each run takes a PostgreSQL advisory
lock first, so with several processes a job runs once at a time and the others skip. The jobs
are set-based and idempotent, and unique constraints are the last line of defence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from equipment.service_periods.jobs import run_maintenance
from fsm.db import session_scope, utcnow
from fsm.jobs import run_locked
from fsm.main.services import Services
from fsm.settings import Settings
from fsm.workorders.sla_clock import SlaClock

log = logging.getLogger("fsm.main.scheduler")

JOBS_TABLE = "apscheduler_jobs"


@dataclass
class _Runtime:
    settings: Settings
    factory: async_sessionmaker[AsyncSession]


# The job store keeps jobs by reference ("fsm.main.scheduler:sla_watch"), not their arguments,
# so the running process tells the job functions where its database is.
_runtime: _Runtime | None = None


async def sla_watch() -> None:
    """Flag work orders whose SLA deadlines are near or passed (each once)."""
    if _runtime is None:
        raise RuntimeError("the scheduler runtime is not configured")
    warning = _runtime.settings.workorders.sla_warning_minutes

    async def work(session: AsyncSession) -> None:
        at_risk, breached = await SlaClock(session, warning_minutes=warning).watch(utcnow())
        if at_risk or breached:
            log.info("SLA watch: %d at risk, %d breached", at_risk, breached)

    await run_locked(_runtime.factory, "sla_watch", work)


async def maintenance(today: date | None = None) -> None:
    """Open maintenance work for periods coming due; settle done and missed periods."""
    if _runtime is None:
        raise RuntimeError("the scheduler runtime is not configured")
    await run_maintenance_job(_runtime.settings, _runtime.factory, today=today)


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


async def photo_thumbnails() -> None:
    """Thumbnail stored photos the after-confirm task did not finish (a restart, S3 trouble)."""
    if _runtime is None:
        raise RuntimeError("the scheduler runtime is not configured")
    await run_photo_thumbnails(_runtime.settings, _runtime.factory)


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


async def photo_cleanup() -> None:
    """Drop photo reservations never confirmed within a week, with their uploaded bytes."""
    if _runtime is None:
        raise RuntimeError("the scheduler runtime is not configured")
    await run_photo_cleanup(_runtime.settings, _runtime.factory)


async def run_photo_cleanup(settings: Settings, factory: async_sessionmaker[AsyncSession]) -> int:
    """One purge of abandoned photo reservations; how many were dropped."""
    from fsm.photos.jobs import purge_abandoned
    from fsm.storage import ObjectStore

    dropped = await purge_abandoned(factory, ObjectStore(settings.s3))
    if dropped:
        log.info("photo cleanup: %d abandoned reservations dropped", dropped)
    return dropped


async def mobile_housekeeping() -> None:
    """Forget expired idempotency keys and change-feed rows older than the retention."""
    if _runtime is None:
        raise RuntimeError("the scheduler runtime is not configured")
    await run_mobile_housekeeping(_runtime.settings, _runtime.factory)


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


async def webhooks() -> None:
    """Turn new outbox events into webhook deliveries and send those due (see delivery.py)."""
    if _runtime is None:
        raise RuntimeError("the scheduler runtime is not configured")
    await run_webhooks_job(_runtime.settings, _runtime.factory)


async def run_webhooks_job(
    settings: Settings, factory: async_sessionmaker[AsyncSession]
) -> tuple[int, int]:
    """One webhook run: (deliveries made, attempts sent). Safe in several processes at once:
    the outbox consumer and each delivery are taken with SKIP LOCKED."""
    from fsm.webhooks.delivery import run_webhooks

    made, sent = await run_webhooks(factory, settings.webhooks)
    if made or sent:
        log.info("webhooks: %d deliveries made, %d attempts sent", made, sent)
    return made, sent


def start_scheduler(settings: Settings, factory: async_sessionmaker[AsyncSession]) -> Any:
    """Start the process's scheduler with the recurring jobs (replacing stored definitions)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    global _runtime
    _runtime = _Runtime(settings=settings, factory=factory)
    scheduler = AsyncIOScheduler(
        jobstores={
            "default": SQLAlchemyJobStore(url=settings.database.sync_url, tablename=JOBS_TABLE)
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone="UTC",
    )
    scheduler.add_job(
        "fsm.main.scheduler:sla_watch", "interval", minutes=1, id="sla_watch", replace_existing=True
    )
    scheduler.add_job(
        "fsm.main.scheduler:photo_thumbnails",
        "interval",
        minutes=1,
        id="photo_thumbnails",
        replace_existing=True,
    )
    scheduler.add_job(
        "fsm.main.scheduler:photo_cleanup",
        "cron",
        hour=3,
        minute=30,
        id="photo_cleanup",
        replace_existing=True,
    )
    scheduler.add_job(
        "fsm.main.scheduler:mobile_housekeeping",
        "cron",
        hour=3,
        minute=45,
        id="mobile_housekeeping",
        replace_existing=True,
    )
    scheduler.add_job(
        "fsm.main.scheduler:maintenance",
        "cron",
        hour=2,
        minute=0,
        id="maintenance",
        replace_existing=True,
    )
    scheduler.add_job(
        "fsm.main.scheduler:webhooks",
        "interval",
        seconds=15,
        id="webhooks",
        replace_existing=True,
    )
    scheduler.start()
    return scheduler
