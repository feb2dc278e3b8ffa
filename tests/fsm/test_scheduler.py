"""Recurring jobs: one run at a time across processes, and jobs kept in our database."""

from __future__ import annotations

import asyncio

from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fsm.jobs import run_locked
from fsm.main.scheduler import start_scheduler
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


class TestScheduler:
    async def test_stores_the_sla_watch_in_the_database_job_store(
        self, settings: Settings, engine: AsyncEngine
    ) -> None:
        factory = async_sessionmaker(engine, expire_on_commit=False)
        scheduler = start_scheduler(settings, factory)
        try:
            assert scheduler.get_job("sla_watch") is not None
            assert scheduler.get_job("maintenance") is not None
        finally:
            scheduler.shutdown(wait=False)
        sync_engine = create_engine(settings.database.sync_url)
        try:
            with sync_engine.connect() as conn:
                stored = conn.scalars(text("SELECT id FROM apscheduler_jobs")).all()
        finally:
            sync_engine.dispose()
        assert "sla_watch" in stored
