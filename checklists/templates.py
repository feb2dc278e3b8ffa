"""Checklist templates: drafts are edited in place; a published version never changes."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checklists.definition import Definition, check_definition, encode_definition
from checklists.models import ChecklistTemplate, ChecklistTemplateVersion
from checklists.service import ChecklistRuns
from equipment.equipment.models import EquipmentModel
from fsm.auth.principal import Principal
from fsm.db import like_pattern, utcnow
from fsm.errors import InvalidState, NotFound, field_error, reference_error
from fsm.pagination import Page, PageRequest
from fsm.workorders.models import WorkOrderType


class TemplateNotFound(NotFound):
    """No such checklist template (or version)."""


class NothingToPublish(InvalidState):
    """The template has no draft version waiting to be published."""


@dataclass(frozen=True, slots=True)
class TemplateInput:
    """A template's settings and (optionally) new questions, already parsed."""

    name: str | None = None
    description: str | None = None
    is_active: bool | None = None
    categories: Sequence[str] | None = None
    work_types: Sequence[WorkOrderType] | None = None
    equipment_model_ids: Sequence[uuid.UUID] | None = None
    definition: Definition | None = None


class TemplateService:
    """Checklist templates: drafts are edited in place; a published version never changes."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, template_id: uuid.UUID) -> ChecklistTemplate:
        """The template, or a 404."""
        template = await self.session.get(ChecklistTemplate, template_id)
        if template is None:
            raise TemplateNotFound(f"checklist template {template_id} not found")
        return template

    async def versions(self, template_id: uuid.UUID) -> Sequence[ChecklistTemplateVersion]:
        """Every version of a template, oldest first."""
        await self.get(template_id)
        stmt = (
            select(ChecklistTemplateVersion)
            .where(ChecklistTemplateVersion.template_id == template_id)
            .order_by(ChecklistTemplateVersion.version)
        )
        return (await self.session.scalars(stmt)).all()

    async def versions_of(
        self, template_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, builtins.list[ChecklistTemplateVersion]]:
        """The versions of several templates in one query, each oldest first."""
        found: dict[uuid.UUID, builtins.list[ChecklistTemplateVersion]] = {
            template_id: [] for template_id in template_ids
        }
        stmt = (
            select(ChecklistTemplateVersion)
            .where(ChecklistTemplateVersion.template_id.in_(found))
            .order_by(ChecklistTemplateVersion.template_id, ChecklistTemplateVersion.version)
        )
        for version in await self.session.scalars(stmt):
            found[version.template_id].append(version)
        return found

    async def version(self, template_id: uuid.UUID, number: int) -> ChecklistTemplateVersion:
        """One version of a template, however old."""
        found = await self.session.scalar(
            select(ChecklistTemplateVersion).where(
                ChecklistTemplateVersion.template_id == template_id,
                ChecklistTemplateVersion.version == number,
            )
        )
        if found is None:
            raise TemplateNotFound(f"checklist template {template_id} has no version {number}")
        return found

    async def list(
        self,
        page: PageRequest,
        *,
        q: str | None = None,
        is_active: bool | None = None,
        equipment_model_id: uuid.UUID | None = None,
    ) -> Page[ChecklistTemplate]:
        """Templates by name."""
        conditions: builtins.list[Any] = []
        if q:
            conditions.append(ChecklistTemplate.name.ilike(like_pattern(q)))
        if is_active is not None:
            conditions.append(ChecklistTemplate.is_active.is_(is_active))
        if equipment_model_id is not None:
            conditions.append(
                ChecklistTemplate.equipment_models.any(EquipmentModel.id == equipment_model_id)
            )
        total = await self.session.scalar(
            select(func.count()).select_from(ChecklistTemplate).where(*conditions)
        )
        stmt = (
            select(ChecklistTemplate)
            .where(*conditions)
            .order_by(ChecklistTemplate.name, ChecklistTemplate.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        rows = (await self.session.scalars(stmt)).all()
        return Page(items=rows, total=total or 0, limit=page.limit, offset=page.offset)

    async def create(self, data: TemplateInput, *, actor: Principal) -> ChecklistTemplate:
        """A new template with its questions as draft version 1."""
        if data.name is None or data.definition is None:
            raise field_error("definition", "a new template needs a name and a definition")
        check_definition(data.definition)
        template = ChecklistTemplate(
            name=data.name.strip(),
            description=data.description or "",
            is_active=True if data.is_active is None else data.is_active,
            categories=_clean_categories(data.categories or ()),
            work_types=sorted({t.value for t in data.work_types or ()}),
            equipment_models=await self._models(data.equipment_model_ids or ()),
        )
        self.session.add(template)
        await self.session.flush()
        self.session.add(
            ChecklistTemplateVersion(
                template_id=template.id,
                version=1,
                definition=encode_definition(data.definition),
                created_by=actor.user_id,
            )
        )
        await self.session.flush()
        return template

    async def update(
        self, template_id: uuid.UUID, data: TemplateInput, *, actor: Principal
    ) -> ChecklistTemplate:
        """Change settings; new questions edit the draft, or start one after a published version."""
        template = await self.session.get(ChecklistTemplate, template_id, with_for_update=True)
        if template is None:
            raise TemplateNotFound(f"checklist template {template_id} not found")
        if data.name is not None:
            template.name = data.name.strip()
        if data.description is not None:
            template.description = data.description
        if data.is_active is not None:
            template.is_active = data.is_active
        if data.categories is not None:
            template.categories = _clean_categories(data.categories)
        if data.work_types is not None:
            template.work_types = sorted({t.value for t in data.work_types})
        if data.equipment_model_ids is not None:
            template.equipment_models = await self._models(data.equipment_model_ids)
        if data.definition is not None:
            check_definition(data.definition)
            latest = await self._latest(template.id)
            if latest.published_at is None:
                latest.definition = encode_definition(data.definition)
                latest.created_by = actor.user_id
            else:
                self.session.add(
                    ChecklistTemplateVersion(
                        template_id=template.id,
                        version=latest.version + 1,
                        definition=encode_definition(data.definition),
                        created_by=actor.user_id,
                    )
                )
        template.updated_at = utcnow()
        await self.session.flush()
        return template

    async def publish(self, template_id: uuid.UUID) -> ChecklistTemplateVersion:
        """Freeze the draft: from now on visits get this version.

        Open visits that have no checklist yet get one now, if the version applies to them:
        the choice is made here, by a write, not later by whoever reads the visit.
        """
        await self.get(template_id)
        latest = await self._latest(template_id)
        if latest.published_at is not None:
            raise NothingToPublish(
                f"version {latest.version} is published already; edit the template first",
                details={"published_version": latest.version},
            )
        latest.published_at = utcnow()
        await self.session.flush()
        await ChecklistRuns(self.session).attach_to_open_visits()
        return latest

    async def _latest(self, template_id: uuid.UUID) -> ChecklistTemplateVersion:
        stmt = (
            select(ChecklistTemplateVersion)
            .where(ChecklistTemplateVersion.template_id == template_id)
            .order_by(ChecklistTemplateVersion.version.desc())
            .limit(1)
            .with_for_update()
        )
        return (await self.session.scalars(stmt)).one()

    async def _models(self, ids: Sequence[uuid.UUID]) -> builtins.list[EquipmentModel]:
        wanted = set(ids)
        if not wanted:
            return []
        found = (
            await self.session.scalars(select(EquipmentModel).where(EquipmentModel.id.in_(wanted)))
        ).all()
        unknown = wanted - {m.id for m in found}
        if unknown:
            raise reference_error(
                "equipment_model_ids", f"no such equipment models: {sorted(map(str, unknown))}"
            )
        return list(found)


def _clean_categories(categories: Sequence[str]) -> builtins.list[str]:
    return sorted({c.strip() for c in categories if c.strip()})
