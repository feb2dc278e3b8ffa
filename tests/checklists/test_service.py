"""Checklists against the real database: versions, template choice, answers, findings."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checklists.models import ChecklistAnswer, RunStatus
from checklists.service import AnswerInput, ChecklistClosed
from checklists.templates import NothingToPublish, TemplateInput, TemplateService
from equipment.equipment.models import Equipment
from fsm.auth.principal import Principal
from fsm.db import utcnow
from fsm.errors import ValidationFailed
from fsm.users.models import Role
from fsm.visits.service import StatusReport, VisitIncomplete
from fsm.workorders.models import (
    Priority,
    Visibility,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderType,
)
from fsm.workorders.visit_models import Visit, VisitStatus
from tests.checklists.helpers import (
    add_evidence_photo,
    admin,
    checklists,
    definition,
    make_template,
    order_on,
    planned_visit,
)
from tests.equipment.helpers import make_equipment, make_equipment_model
from tests.factories import make_engineer, make_user
from tests.fsm.wo_helpers import principal_of, visits, work_orders

ALL_GOOD = [
    AnswerInput("brakes_ok", True),
    AnswerInput("pressure", 1.8),
]


async def _visit_with_run(
    session: AsyncSession, *, publish: bool = True
) -> tuple[Visit, Equipment]:
    unit = await make_equipment(session)
    await make_template(session, model_ids=[unit.model_id], publish=publish)
    visit = await planned_visit(session, await order_on(session, unit))
    return visit, unit


async def _engineer_principal(session: AsyncSession) -> Principal:
    return principal_of(await make_user(session, role=Role.ENGINEER))


class TestVersions:
    async def test_editing_a_draft_changes_it_in_place(self, session: AsyncSession) -> None:
        template = await make_template(session, publish=False)
        service = TemplateService(session)
        actor = principal_of(await admin(session))

        await service.update(
            template.id, TemplateInput(definition=definition(), name="Renamed"), actor=actor
        )

        assert [(v.version, v.published_at) for v in await service.versions(template.id)] == [
            (1, None)
        ]
        assert template.name == "Renamed"

    async def test_editing_a_published_version_starts_the_next_one(
        self, session: AsyncSession
    ) -> None:
        template = await make_template(session)
        service = TemplateService(session)
        changed = definition(
            {
                "sections": [
                    {"title": "Only", "items": [{"key": "x", "label": "X", "kind": "yes_no"}]}
                ]
            }
        )

        await service.update(
            template.id, TemplateInput(definition=changed), actor=principal_of(await admin(session))
        )
        await service.publish(template.id)

        first, second = await service.versions(template.id)
        assert (first.version, second.version) == (1, 2)
        assert first.definition["sections"][0]["title"] == "Safety"  # never rewritten
        assert second.definition["sections"][0]["title"] == "Only"
        assert (await service.version(template.id, 1)).id == first.id

    async def test_publishing_twice_is_refused(self, session: AsyncSession) -> None:
        template = await make_template(session)

        with pytest.raises(NothingToPublish):
            await TemplateService(session).publish(template.id)

    async def test_a_run_keeps_its_version_when_a_new_one_is_published(
        self, session: AsyncSession
    ) -> None:
        unit = await make_equipment(session)
        template = await make_template(session, model_ids=[unit.model_id])
        early = await planned_visit(session, await order_on(session, unit))
        service = TemplateService(session)
        changed = definition(
            {"sections": [{"title": "V2", "items": [{"key": "y", "label": "Y", "kind": "yes_no"}]}]}
        )
        await service.update(
            template.id, TemplateInput(definition=changed), actor=principal_of(await admin(session))
        )
        await service.publish(template.id)

        late = await planned_visit(session, await order_on(session, unit))

        early_run = await checklists(session).run_for_visit(early.id)
        late_run = await checklists(session).run_for_visit(late.id)
        assert early_run is not None
        assert late_run is not None
        assert early_run.template_version.version == 1
        assert late_run.template_version.version == 2

    async def test_an_unpublished_template_is_never_used(self, session: AsyncSession) -> None:
        visit, _ = await _visit_with_run(session, publish=False)

        assert await checklists(session).run_for_visit(visit.id) is None


class TestWhichChecklist:
    async def _chosen(
        self,
        session: AsyncSession,
        unit: Equipment,
        type: WorkOrderType = WorkOrderType.MAINTENANCE,
    ) -> str | None:
        visit = await planned_visit(session, await order_on(session, unit, type=type))
        run = await checklists(session).run_for_visit(visit.id)
        return None if run is None else run.template_version.template.name

    async def test_the_most_specific_template_wins(self, session: AsyncSession) -> None:
        unit = await make_equipment(session)
        await make_template(session, name="any equipment")
        assert await self._chosen(session, unit) == "any equipment"
        await make_template(session, name="boilers", categories=["boiler"])
        assert await self._chosen(session, unit) == "boilers"
        await make_template(session, name="this model", model_ids=[unit.model_id])
        assert await self._chosen(session, unit) == "this model"

    async def test_the_models_default_beats_its_category(self, session: AsyncSession) -> None:
        model = await make_equipment_model(session)
        unit = await make_equipment(session, model=model)
        await make_template(session, name="boilers", categories=["boiler"])
        default = await make_template(session, name="model default", categories=["other"])
        model.default_checklist_template_id = default.id
        await session.flush()

        assert await self._chosen(session, unit) == "model default"

    async def test_work_types_narrow_the_choice(self, session: AsyncSession) -> None:
        unit = await make_equipment(session)
        await make_template(
            session,
            name="maintenance",
            model_ids=[unit.model_id],
            work_types=[WorkOrderType.MAINTENANCE],
        )
        await make_template(session, name="any work", model_ids=[unit.model_id])

        assert await self._chosen(session, unit, type=WorkOrderType.MAINTENANCE) == "maintenance"
        assert await self._chosen(session, unit, type=WorkOrderType.REPAIR) == "any work"

    async def test_an_inactive_template_is_skipped(self, session: AsyncSession) -> None:
        unit = await make_equipment(session)
        template = await make_template(session, model_ids=[unit.model_id])
        await TemplateService(session).update(
            template.id, TemplateInput(is_active=False), actor=principal_of(await admin(session))
        )

        assert await self._chosen(session, unit) is None

    async def test_a_visit_that_is_over_never_gets_a_later_template(
        self, session: AsyncSession
    ) -> None:
        unit = await make_equipment(session)
        visit = await planned_visit(session, await order_on(session, unit))
        staff = principal_of(await make_user(session, role=Role.DISPATCHER))
        await visits(session).report_status(
            visit.id, StatusReport(status=VisitStatus.CANCELLED), actor=staff
        )
        await make_template(session, model_ids=[unit.model_id])

        assert await checklists(session).run_for_visit(visit.id) is None
        assert await checklists(session).summaries([visit.id]) == {}

    async def test_a_run_is_attached_when_the_visit_is_planned(self, session: AsyncSession) -> None:
        visit, _ = await _visit_with_run(session)

        summary = (await checklists(session).summaries([visit.id]))[visit.id]

        assert (summary.template_name, summary.version, summary.status) == (
            "Lift inspection",
            1,
            RunStatus.NOT_STARTED,
        )
        assert (summary.required_total, summary.required_answered) == (3, 0)


class TestAnswers:
    async def test_partial_saves_move_the_run_along(self, session: AsyncSession) -> None:
        visit, _ = await _visit_with_run(session)
        actor = await _engineer_principal(session)

        run = await checklists(session).save_answers(
            visit.id, [AnswerInput("brakes_ok", True)], actor=actor
        )

        assert (run.status, run.required_answered) == (RunStatus.IN_PROGRESS, 1)
        run = await checklists(session).save_answers(
            visit.id, [AnswerInput("pressure", 2.0)], actor=actor
        )
        assert sorted(run.answers) == ["brakes_ok", "pressure"]

    async def test_saving_the_same_answer_again_changes_nothing(
        self, session: AsyncSession
    ) -> None:
        visit, _ = await _visit_with_run(session)
        actor = await _engineer_principal(session)
        run = await checklists(session).save_answers(visit.id, ALL_GOOD, actor=actor)
        first = run.answers["pressure"].recorded_at

        run = await checklists(session).save_answers(visit.id, ALL_GOOD, actor=actor)

        assert run.answers["pressure"].recorded_at == first
        count = await session.scalar(
            select(func.count())
            .select_from(ChecklistAnswer)
            .where(ChecklistAnswer.run_id == run.id)
        )
        assert count == 2

    async def test_an_older_save_arriving_late_does_not_overwrite_a_newer_one(
        self, session: AsyncSession
    ) -> None:
        visit, _ = await _visit_with_run(session)
        actor = await _engineer_principal(session)
        now = utcnow()
        await checklists(session).save_answers(
            visit.id, [AnswerInput("pressure", 2.0, answered_at=now)], actor=actor
        )

        run = await checklists(session).save_answers(
            visit.id,
            [AnswerInput("pressure", 1.2, answered_at=now - timedelta(minutes=5))],
            actor=actor,
        )

        assert run.answers["pressure"].value == 2.0

    async def test_null_clears_an_answer(self, session: AsyncSession) -> None:
        visit, _ = await _visit_with_run(session)
        actor = await _engineer_principal(session)
        await checklists(session).save_answers(visit.id, ALL_GOOD, actor=actor)

        run = await checklists(session).save_answers(
            visit.id, [AnswerInput("pressure", None)], actor=actor
        )

        assert "pressure" not in run.answers
        assert run.required_answered == 1

    async def test_one_bad_answer_saves_nothing_and_names_the_item(
        self, session: AsyncSession
    ) -> None:
        visit, _ = await _visit_with_run(session)
        actor = await _engineer_principal(session)

        with pytest.raises(ValidationFailed) as refused:
            await checklists(session).save_answers(
                visit.id,
                [AnswerInput("brakes_ok", True), AnswerInput("pressure", "high")],
                actor=actor,
            )

        assert refused.value.details[0]["item_key"] == "pressure"
        run = await checklists(session).run_for_visit(visit.id)
        assert run is not None
        assert run.answers == {}

    async def test_an_unknown_item_is_refused(self, session: AsyncSession) -> None:
        visit, _ = await _visit_with_run(session)

        with pytest.raises(ValidationFailed) as refused:
            await checklists(session).save_answers(
                visit.id, [AnswerInput("colour", "red")], actor=await _engineer_principal(session)
            )

        assert refused.value.details[0]["item_key"] == "colour"

    async def test_a_finished_visits_checklist_is_closed(self, session: AsyncSession) -> None:
        visit, _ = await _visit_with_run(session)
        staff = principal_of(await make_user(session, role=Role.DISPATCHER))
        await visits(session).report_status(
            visit.id, StatusReport(status=VisitStatus.CANCELLED), actor=staff
        )

        with pytest.raises(ChecklistClosed):
            await checklists(session).save_answers(visit.id, ALL_GOOD, actor=staff)


class TestFindings:
    async def _events(
        self, session: AsyncSession, work_order_id: uuid.UUID
    ) -> list[WorkOrderEvent]:
        rows = await session.scalars(
            select(WorkOrderEvent)
            .where(WorkOrderEvent.work_order_id == work_order_id)
            .where(
                WorkOrderEvent.kind.in_(
                    ["checklist_finding", "checklist_finding_cleared", "follow_up_opened"]
                )
            )
            .order_by(WorkOrderEvent.id)
        )
        return list(rows.all())

    async def test_a_critical_no_raises_a_finding_and_opens_a_follow_up(
        self, session: AsyncSession
    ) -> None:
        visit, unit = await _visit_with_run(session)

        run = await checklists(session).save_answers(
            visit.id, [AnswerInput("brakes_ok", False)], actor=await _engineer_principal(session)
        )

        (finding,) = run.findings
        assert (finding.kind, finding.item_key) == ("critical_no", "brakes_ok")
        follow_up = await session.get(WorkOrder, finding.follow_up_work_order_id)
        assert follow_up is not None
        assert (follow_up.equipment_id, follow_up.priority, follow_up.type) == (
            unit.id,
            Priority.HIGH,
            WorkOrderType.REPAIR,
        )
        # The client sees the follow-up as its own request: nothing of the finding in it.
        order = await session.get(WorkOrder, visit.work_order_id)
        assert order is not None
        assert follow_up.title == f"Follow-up of {order.number}"
        assert "Brakes" not in follow_up.title + follow_up.description
        (note,) = await work_orders(session).comments(
            follow_up.id, viewer=principal_of(await make_user(session, role=Role.DISPATCHER))
        )
        assert note.is_internal
        assert note.body == f"Checklist finding on {order.number}: Brakes hold: answered no"
        events = await self._events(session, visit.work_order_id)
        assert [(e.kind, e.visibility) for e in events] == [
            ("checklist_finding", Visibility.INTERNAL),
            ("follow_up_opened", Visibility.INTERNAL),
        ]
        assert (await checklists(session).summaries([visit.id]))[visit.id].findings == 1

    async def test_an_out_of_range_number_raises_a_finding_once(
        self, session: AsyncSession
    ) -> None:
        visit, _ = await _visit_with_run(session)
        actor = await _engineer_principal(session)

        await checklists(session).save_answers(
            visit.id, [AnswerInput("pressure", 3.1)], actor=actor
        )
        run = await checklists(session).save_answers(
            visit.id, [AnswerInput("pressure", 3.4)], actor=actor
        )

        (finding,) = run.findings
        assert finding.message == "Oil pressure: 3.4 bar is above 2.5 bar"
        assert finding.follow_up_work_order_id is None
        assert [e.kind for e in await self._events(session, visit.work_order_id)] == [
            "checklist_finding"
        ]

    async def test_a_corrected_answer_clears_the_finding(self, session: AsyncSession) -> None:
        visit, _ = await _visit_with_run(session)
        actor = await _engineer_principal(session)
        await checklists(session).save_answers(
            visit.id, [AnswerInput("pressure", 0.2)], actor=actor
        )

        run = await checklists(session).save_answers(
            visit.id, [AnswerInput("pressure", 1.5)], actor=actor
        )

        assert run.findings[0].cleared_at is not None
        assert run.open_findings == 0
        assert [e.kind for e in await self._events(session, visit.work_order_id)] == [
            "checklist_finding",
            "checklist_finding_cleared",
        ]


class TestCompletion:
    async def _on_site(self, session: AsyncSession) -> tuple[Visit, Principal]:
        unit = await make_equipment(session)
        await make_template(session, model_ids=[unit.model_id])
        engineer = await make_engineer(session)
        visit = await planned_visit(session, await order_on(session, unit), engineer=engineer)
        actor = principal_of(engineer.user)
        for status in (VisitStatus.EN_ROUTE, VisitStatus.ON_SITE):
            await visits(session).report_status(visit.id, StatusReport(status=status), actor=actor)
        return visit, actor

    async def test_completion_is_refused_listing_what_is_missing(
        self, session: AsyncSession
    ) -> None:
        visit, actor = await self._on_site(session)
        await checklists(session).save_answers(
            visit.id, [AnswerInput("brakes_ok", True)], actor=actor
        )

        with pytest.raises(VisitIncomplete) as refused:
            await visits(session).report_status(
                visit.id,
                StatusReport(status=VisitStatus.COMPLETED, labour_minutes=30),
                actor=actor,
            )

        missing = refused.value.details["missing"]
        assert [(m["kind"], m.get("item_key")) for m in missing] == [
            ("checklist_item", "pressure"),
            ("checklist_photos", "cabin"),
        ]
        assert visit.status is VisitStatus.ON_SITE

    async def test_a_complete_checklist_with_its_photos_lets_the_visit_complete(
        self, session: AsyncSession
    ) -> None:
        visit, actor = await self._on_site(session)
        await checklists(session).save_answers(visit.id, ALL_GOOD, actor=actor)
        await add_evidence_photo(session, visit, "cabin")

        done = await visits(session).report_status(
            visit.id,
            StatusReport(status=VisitStatus.COMPLETED, labour_minutes=30),
            actor=actor,
        )

        assert done.status is VisitStatus.COMPLETED
        summary = (await checklists(session).summaries([visit.id]))[visit.id]
        assert summary.status is RunStatus.COMPLETE
