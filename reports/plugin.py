"""What the reports package hands to the application: its routes."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from reports.controller import ReportController


class ReportsPlugin(InitPluginProtocol):
    """The back office's monthly reports."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.append(ReportController)
        return app_config
