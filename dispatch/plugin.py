"""What the dispatch package hands to the application: its routes and its solver runs' life."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from dispatch.controller import DispatchPlanController, start_dispatch_runs, stop_dispatch_runs


@asynccontextmanager
async def solver_runs(app: Litestar) -> AsyncIterator[None]:
    """Fail runs a dead process left behind at start; stop this process's runs at the end.

    Entered after the shell's lifespan (the database is there) and left before it.
    """
    await start_dispatch_runs(app.state)
    try:
        yield
    finally:
        await stop_dispatch_runs(app.state)


class DispatchPlugin(InitPluginProtocol):
    """Day plans: draft, insert, commit, map; background solver runs."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.append(DispatchPlanController)
        app_config.lifespan.append(solver_runs)
        return app_config
