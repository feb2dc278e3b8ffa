"""What the mobile APIs hand to the application: the engineer and client apps' routes."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.plugins import InitPluginProtocol

from mobile_api.client.controller import ClientAssetsController, ClientRequestController
from mobile_api.client.users import ClientUserController
from mobile_api.engineer.controller import EngineerAppController
from mobile_api.photos import ClientPhotoController, EngineerPhotoController, StaffPhotoController
from mobile_api.streams import ClientStreamController, EngineerStreamController, listener_lifespan


def _listener_dsn(state: State) -> str:
    """asyncpg's own form of the database URL (LISTEN needs a connection of its own)."""
    return str(state.settings.database.url).replace("postgresql+asyncpg://", "postgresql://", 1)


class MobileApiPlugin(InitPluginProtocol):
    """The engineer app, the client app, and photo evidence for both and the back office."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(
            [
                EngineerAppController,
                EngineerPhotoController,
                ClientAssetsController,
                ClientRequestController,
                ClientUserController,
                ClientPhotoController,
                StaffPhotoController,
                EngineerStreamController,
                ClientStreamController,
            ]
        )
        # Live streams: this process's LISTEN on the outbox (mobile_api.streams).
        app_config.lifespan.append(listener_lifespan(_listener_dsn))
        return app_config
