"""Equipment: the model catalogue and the units installed at clients' sites."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.equipment.models import Equipment, EquipmentModel, EquipmentMove, EquipmentStatus
from equipment.equipment.schemas import EquipmentCreate, EquipmentModelCreate, EquipmentUpdate
from fsm.auth.principal import Principal
from fsm.clients.models import Client
from fsm.db import like_pattern
from fsm.errors import Conflict, NotFound, field_error, reference_error
from fsm.pagination import Page, PageRequest
from fsm.sites.models import Site
from fsm.skills.service import SkillService


class EquipmentNotFound(NotFound):
    """No such unit, or not one the caller may see."""


class EquipmentModelExists(Conflict):
    """The catalogue holds this manufacturer and model already."""


class SerialNumberTaken(Conflict):
    """Another unit of the same model has this serial number."""


class EquipmentModelService:
    """The catalogue of makes and models."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, page: PageRequest, *, category: str | None = None) -> Page[EquipmentModel]:
        """Models by manufacturer and model name."""
        conditions = [] if category is None else [EquipmentModel.category == category]
        total = await self.session.scalar(
            select(func.count()).select_from(EquipmentModel).where(*conditions)
        )
        rows = (
            await self.session.scalars(
                select(EquipmentModel)
                .where(*conditions)
                .order_by(EquipmentModel.manufacturer, EquipmentModel.model, EquipmentModel.id)
                .limit(page.limit)
                .offset(page.offset)
            )
        ).all()
        return Page(items=rows, total=total or 0, limit=page.limit, offset=page.offset)

    async def create(self, data: EquipmentModelCreate) -> EquipmentModel:
        """Add a make and model with the skills servicing it takes."""
        manufacturer, model_name = data.manufacturer.strip(), data.model.strip()
        taken = await self.session.scalar(
            select(EquipmentModel.id).where(
                EquipmentModel.manufacturer == manufacturer, EquipmentModel.model == model_name
            )
        )
        if taken is not None:
            raise EquipmentModelExists(
                f"{manufacturer} {model_name} is in the catalogue", details={"id": str(taken)}
            )
        skills = await SkillService(self.session).by_codes(
            data.required_skills, field="required_skills"
        )
        model = EquipmentModel(
            manufacturer=manufacturer,
            model=model_name,
            category=data.category.strip(),
            maintenance_interval_days=data.maintenance_interval_days,
            instructions=data.instructions,
            required_skills=skills,
            default_checklist_template_id=data.default_checklist_template_id,
        )
        self.session.add(model)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            if "uq_equipment_models_manufacturer_model" in str(exc.orig):
                raise EquipmentModelExists(
                    f"{manufacturer} {model_name} is in the catalogue"
                ) from exc
            if "default_checklist_template_id" in str(exc.orig):
                raise reference_error(
                    "default_checklist_template_id", "no such checklist template"
                ) from exc
            raise
        await self.session.refresh(model)
        return model


class EquipmentService:
    """Installed units; a client user sees only their own company's."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, equipment_id: uuid.UUID, *, viewer: Principal) -> Equipment:
        """The unit, if the viewer may see it."""
        unit = await self.session.get(Equipment, equipment_id)
        if unit is None or not viewer.may_see_site(unit.client_id, unit.site_id):
            raise EquipmentNotFound(f"equipment {equipment_id} not found")
        return unit

    async def list(
        self,
        page: PageRequest,
        *,
        viewer: Principal,
        client_id: uuid.UUID | None = None,
        site_id: uuid.UUID | None = None,
        status: EquipmentStatus | None = None,
        text: str | None = None,
    ) -> Page[Equipment]:
        """Units by serial number, filtered; `text` matches serial number or name."""
        conditions: list[Any] = []
        if viewer.is_client:
            conditions += [Equipment.client_id == viewer.client_id]
            conditions += viewer.site_scope(Equipment.site_id)
        elif not viewer.is_staff:
            return Page(items=[], total=0, limit=page.limit, offset=page.offset)
        if client_id is not None:
            conditions.append(Equipment.client_id == client_id)
        if site_id is not None:
            conditions.append(Equipment.site_id == site_id)
        if status is not None:
            conditions.append(Equipment.status == status)
        if text:
            pattern = like_pattern(text)
            conditions.append(
                or_(Equipment.serial_number.ilike(pattern), Equipment.name.ilike(pattern))
            )
        total = await self.session.scalar(
            select(func.count()).select_from(Equipment).where(*conditions)
        )
        rows: Sequence[Equipment] = (
            await self.session.scalars(
                select(Equipment)
                .where(*conditions)
                .order_by(Equipment.serial_number, Equipment.id)
                .limit(page.limit)
                .offset(page.offset)
            )
        ).all()
        return Page(items=rows, total=total or 0, limit=page.limit, offset=page.offset)

    async def create(self, data: EquipmentCreate) -> Equipment:
        """Record a unit installed at one of its client's sites."""
        if await self.session.get(Client, data.client_id) is None:
            raise reference_error("client_id", "no such client")
        await self._site_of_client(data.site_id, data.client_id)
        if await self.session.get(EquipmentModel, data.model_id) is None:
            raise reference_error("model_id", "no such equipment model")
        serial = data.serial_number.strip()
        await self._check_serial_free(data.model_id, serial)
        unit = Equipment(
            client_id=data.client_id,
            site_id=data.site_id,
            model_id=data.model_id,
            serial_number=serial,
            name=data.name.strip() if data.name is not None else None,
            installed_on=data.installed_on,
            warranty_ends_on=data.warranty_ends_on,
            status=EquipmentStatus.ACTIVE,
            attributes=data.attributes,
        )
        self.session.add(unit)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            if "uq_equipment_model_id_serial_number" in str(exc.orig):
                raise _serial_taken(serial) from exc
            raise
        await self.session.refresh(unit)
        return unit

    async def update(
        self, equipment_id: uuid.UUID, data: EquipmentUpdate, *, viewer: Principal
    ) -> Equipment:
        """Change a unit's status or attributes."""
        unit = await self.get(equipment_id, viewer=viewer)
        if not isinstance(data.status, msgspec.UnsetType):
            unit.status = data.status
        if not isinstance(data.attributes, msgspec.UnsetType):
            unit.attributes = dict(data.attributes)
        await self.session.flush()
        await self.session.refresh(unit)
        return unit

    async def move(
        self, equipment_id: uuid.UUID, site_id: uuid.UUID, *, viewer: Principal
    ) -> tuple[Equipment, EquipmentMove]:
        """Move a unit to another site of the same client, keeping a record of the move."""
        unit = await self.get(equipment_id, viewer=viewer)
        await self._site_of_client(site_id, unit.client_id)
        if site_id == unit.site_id:
            raise field_error("site_id", "the equipment is at this site already")
        move = EquipmentMove(
            equipment_id=unit.id,
            from_site_id=unit.site_id,
            to_site_id=site_id,
            actor_id=viewer.user_id,
        )
        unit.site_id = site_id
        self.session.add(move)
        await self.session.flush()
        await self.session.refresh(unit)
        return unit, move

    async def _site_of_client(self, site_id: uuid.UUID, client_id: uuid.UUID) -> Site:
        site = await self.session.get(Site, site_id)
        if site is None:
            raise reference_error("site_id", "no such site")
        if site.client_id != client_id:
            raise field_error("site_id", "the site belongs to another client")
        return site

    async def _check_serial_free(self, model_id: uuid.UUID, serial: str) -> None:
        taken = await self.session.scalar(
            select(Equipment.id).where(
                Equipment.model_id == model_id, Equipment.serial_number == serial
            )
        )
        if taken is not None:
            raise _serial_taken(serial)


def _serial_taken(serial: str) -> SerialNumberTaken:
    return SerialNumberTaken(
        f"a unit of this model with serial number {serial} exists",
        details={"field": "serial_number"},
    )
