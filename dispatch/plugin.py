"""What the dispatch package hands to the application: its routes (runs are solved by workers)."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from dispatch.controller import DispatchPlanController


class DispatchPlugin(InitPluginProtocol):
    """Day plans: draft, insert, commit, map; background runs go to the job queue."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.append(DispatchPlanController)
        return app_config
