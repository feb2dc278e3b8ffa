"""The equipment package's tables, imported together (wiring only)."""

from equipment.contracts.models import Contract, Coverage
from equipment.equipment.models import Equipment, EquipmentModel, EquipmentMove
from equipment.onboarding.models import ImportRun
from equipment.service_periods.models import ServicePeriod

__all__ = [
    "Contract",
    "Coverage",
    "Equipment",
    "EquipmentModel",
    "EquipmentMove",
    "ImportRun",
    "ServicePeriod",
]
