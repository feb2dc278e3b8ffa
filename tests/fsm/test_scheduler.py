"""Recurring jobs: one run at a time across processes, and jobs kept in our database."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fsm.jobs import run_locked
from fsm.main.worker import register_tasks
from fsm.queue import create_queue_app
from fsm.settings import Settings


class TestRunLocked:
    async def test_a_second_run_skips_while_the_first_holds_the_lock(
        self, engine: AsyncEngine
    ) -> None:
        factory = async_sessionmaker(engine, expire_on_commit=False)
        first_started = asyncio.Event()
        release_first = asyncio.Event()
        ran: list[str] = []

        async def slow(_: AsyncSession) -> None:
            ran.append("first")
            first_started.set()
            await release_first.wait()

        async def quick(_: AsyncSession) -> None:
            ran.append("second")

        first = asyncio.create_task(run_locked(factory, "test_job", slow))
        await first_started.wait()
        second_ran = await run_locked(factory, "test_job", quick)
        release_first.set()

        assert await first is True
        assert second_ran is False
        assert ran == ["first"]

    async def test_the_lock_is_free_again_after_the_run(self, engine: AsyncEngine) -> None:
        factory = async_sessionmaker(engine, expire_on_commit=False)
        ran: list[int] = []

        async def work(_: AsyncSession) -> None:
            ran.append(1)

        assert await run_locked(factory, "test_job_2", work) is True
        assert await run_locked(factory, "test_job_2", work) is True
        assert ran == [1, 1]

    async def test_other_jobs_are_not_blocked(self, engine: AsyncEngine) -> None:
        factory = async_sessionmaker(engine, expire_on_commit=False)
        holding = asyncio.Event()
        release = asyncio.Event()

        async def hold(_: AsyncSession) -> None:
            holding.set()
            await release.wait()

        async def other(_: AsyncSession) -> None:
            return None

        task = asyncio.create_task(run_locked(factory, "job_a", hold))
        await holding.wait()
        other_ran = await run_locked(factory, "job_b", other)
        release.set()
        await task

        assert other_ran is True


class TestPeriodicJobs:
    def test_the_queue_runs_each_recurring_job_on_its_schedule(self, settings: Settings) -> None:
        app = register_tasks(create_queue_app(settings.database))
        crons = {
            task.task.name: task.cron for task in app.periodic_registry.periodic_tasks.values()
        }
        assert crons["fsm.sla_watch"] == "* * * * *"
        assert crons["fsm.photo_thumbnails"] == "* * * * *"
        assert crons["fsm.mail_sweep"] == "* * * * *"
        assert crons["fsm.maintenance"] == "0 2 * * *"
        assert crons["fsm.photo_cleanup"] == "30 3 * * *"
        assert crons["fsm.mobile_housekeeping"] == "45 3 * * *"
        assert crons["fsm.dispatch_sweep"] == "* * * * *"
        assert crons["fsm.report_rollups"] == "*/5 * * * *"
