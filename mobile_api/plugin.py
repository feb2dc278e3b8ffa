"""What the mobile APIs hand to the application: the engineer and client apps' routes."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from mobile_api.client.controller import ClientAssetsController, ClientRequestController
from mobile_api.engineer.controller import EngineerAppController
from mobile_api.photos import ClientPhotoController, EngineerPhotoController, StaffPhotoController


class MobileApiPlugin(InitPluginProtocol):
    """The engineer app, the client app, and photo evidence for both and the back office."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(
            [
                EngineerAppController,
                EngineerPhotoController,
                ClientAssetsController,
                ClientRequestController,
                ClientPhotoController,
                StaffPhotoController,
            ]
        )
        return app_config
