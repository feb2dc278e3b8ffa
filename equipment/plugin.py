"""What the equipment package hands to the application: its routes."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from equipment.contracts.controller import ContractController
from equipment.equipment.controller import EquipmentController, EquipmentModelController
from equipment.onboarding.controller import ImportController
from equipment.service_periods.controller import MaintenanceController


class EquipmentPlugin(InitPluginProtocol):
    """Equipment models and units, contracts with their coverages, maintenance on demand."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(
            [
                EquipmentModelController,
                EquipmentController,
                ContractController,
                MaintenanceController,
                ImportController,
            ]
        )
        return app_config
