"""An app client for background solver runs, whose sessions take turns on the test connection.

In production every session has a connection of its own. In tests all sessions share the
test's one connection (savepoints inside a transaction rolled back at the end), so a run's
store step must not interleave with a request: here each session holds a turn from opening to
closing. A task may nest sessions in its own turn (the auth middleware, then the request).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch.controller import dispatch_runs, stop_dispatch_runs
from dispatch.runs import DispatchRuns
from fsm.main.app import create_app
from fsm.settings import Settings
from fsm.storage import ObjectStore


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
class RunClient:
    """An HTTP client for an app with background runs, and the app's run registry."""

    http: httpx.AsyncClient
    app: Litestar

    @property
    def runs(self) -> DispatchRuns:
        return dispatch_runs(self.app.state)


@pytest.fixture
async def run_client(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    object_store: ObjectStore,
) -> AsyncIterator[RunClient]:
    """Like `client`, with a 1 s sync limit and progress written every 0.2 s."""
    quick = dataclasses.replace(
        settings, solver=dataclasses.replace(settings.solver, sync_limit_s=1)
    )
    app = create_app(
        quick, session_factory=taking_turns(session_factory), object_store=object_store
    )
    app.state.dispatch_runs = DispatchRuns(app.state.session_factory, progress_every_s=0.2)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 50000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield RunClient(http=http, app=app)
    await stop_dispatch_runs(app.state)
