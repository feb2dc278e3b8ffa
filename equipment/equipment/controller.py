"""Endpoints for the equipment catalogue and installed units."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.equipment.card import EquipmentCard, load_card
from equipment.equipment.models import EquipmentStatus
from equipment.equipment.schemas import (
    EquipmentCreate,
    EquipmentModelCreate,
    EquipmentModelRead,
    EquipmentMoveRequest,
    EquipmentRead,
    EquipmentUpdate,
    equipment_model_read,
    equipment_read,
)
from equipment.equipment.service import EquipmentModelService, EquipmentService
from fsm.auth.guards import requires_admin, requires_roles, requires_staff
from fsm.auth.principal import Principal
from fsm.db import utcnow
from fsm.pagination import PageOut, PageRequest, page_out
from fsm.schemas import LimitQuery, OffsetQuery
from fsm.users.models import Role

# Engineers see equipment through their visits, not by browsing every client's.
requires_staff_or_client = requires_roles(Role.ADMIN, Role.DISPATCHER, Role.CLIENT)


async def provide_equipment_model_service(
    db_session: NamedDependency[AsyncSession],
) -> EquipmentModelService:
    return EquipmentModelService(db_session)


async def provide_equipment_service(
    db_session: NamedDependency[AsyncSession],
) -> EquipmentService:
    return EquipmentService(db_session)


class EquipmentModelController(Controller):
    """The catalogue: staff read it, admins add to it."""

    path = "/api/v1/equipment-models"
    tags = ["equipment"]
    guards = [requires_staff]
    dependencies = {"equipment_models": Provide(provide_equipment_model_service)}

    @get("/", operation_id="ListEquipmentModels")
    async def list_equipment_models(
        self,
        equipment_models: NamedDependency[EquipmentModelService],
        category: Annotated[str | None, QueryParameter(description="Of this category")] = None,
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[EquipmentModelRead]:
        """List makes and models."""
        page = await equipment_models.list(
            PageRequest(limit=limit, offset=offset), category=category
        )
        return page_out(page, equipment_model_read)

    @post("/", operation_id="CreateEquipmentModel", guards=[requires_admin])
    async def create_equipment_model(
        self,
        equipment_models: NamedDependency[EquipmentModelService],
        data: JSONBody[EquipmentModelCreate],
    ) -> EquipmentModelRead:
        """Add a make and model to the catalogue."""
        return equipment_model_read(await equipment_models.create(data))


class EquipmentController(Controller):
    """Installed units: staff manage them; a client user reads only its own company's."""

    path = "/api/v1/equipment"
    tags = ["equipment"]
    guards = [requires_staff_or_client]
    dependencies = {"equipment": Provide(provide_equipment_service)}

    @get("/", operation_id="ListEquipment")
    async def list_equipment(
        self,
        equipment: NamedDependency[EquipmentService],
        principal: NamedDependency[Principal],
        client_id: Annotated[uuid.UUID | None, QueryParameter(description="Of this client")] = None,
        site_id: Annotated[uuid.UUID | None, QueryParameter(description="At this site")] = None,
        status: Annotated[EquipmentStatus | None, QueryParameter(description="In status")] = None,
        q: Annotated[
            str | None, QueryParameter(description="Serial number or name contains (any case)")
        ] = None,
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[EquipmentRead]:
        """List units the caller may see."""
        page = await equipment.list(
            PageRequest(limit=limit, offset=offset),
            viewer=principal,
            client_id=client_id,
            site_id=site_id,
            status=status,
            text=q,
        )
        return page_out(page, equipment_read)

    @post("/", operation_id="CreateEquipment", guards=[requires_staff])
    async def create_equipment(
        self, equipment: NamedDependency[EquipmentService], data: JSONBody[EquipmentCreate]
    ) -> EquipmentRead:
        """Record a unit installed at a client's site."""
        return equipment_read(await equipment.create(data))

    @get("/{equipment_id:uuid}", operation_id="GetEquipment")
    async def get_equipment(
        self,
        equipment: NamedDependency[EquipmentService],
        principal: NamedDependency[Principal],
        equipment_id: FromPath[uuid.UUID],
    ) -> EquipmentRead:
        """One unit."""
        return equipment_read(await equipment.get(equipment_id, viewer=principal))

    @get("/{equipment_id:uuid}/card", operation_id="GetEquipmentCard")
    async def get_equipment_card(
        self,
        equipment: NamedDependency[EquipmentService],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        equipment_id: FromPath[uuid.UUID],
    ) -> EquipmentCard:
        """The unit with model, site, coverage, service periods, last visits and open work."""
        unit = await equipment.get(equipment_id, viewer=principal)
        return await load_card(db_session, unit, viewer=principal, today=utcnow().date())

    @patch("/{equipment_id:uuid}", operation_id="UpdateEquipment", guards=[requires_staff])
    async def update_equipment(
        self,
        equipment: NamedDependency[EquipmentService],
        principal: NamedDependency[Principal],
        equipment_id: FromPath[uuid.UUID],
        data: JSONBody[EquipmentUpdate],
    ) -> EquipmentRead:
        """Change a unit's status or attributes."""
        return equipment_read(await equipment.update(equipment_id, data, viewer=principal))

    @post(
        "/{equipment_id:uuid}/move",
        operation_id="MoveEquipment",
        guards=[requires_staff],
        status_code=200,
    )
    async def move_equipment(
        self,
        equipment: NamedDependency[EquipmentService],
        principal: NamedDependency[Principal],
        equipment_id: FromPath[uuid.UUID],
        data: JSONBody[EquipmentMoveRequest],
    ) -> EquipmentRead:
        """Move a unit to another site of the same client."""
        unit, _ = await equipment.move(equipment_id, data.site_id, viewer=principal)
        return equipment_read(unit)
