"""Checklist runs: the choice of a template per visit, answers, findings, completion."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defaultload

from checklists.answers import Flag, Progress, check_answer, progress
from checklists.definition import (
    Definition,
    ItemKind,
    decode_definition,
)
from checklists.models import (
    ChecklistAnswer,
    ChecklistFinding,
    ChecklistRun,
    ChecklistTemplate,
    ChecklistTemplateVersion,
    RunStatus,
)
from equipment.equipment.models import Equipment, EquipmentModel
from fsm.auth.principal import Principal
from fsm.db import utcnow
from fsm.errors import InvalidState, NotFound, ValidationFailed, field_error
from fsm.pagination import Page, PageRequest
from fsm.photos.models import EVIDENCE_STATES, Photo, PhotoState
from fsm.workorders.models import Priority, Visibility, WorkOrder, WorkOrderType
from fsm.workorders.service import WorkOrderDraft, WorkOrderService
from fsm.workorders.visit_models import OPEN_VISIT_STATUSES, Visit, VisitStatus


class ChecklistClosed(InvalidState):
    """The visit is over; its checklist can no longer change."""


class ChecklistNotFound(NotFound):
    """No checklist applies to this visit."""


@dataclass(frozen=True, slots=True)
class AnswerInput:
    """One item's answer from the app; `None` clears it. Device time orders offline saves."""

    item_key: str
    value: Any
    answered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A run at a glance, for lists of visits."""

    run_id: uuid.UUID
    template_name: str
    version: int
    status: RunStatus
    required_total: int
    required_answered: int
    findings: int


# -- which checklist ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    version_id: uuid.UUID
    template_id: uuid.UUID
    model_ids: frozenset[uuid.UUID]
    categories: frozenset[str]
    work_types: frozenset[str]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class _VisitFacts:
    visit_id: uuid.UUID
    work_type: str
    model_id: uuid.UUID | None
    category: str | None
    default_template_id: uuid.UUID | None


def choose(candidates: Sequence[_Candidate], facts: _VisitFacts) -> uuid.UUID | None:
    """The most specific published version for a visit, or None.

    Equipment first: a template naming the model beats the model's default template, which
    beats one for the model's category, which beats a template for any equipment. Then a
    template naming the work type beats one for any type; then the most recently changed.
    """
    best: tuple[int, int, datetime] | None = None
    chosen: uuid.UUID | None = None
    for c in candidates:
        if c.work_types and facts.work_type not in c.work_types:
            continue
        if facts.model_id is not None and facts.model_id in c.model_ids:
            fit = 3
        elif c.template_id == facts.default_template_id:
            fit = 2
        elif facts.category is not None and facts.category in c.categories:
            fit = 1
        elif not c.model_ids and not c.categories:
            fit = 0
        else:
            continue
        rank = (fit, 1 if c.work_types else 0, c.updated_at)
        if best is None or rank > best:
            best, chosen = rank, c.version_id
    return chosen


# -- runs -----------------------------------------------------------------------------------


# A run shows its template's name and version, never which equipment models the template
# is for: loading a run skips that collection (a query per load otherwise).
_RUN_ONLY = (
    defaultload(ChecklistRun.template_version)
    .defaultload(ChecklistTemplateVersion.template)
    .lazyload(ChecklistTemplate.equipment_models)
)


class ChecklistReads:
    """What a checklist holds, for every surface that shows one. Reading never writes:
    runs are attached when a visit is planned or a template is published."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _runs_by_visit(self, visit_ids: Sequence[uuid.UUID]) -> Sequence[ChecklistRun]:
        stmt = select(ChecklistRun).where(ChecklistRun.visit_id.in_(visit_ids)).options(_RUN_ONLY)
        return (await self.session.scalars(stmt)).all()

    async def run_for_visit(
        self, visit_id: uuid.UUID, *, client_view: bool = False
    ) -> ChecklistRun | None:
        """The visit's run with its answers, findings and photo counts.

        With `client_view` the photo counts hold only photos the client may see.
        """
        run = await self.session.scalar(
            select(ChecklistRun).where(ChecklistRun.visit_id == visit_id).options(_RUN_ONLY)
        )
        if run is None:
            return None
        await self._load_many([run], client_view=client_view)
        return run

    async def _load_many(self, runs: Sequence[ChecklistRun], *, client_view: bool = False) -> None:
        """Answers, findings and photo counts of several runs in three queries."""
        if not runs:
            return
        by_id = {run.id: run for run in runs}
        for run in runs:
            run.answers, run.findings, run.photo_counts = {}, [], {}
            run.photo_counts_for_client = client_view
        answers = await self.session.scalars(
            select(ChecklistAnswer)
            .where(ChecklistAnswer.run_id.in_(by_id))
            .execution_options(populate_existing=True)
        )
        for answer in answers:
            by_id[answer.run_id].answers[answer.item_key] = answer
        findings = await self.session.scalars(
            select(ChecklistFinding)
            .where(ChecklistFinding.run_id.in_(by_id))
            .order_by(ChecklistFinding.raised_at, ChecklistFinding.item_key)
        )
        for finding in findings:
            by_id[finding.run_id].findings.append(finding)
        by_visit = {run.visit_id: run for run in runs}
        # A client counts only the photos it may see.
        conditions: builtins.list[Any] = [
            Photo.visit_id.in_(by_visit),
            Photo.checklist_item_key.is_not(None),
        ]
        if client_view:
            conditions += [Photo.state == PhotoState.VERIFIED, Photo.is_client_visible.is_(True)]
        else:
            conditions.append(Photo.state.in_(EVIDENCE_STATES))
        counts = await self.session.execute(
            select(Photo.visit_id, Photo.checklist_item_key, func.count())
            .where(*conditions)
            .group_by(Photo.visit_id, Photo.checklist_item_key)
        )
        for visit_id, key, count in counts.all():
            if visit_id is not None and key is not None:
                by_visit[visit_id].photo_counts[key] = count

    async def check_photo_item(self, visit_id: uuid.UUID, item_key: str) -> None:
        """Refuse (422) a photo linked to an item that is not a photo item of the visit's run."""
        run = await self.run_for_visit(visit_id)
        item = None if run is None else _definition(run).item_map().get(item_key)
        if item is None or item.kind is not ItemKind.PHOTO:
            raise field_error(
                "checklist_item_key", f"{item_key!r} is not a photo item of this visit's checklist"
            )

    async def summaries(self, visit_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RunSummary]:
        """Each visit's run at a glance (visits no checklist applies to are left out).

        One query of plain columns: a list of visits (the engineer's day) loads no run
        entities, so none of their eager loads.
        """
        if not visit_ids:
            return {}
        rows = (
            await self.session.execute(
                select(
                    ChecklistRun.visit_id,
                    ChecklistRun.id,
                    ChecklistRun.status,
                    ChecklistRun.required_total,
                    ChecklistRun.required_answered,
                    ChecklistRun.open_findings,
                    ChecklistTemplateVersion.version,
                    ChecklistTemplate.name,
                )
                .join(
                    ChecklistTemplateVersion,
                    ChecklistTemplateVersion.id == ChecklistRun.template_version_id,
                )
                .join(
                    ChecklistTemplate, ChecklistTemplate.id == ChecklistTemplateVersion.template_id
                )
                .where(ChecklistRun.visit_id.in_(visit_ids))
            )
        ).all()
        return {
            row.visit_id: RunSummary(
                run_id=row.id,
                template_name=row.name,
                version=row.version,
                status=row.status,
                required_total=row.required_total,
                required_answered=row.required_answered,
                findings=row.open_findings,
            )
            for row in rows
        }

    @staticmethod
    def summary_of(run: ChecklistRun) -> RunSummary:
        """A loaded run at a glance (what `summaries` gives for its visit)."""
        version = run.template_version
        return RunSummary(
            run_id=run.id,
            template_name=version.template.name,
            version=version.version,
            status=run.status,
            required_total=run.required_total,
            required_answered=run.required_answered,
            findings=run.open_findings,
        )

    async def findings(
        self,
        page: PageRequest,
        *,
        is_open: bool | None = True,
        work_order_id: uuid.UUID | None = None,
    ) -> Page[tuple[ChecklistFinding, str]]:
        """Findings newest first, each with its work order's number: the dispatcher's queue."""
        conditions: builtins.list[Any] = []
        if is_open is not None:
            conditions.append(
                ChecklistFinding.cleared_at.is_(None)
                if is_open
                else ChecklistFinding.cleared_at.is_not(None)
            )
        if work_order_id is not None:
            conditions.append(ChecklistFinding.work_order_id == work_order_id)
        total = await self.session.scalar(
            select(func.count()).select_from(ChecklistFinding).where(*conditions)
        )
        stmt = (
            select(ChecklistFinding, WorkOrder.number)
            .join(WorkOrder, WorkOrder.id == ChecklistFinding.work_order_id)
            .where(*conditions)
            .order_by(ChecklistFinding.raised_at.desc(), ChecklistFinding.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        rows = [(f, n) for f, n in (await self.session.execute(stmt)).all()]
        return Page(items=rows, total=total or 0, limit=page.limit, offset=page.offset)

    async def equipment_history(
        self,
        equipment_id: uuid.UUID,
        *,
        client_visible_only: bool,
        client_id: uuid.UUID | None = None,
        limit: int = 20,
    ) -> builtins.list[tuple[ChecklistRun, Visit]]:
        """The equipment's past runs, newest first, with answers loaded.

        A client sees only runs of completed visits: work in progress is not a record yet.
        """
        conditions: builtins.list[Any] = [WorkOrder.equipment_id == equipment_id]
        if client_id is not None:
            # A unit that changed hands keeps its past, but not for the new owner.
            conditions.append(WorkOrder.client_id == client_id)
        if client_visible_only:
            conditions.append(Visit.status == VisitStatus.COMPLETED)
        stmt = (
            select(ChecklistRun, Visit)
            .join(Visit, Visit.id == ChecklistRun.visit_id)
            .join(WorkOrder, WorkOrder.id == Visit.work_order_id)
            .where(*conditions)
            .order_by(
                func.coalesce(
                    Visit.completed_at, Visit.planned_start_at, Visit.window_starts_at
                ).desc(),
                ChecklistRun.id,
            )
            .limit(limit)
        )
        found = [(run, visit) for run, visit in (await self.session.execute(stmt)).all()]
        await self._load_many([run for run, _ in found], client_view=client_visible_only)
        return found


class ChecklistRuns(ChecklistReads):
    """Attaching runs to visits and keeping their progress: the writes a visit's life makes."""

    async def ensure_runs(self, visit_ids: Sequence[uuid.UUID]) -> None:
        """Attach a run to each visit a template applies to and that has none; set-based."""
        if not visit_ids:
            return
        facts_rows = (
            await self.session.execute(
                select(
                    Visit.id,
                    WorkOrder.type,
                    EquipmentModel.id,
                    EquipmentModel.category,
                    EquipmentModel.default_checklist_template_id,
                )
                .join(WorkOrder, WorkOrder.id == Visit.work_order_id)
                .outerjoin(Equipment, Equipment.id == WorkOrder.equipment_id)
                .outerjoin(EquipmentModel, EquipmentModel.id == Equipment.model_id)
                .outerjoin(ChecklistRun, ChecklistRun.visit_id == Visit.id)
                # A visit that is over keeps what it had: a template published later
                # never becomes a checklist it "did not start".
                .where(
                    Visit.id.in_(visit_ids),
                    Visit.status.in_(OPEN_VISIT_STATUSES),
                    ChecklistRun.id.is_(None),
                )
            )
        ).all()
        if not facts_rows:
            return
        candidates = await self._candidates()
        rows: builtins.list[dict[str, Any]] = []
        attached: builtins.list[uuid.UUID] = []
        for visit_id, work_type, model_id, category, default_id in facts_rows:
            facts = _VisitFacts(visit_id, str(work_type), model_id, category, default_id)
            version_id = choose(candidates, facts)
            if version_id is not None:
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "visit_id": visit_id,
                        "template_version_id": version_id,
                        "status": RunStatus.NOT_STARTED,
                    }
                )
                attached.append(visit_id)
        if rows:
            # Two requests attaching at once: the unique visit_id keeps the first.
            await self.session.execute(
                insert(ChecklistRun)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["visit_id"])
            )
            # Fill in the counts of required items for the fresh runs.
            for run in await self._runs_by_visit(attached):
                if run.status is RunStatus.NOT_STARTED and run.required_total == 0:
                    self._apply_progress(run, progress(_definition(run), {}, {}), started=False)
            await self.session.flush()

    async def _candidates(self) -> builtins.list[_Candidate]:
        latest = (
            select(ChecklistTemplateVersion.id, ChecklistTemplateVersion.template_id)
            .where(ChecklistTemplateVersion.published_at.is_not(None))
            .ext(distinct_on(ChecklistTemplateVersion.template_id))
            .order_by(ChecklistTemplateVersion.template_id, ChecklistTemplateVersion.version.desc())
            .subquery()
        )
        templates = (
            await self.session.execute(
                select(ChecklistTemplate, latest.c.id)
                .join(latest, latest.c.template_id == ChecklistTemplate.id)
                .where(ChecklistTemplate.is_active.is_(True))
            )
        ).all()
        return [
            _Candidate(
                version_id=version_id,
                template_id=t.id,
                model_ids=frozenset(m.id for m in t.equipment_models),
                categories=frozenset(t.categories),
                work_types=frozenset(t.work_types),
                updated_at=t.updated_at,
            )
            for t, version_id in templates
        ]

    async def completion_blockers(self, visit: Visit) -> builtins.list[dict[str, Any]]:
        """What the checklist still lacks before the visit may be completed."""
        await self.ensure_runs([visit.id])
        run = await self.run_for_visit(visit.id)
        if run is None:
            return []
        done = progress(
            _definition(run), {k: a.value for k, a in run.answers.items()}, run.photo_counts
        )
        self._apply_progress(run, done, started=bool(run.answers or run.photo_counts))
        await self.session.flush()
        return done.missing

    def _apply_progress(self, run: ChecklistRun, done: Progress, *, started: bool) -> None:
        run.required_total = done.required_total
        run.required_answered = done.required_answered
        if done.is_complete and (started or done.required_total):
            run.status = RunStatus.COMPLETE
        elif started:
            run.status = RunStatus.IN_PROGRESS
        else:
            run.status = RunStatus.NOT_STARTED

    async def attach_to_open_visits(self) -> int:
        """Attach runs to every open visit that has none (after a template is published).

        Returns how many visits were looked at; a visit no template applies to stays without.
        """
        open_without = (
            await self.session.scalars(
                select(Visit.id)
                .outerjoin(ChecklistRun, ChecklistRun.visit_id == Visit.id)
                .where(Visit.status.in_(OPEN_VISIT_STATUSES), ChecklistRun.id.is_(None))
            )
        ).all()
        for lo in range(0, len(open_without), 1000):
            await self.ensure_runs(open_without[lo : lo + 1000])
        return len(open_without)


class ChecklistService(ChecklistRuns):
    """Runs: attached when a visit is planned, answered item by item, checked at completion.

    Findings go on the work order's timeline and may open a follow-up, hence the work-order
    service it is built with.
    """

    def __init__(self, session: AsyncSession, work_orders: WorkOrderService) -> None:
        super().__init__(session)
        self.work_orders = work_orders

    async def save_answers(
        self, visit_id: uuid.UUID, answers: Sequence[AnswerInput], *, actor: Principal
    ) -> ChecklistRun:
        """Save answers item by item; all are checked first, so a bad one saves nothing.

        Saving an item again replaces its answer; an answer older (by device time) than the
        one stored is ignored, so queued offline saves may arrive in any order.
        """
        visit = await self.session.get(Visit, visit_id, with_for_update=True)
        if visit is None:
            raise ChecklistNotFound(f"visit {visit_id} not found")
        if visit.status not in OPEN_VISIT_STATUSES:
            raise ChecklistClosed(
                f"the visit is {visit.status}; its checklist can no longer change",
                details={"visit_status": visit.status.value},
            )
        await self.ensure_runs([visit_id])
        run = await self.run_for_visit(visit_id)
        if run is None:
            raise ChecklistNotFound("no checklist applies to this visit")
        definition = _definition(run)
        items = definition.item_map()
        checked: builtins.list[tuple[AnswerInput, Any, Flag | None]] = []
        seen: set[str] = set()
        for answer in answers:
            item = items.get(answer.item_key)
            if item is None:
                raise ValidationFailed(
                    f"no item {answer.item_key!r} in this checklist",
                    details=[
                        {"field": "answers", "item_key": answer.item_key, "message": "no such item"}
                    ],
                )
            if answer.item_key in seen:
                raise ValidationFailed(
                    f"item {answer.item_key!r} is answered twice in one save",
                    details=[{"field": "answers", "item_key": answer.item_key, "message": "twice"}],
                )
            seen.add(answer.item_key)
            if answer.value is None:
                checked.append((answer, None, None))
            else:
                value, flag = check_answer(item, answer.value)
                checked.append((answer, value, flag))

        now = utcnow()
        stored: dict[str, ChecklistAnswer] = run.answers
        changed: builtins.list[tuple[str, Flag | None]] = []
        for answer, value, flag in checked:
            when = answer.answered_at or now
            current = stored.get(answer.item_key)
            if current is not None and current.answered_at > when:
                continue  # a newer save of this item is already in
            if value is None:
                if current is not None:
                    await self.session.delete(current)
                    del stored[answer.item_key]
                    changed.append((answer.item_key, None))
                continue
            if current is not None and current.value == value:
                continue  # the same answer again: nothing to do
            if current is None:
                current = ChecklistAnswer(run_id=run.id, item_key=answer.item_key)
                self.session.add(current)
                stored[answer.item_key] = current
            current.value = value
            current.flag = flag.kind if flag else None
            current.answered_at = when
            current.answered_by = actor.user_id
            current.recorded_at = now
            changed.append((answer.item_key, flag))
        await self.session.flush()
        if changed:
            await self._raise_findings(run, visit, definition, changed, actor=actor)
        self._apply_progress(
            run,
            progress(definition, {k: a.value for k, a in stored.items()}, run.photo_counts),
            started=bool(stored or run.photo_counts),
        )
        await self.session.flush()
        return run

    async def _raise_findings(
        self,
        run: ChecklistRun,
        visit: Visit,
        definition: Definition,
        changed: Sequence[tuple[str, Flag | None]],
        *,
        actor: Principal,
    ) -> None:
        """Raise a finding for each new flag and clear the ones whose answer is now fine."""
        items = definition.item_map()
        existing = {f.item_key: f for f in run.findings}
        work_order = await self.session.get(WorkOrder, visit.work_order_id)
        assert work_order is not None  # a visit always has its work order
        now = utcnow()
        for key, flag in changed:
            finding = existing.get(key)
            if flag is None:
                if finding is not None and finding.cleared_at is None:
                    finding.cleared_at = now
                    self._log(work_order, "checklist_finding_cleared", actor, finding)
                continue
            if finding is None:
                finding = ChecklistFinding(
                    run_id=run.id, work_order_id=work_order.id, item_key=key, raised_at=now
                )
                self.session.add(finding)
                run.findings.append(finding)
            elif finding.cleared_at is None and finding.kind == flag.kind:
                finding.message = flag.message[:500]
                continue  # still the same finding, already on the timeline
            finding.kind, finding.message = flag.kind, flag.message[:500]
            finding.raised_at, finding.cleared_at = now, None
            await self.session.flush()
            self._log(work_order, "checklist_finding", actor, finding)
            if items[key].opens_follow_up and finding.follow_up_work_order_id is None:
                finding.follow_up_work_order_id = await self._open_follow_up(
                    work_order, finding, critical=items[key].is_critical, actor=actor
                )
        run.open_findings = sum(1 for f in run.findings if f.cleared_at is None)

    def _log(
        self, work_order: WorkOrder, kind: str, actor: Principal, finding: ChecklistFinding
    ) -> None:
        # Findings are for the back office: the client sees the outcome in the visit report.
        self.work_orders.log(
            work_order,
            kind,
            actor,
            {
                "finding_id": str(finding.id),
                "run_id": str(finding.run_id),
                "item_key": finding.item_key,
                "finding": finding.kind,
                "message": finding.message,
            },
            Visibility.INTERNAL,
        )

    async def _open_follow_up(
        self,
        work_order: WorkOrder,
        finding: ChecklistFinding,
        *,
        critical: bool,
        actor: Principal,
    ) -> uuid.UUID:
        # The engineer reports; the follow-up is opened on the back office's behalf.
        follow_up = await self.work_orders.open_follow_up(
            WorkOrderDraft(
                site_id=work_order.site_id,
                equipment_id=work_order.equipment_id,
                type=WorkOrderType.REPAIR,
                # The client sees the follow-up as a request of its own: title and
                # description stay neutral; the finding goes to an internal comment.
                title=f"Follow-up of {work_order.number}",
                description=f"Further work found during {work_order.number}.",
                priority=Priority.HIGH if critical else Priority.NORMAL,
                required_skills=[s.code for s in work_order.required_skills],
            ),
            found_by=actor,
            internal_note=f"Checklist finding on {work_order.number}: {finding.message}",
        )
        self.work_orders.log(
            work_order,
            "follow_up_opened",
            actor,
            {"work_order_id": str(follow_up.id), "number": follow_up.number},
            Visibility.INTERNAL,
        )
        return follow_up.id


def _definition(run: ChecklistRun) -> Definition:
    return decode_definition(run.template_version.definition)
