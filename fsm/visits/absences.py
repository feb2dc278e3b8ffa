"""Engineer absences: entered by dispatchers, never over work an engineer still holds.

An absence is whole days (`first_day`..`last_day` in the engineer's time zone) or a span of
hours (`starts_at`..`ends_at`). Entering one over visits the engineer holds in that time
answers 409 `absence_over_held_visits` naming them, or, with `held_visits:
"return_to_planning"`, sends the assigned ones back to planning in the same transaction (each
with its trail and timeline event, and the engineer told the job was taken away). A visit
the engineer has started (en route, on site) is never taken away by an absence: the
dispatcher settles it first. Planning, urgent insert and assignment then leave the time out
(`fsm.engineers.absences`).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_staff
from fsm.auth.principal import Principal
from fsm.engineers.absences import absences_between
from fsm.engineers.models import AbsenceKind, Engineer, EngineerAbsence
from fsm.errors import Conflict, NotFound, field_error
from fsm.schemas import PLANNING_FROM, PLANNING_UNTIL, AwareDatetime, OptionalText
from fsm.visits.service import StatusReport, VisitService
from fsm.workorders.visit_models import Visit, VisitStatus

# The longest absence one entry may hold (a year); longer ones are entered in parts.
MAX_ABSENCE_DAYS = 366
# Absences are entered and looked up within the planning years.
EARLIEST, LATEST = PLANNING_FROM, PLANNING_UNTIL
_HELD = (VisitStatus.ASSIGNED, VisitStatus.EN_ROUTE, VisitStatus.ON_SITE)
_STARTED = (VisitStatus.EN_ROUTE, VisitStatus.ON_SITE)


class HeldVisits(enum.StrEnum):
    """What entering an absence does to visits the engineer holds in it."""

    REFUSE = "refuse"
    RETURN_TO_PLANNING = "return_to_planning"


class AbsenceCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Whole days (`first_day`, `last_day`) or hours (`starts_at`, `ends_at`), not both."""

    kind: AbsenceKind
    first_day: date | None = None
    last_day: date | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    note: OptionalText | None = None
    held_visits: HeldVisits = HeldVisits.REFUSE


class AbsenceRead(msgspec.Struct, kw_only=True):
    """An absence, in instants (whole days start and end at the engineer's midnight)."""

    id: uuid.UUID
    engineer_id: uuid.UUID
    kind: AbsenceKind
    starts_at: datetime
    ends_at: datetime
    note: str | None
    created_at: datetime


class AbsenceCreated(msgspec.Struct, kw_only=True):
    """The absence, the visits it sent back to planning, and the locked visits it strands."""

    absence: AbsenceRead
    returned_visit_ids: list[uuid.UUID]
    # Visits locked to this engineer inside the absence: planning cannot serve them until
    # they are unlocked or the lock moved.
    locked_visit_ids: list[uuid.UUID]


def absence_read(absence: EngineerAbsence) -> AbsenceRead:
    return AbsenceRead(
        id=absence.id,
        engineer_id=absence.engineer_id,
        kind=absence.kind,
        starts_at=absence.starts_at,
        ends_at=absence.ends_at,
        note=absence.note,
        created_at=absence.created_at,
    )


class AbsenceNotFound(NotFound):
    """No such absence of this engineer."""


class EngineerNotFound(NotFound):
    """No such engineer."""


class AbsenceOverlaps(Conflict):
    """The engineer is already away for part of that time."""


class AbsenceOverHeldVisits(Conflict):
    """The engineer holds visits in that time; send them back to planning first (or ask)."""


def _span(data: AbsenceCreate, timezone: str) -> tuple[datetime, datetime]:
    """The absence's instants, checked: one form, in order, at most a year."""
    by_days = data.first_day is not None or data.last_day is not None
    by_hours = data.starts_at is not None or data.ends_at is not None
    if by_days == by_hours:
        raise field_error(
            "first_day", "give first_day and last_day, or starts_at and ends_at (one of the two)"
        )
    if by_days:
        if data.first_day is None or data.last_day is None:
            raise field_error("last_day", "whole days need both first_day and last_day")
        if data.last_day < data.first_day:
            raise field_error("last_day", "must not be before first_day")
        if not EARLIEST.date() <= data.first_day <= data.last_day < LATEST.date():
            raise field_error("first_day", "must lie between the years 2000 and 2199")
        zone = ZoneInfo(timezone)
        starts_at = datetime.combine(data.first_day, time(), zone)
        ends_at = datetime.combine(data.last_day + timedelta(days=1), time(), zone)
    else:
        if data.starts_at is None or data.ends_at is None:
            raise field_error("ends_at", "hours need both starts_at and ends_at")
        if data.ends_at <= data.starts_at:
            raise field_error("ends_at", "must be after starts_at")
        starts_at, ends_at = data.starts_at, data.ends_at
    if ends_at - starts_at > timedelta(days=MAX_ABSENCE_DAYS):
        raise field_error("last_day" if by_days else "ends_at", "an absence lasts at most a year")
    if starts_at < EARLIEST or ends_at > LATEST:
        raise field_error(
            "first_day" if by_days else "starts_at", "must lie between the years 2000 and 2199"
        )
    return starts_at, ends_at


class AbsenceService:
    """Absences of engineers, and what entering one does to the visits they hold."""

    def __init__(self, session: AsyncSession, visits: VisitService) -> None:
        self.session = session
        self.visits = visits

    async def _engineer(self, engineer_id: uuid.UUID) -> Engineer:
        engineer = await self.session.get(Engineer, engineer_id)
        if engineer is None:
            raise EngineerNotFound(f"engineer {engineer_id} not found")
        return engineer

    async def create(
        self, engineer_id: uuid.UUID, data: AbsenceCreate, *, actor: Principal
    ) -> AbsenceCreated:
        """Enter an absence (see the module's rules for the visits held in it).

        Raises:
            EngineerNotFound: no such engineer (404).
            ValidationFailed: the span is missing, reversed or longer than a year (422).
            AbsenceOverlaps: another absence of the engineer overlaps it (409).
            AbsenceOverHeldVisits: visits held in it, and `held_visits` is `refuse`, or one
                of them is under way (409, naming them).
        """
        engineer = await self._engineer(engineer_id)
        starts_at, ends_at = _span(data, engineer.timezone)
        # One absence entered at a time per engineer: the overlap check holds.
        await self.session.get(Engineer, engineer_id, with_for_update=True)
        overlapping = (await absences_between(self.session, [engineer_id], starts_at, ends_at)).get(
            engineer_id, []
        )
        if overlapping:
            raise AbsenceOverlaps(
                "the engineer is already away for part of that time",
                details={"absence_ids": [str(a.id) for a in overlapping]},
            )
        held = await self._held(engineer_id, starts_at, ends_at)
        started = [v for v in held if v.status in _STARTED]
        if held and (data.held_visits is HeldVisits.REFUSE or started):
            raise AbsenceOverHeldVisits(
                f"the engineer holds {len(held)} visits in that time"
                + (f", {len(started)} of them under way" if started else ""),
                details={
                    "visit_ids": [str(v.id) for v in held],
                    "under_way_visit_ids": [str(v.id) for v in started],
                },
            )
        # The next engineer reads the trail: why this one is away (sickness) is not theirs.
        note = "engineer unavailable"
        for visit in held:
            await self.visits.report_status(
                visit.id, StatusReport(status=VisitStatus.PLANNED, note=note), actor=actor
            )
        absence = EngineerAbsence(
            engineer_id=engineer_id,
            kind=data.kind,
            starts_at=starts_at,
            ends_at=ends_at,
            note=data.note,
            created_by_id=actor.user_id,
        )
        self.session.add(absence)
        await self.session.flush()
        locked = await self._locked(engineer_id, starts_at, ends_at)
        return AbsenceCreated(
            absence=absence_read(absence),
            returned_visit_ids=[v.id for v in held],
            locked_visit_ids=locked,
        )

    async def _held(
        self, engineer_id: uuid.UUID, starts_at: datetime, ends_at: datetime
    ) -> Sequence[Visit]:
        """The engineer's visits worked (planned start to end) inside the span."""
        ends = Visit.planned_start_at + func.make_interval(0, 0, 0, 0, 0, Visit.estimated_minutes)
        stmt = (
            select(Visit)
            .where(
                Visit.engineer_id == engineer_id,
                Visit.status.in_(_HELD),
                or_(
                    and_(Visit.planned_start_at < ends_at, ends > starts_at),
                    # Assigned without a time: its window lies wholly inside the absence.
                    and_(
                        Visit.planned_start_at.is_(None),
                        Visit.window_starts_at >= starts_at,
                        Visit.window_ends_at <= ends_at,
                    ),
                ),
            )
            .order_by(Visit.planned_start_at, Visit.id)
            # Locked and read fresh: a visit set en route meanwhile is seen as under way.
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).all()

    async def _locked(
        self, engineer_id: uuid.UUID, starts_at: datetime, ends_at: datetime
    ) -> list[uuid.UUID]:
        stmt = (
            select(Visit.id)
            .where(
                Visit.locked_engineer_id == engineer_id,
                Visit.status == VisitStatus.PLANNED,
                Visit.window_starts_at < ends_at,
                Visit.window_ends_at > starts_at,
            )
            .order_by(Visit.window_starts_at, Visit.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def list(
        self, engineer_id: uuid.UUID, *, starts_at: datetime, ends_at: datetime
    ) -> list[EngineerAbsence]:
        """The engineer's absences overlapping the span, in order."""
        await self._engineer(engineer_id)
        found = await absences_between(self.session, [engineer_id], starts_at, ends_at)
        return found.get(engineer_id, [])

    async def delete(self, engineer_id: uuid.UUID, absence_id: uuid.UUID) -> None:
        """Take an absence back: the engineer is available again (nothing is re-assigned)."""
        absence = await self.session.get(EngineerAbsence, absence_id)
        if absence is None or absence.engineer_id != engineer_id:
            raise AbsenceNotFound(f"absence {absence_id} not found")
        await self.session.delete(absence)
        await self.session.flush()


class AbsenceController(Controller):
    """Engineers' absences (staff only: they carry internal notes)."""

    path = "/api/v1/engineers/{engineer_id:uuid}/absences"
    tags = ["engineers"]
    guards = [requires_staff]

    @post("/", operation_id="CreateEngineerAbsence")
    async def create_absence(
        self,
        absences: NamedDependency[AbsenceService],
        principal: NamedDependency[Principal],
        engineer_id: FromPath[uuid.UUID],
        data: JSONBody[AbsenceCreate],
    ) -> AbsenceCreated:
        """Enter an absence; 409 names the visits the engineer holds in it unless
        `held_visits` is `return_to_planning`."""
        return await absences.create(engineer_id, data, actor=principal)

    @get("/", operation_id="ListEngineerAbsences")
    async def list_absences(
        self,
        absences: NamedDependency[AbsenceService],
        engineer_id: FromPath[uuid.UUID],
        starts_at: Annotated[
            AwareDatetime | None,
            QueryParameter(name="from", description="Overlapping from (default: now)"),
        ] = None,
        days: Annotated[
            int, QueryParameter(ge=1, le=MAX_ABSENCE_DAYS * 2, description="How many days on")
        ] = 90,
    ) -> list[AbsenceRead]:
        """The engineer's absences overlapping `from` .. `from` + `days`."""
        begins = starts_at or datetime.now(ZoneInfo("UTC"))
        if not EARLIEST <= begins < LATEST:
            raise field_error("from", "must lie between the years 2000 and 2199")
        found = await absences.list(
            engineer_id, starts_at=begins, ends_at=begins + timedelta(days=days)
        )
        return [absence_read(a) for a in found]

    @delete("/{absence_id:uuid}", operation_id="DeleteEngineerAbsence")
    async def delete_absence(
        self,
        absences: NamedDependency[AbsenceService],
        engineer_id: FromPath[uuid.UUID],
        absence_id: FromPath[uuid.UUID],
    ) -> None:
        """Take an absence back."""
        await absences.delete(engineer_id, absence_id)
