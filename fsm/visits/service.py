"""Visits: planning, assignment with a skill check, and the field status flow."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.principal import Principal
from fsm.db import utcnow
from fsm.engineers.absences import absence_during
from fsm.engineers.models import Engineer
from fsm.errors import Conflict, Forbidden, InvalidState, NotFound, field_error, reference_error
from fsm.geo import GeoPoint, to_db_point
from fsm.outbox import EventKind
from fsm.pagination import Page, PageRequest
from fsm.photos.models import EVIDENCE_STATES, Photo
from fsm.schemas import PLANNING_FROM, PLANNING_UNTIL
from fsm.sites.models import Site
from fsm.skills.service import SkillService
from fsm.workorders.models import Visibility, WorkOrder, WorkOrderStatus
from fsm.workorders.service import WorkOrderService
from fsm.workorders.visit_models import OPEN_VISIT_STATUSES, Visit, VisitStatus, VisitStatusEvent

V = VisitStatus

# The field flow; cancelling is possible from any open status.
VISIT_TRANSITIONS: dict[VisitStatus, frozenset[VisitStatus]] = {
    V.PLANNED: frozenset({V.ASSIGNED, V.CANCELLED}),
    V.ASSIGNED: frozenset({V.PLANNED, V.EN_ROUTE, V.ON_SITE, V.CANCELLED}),
    V.EN_ROUTE: frozenset({V.ON_SITE, V.ASSIGNED, V.CANCELLED}),
    V.ON_SITE: frozenset({V.COMPLETED, V.CANCELLED}),
    V.COMPLETED: frozenset(),
    V.CANCELLED: frozenset(),
}
# What an engineer may do to their own visit from the app; the rest is the dispatcher's.
ENGINEER_MOVES = frozenset({V.EN_ROUTE, V.ON_SITE, V.COMPLETED})


class VisitNotFound(NotFound):
    """No such visit, or not one the caller may see."""


class EngineerNotQualified(Conflict):
    """The engineer lacks a skill the visit requires."""


class EngineerAbsent(Conflict):
    """The engineer is away (vacation, sickness, training) when the visit would be worked."""


class IllegalVisitTransition(InvalidState):
    """The visit cannot move from its status to the one asked for."""


class VisitNotLockable(InvalidState):
    """Only a visit not yet under way can be locked."""


class WorkOrderNotOpen(InvalidState):
    """Visits can only be planned for open work orders."""


class VisitIncomplete(InvalidState):
    """A visit cannot be completed while something it needs is missing."""


class VisitHooks(Protocol):
    """What other packages add to a visit's life (checklists); fsm cannot import them."""

    async def on_planned(self, visit: Visit) -> None:
        """A visit was just planned (flushed, with its id)."""

    async def completion_blockers(self, visit: Visit) -> builtins.list[dict[str, Any]]:
        """What still stops the visit from being completed, each as a JSON object."""


@dataclass(frozen=True, slots=True)
class VisitDraft:
    """A visit to plan for a work order."""

    work_order_id: uuid.UUID
    window_starts_at: datetime
    window_ends_at: datetime
    estimated_minutes: int
    required_skills: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class ClientSignature:
    """The client's signature at completion: a photo of this visit, who signed, and when."""

    photo_id: uuid.UUID
    signer_name: str
    signed_at: datetime


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A status change as reported from the field or the back office."""

    status: VisitStatus
    device_at: datetime | None = None
    location: GeoPoint | None = None
    note: str | None = None
    labour_minutes: int | None = None
    # Shown to the client on the visit report (completion only); `note` stays internal.
    client_summary: str | None = None
    # Completion only: the signature shows on the client's visit report.
    signature: ClientSignature | None = None


class VisitService:
    """Visits as staff and engineers may see and change them."""

    def __init__(
        self,
        session: AsyncSession,
        work_orders: WorkOrderService,
        hooks: VisitHooks,
    ) -> None:
        self.session = session
        self.work_orders = work_orders
        self.hooks = hooks

    async def _engineer_of(self, viewer: Principal) -> uuid.UUID | None:
        """The viewer's engineer id (an engineer user without a record: None)."""
        if not viewer.is_engineer:
            return None
        return await self.session.scalar(
            select(Engineer.id).where(Engineer.user_id == viewer.user_id)
        )

    async def get(
        self, visit_id: uuid.UUID, *, viewer: Principal, for_update: bool = False
    ) -> Visit:
        """The visit, if the viewer may see it: staff any, an engineer only their own."""
        stmt = select(Visit).where(Visit.id == visit_id)
        if for_update:
            stmt = stmt.with_for_update()
        visit = (await self.session.scalars(stmt)).one_or_none()
        if visit is None or not (viewer.is_staff or await self._is_own(visit, viewer)):
            raise VisitNotFound(f"visit {visit_id} not found")
        return visit

    async def _is_own(self, visit: Visit, viewer: Principal) -> bool:
        engineer_id = await self._engineer_of(viewer)
        return engineer_id is not None and visit.engineer_id == engineer_id

    async def list(
        self,
        page: PageRequest,
        *,
        viewer: Principal,
        work_order_id: uuid.UUID | None = None,
        engineer_id: uuid.UUID | None = None,
        statuses: Sequence[VisitStatus] = (),
        day: date | None = None,
        timezone: str = "UTC",
    ) -> Page[Visit]:
        """Visits by planned start (unplanned ones by window); engineers see only theirs."""
        conditions: builtins.list[Any] = []
        if viewer.is_engineer:
            engineer_id = await self._engineer_of(viewer)
            if engineer_id is None:
                return Page(items=[], total=0, limit=page.limit, offset=page.offset)
            conditions.append(Visit.engineer_id == engineer_id)
        elif not viewer.is_staff:
            return Page(items=[], total=0, limit=page.limit, offset=page.offset)
        if work_order_id is not None:
            conditions.append(Visit.work_order_id == work_order_id)
        if engineer_id is not None:
            conditions.append(Visit.engineer_id == engineer_id)
        if statuses:
            conditions.append(Visit.status.in_(statuses))
        if day is not None:
            zone = ZoneInfo(timezone)
            starts_at = datetime.combine(day, time(), zone)
            ends_at = datetime.combine(day + timedelta(days=1), time(), zone)
            when = func.coalesce(Visit.planned_start_at, Visit.window_starts_at)
            conditions.extend([when >= starts_at, when < ends_at])
        total = await self.session.scalar(
            select(func.count()).select_from(Visit).where(*conditions)
        )
        stmt = (
            select(Visit)
            .where(*conditions)
            .order_by(
                func.coalesce(Visit.planned_start_at, Visit.window_starts_at),
                Visit.route_position.nulls_last(),
                Visit.id,
            )
            .limit(page.limit)
            .offset(page.offset)
        )
        rows = (await self.session.scalars(stmt)).all()
        return Page(items=rows, total=total or 0, limit=page.limit, offset=page.offset)

    async def create(self, draft: VisitDraft, *, actor: Principal) -> Visit:
        """Plan a visit; its skills default to the work order's."""
        if draft.window_starts_at >= draft.window_ends_at:
            raise field_error("window_ends_at", "must be after window_starts_at")
        try:
            work_order = await self.work_orders.get(
                draft.work_order_id, viewer=actor, for_update=True
            )
        except NotFound:
            # Named in the body, not the path: the body conflicts with the data.
            raise reference_error("work_order_id", "no such work order") from None
        if work_order.status in (
            WorkOrderStatus.RESOLVED,
            WorkOrderStatus.CLOSED,
            WorkOrderStatus.CANCELLED,
        ):
            raise WorkOrderNotOpen(f"work order {work_order.number} is {work_order.status}")
        skills = (
            list(work_order.required_skills)
            if draft.required_skills is None
            else await SkillService(self.session).by_codes(
                draft.required_skills, field="required_skills"
            )
        )
        visit = Visit(
            work_order_id=work_order.id,
            status=V.PLANNED,
            window_starts_at=draft.window_starts_at,
            window_ends_at=draft.window_ends_at,
            estimated_minutes=draft.estimated_minutes,
            required_skills=skills,
        )
        self.session.add(visit)
        await self.session.flush()
        self._trail(visit, None, V.PLANNED, actor, StatusReport(status=V.PLANNED))
        self.work_orders.log(
            work_order,
            "visit_planned",
            actor,
            {
                "visit_id": str(visit.id),
                "window_starts_at": visit.window_starts_at.isoformat(),
                "window_ends_at": visit.window_ends_at.isoformat(),
            },
            Visibility.PUBLIC,
        )
        await self.session.flush()
        await self.hooks.on_planned(visit)
        return visit

    async def assign(
        self,
        visit_id: uuid.UUID,
        engineer_id: uuid.UUID,
        *,
        actor: Principal,
        planned_start_at: datetime | None = None,
        route_position: int | None = None,
    ) -> Visit:
        """Give a visit to an engineer who holds every required skill."""
        visit = await self.get(visit_id, viewer=actor, for_update=True)
        if visit.status not in (V.PLANNED, V.ASSIGNED):
            raise IllegalVisitTransition(
                f"a {visit.status} visit cannot be (re)assigned",
                details={"status": visit.status.value},
            )
        engineer = await self.session.get(Engineer, engineer_id)
        if engineer is None or not engineer.user.is_active:
            raise reference_error("engineer_id", "no such engineer")
        missing = sorted(
            {s.code for s in visit.required_skills} - {s.code for s in engineer.skills}
        )
        if missing:
            raise EngineerNotQualified(
                f"{engineer.user.full_name} lacks required skills: {', '.join(missing)}",
                details={"missing_skills": missing},
            )
        if planned_start_at is not None and not PLANNING_FROM <= planned_start_at < PLANNING_UNTIL:
            raise field_error("planned_start_at", "must lie between the years 2000 and 2199")
        await self._check_present(engineer, visit, planned_start_at or visit.planned_start_at)
        previous = visit.status
        previous_engineer_id, previous_start_at = visit.engineer_id, visit.planned_start_at
        visit.engineer_id = engineer.id
        visit.planned_start_at = planned_start_at or visit.planned_start_at
        visit.route_position = route_position
        visit.status = V.ASSIGNED
        self._trail(visit, previous, V.ASSIGNED, actor, StatusReport(status=V.ASSIGNED))
        work_order = await self.work_orders.get(visit.work_order_id, viewer=actor, for_update=True)
        self.work_orders.log(
            work_order,
            "visit_assigned",
            actor,
            {
                "visit_id": str(visit.id),
                # Clients see the engineer's first name only.
                "engineer_first_name": engineer.user.full_name.split()[0],
                "planned_start_at": (
                    visit.planned_start_at.isoformat() if visit.planned_start_at else None
                ),
            },
            Visibility.PUBLIC,
        )
        await self._tell_assignment(
            work_order, visit, engineer, previous_engineer_id, previous_start_at
        )
        await self.session.flush()
        await self.work_orders.follow_visits(work_order, actor=actor)
        return visit

    async def _timing(self, work_order: WorkOrder, visit: Visit) -> dict[str, Any]:
        """When the visit is, as a mail needs it: the window, the planned start, the zone."""
        zone = await self.session.scalar(select(Site.timezone).where(Site.id == work_order.site_id))
        return {
            "visit_id": str(visit.id),
            "window_starts_at": visit.window_starts_at.isoformat(),
            "window_ends_at": visit.window_ends_at.isoformat(),
            "planned_start_at": (
                visit.planned_start_at.isoformat() if visit.planned_start_at else None
            ),
            "timezone": zone or "UTC",
        }

    async def _tell_assignment(
        self,
        work_order: WorkOrder,
        visit: Visit,
        engineer: Engineer,
        previous_engineer_id: uuid.UUID | None,
        previous_start_at: datetime | None,
    ) -> None:
        """Tell the engineers whose day changed, and the client when its visit is fixed."""
        timing = await self._timing(work_order, visit)
        first_name = engineer.user.full_name.split()[0]
        moved = previous_start_at != visit.planned_start_at
        tell = self.work_orders.tell
        if previous_engineer_id != engineer.id:
            if previous_engineer_id is not None:
                tell(
                    work_order,
                    EventKind.JOB_REMOVED,
                    visit_id=visit.id,
                    engineer_id=previous_engineer_id,
                    payload=timing,
                )
            tell(
                work_order,
                EventKind.JOB_ADDED,
                visit_id=visit.id,
                engineer_id=engineer.id,
                payload=timing,
            )
        elif moved:
            previous = previous_start_at.isoformat() if previous_start_at else None
            tell(
                work_order,
                EventKind.JOB_TIME_CHANGED,
                visit_id=visit.id,
                engineer_id=engineer.id,
                payload={**timing, "previous_planned_start_at": previous},
            )
        if previous_engineer_id is None or moved:
            tell(
                work_order,
                EventKind.VISIT_SCHEDULED,
                visit_id=visit.id,
                engineer_id=engineer.id,
                payload={**timing, "engineer_first_name": first_name},
            )

    async def _tell_removed(
        self, work_order: WorkOrder, visit: Visit, engineer_id: uuid.UUID | None
    ) -> None:
        if engineer_id is not None:
            self.work_orders.tell(
                work_order,
                EventKind.JOB_REMOVED,
                visit_id=visit.id,
                engineer_id=engineer_id,
                payload=await self._timing(work_order, visit),
            )

    async def lock(
        self,
        visit_id: uuid.UUID,
        *,
        engineer_id: uuid.UUID | None,
        start_at: datetime | None,
        actor: Principal,
    ) -> Visit:
        """Lock a visit to an engineer, a start time, or both: planning keeps it there.

        Raises:
            VisitNotLockable: the visit is under way, finished or cancelled (409).
            EngineerNotQualified: the engineer lacks a required skill (409).
            ValidationFailed: nothing to lock to, an unknown engineer, or a start outside the
                visit's window (422).
        """
        if engineer_id is None and start_at is None:
            raise field_error("engineer_id", "lock to an engineer, a start_at, or both")
        visit = await self.get(visit_id, viewer=actor, for_update=True)
        if visit.status not in (V.PLANNED, V.ASSIGNED):
            raise VisitNotLockable(
                f"a {visit.status} visit cannot be locked", details={"status": visit.status.value}
            )
        if engineer_id is not None:
            engineer = await self.session.get(Engineer, engineer_id)
            if engineer is None or not engineer.user.is_active:
                raise reference_error("engineer_id", "no such engineer")
            missing = sorted(
                {s.code for s in visit.required_skills} - {s.code for s in engineer.skills}
            )
            if missing:
                raise EngineerNotQualified(
                    f"{engineer.user.full_name} lacks required skills: {', '.join(missing)}",
                    details={"missing_skills": missing},
                )
        if start_at is not None and not (
            visit.window_starts_at <= start_at <= visit.window_ends_at
        ):
            raise field_error("start_at", "must be inside the visit's window")
        visit.locked_engineer_id = engineer_id
        visit.locked_start_at = start_at
        await self._log_lock(visit, actor, locked=True)
        return visit

    async def unlock(self, visit_id: uuid.UUID, *, actor: Principal) -> Visit:
        """Let planning move the visit again."""
        visit = await self.get(visit_id, viewer=actor, for_update=True)
        if visit.locked_engineer_id is None and visit.locked_start_at is None:
            return visit
        visit.locked_engineer_id = None
        visit.locked_start_at = None
        await self._log_lock(visit, actor, locked=False)
        return visit

    async def _log_lock(self, visit: Visit, actor: Principal, *, locked: bool) -> None:
        work_order = await self.work_orders.get(visit.work_order_id, viewer=actor, for_update=True)
        # How the back office plans is its own business: internal only.
        self.work_orders.log(
            work_order,
            "visit_locked" if locked else "visit_unlocked",
            actor,
            {
                "visit_id": str(visit.id),
                "engineer_id": str(visit.locked_engineer_id) if visit.locked_engineer_id else None,
                "start_at": visit.locked_start_at.isoformat() if visit.locked_start_at else None,
            },
            Visibility.INTERNAL,
        )
        await self.session.flush()

    async def _check_present(
        self, engineer: Engineer, visit: Visit, starts_at: datetime | None
    ) -> None:
        """Refuse work inside one of the engineer's absences (without a start: the window)."""
        if starts_at is not None:
            begins, ends = starts_at, starts_at + timedelta(minutes=visit.estimated_minutes)
        else:
            begins, ends = visit.window_starts_at, visit.window_ends_at
        absence = await absence_during(self.session, engineer.id, begins, ends)
        if absence is not None and (
            starts_at is not None or (absence.starts_at <= begins and absence.ends_at >= ends)
        ):
            raise EngineerAbsent(
                f"{engineer.user.full_name} is away ({absence.kind}) from "
                f"{absence.starts_at.isoformat()} to {absence.ends_at.isoformat()}",
                details={
                    "engineer_id": str(engineer.id),
                    "absence_id": str(absence.id),
                    "kind": absence.kind.value,
                    "starts_at": absence.starts_at.isoformat(),
                    "ends_at": absence.ends_at.isoformat(),
                },
            )

    async def report_status(
        self, visit_id: uuid.UUID, report: StatusReport, *, actor: Principal
    ) -> Visit:
        """Move a visit along the field flow, stamping who, when and where."""
        visit = await self.get(visit_id, viewer=actor, for_update=True)
        if actor.is_engineer and report.status not in ENGINEER_MOVES:
            raise Forbidden(f"engineers cannot set a visit to {report.status}")
        old = visit.status
        engineer_id = visit.engineer_id
        if report.status not in VISIT_TRANSITIONS[old]:
            raise IllegalVisitTransition(
                f"a {old} visit cannot become {report.status}",
                details={
                    "status": old.value,
                    "allowed": sorted(s.value for s in VISIT_TRANSITIONS[old]),
                },
            )
        if report.status is V.PLANNED:
            visit.engineer_id = None
            visit.planned_start_at = None
            visit.route_position = None
        if report.status is V.COMPLETED:
            await self._check_completable(visit, report)
            visit.completed_at = report.device_at or utcnow()
            if report.labour_minutes is not None:
                visit.labour_minutes = report.labour_minutes
            visit.client_summary = report.client_summary
            if report.signature is not None:
                await self._sign(visit, report.signature)
        if report.status is V.CANCELLED:
            visit.cancel_reason = report.note
        visit.status = report.status
        self._trail(visit, old, report.status, actor, report)
        work_order = await self.work_orders.get(visit.work_order_id, viewer=actor, for_update=True)
        self.work_orders.log(
            work_order,
            "visit_status_changed",
            actor,
            {"visit_id": str(visit.id), "from": old.value, "to": report.status.value},
            Visibility.PUBLIC,
        )
        await self._tell_status(work_order, visit, engineer_id, report)
        await self.session.flush()
        await self.work_orders.follow_visits(work_order, actor=actor)
        return visit

    async def _tell_status(
        self,
        work_order: WorkOrder,
        visit: Visit,
        engineer_id: uuid.UUID | None,
        report: StatusReport,
    ) -> None:
        if report.status in (V.PLANNED, V.CANCELLED):
            await self._tell_removed(work_order, visit, engineer_id)
        elif report.status is V.EN_ROUTE:
            engineer = await self.session.get(Engineer, engineer_id) if engineer_id else None
            # The planned arrival, while it is still ahead; the app's live ETA is the client's.
            planned = visit.planned_start_at
            eta = planned if planned is not None and planned > utcnow() else None
            self.work_orders.tell(
                work_order,
                EventKind.ENGINEER_EN_ROUTE,
                visit_id=visit.id,
                engineer_id=engineer_id,
                payload={
                    **await self._timing(work_order, visit),
                    "engineer_first_name": (
                        engineer.user.full_name.split()[0] if engineer else None
                    ),
                    "eta": eta.isoformat() if eta else None,
                },
            )
        elif report.status is V.COMPLETED:
            self.work_orders.tell(
                work_order,
                EventKind.VISIT_COMPLETED,
                visit_id=visit.id,
                engineer_id=engineer_id,
                payload={
                    **await self._timing(work_order, visit),
                    "summary": visit.client_summary,
                },
            )

    async def report_cannot_complete(
        self, visit_id: uuid.UUID, report: StatusReport, *, reason: str, actor: Principal
    ) -> tuple[Visit, Visit]:
        """End a visit the engineer could not finish and plan a follow-up visit.

        The visit is cancelled with the reason recorded (trail and internal timeline); the
        client's timeline only learns that a follow-up visit is needed. The follow-up keeps
        the window's local hours at the site, moved by whole calendar days (at least one)
        into the future, unassigned for dispatch: 09:00 stays 09:00 across a DST change.
        """
        visit = await self.get(visit_id, viewer=actor, for_update=True)
        old = visit.status
        if old not in (V.ASSIGNED, V.EN_ROUTE, V.ON_SITE):
            raise IllegalVisitTransition(
                f"a {old} visit cannot be reported as not completed",
                details={"status": old.value, "allowed": ["assigned", "en_route", "on_site"]},
            )
        note = f"cannot_complete: {reason}" + (f" - {report.note}" if report.note else "")
        visit.status = V.CANCELLED
        visit.cancel_reason = note[:500]
        self._trail(
            visit,
            old,
            V.CANCELLED,
            actor,
            StatusReport(
                status=V.CANCELLED,
                device_at=report.device_at,
                location=report.location,
                note=note[:500],
            ),
        )
        work_order = await self.work_orders.get(visit.work_order_id, viewer=actor, for_update=True)
        self.work_orders.log(
            work_order,
            "visit_not_completed",
            actor,
            {"visit_id": str(visit.id), "reason": reason, "note": report.note},
            Visibility.INTERNAL,
        )
        self.work_orders.tell(
            work_order,
            EventKind.CANNOT_COMPLETE,
            visit_id=visit.id,
            engineer_id=visit.engineer_id,
            staff={"reason": reason, "note": report.note},
        )
        self.work_orders.log(
            work_order,
            "visit_status_changed",
            actor,
            {"visit_id": str(visit.id), "from": old.value, "to": V.CANCELLED.value},
            Visibility.PUBLIC,
        )
        await self.session.flush()
        zone = ZoneInfo(
            await self.session.scalar(select(Site.timezone).where(Site.id == work_order.site_id))
            or "UTC"
        )
        days = 1
        now = utcnow()
        while _local_days_later(visit.window_starts_at, days, zone) <= now:
            days += 1
        follow_up = await self.create(
            VisitDraft(
                work_order_id=work_order.id,
                window_starts_at=_local_days_later(visit.window_starts_at, days, zone),
                window_ends_at=_local_days_later(visit.window_ends_at, days, zone),
                estimated_minutes=visit.estimated_minutes,
                required_skills=[s.code for s in visit.required_skills],
            ),
            actor=actor,
        )
        self.work_orders.log(
            work_order,
            "follow_up_needed",
            actor,
            {"visit_id": str(visit.id), "follow_up_visit_id": str(follow_up.id)},
            Visibility.PUBLIC,
        )
        await self.session.flush()
        await self.work_orders.follow_visits(work_order, actor=actor)
        return visit, follow_up

    async def _sign(self, visit: Visit, signature: ClientSignature) -> None:
        """Record the client's signature; its image becomes visible to the client."""
        photo = await self.session.scalar(
            select(Photo)
            .where(Photo.id == signature.photo_id, Photo.visit_id == visit.id)
            .with_for_update()
        )
        if photo is None or photo.state not in EVIDENCE_STATES:
            raise field_error("signature.photo_id", "must be an uploaded photo of this visit")
        photo.is_client_visible = True
        visit.signature_photo_id = photo.id
        visit.signed_by_name = signature.signer_name
        visit.signed_at = signature.signed_at

    async def _check_completable(self, visit: Visit, report: StatusReport) -> None:
        """Refuse to complete a visit with no labour time or an unfinished checklist."""
        missing: builtins.list[dict[str, Any]] = []
        if visit.labour_minutes is None and report.labour_minutes is None:
            missing.append({"kind": "labour_time", "message": "labour_minutes is required"})
        missing.extend(await self.hooks.completion_blockers(visit))
        if missing:
            raise VisitIncomplete(
                "the visit cannot be completed yet: "
                + "; ".join(str(m["message"]) for m in missing),
                details={"missing": missing},
            )

    async def transition_work_order(
        self,
        work_order_id: uuid.UUID,
        to: WorkOrderStatus,
        *,
        actor: Principal,
        reason: str | None = None,
        client_message: str | None = None,
    ) -> WorkOrder:
        """Move a work order by hand (staff); cancelling it cancels its open visits with it.

        The work order's own rules are WorkOrderService's; its visits change here, where
        every other visit status change is made and trailed.
        """
        work_order = await self.work_orders.transition(
            work_order_id, to, actor=actor, reason=reason, client_message=client_message
        )
        if to is WorkOrderStatus.CANCELLED:
            note = (reason or "work order cancelled")[:500]
            visits = (
                await self.session.scalars(
                    select(Visit)
                    .where(
                        Visit.work_order_id == work_order.id,
                        Visit.status.in_(OPEN_VISIT_STATUSES),
                    )
                    .with_for_update()
                )
            ).all()
            for visit in visits:
                self._trail(
                    visit, visit.status, V.CANCELLED, actor, StatusReport(V.CANCELLED, note=note)
                )
                visit.status = V.CANCELLED
                visit.cancel_reason = note
                await self._tell_removed(work_order, visit, visit.engineer_id)
            await self.session.flush()
        return work_order

    async def trail(self, visit_id: uuid.UUID, *, viewer: Principal) -> Sequence[VisitStatusEvent]:
        """The visit's status changes in order, if the viewer may see the visit."""
        await self.get(visit_id, viewer=viewer)
        return await self.trail_of(visit_id)

    async def trail_of(self, visit_id: uuid.UUID) -> Sequence[VisitStatusEvent]:
        """The status changes of a visit the caller has already shown the viewer may see."""
        stmt = (
            select(VisitStatusEvent)
            .where(VisitStatusEvent.visit_id == visit_id)
            .order_by(VisitStatusEvent.id)
        )
        return (await self.session.scalars(stmt)).all()

    def _trail(
        self,
        visit: Visit,
        old: VisitStatus | None,
        new: VisitStatus,
        actor: Principal,
        report: StatusReport,
    ) -> None:
        self.session.add(
            VisitStatusEvent(
                visit_id=visit.id,
                from_status=old,
                to_status=new,
                actor_id=actor.user_id,
                occurred_at=utcnow(),
                device_at=report.device_at,
                location=to_db_point(report.location) if report.location else None,
                note=report.note,
            )
        )


def _local_days_later(at: datetime, days: int, zone: ZoneInfo) -> datetime:
    """`at` moved by `days` calendar days on the wall clock of `zone`, back in UTC."""
    wall = at.astimezone(zone).replace(tzinfo=None) + timedelta(days=days)
    return wall.replace(tzinfo=zone).astimezone(UTC)
