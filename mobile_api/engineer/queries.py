"""Reads of the engineer app, each in a fixed number of queries whatever the day's size."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from checklists.models import ChecklistRun
from checklists.service import ChecklistReads, RunSummary
from equipment.contracts.coverage import covering
from equipment.equipment.models import Equipment, EquipmentModel
from fsm.clients.models import ClientContact
from fsm.geo import from_db_point
from fsm.photos.models import EVIDENCE_STATES, Photo
from fsm.sites.models import Site
from fsm.users.models import User
from fsm.workorders.models import Comment, Priority, WorkOrder
from fsm.workorders.visit_models import Visit, VisitStatus
from mobile_api.engineer.schemas import (
    ChecklistState,
    CommentRead,
    CoverageRead,
    EngineerVisit,
    EquipmentCard,
    HistoryEntry,
    SiteCard,
    SiteContact,
    WorkOrderCard,
)

URGENT = frozenset({Priority.HIGH, Priority.CRITICAL})
HISTORY_VISITS = 5

# One row per visit: the visit and what the screen shows of its order, site and unit.
_VISIT_ROW = (
    Visit.id,
    Visit.status,
    Visit.route_position,
    Visit.planned_start_at,
    Visit.window_starts_at,
    Visit.window_ends_at,
    Visit.estimated_minutes,
    Visit.labour_minutes,
    Visit.completed_at,
    Visit.version,
    WorkOrder.id.label("work_order_id"),
    WorkOrder.number,
    WorkOrder.title,
    WorkOrder.type,
    WorkOrder.priority,
    WorkOrder.description,
    WorkOrder.requester_contact_id,
    Site.id.label("site_id"),
    Site.name.label("site_name"),
    Site.address,
    Site.city,
    Site.postal_code,
    Site.timezone,
    Site.location,
    Site.access_notes,
    Site.opening_hours,
    Equipment.id.label("equipment_id"),
    Equipment.serial_number,
    Equipment.name.label("equipment_name"),
    EquipmentModel.manufacturer,
    EquipmentModel.model,
    EquipmentModel.category,
    EquipmentModel.instructions,
)


def _visit_rows() -> Any:
    return (
        select(*_VISIT_ROW)
        .join(WorkOrder, WorkOrder.id == Visit.work_order_id)
        .join(Site, Site.id == WorkOrder.site_id)
        .outerjoin(Equipment, Equipment.id == WorkOrder.equipment_id)
        .outerjoin(EquipmentModel, EquipmentModel.id == Equipment.model_id)
    )


def route_order() -> tuple[Any, ...]:
    """Route position first (the dispatcher's plan), then planned start, then window."""
    return (
        Visit.route_position.asc().nulls_last(),
        func.coalesce(Visit.planned_start_at, Visit.window_starts_at),
        Visit.id,
    )


def _map_links(lat: float, lon: float) -> tuple[str, str]:
    """An OpenStreetMap page and a geo: URI (opens the phone's navigation app)."""
    point = f"{lat:.6f},{lon:.6f}"
    map_url = (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=17/{lat:.6f}/{lon:.6f}"
    )
    return map_url, f"geo:{point}?q={point}"


def _engineer_visit(row: Any, summary: RunSummary | None) -> EngineerVisit:
    location = from_db_point(row.location)
    map_url, geo_uri = (None, None) if location is None else _map_links(location.lat, location.lon)
    return EngineerVisit(
        id=row.id,
        status=row.status,
        route_position=row.route_position,
        planned_arrival_at=row.planned_start_at,
        window_starts_at=row.window_starts_at,
        window_ends_at=row.window_ends_at,
        estimated_minutes=row.estimated_minutes,
        labour_minutes=row.labour_minutes,
        completed_at=row.completed_at,
        version=row.version,
        site=SiteCard(
            id=row.site_id,
            name=row.site_name,
            address=row.address,
            city=row.city,
            postal_code=row.postal_code,
            timezone=row.timezone,
            location=location,
            access_notes=row.access_notes,
            opening_hours=row.opening_hours or [],
        ),
        work_order=WorkOrderCard(
            id=row.work_order_id,
            number=row.number,
            title=row.title,
            type=row.type,
            is_urgent=row.priority in URGENT,
        ),
        equipment=(
            None
            if row.equipment_id is None
            else EquipmentCard(
                id=row.equipment_id,
                serial_number=row.serial_number,
                name=row.equipment_name,
                manufacturer=row.manufacturer,
                model=row.model,
                category=row.category,
            )
        ),
        checklist=(
            None
            if summary is None
            else ChecklistState(
                template_name=summary.template_name,
                version=summary.version,
                status=summary.status,
                required_total=summary.required_total,
                required_answered=summary.required_answered,
                findings=summary.findings,
            )
        ),
        map_url=map_url,
        geo_uri=geo_uri,
    )


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The instants a local day starts and ends."""
    zone = ZoneInfo(timezone)
    return (
        datetime.combine(day, time(), zone),
        datetime.combine(day + timedelta(days=1), time(), zone),
    )


def local_today(timezone: str, now: datetime) -> date:
    """Today's date where the engineer is."""
    return now.astimezone(ZoneInfo(timezone)).date()


class EngineerReads:
    """What the engineer app shows, limited to one engineer's visits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.checklists = ChecklistReads(session)

    async def day(self, engineer_id: uuid.UUID, day: date, timezone: str) -> list[EngineerVisit]:
        """The engineer's visits of a local day in route order (cancelled ones left out)."""
        starts_at, ends_at = day_bounds(day, timezone)
        when = func.coalesce(Visit.planned_start_at, Visit.window_starts_at)
        rows = (
            await self.session.execute(
                _visit_rows()
                .where(
                    Visit.engineer_id == engineer_id,
                    Visit.status != VisitStatus.CANCELLED,
                    when >= starts_at,
                    when < ends_at,
                )
                .order_by(*route_order())
            )
        ).all()
        return await self._render(rows)

    async def visits(
        self, engineer_id: uuid.UUID, visit_ids: Sequence[uuid.UUID]
    ) -> list[EngineerVisit]:
        """These visits as the app shows them, if they are the engineer's (others left out)."""
        if not visit_ids:
            return []
        rows = (
            await self.session.execute(
                _visit_rows()
                .where(Visit.id.in_(visit_ids), Visit.engineer_id == engineer_id)
                .order_by(*route_order())
            )
        ).all()
        return await self._render(rows)

    async def open_visits(self, engineer_id: uuid.UUID) -> list[EngineerVisit]:
        """Every visit still ahead of the engineer (assigned, on the way or on site)."""
        rows = (
            await self.session.execute(
                _visit_rows()
                .where(
                    Visit.engineer_id == engineer_id,
                    Visit.status.in_(
                        (VisitStatus.ASSIGNED, VisitStatus.EN_ROUTE, VisitStatus.ON_SITE)
                    ),
                )
                .order_by(Visit.window_starts_at, *route_order())
            )
        ).all()
        return await self._render(rows)

    async def _render(self, rows: Sequence[Any]) -> list[EngineerVisit]:
        summaries = await self.checklists.summaries([row.id for row in rows])
        return [_engineer_visit(row, summaries.get(row.id)) for row in rows]

    async def detail_row(self, engineer_id: uuid.UUID, visit_id: uuid.UUID) -> Any | None:
        """The visit's row with its order, site and unit; None if not the engineer's."""
        return (
            await self.session.execute(
                _visit_rows().where(Visit.id == visit_id, Visit.engineer_id == engineer_id)
            )
        ).one_or_none()

    def render(self, row: Any, summary: RunSummary | None) -> EngineerVisit:
        """One visit row in wire form."""
        return _engineer_visit(row, summary)

    async def equipment_history(
        self, equipment_id: uuid.UUID, *, but: uuid.UUID
    ) -> list[HistoryEntry]:
        """The unit's last visits (this one excepted) with checklist outcome and photo count."""
        photos = (
            select(func.count())
            .where(Photo.visit_id == Visit.id, Photo.state.in_(EVIDENCE_STATES))
            .correlate(Visit)
            .scalar_subquery()
        )
        rows = (
            await self.session.execute(
                select(
                    Visit.id,
                    Visit.status,
                    Visit.window_starts_at,
                    Visit.completed_at,
                    WorkOrder.number,
                    WorkOrder.type,
                    ChecklistRun.status.label("checklist_status"),
                    ChecklistRun.open_findings,
                    photos.label("photo_count"),
                )
                .join(WorkOrder, WorkOrder.id == Visit.work_order_id)
                .outerjoin(ChecklistRun, ChecklistRun.visit_id == Visit.id)
                .where(WorkOrder.equipment_id == equipment_id, Visit.id != but)
                .order_by(Visit.window_starts_at.desc(), Visit.id)
                .limit(HISTORY_VISITS)
            )
        ).all()
        return [
            HistoryEntry(
                visit_id=row.id,
                work_order_number=row.number,
                work_order_type=row.type,
                status=row.status,
                window_starts_at=row.window_starts_at,
                completed_at=row.completed_at,
                checklist_status=row.checklist_status,
                findings=row.open_findings or 0,
                photo_count=row.photo_count or 0,
            )
            for row in rows
        ]

    async def coverage(self, equipment_id: uuid.UUID, on: date) -> CoverageRead:
        """Whether an active contract covers the unit on that day."""
        owner = await self.session.scalar(
            select(Equipment.client_id).where(Equipment.id == equipment_id)
        )
        covered = (
            (await self.session.execute(covering(equipment_id, owner, on))).first()
            if owner is not None
            else None
        )
        contract = covered[1] if covered else None
        if contract is None:
            return CoverageRead(is_in_contract=False)
        return CoverageRead(
            is_in_contract=True, contract_number=contract.number, valid_to=contract.valid_to
        )

    async def contacts(
        self, site_id: uuid.UUID, requester_id: uuid.UUID | None
    ) -> tuple[list[SiteContact], SiteContact | None]:
        """The site's contacts (primary first, then by name) and who asked for the work."""
        condition = ClientContact.site_id == site_id
        if requester_id is not None:
            condition = or_(condition, ClientContact.id == requester_id)
        rows = (
            await self.session.execute(
                select(
                    ClientContact.id,
                    ClientContact.site_id,
                    ClientContact.name,
                    ClientContact.position,
                    ClientContact.phone,
                    ClientContact.email,
                )
                .where(condition)
                .order_by(ClientContact.is_primary.desc(), ClientContact.name, ClientContact.id)
            )
        ).all()
        wire = {
            row.id: SiteContact(
                name=row.name, position=row.position, phone=row.phone, email=row.email
            )
            for row in rows
        }
        on_site = [wire[row.id] for row in rows if row.site_id == site_id]
        return on_site, wire.get(requester_id) if requester_id is not None else None

    async def comments(
        self,
        *,
        viewer_id: uuid.UUID,
        work_order_id: uuid.UUID | None = None,
        comment_ids: Sequence[uuid.UUID] = (),
    ) -> list[CommentRead]:
        """Comments of a work order (or these comments), oldest first, with author names."""
        stmt = select(Comment, User.full_name).outerjoin(User, User.id == Comment.author_id)
        if work_order_id is not None:
            stmt = stmt.where(Comment.work_order_id == work_order_id)
        else:
            stmt = stmt.where(Comment.id.in_(comment_ids))
        rows = (await self.session.execute(stmt.order_by(Comment.created_at, Comment.id))).all()
        return [comment_read(comment, name, viewer_id=viewer_id) for comment, name in rows]


def comment_read(comment: Comment, author_name: str | None, *, viewer_id: uuid.UUID) -> CommentRead:
    """Wire form of a comment for the engineer."""
    return CommentRead(
        id=comment.id,
        work_order_id=comment.work_order_id,
        author_name=author_name,
        is_mine=comment.author_id == viewer_id,
        is_internal=comment.is_internal,
        body=comment.body,
        created_at=comment.created_at,
    )
