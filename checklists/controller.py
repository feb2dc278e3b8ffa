"""Checklist endpoints: templates for admins, a visit's run, findings, a unit's history."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, patch, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from checklists.schemas import (
    AnswersIn,
    Audience,
    FindingQueueItem,
    HistoryEntry,
    RunRead,
    TemplateCreate,
    TemplateRead,
    TemplateUpdate,
    VersionRead,
    finding_read,
    outcome_of,
    run_read,
    template_read,
    version_read,
)
from checklists.service import ChecklistNotFound, ChecklistService
from checklists.templates import TemplateService
from equipment.equipment.service import EquipmentService
from fsm.auth.guards import requires_admin, requires_roles, requires_staff
from fsm.auth.principal import Principal
from fsm.pagination import PageOut, PageRequest
from fsm.schemas import INT32_MAX, LimitQuery, OffsetQuery
from fsm.users.models import Role
from fsm.visits.service import VisitService


async def provide_template_service(db_session: NamedDependency[AsyncSession]) -> TemplateService:
    return TemplateService(db_session)


class ChecklistTemplateController(Controller):
    """Templates: staff read them, admins write and publish them."""

    path = "/api/v1/checklist-templates"
    tags = ["checklists"]
    guards = [requires_staff]
    dependencies = {"templates": Provide(provide_template_service)}

    @get("/", operation_id="ListChecklistTemplates")
    async def list_checklist_templates(
        self,
        templates: NamedDependency[TemplateService],
        q: Annotated[str | None, QueryParameter(description="Name contains")] = None,
        is_active: Annotated[bool | None, QueryParameter()] = None,
        equipment_model_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Naming this equipment model")
        ] = None,
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[TemplateRead]:
        """List templates by name."""
        page = await templates.list(
            PageRequest(limit=limit, offset=offset),
            q=q,
            is_active=is_active,
            equipment_model_id=equipment_model_id,
        )
        versions = await templates.versions_of([t.id for t in page.items])
        items = [template_read(t, versions[t.id]) for t in page.items]
        return PageOut(items=items, total=page.total, limit=page.limit, offset=page.offset)

    @post("/", operation_id="CreateChecklistTemplate", guards=[requires_admin])
    async def create_checklist_template(
        self,
        templates: NamedDependency[TemplateService],
        principal: NamedDependency[Principal],
        data: JSONBody[TemplateCreate],
    ) -> TemplateRead:
        """Create a template; its questions are draft version 1 until published."""
        template = await templates.create(data.to_input(), actor=principal)
        return template_read(template, list(await templates.versions(template.id)))

    @get("/{template_id:uuid}", operation_id="GetChecklistTemplate")
    async def get_checklist_template(
        self, templates: NamedDependency[TemplateService], template_id: FromPath[uuid.UUID]
    ) -> TemplateRead:
        """One template."""
        template = await templates.get(template_id)
        return template_read(template, list(await templates.versions(template_id)))

    @patch("/{template_id:uuid}", operation_id="UpdateChecklistTemplate", guards=[requires_admin])
    async def update_checklist_template(
        self,
        templates: NamedDependency[TemplateService],
        principal: NamedDependency[Principal],
        template_id: FromPath[uuid.UUID],
        data: JSONBody[TemplateUpdate],
    ) -> TemplateRead:
        """Change a template; new questions after a published version start a new draft."""
        template = await templates.update(template_id, data.to_input(), actor=principal)
        return template_read(template, list(await templates.versions(template_id)))

    @post(
        "/{template_id:uuid}/publish",
        operation_id="PublishChecklistTemplate",
        guards=[requires_admin],
        status_code=200,
    )
    async def publish_checklist_template(
        self, templates: NamedDependency[TemplateService], template_id: FromPath[uuid.UUID]
    ) -> VersionRead:
        """Publish the draft: visits planned from now on get this version."""
        return version_read(await templates.publish(template_id))

    @get("/{template_id:uuid}/versions", operation_id="ListChecklistTemplateVersions")
    async def list_checklist_template_versions(
        self, templates: NamedDependency[TemplateService], template_id: FromPath[uuid.UUID]
    ) -> list[VersionRead]:
        """Every version, oldest first."""
        return [version_read(v) for v in await templates.versions(template_id)]

    @get("/{template_id:uuid}/versions/{number:int}", operation_id="GetChecklistTemplateVersion")
    async def get_checklist_template_version(
        self,
        templates: NamedDependency[TemplateService],
        template_id: FromPath[uuid.UUID],
        number: Annotated[int, Parameter(ge=1, le=INT32_MAX)],
    ) -> VersionRead:
        """One version, however old."""
        return version_read(await templates.version(template_id, number))


class VisitChecklistController(Controller):
    """A visit's checklist: staff and the visit's own engineer read and answer it."""

    path = "/api/v1/visits/{visit_id:uuid}/checklist"
    tags = ["checklists"]
    guards = [requires_roles(Role.ADMIN, Role.DISPATCHER, Role.ENGINEER)]

    @get("/", operation_id="GetVisitChecklist")
    async def get_visit_checklist(
        self,
        checklists: NamedDependency[ChecklistService],
        visits: NamedDependency[VisitService],
        principal: NamedDependency[Principal],
        visit_id: FromPath[uuid.UUID],
    ) -> RunRead:
        """The visit's checklist with its answers, findings and what is still missing."""
        await visits.get(visit_id, viewer=principal)
        run = await checklists.run_for_visit(visit_id)
        if run is None:
            raise ChecklistNotFound("no checklist applies to this visit")
        return run_read(run, audience="engineer" if principal.is_engineer else "staff")

    @put("/answers", operation_id="SaveVisitChecklistAnswers", status_code=200)
    async def save_visit_checklist_answers(
        self,
        checklists: NamedDependency[ChecklistService],
        visits: NamedDependency[VisitService],
        principal: NamedDependency[Principal],
        visit_id: FromPath[uuid.UUID],
        data: JSONBody[AnswersIn],
    ) -> RunRead:
        """Save answers (all or nothing); saving an item again replaces its answer."""
        await visits.get(visit_id, viewer=principal)
        run = await checklists.save_answers(
            visit_id, [a.to_input() for a in data.answers], actor=principal
        )
        return run_read(run, audience="engineer" if principal.is_engineer else "staff")


class ChecklistFindingController(Controller):
    """Findings raised by checklists: the dispatcher's queue."""

    path = "/api/v1/checklist-findings"
    tags = ["checklists"]
    guards = [requires_staff]

    @get("/", operation_id="ListChecklistFindings")
    async def list_checklist_findings(
        self,
        checklists: NamedDependency[ChecklistService],
        is_open: Annotated[
            bool | None, QueryParameter(description="Open (true), cleared (false) or all")
        ] = True,
        work_order_id: Annotated[uuid.UUID | None, QueryParameter()] = None,
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[FindingQueueItem]:
        """Findings, newest first, with their work order's number."""
        page = await checklists.findings(
            PageRequest(limit=limit, offset=offset), is_open=is_open, work_order_id=work_order_id
        )
        items = [
            FindingQueueItem(
                work_order_id=f.work_order_id, work_order_number=number, finding=finding_read(f)
            )
            for f, number in page.items
        ]
        return PageOut(items=items, total=page.total, limit=page.limit, offset=page.offset)


class EquipmentChecklistController(Controller):
    """A unit's checklist history: staff see everything, its client the items meant for it."""

    path = "/api/v1/equipment/{equipment_id:uuid}/checklist-runs"
    tags = ["checklists"]
    guards = [requires_roles(Role.ADMIN, Role.DISPATCHER, Role.CLIENT)]

    @get("/", operation_id="ListEquipmentChecklistRuns")
    async def list_equipment_checklist_runs(
        self,
        checklists: NamedDependency[ChecklistService],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        equipment_id: FromPath[uuid.UUID],
        limit: LimitQuery = 20,
    ) -> list[HistoryEntry]:
        """Past visits of the unit with each checklist's outcome, newest first."""
        await EquipmentService(db_session).get(equipment_id, viewer=principal)
        audience: Audience = "client" if principal.is_client else "staff"
        history = await checklists.equipment_history(
            equipment_id,
            client_visible_only=principal.is_client,
            client_id=principal.client_id if principal.is_client else None,
            limit=limit,
        )
        return [
            HistoryEntry(
                visit_id=visit.id,
                visit_status=visit.status.value,
                completed_at=visit.completed_at,
                template_name=run.template_version.template.name,
                version=run.template_version.version,
                outcome=outcome_of(run, for_client=principal.is_client),
                run=run_read(run, audience=audience),
            )
            for run, visit in history
        ]
