"""Sessions that take turns on the test connection, and the app on a live database with the
real queue for background solver runs.

In production every session has a connection of its own. In tests all sessions share the
test's one connection (savepoints inside a transaction rolled back at the end), so a run's
store step must not interleave with another task's: with `taking_turns` each session holds a
turn from opening to closing. A task may nest sessions in its own turn.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.main.app import create_app
from fsm.queue import ProcrastinateQueue, create_queue_app
from fsm.settings import Settings
from fsm.storage import ObjectStore
from tests.conftest import Infra, Live, live_database


class _Turns:
    """A lock the holding task may take again."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._depth = 0

    async def acquire(self) -> None:
        me = asyncio.current_task()
        if self._owner is not me:
            await self._lock.acquire()
            self._owner = me
        self._depth += 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()


def taking_turns(
    factory: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """The same sessions, one task at a time on the shared connection."""
    turns = _Turns()

    class TurnSession(AsyncSession):
        async def __aenter__(self) -> TurnSession:
            await turns.acquire()
            return self

        async def __aexit__(self, *exc: object) -> None:
            try:
                await super().__aexit__(*exc)
            finally:
                turns.release()

    return async_sessionmaker(**{**factory.kw, "class_": TurnSession})


@dataclass
class LiveDispatch:
    """The app on the package's live database, deferring runs to the real queue, and the
    settings a worker must run with to solve them (`running_worker(live.settings)`)."""

    http: httpx.AsyncClient
    settings: Settings
    factory: async_sessionmaker[AsyncSession]


@pytest.fixture(scope="package")
async def live(infra: Infra, settings: Settings) -> AsyncIterator[Live]:
    """This package's live database: other packages' committed rows never show here."""
    async with live_database(infra, settings) as db:
        yield db


@pytest.fixture
async def live_dispatch(live: Live, object_store: ObjectStore) -> AsyncIterator[LiveDispatch]:
    """Like `client`, on a database where requests commit, with a 1 s sync limit."""
    quick = dataclasses.replace(
        live.settings, solver=dataclasses.replace(live.settings.solver, sync_limit_s=1)
    )
    queue_app = create_queue_app(quick.database, pool_size=2)
    async with queue_app.open_async():
        app = create_app(
            quick,
            session_factory=live.factory,
            object_store=object_store,
            job_queue=ProcrastinateQueue(queue_app),
        )
        transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 50000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield LiveDispatch(http=http, settings=quick, factory=live.factory)
