"""The job queue: procrastinate on our own PostgreSQL, and the one way code asks for a job.

Code that wants work done later asks a `JobQueue` to `defer` a task by name with JSON
arguments; `fsm worker` processes (fsm/main/worker.py, which defines the tasks) run them.
Any number of workers and API processes share the database; procrastinate hands each job
to one worker (SKIP LOCKED), wakes workers with LISTEN/NOTIFY, retries failed jobs on the
task's strategy, and a job whose worker died (no heartbeat) is retried by the others. Jobs
are therefore written to be safe to run twice.

Defer after the change the job needs has committed (a job runs in its own transaction and
may start at once): a web handler does it in a background task after the answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import procrastinate
from sqlalchemy.engine import make_url

from fsm.settings import DatabaseSettings

__all__ = ["InProcessQueue", "JobQueue", "ProcrastinateQueue", "conninfo", "create_queue_app"]


class JobQueue(Protocol):
    """Somewhere to leave a job for later."""

    async def defer(self, task: str, *, queueing_lock: str | None = None, **arguments: Any) -> None:
        """Ask for task `task` to run with these JSON arguments.

        With a `queueing_lock`, a job of that lock still waiting makes this one needless:
        it is not queued (and that is not an error).
        """


def conninfo(database: DatabaseSettings) -> str:
    """The libpq connection string of our database (procrastinate speaks psycopg)."""
    url = make_url(database.url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def create_queue_app(
    database: DatabaseSettings, *, pool_size: int = 4, min_size: int = 1
) -> procrastinate.App:
    """A procrastinate app on our database (open it with `open_async()` before use).

    `min_size=0` opens without connecting, so an API process starts while the database is
    down and defers once it is back.
    """
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(database),
        kwargs={"application_name": "fieldline-queue"},
        min_size=min_size,
        max_size=pool_size,
    )
    return procrastinate.App(connector=connector)


class ProcrastinateQueue:
    """Jobs deferred to the PostgreSQL queue, run by `fsm worker`."""

    def __init__(self, app: procrastinate.App) -> None:
        self.app = app

    async def defer(self, task: str, *, queueing_lock: str | None = None, **arguments: Any) -> None:
        deferrer = self.app.configure_task(name=task, queueing_lock=queueing_lock)
        # Already enqueued: the job of this lock waiting in the queue will do.
        with contextlib.suppress(procrastinate.exceptions.AlreadyEnqueued):
            await deferrer.defer_async(**arguments)


class InProcessQueue:
    """Runs each job at once in this process (tests of one request's effects)."""

    def __init__(self, tasks: Mapping[str, Callable[..., Awaitable[Any]]]) -> None:
        self.tasks = tasks

    async def defer(self, task: str, *, queueing_lock: str | None = None, **arguments: Any) -> None:
        await self.tasks[task](**arguments)
