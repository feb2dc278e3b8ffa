"""The client app's requests: opening, following live, comments, reopening, ratings, reports."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from checklists.schemas import run_read
from checklists.service import ChecklistReads
from equipment.equipment.models import Equipment
from fsm.auth.principal import Principal
from fsm.clients.models import Client
from fsm.db import utcnow
from fsm.engineers.models import Engineer
from fsm.errors import InvalidState, field_error, reference_error
from fsm.photos.models import CLIENT_STATES, Photo
from fsm.photos.service import PhotoService
from fsm.settings import SolverSettings
from fsm.sites.models import Site
from fsm.users.models import Role, User
from fsm.visits.service import VisitNotFound
from fsm.workorders.models import (
    Channel,
    Comment,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderRating,
    WorkOrderStatus,
)
from fsm.workorders.service import (
    OPEN_STATUSES,
    RATEABLE,
    WorkOrderDraft,
    WorkOrderService,
    comments_visible_to,
    events_visible_to,
)
from fsm.workorders.visit_models import OPEN_VISIT_STATUSES, Visit, VisitStatus, VisitStatusEvent
from mobile_api.client.common import ClientScope, Slice, first_name, page_of, visit_summaries
from mobile_api.client.pdf import report_pdf
from mobile_api.client.schemas import (
    CommentItem,
    EngineerOnRequest,
    Eta,
    EtaSource,
    RatingRead,
    ReportPhoto,
    ReportSignature,
    RequestCreate,
    RequestDetail,
    RequestItem,
    RequestState,
    Stage,
    TimelineEntry,
    TrailStep,
    VisitReport,
    VisitSummary,
)
from mobile_api.cursor import decode_cursor
from reports.formats import Tables
from reports.sla import ClientStatement, client_statement
from reports.sla_files import client_tables

S = WorkOrderStatus
V = VisitStatus

# Done with, from the client's side: resolved work may still be reopened, but is not pending.
DONE_STATUSES = frozenset({S.RESOLVED, S.CLOSED, S.CANCELLED})
# Facts a public timeline entry may carry; anything else a service adds stays in the office.
PUBLIC_EVENT_KEYS = frozenset(
    {
        "number",
        "from",
        "to",
        "reason",
        "message",
        "visit_id",
        "engineer_first_name",
        "planned_start_at",
        "window_starts_at",
        "window_ends_at",
        "comment_id",
        "score",
    }
)


class VisitReportNotReady(InvalidState):
    """The visit is not completed, so there is no report yet."""


def _public_data(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in PUBLIC_EVENT_KEYS}


class ClientRequestService(ClientScope):
    """The company's requests; changes go through the work-order service."""

    def __init__(
        self,
        session: AsyncSession,
        work_orders: WorkOrderService,
        *,
        viewer: Principal,
        travel: SolverSettings,
        photos: PhotoService,
    ) -> None:
        super().__init__(session, viewer=viewer)
        self.work_orders = work_orders
        self.travel = travel
        self.photos = photos

    async def open_request(self, data: RequestCreate) -> WorkOrder:
        """Open a work order through the client channel, about a unit or a site."""
        site_id = data.site_id
        if data.equipment_id is not None:
            unit = await self.session.get(Equipment, data.equipment_id)
            if unit is None or not self.viewer.may_see_site(unit.client_id, unit.site_id):
                raise reference_error("equipment_id", "no such equipment")
            if site_id is not None and site_id != unit.site_id:
                raise field_error("site_id", "this equipment is installed at another site")
            site_id = unit.site_id
        if site_id is None:
            raise field_error("site_id", "give the equipment or the site the request is about")
        draft = WorkOrderDraft(
            site_id=site_id,
            type=data.type,
            title=data.title,
            description=data.description,
            equipment_id=data.equipment_id,
            channel=Channel.CLIENT_APP,
        )
        return await self.work_orders.create(draft, actor=self.viewer)

    async def list_requests(
        self, *, limit: int, cursor: str | None, state: RequestState | None = None
    ) -> Slice:
        """The company's requests, newest first; `state` keeps the open or the done ones."""
        stmt = (
            select(WorkOrder, Site.name)
            .join(Site, Site.id == WorkOrder.site_id)
            .where(WorkOrder.client_id == self.client_id, *self.at_sites(WorkOrder.site_id))
            .options(raiseload(WorkOrder.required_skills), raiseload(WorkOrder.pauses))
        )
        if state is RequestState.OPEN:
            stmt = stmt.where(WorkOrder.status.not_in(DONE_STATUSES))
        elif state is RequestState.CLOSED:
            stmt = stmt.where(WorkOrder.status.in_(DONE_STATUSES))
        if cursor is not None:
            created_at, last_id = decode_cursor(cursor, (datetime, uuid.UUID))
            stmt = stmt.where(tuple_(WorkOrder.created_at, WorkOrder.id) < (created_at, last_id))
        rows = (
            await self.session.execute(
                stmt.order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc()).limit(limit + 1)
            )
        ).all()
        page = page_of(rows, limit, lambda row: (row[0].created_at, row[0].id))
        return Slice(
            items=[
                RequestItem(
                    id=order.id,
                    number=order.number,
                    title=order.title,
                    type=order.type,
                    status=order.status,
                    site_id=order.site_id,
                    site_name=site_name,
                    equipment_id=order.equipment_id,
                    created_at=order.created_at,
                    resolved_at=order.resolved_at,
                )
                for order, site_name in page.items
            ],
            next_cursor=page.next_cursor,
        )

    async def request_detail(self, request_id: uuid.UUID) -> RequestDetail:
        """One request: stage, who is coming and when, visits, public timeline, rating."""
        order = await self.work_orders.get(request_id, viewer=self.viewer)
        site = await self.session.get(Site, order.site_id)
        assert site is not None  # a foreign key guarantees it
        visits = await visit_summaries(
            self.session, self.viewer, Visit.work_order_id == order.id, newest_first=False
        )
        events = (
            await self.session.scalars(
                select(WorkOrderEvent)
                .where(WorkOrderEvent.work_order_id == order.id, *events_visible_to(self.viewer))
                .order_by(WorkOrderEvent.id)
            )
        ).all()
        rating = await self._rating_of(order.id)
        engineer = _engineer_on(visits)
        eta = None
        if engineer is not None and engineer.visit_status is V.EN_ROUTE:
            eta = await self._eta(engineer.visit_id, order.site_id)
        reopen_until = None
        if order.status is S.RESOLVED and order.resolved_at is not None:
            reopen_until = order.resolved_at + timedelta(
                days=self.work_orders.settings.reopen_window_days
            )
        return RequestDetail(
            id=order.id,
            number=order.number,
            title=order.title,
            description=order.description,
            type=order.type,
            status=order.status,
            stage=_stage(order.status, visits),
            site_id=site.id,
            site_name=site.name,
            site_address=site.address,
            equipment_id=order.equipment_id,
            created_at=order.created_at,
            resolved_at=order.resolved_at,
            closed_at=order.closed_at,
            reopen_until=reopen_until,
            can_rate=order.status in RATEABLE and rating is None,
            engineer=engineer,
            eta=eta,
            visits=visits,
            timeline=[
                TimelineEntry(
                    id=event.id,
                    kind=event.kind,
                    occurred_at=event.occurred_at,
                    data=_public_data(event.data),
                )
                for event in events
            ],
            rating=rating,
        )

    async def _eta(self, visit_id: uuid.UUID, site_id: uuid.UUID) -> Eta | None:
        """Arrival of the engineer on the way: from their position when it was reported
        after setting off, else the planned start.

        One clock: a position carries the device's time, so setting off is read on the
        device's clock too (the server's only when the report had no device time); a fix taken
        after setting off but uploaded later by sync still counts.
        """
        row = (
            await self.session.execute(
                select(
                    Visit.planned_start_at,
                    Engineer.last_location_at,
                    func.ST_DistanceSphere(Engineer.last_location, Site.location),
                    select(
                        func.max(
                            func.coalesce(VisitStatusEvent.device_at, VisitStatusEvent.occurred_at)
                        )
                    )
                    .where(
                        VisitStatusEvent.visit_id == Visit.id,
                        VisitStatusEvent.to_status == V.EN_ROUTE,
                    )
                    .scalar_subquery(),
                )
                .join(Engineer, Engineer.id == Visit.engineer_id)
                .join(Site, Site.id == site_id)
                .where(Visit.id == visit_id)
            )
        ).one_or_none()
        if row is None:
            return None
        planned_start_at, located_at, metres, set_off_at = row
        if (
            metres is not None
            and located_at is not None
            and (set_off_at is None or located_at >= set_off_at)
        ):
            road_km = float(metres) / 1000 * self.travel.road_factor
            minutes = road_km / self.travel.average_speed_kmh * 60
            return Eta(
                arrives_at=located_at + timedelta(minutes=round(minutes)),
                source=EtaSource.TRAVEL_ESTIMATE,
                distance_km=round(road_km, 1),
            )
        if planned_start_at is not None:
            return Eta(arrives_at=planned_start_at, source=EtaSource.PLANNED_START)
        return None

    async def reopen(self, request_id: uuid.UUID, reason: str | None) -> WorkOrder:
        """Reopen resolved work within the reopen window."""
        return await self.work_orders.reopen(request_id, actor=self.viewer, reason=reason)

    # -- comments ---------------------------------------------------------------------------

    async def list_comments(
        self, request_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> Slice:
        """Public comments, oldest first; internal ones never leave the back office."""
        await self.work_orders.get(request_id, viewer=self.viewer)
        stmt = (
            select(Comment, User.full_name, User.role, User.client_id)
            .outerjoin(User, User.id == Comment.author_id)
            .where(Comment.work_order_id == request_id, *comments_visible_to(self.viewer))
        )
        if cursor is not None:
            created_at, last_id = decode_cursor(cursor, (datetime, uuid.UUID))
            stmt = stmt.where(tuple_(Comment.created_at, Comment.id) > (created_at, last_id))
        rows = (
            await self.session.execute(
                stmt.order_by(Comment.created_at, Comment.id).limit(limit + 1)
            )
        ).all()
        page = page_of(rows, limit, lambda row: (row[0].created_at, row[0].id))
        return Slice(
            items=[
                self._comment_item(comment, full_name, role, client_id)
                for comment, full_name, role, client_id in page.items
            ],
            next_cursor=page.next_cursor,
        )

    def _comment_item(
        self,
        comment: Comment,
        full_name: str | None,
        role: Role | None,
        client_id: uuid.UUID | None,
    ) -> CommentItem:
        from_client = role is Role.CLIENT and client_id == self.client_id
        return CommentItem(
            id=comment.id,
            body=comment.body,
            author_first_name=first_name(full_name),
            is_from_client=from_client,
            is_mine=comment.author_id == self.viewer.user_id,
            created_at=comment.created_at,
        )

    async def add_comment(self, request_id: uuid.UUID, body: str) -> CommentItem:
        """Comment on a request; client comments are always public."""
        comment = await self.work_orders.add_comment(
            request_id, body, actor=self.viewer, is_internal=False
        )
        return self._comment_item(comment, self.viewer.full_name, Role.CLIENT, self.client_id)

    # -- ratings ----------------------------------------------------------------------------

    async def _rating_of(self, work_order_id: uuid.UUID) -> RatingRead | None:
        rating = await self.work_orders.rating_of(work_order_id)
        return _rating_read(rating) if rating is not None else None

    async def rate(self, request_id: uuid.UUID, score: int, comment: str | None) -> RatingRead:
        """Rate resolved or closed work, once (the work-order service's rule)."""
        return _rating_read(
            await self.work_orders.rate(request_id, score, comment, actor=self.viewer)
        )

    # -- visit reports ----------------------------------------------------------------------

    async def visit_report(self, visit_id: uuid.UUID) -> VisitReport:
        """What was done on a completed visit of this company, with client-visible checks
        and photos."""
        row = (
            await self.session.execute(
                select(Visit, WorkOrder, Site.name, Site.timezone, User.full_name)
                .join(WorkOrder, WorkOrder.id == Visit.work_order_id)
                .join(Site, Site.id == WorkOrder.site_id)
                .outerjoin(Engineer, Engineer.id == Visit.engineer_id)
                .outerjoin(User, User.id == Engineer.user_id)
                .where(
                    Visit.id == visit_id,
                    WorkOrder.client_id == self.client_id,
                    *self.at_sites(WorkOrder.site_id),
                )
            )
        ).one_or_none()
        if row is None:
            raise VisitNotFound(f"visit {visit_id} not found")
        visit, order, site_name, site_timezone, full_name = row
        if visit.status is not V.COMPLETED:
            raise VisitReportNotReady(
                f"the visit is {visit.status}; its report is ready once it is completed",
                details={"status": visit.status.value},
            )
        events = (
            await self.session.scalars(
                select(VisitStatusEvent)
                .where(VisitStatusEvent.visit_id == visit.id)
                .order_by(VisitStatusEvent.id)
            )
        ).all()
        trail = [
            TrailStep(status=e.to_status, occurred_at=e.device_at or e.occurred_at) for e in events
        ]
        arrived = next((e for e in events if e.to_status is V.ON_SITE), None)
        run = await ChecklistReads(self.session).run_for_visit(visit.id, client_view=True)
        return VisitReport(
            visit_id=visit.id,
            request_id=order.id,
            request_number=order.number,
            request_title=order.title,
            equipment_id=order.equipment_id,
            site_name=site_name,
            site_timezone=site_timezone,
            status=visit.status,
            engineer_first_name=first_name(full_name),
            arrived_at=(arrived.device_at or arrived.occurred_at) if arrived else None,
            completed_at=visit.completed_at,
            labour_minutes=visit.labour_minutes,
            # Only what the engineer wrote for the client; the status note stays internal.
            client_summary=visit.client_summary,
            trail=trail,
            checklist=run_read(run, audience="client") if run is not None else None,
            photos=await self._report_photos(order.id, visit.id, visit.signature_photo_id),
            signature=await self._signature(visit),
        )

    async def visit_report_pdf(self, visit_id: uuid.UUID) -> tuple[VisitReport, bytes]:
        """The visit report and its PDF, the signature and shared photos embedded."""
        report = await self.visit_report(visit_id)
        wanted = [photo.id for photo in report.photos]
        if report.signature is not None:
            wanted.append(report.signature.photo_id)
        images = await self.photos.thumbnails(wanted, viewer=self.viewer)
        return report, report_pdf(report, timezone=report.site_timezone, images=images)

    async def service_report(self, month: date | None) -> tuple[ClientStatement, Tables]:
        """The company's monthly statement of its service levels, and its tables for files;
        a site-limited user's counts only the requests at its sites."""
        statement = await client_statement(
            self.session, self.client_id, month, as_of=utcnow(), site_ids=self.viewer.site_ids
        )
        client = await self.session.get(Client, self.client_id)
        assert client is not None  # the signed-in company
        return statement, client_tables(statement, client.name)

    async def _signature(self, visit: Visit) -> ReportSignature | None:
        if visit.signed_by_name is None or visit.signed_at is None:
            return None
        photo = (
            await self.session.get(Photo, visit.signature_photo_id)
            if visit.signature_photo_id is not None
            else None
        )
        if photo is None:
            return None
        shown = photo.state in CLIENT_STATES
        return ReportSignature(
            photo_id=photo.id,
            signer_name=visit.signed_by_name,
            signed_at=visit.signed_at,
            url=self.photos.links(photo).thumbnail_url if shown else None,
        )

    async def _report_photos(
        self, work_order_id: uuid.UUID, visit_id: uuid.UUID, signature_id: uuid.UUID | None
    ) -> list[ReportPhoto]:
        """The visit's photos the client may see (verified and shared), as download links;
        the signature is shown as such, not among them."""
        photos = await self.photos.list_for_work_order(work_order_id, viewer=self.viewer)
        items = []
        for photo in photos:
            if photo.visit_id != visit_id or photo.state not in CLIENT_STATES:
                continue
            if photo.id == signature_id:
                continue
            links = self.photos.links(photo)
            if links.original_url is None:
                continue
            items.append(
                ReportPhoto(
                    id=photo.id,
                    url=links.original_url,
                    thumbnail_url=links.thumbnail_url,
                    content_type=photo.content_type,
                    taken_at=photo.taken_at,
                )
            )
        return items


def _rating_read(rating: WorkOrderRating) -> RatingRead:
    return RatingRead(score=rating.score, comment=rating.comment, created_at=rating.created_at)


_LIVE_ORDER = {V.ON_SITE: 0, V.EN_ROUTE: 1, V.ASSIGNED: 2}


def _engineer_on(visits: Sequence[VisitSummary]) -> EngineerOnRequest | None:
    """Who is (or was last) on the request: the live visit first, else the last completed."""
    live = sorted(
        (v for v in visits if v.status in _LIVE_ORDER and v.engineer_first_name),
        key=lambda v: (_LIVE_ORDER[v.status], v.planned_start_at or v.window_starts_at),
    )
    done = [v for v in visits if v.status is V.COMPLETED and v.engineer_first_name]
    chosen = live[0] if live else (max(done, key=lambda v: v.window_starts_at) if done else None)
    if chosen is None or chosen.engineer_first_name is None:
        return None
    return EngineerOnRequest(
        first_name=chosen.engineer_first_name, visit_id=chosen.id, visit_status=chosen.status
    )


_STAGE_OF_STATUS = {
    S.NEW: Stage.RECEIVED,
    S.SCHEDULED: Stage.SCHEDULED,
    S.IN_PROGRESS: Stage.IN_PROGRESS,
    S.ON_HOLD: Stage.ON_HOLD,
    S.RESOLVED: Stage.RESOLVED,
    S.REOPENED: Stage.REOPENED,
    S.CLOSED: Stage.CLOSED,
    S.CANCELLED: Stage.CANCELLED,
}


def stage_of_status(status: WorkOrderStatus) -> Stage:
    """The stage a status alone says (no visit under way); the live stream's view of a move."""
    return _STAGE_OF_STATUS[status]


def _stage(status: WorkOrderStatus, visits: Sequence[VisitSummary]) -> Stage:
    """The request's status, sharpened by a visit under way."""
    if status in OPEN_STATUSES and status is not S.ON_HOLD:
        live = {v.status for v in visits if v.status in OPEN_VISIT_STATUSES}
        if V.ON_SITE in live:
            return Stage.ENGINEER_ON_SITE
        if V.EN_ROUTE in live:
            return Stage.ENGINEER_EN_ROUTE
    return _STAGE_OF_STATUS[status]
