"""Jobs that must not overlap: one transaction holding a PostgreSQL advisory lock per job.

Every process may run the scheduler; each job run takes its lock first, so with several
processes a job runs once at a time and the others skip. Kernel code: any package's job uses it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.db import session_scope

log = logging.getLogger("fsm.jobs")


def lock_key(name: str) -> int:
    """A stable 63-bit advisory-lock key for a job name."""
    return int.from_bytes(hashlib.sha256(f"fieldline:{name}".encode()).digest()[:8], "big") >> 1


async def run_locked(
    factory: async_sessionmaker[AsyncSession],
    name: str,
    work: Callable[[AsyncSession], Awaitable[Any]],
) -> bool:
    """Run `work` in one transaction holding the job's advisory lock.

    Returns False, doing nothing, when another process holds the lock (it is running the
    same job); the lock ends with the transaction, so a crash cannot leave it behind.
    """
    async with session_scope(factory) as session:
        if not await try_lock(session, name):
            return False
        await work(session)
    return True


async def try_lock(session: AsyncSession, name: str) -> bool:
    """Take the job's advisory lock for the session's transaction, or say it is taken.

    For a job run inside a unit of work of its own (a request that runs a job now).
    """
    is_locked = await session.scalar(select(func.pg_try_advisory_xact_lock(lock_key(name))))
    if not is_locked:
        log.info("job %s is running elsewhere; skipped", name)
    return bool(is_locked)
