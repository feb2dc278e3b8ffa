"""What the checklists package hands to the application: its routes."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from checklists.controller import (
    ChecklistFindingController,
    ChecklistTemplateController,
    EquipmentChecklistController,
    VisitChecklistController,
)


class ChecklistsPlugin(InitPluginProtocol):
    """Templates, a visit's checklist, the findings queue, a unit's checklist history."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(
            [
                ChecklistTemplateController,
                VisitChecklistController,
                ChecklistFindingController,
                EquipmentChecklistController,
            ]
        )
        return app_config
