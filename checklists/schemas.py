"""Wire types of checklists: templates and versions for the back office, runs for everyone."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from checklists.answers import progress, visible_keys
from checklists.definition import Choice, Definition, ItemKind, Measure, decode_definition
from checklists.models import (
    ChecklistFinding,
    ChecklistRun,
    ChecklistTemplate,
    ChecklistTemplateVersion,
    RunStatus,
)
from checklists.service import AnswerInput
from checklists.templates import TemplateInput
from fsm.schemas import AwareDatetime, Count, Name, OptionalText
from fsm.workorders.models import WorkOrderType

Audience = Literal["staff", "engineer", "client"]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]


class TemplateCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new checklist: what it applies to and its questions (saved as draft version 1)."""

    name: Name
    definition: Definition
    description: OptionalText = ""
    equipment_model_ids: list[uuid.UUID] = msgspec.field(default_factory=list)
    categories: list[Category] = msgspec.field(default_factory=list)
    work_types: list[WorkOrderType] = msgspec.field(default_factory=list)
    is_active: bool = True

    def to_input(self) -> TemplateInput:
        """As the service takes it."""
        return TemplateInput(
            name=self.name,
            description=self.description,
            is_active=self.is_active,
            categories=self.categories,
            work_types=self.work_types,
            equipment_model_ids=self.equipment_model_ids,
            definition=self.definition,
        )


class TemplateUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Changes to a template; new questions edit the draft or start the next version."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: OptionalText | msgspec.UnsetType = msgspec.UNSET
    equipment_model_ids: list[uuid.UUID] | msgspec.UnsetType = msgspec.UNSET
    categories: list[Category] | msgspec.UnsetType = msgspec.UNSET
    work_types: list[WorkOrderType] | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    definition: Definition | msgspec.UnsetType = msgspec.UNSET

    def to_input(self) -> TemplateInput:
        """As the service takes it (unset fields stay as they are)."""

        def given(value: Any) -> Any:
            return None if value is msgspec.UNSET else value

        return TemplateInput(
            name=given(self.name),
            description=given(self.description),
            is_active=given(self.is_active),
            categories=given(self.categories),
            work_types=given(self.work_types),
            equipment_model_ids=given(self.equipment_model_ids),
            definition=given(self.definition),
        )


class TemplateRead(msgspec.Struct, kw_only=True):
    """A template, which version visits get now, and whether a draft is waiting."""

    id: uuid.UUID
    name: str
    description: str
    is_active: bool
    equipment_model_ids: list[uuid.UUID]
    categories: list[str]
    work_types: list[str]
    published_version: Count | None
    draft_version: Count | None
    created_at: datetime
    updated_at: datetime


def template_read(
    template: ChecklistTemplate, versions: list[ChecklistTemplateVersion]
) -> TemplateRead:
    """Wire form of a template given its versions."""
    published = [v.version for v in versions if v.published_at is not None]
    drafts = [v.version for v in versions if v.published_at is None]
    return TemplateRead(
        id=template.id,
        name=template.name,
        description=template.description,
        is_active=template.is_active,
        equipment_model_ids=[m.id for m in template.equipment_models],
        categories=list(template.categories),
        work_types=list(template.work_types),
        published_version=max(published, default=None),
        draft_version=max(drafts, default=None),
        created_at=template.created_at,
        updated_at=template.updated_at,
    )


class VersionRead(msgspec.Struct, kw_only=True):
    """One version of a template's questions."""

    template_id: uuid.UUID
    version: Count
    is_published: bool
    published_at: datetime | None
    created_at: datetime
    definition: Definition


def version_read(version: ChecklistTemplateVersion) -> VersionRead:
    """Wire form of a template version."""
    return VersionRead(
        template_id=version.template_id,
        version=version.version,
        is_published=version.published_at is not None,
        published_at=version.published_at,
        created_at=version.created_at,
        definition=decode_definition(version.definition),
    )


# -- runs -----------------------------------------------------------------------------------


class AnswerIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One item's answer; `null` clears it. `answered_at` is the device's time."""

    item_key: Annotated[str, msgspec.Meta(min_length=1, max_length=63)]
    value: Any
    answered_at: AwareDatetime | None = None

    def to_input(self) -> AnswerInput:
        """As the service takes it."""
        return AnswerInput(item_key=self.item_key, value=self.value, answered_at=self.answered_at)


class AnswersIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A batch of answers saved together (all or nothing)."""

    answers: Annotated[list[AnswerIn], msgspec.Meta(min_length=1, max_length=300)]


class AnswerRead(msgspec.Struct, kw_only=True):
    """An item's current answer; `flag` says when it needs attention."""

    value: Any
    flag: str | None
    answered_at: datetime


class ItemRead(msgspec.Struct, kw_only=True):
    """A question with its current answer."""

    key: str
    label: str
    kind: ItemKind
    is_required: bool
    is_visible: bool
    help: str
    unit: str | None = None
    min: Measure | None = None
    max: Measure | None = None
    choices: list[Choice] = msgspec.field(default_factory=list)
    photo_count: Count | None = None
    photos: Count = 0
    visible_if: dict[str, Any] | None = None
    answer: AnswerRead | None = None


class SectionRead(msgspec.Struct, kw_only=True):
    """A titled group of questions."""

    title: str
    items: list[ItemRead]


class FindingRead(msgspec.Struct, kw_only=True):
    """An answer that needs attention, and the follow-up work order it opened."""

    id: uuid.UUID
    item_key: str
    kind: str
    message: str
    follow_up_work_order_id: uuid.UUID | None
    raised_at: datetime
    cleared_at: datetime | None


class RunRead(msgspec.Struct, kw_only=True):
    """A visit's checklist: the questions of its exact template version and the answers."""

    id: uuid.UUID
    visit_id: uuid.UUID
    template_id: uuid.UUID
    template_name: str
    version: Count
    status: RunStatus
    outcome: str
    required_total: Count
    required_answered: Count
    sections: list[SectionRead]
    missing: list[dict[str, Any]] | None = None
    findings: list[FindingRead] | None = None


def outcome_of(run: ChecklistRun, *, for_client: bool = False) -> str:
    """`findings` when something needs attention, else `pass`, `incomplete` or `not_started`.

    For a client only findings on items marked for clients count.
    """
    if for_client:
        shown = _client_keys(decode_definition(run.template_version.definition))
        has_findings = any(f.cleared_at is None and f.item_key in shown for f in run.findings)
    else:
        has_findings = run.open_findings > 0
    if has_findings:
        return "findings"
    if run.status is RunStatus.COMPLETE:
        return "pass"
    return "incomplete" if run.status is RunStatus.IN_PROGRESS else "not_started"


def _client_keys(definition: Definition) -> set[str]:
    return {item.key for item in definition.items() if item.is_client_visible}


def run_read(run: ChecklistRun, *, audience: Audience) -> RunRead:
    """Wire form of a run.

    A client gets only answered, visible items marked for clients; its counts and outcome
    cover those items only, and it never sees conditions, findings or what is missing.
    """
    definition = decode_definition(run.template_version.definition)
    values = {key: answer.value for key, answer in run.answers.items()}
    visible = visible_keys(definition, values)
    for_client = audience == "client"
    client_keys = _client_keys(definition)
    photo_counts = run.photo_counts if not for_client or run.photo_counts_for_client else {}
    sections: list[SectionRead] = []
    for section in definition.sections:
        items: list[ItemRead] = []
        for item in section.items:
            answer = run.answers.get(item.key)
            if for_client and not (
                item.key in client_keys
                and item.key in visible
                and (answer or photo_counts.get(item.key))
            ):
                continue
            items.append(
                ItemRead(
                    key=item.key,
                    label=item.label,
                    kind=item.kind,
                    is_required=item.is_required,
                    is_visible=item.key in visible,
                    help=item.help,
                    unit=item.unit,
                    min=item.min,
                    max=item.max,
                    choices=list(item.choices),
                    photo_count=item.photo_count,
                    photos=photo_counts.get(item.key, 0),
                    visible_if=(
                        msgspec.to_builtins(item.visible_if)
                        if item.visible_if and not for_client
                        else None
                    ),
                    answer=(
                        AnswerRead(
                            value=answer.value, flag=answer.flag, answered_at=answer.answered_at
                        )
                        if answer is not None
                        else None
                    ),
                )
            )
        if items:
            sections.append(SectionRead(title=section.title, items=items))
    done = progress(definition, values, run.photo_counts)
    required_total, required_answered = run.required_total, run.required_answered
    if for_client:
        counted = [
            item
            for item in definition.items()
            if item.is_required and item.key in client_keys and item.key in visible
        ]
        missing_keys = {m["item_key"] for m in done.missing}
        required_total = len(counted)
        required_answered = sum(1 for item in counted if item.key not in missing_keys)
    return RunRead(
        id=run.id,
        visit_id=run.visit_id,
        template_id=run.template_version.template_id,
        template_name=run.template_version.template.name,
        version=run.template_version.version,
        status=run.status,
        outcome=outcome_of(run, for_client=for_client),
        required_total=required_total,
        required_answered=required_answered,
        sections=sections,
        missing=None if for_client else done.missing,
        findings=None if for_client else [finding_read(f) for f in run.findings],
    )


def finding_read(finding: ChecklistFinding) -> FindingRead:
    """Wire form of a finding."""
    return FindingRead(
        id=finding.id,
        item_key=finding.item_key,
        kind=finding.kind,
        message=finding.message,
        follow_up_work_order_id=finding.follow_up_work_order_id,
        raised_at=finding.raised_at,
        cleared_at=finding.cleared_at,
    )


class FindingQueueItem(msgspec.Struct, kw_only=True):
    """A finding in the dispatcher's queue, with the work order it is on."""

    work_order_id: uuid.UUID
    work_order_number: str
    finding: FindingRead


class HistoryEntry(msgspec.Struct, kw_only=True):
    """One past visit of a unit with its checklist's outcome."""

    visit_id: uuid.UUID
    visit_status: str
    completed_at: datetime | None
    template_name: str
    version: Count
    outcome: str
    run: RunRead
