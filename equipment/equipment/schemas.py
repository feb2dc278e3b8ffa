"""Equipment wire types: the model catalogue and installed units."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import msgspec

from equipment.equipment.models import Equipment, EquipmentModel, EquipmentMove, EquipmentStatus
from fsm.schemas import Count, Name, OptionalText

SerialNumber = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]


class EquipmentModelCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new make and model in the catalogue."""

    manufacturer: Name
    model: Name
    category: Category
    required_skills: list[str]
    maintenance_interval_days: Annotated[int, msgspec.Meta(ge=1, le=3660)] | None = None
    instructions: OptionalText = ""
    # The checklist for this model's visits when no template names the model itself.
    default_checklist_template_id: uuid.UUID | None = None


class EquipmentModelRead(msgspec.Struct, kw_only=True):
    """A make and model with the skills servicing it takes."""

    id: uuid.UUID
    manufacturer: str
    model: str
    category: str
    maintenance_interval_days: Count | None
    instructions: str
    required_skills: list[str]
    default_checklist_template_id: uuid.UUID | None
    created_at: datetime


class EquipmentCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A unit installed at one of a client's sites."""

    client_id: uuid.UUID
    site_id: uuid.UUID
    model_id: uuid.UUID
    serial_number: SerialNumber
    name: Name | None = None
    installed_on: date | None = None
    warranty_ends_on: date | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)


class EquipmentUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Status or attributes to change; absent fields stay as they are."""

    status: EquipmentStatus | msgspec.UnsetType = msgspec.UNSET
    attributes: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class EquipmentMoveRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where a unit goes: another site of the same client."""

    site_id: uuid.UUID


class EquipmentRead(msgspec.Struct, kw_only=True):
    """An installed unit."""

    id: uuid.UUID
    client_id: uuid.UUID
    site_id: uuid.UUID
    model_id: uuid.UUID
    manufacturer: str
    model: str
    serial_number: str
    name: str | None
    installed_on: date | None
    warranty_ends_on: date | None
    status: EquipmentStatus
    attributes: dict[str, Any]
    created_at: datetime


class EquipmentMoveRead(msgspec.Struct, kw_only=True):
    """One recorded move of a unit between sites."""

    id: uuid.UUID
    equipment_id: uuid.UUID
    from_site_id: uuid.UUID
    to_site_id: uuid.UUID
    moved_at: datetime
    actor_id: uuid.UUID | None


def equipment_model_read(model: EquipmentModel) -> EquipmentModelRead:
    """Wire form of a catalogue entry."""
    return EquipmentModelRead(
        id=model.id,
        manufacturer=model.manufacturer,
        model=model.model,
        category=model.category,
        maintenance_interval_days=model.maintenance_interval_days,
        instructions=model.instructions,
        required_skills=[s.code for s in model.required_skills],
        default_checklist_template_id=model.default_checklist_template_id,
        created_at=model.created_at,
    )


def equipment_read(unit: Equipment) -> EquipmentRead:
    """Wire form of an installed unit."""
    return EquipmentRead(
        id=unit.id,
        client_id=unit.client_id,
        site_id=unit.site_id,
        model_id=unit.model_id,
        manufacturer=unit.model.manufacturer,
        model=unit.model.model,
        serial_number=unit.serial_number,
        name=unit.name,
        installed_on=unit.installed_on,
        warranty_ends_on=unit.warranty_ends_on,
        status=unit.status,
        attributes=unit.attributes,
        created_at=unit.created_at,
    )


def equipment_move_read(move: EquipmentMove) -> EquipmentMoveRead:
    """Wire form of a move."""
    return EquipmentMoveRead(
        id=move.id,
        equipment_id=move.equipment_id,
        from_site_id=move.from_site_id,
        to_site_id=move.to_site_id,
        moved_at=move.moved_at,
        actor_id=move.actor_id,
    )
