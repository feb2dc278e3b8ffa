"""The engineer app's use cases: one engineer, only their own visits, on top of fsm services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from checklists.schemas import AnswersIn, RunRead, run_read
from checklists.service import ChecklistNotFound, ChecklistService
from fsm.auth.principal import Principal
from fsm.db import utcnow
from fsm.engineers.models import Engineer
from fsm.errors import field_error
from fsm.geo import GeoPoint, from_db_point, to_db_point
from fsm.visits.schemas import status_event_read
from fsm.visits.service import ClientSignature, StatusReport, VisitNotFound, VisitService
from fsm.workorders.visit_models import Visit, VisitStatus
from mobile_api.cursor import decode_cursor, encode_cursor
from mobile_api.engineer.models import EngineerChange
from mobile_api.engineer.queries import EngineerReads, comment_read, local_today
from mobile_api.engineer.schemas import (
    CannotCompleteReason,
    ChangesRead,
    CommentCreate,
    CommentRead,
    EngineerVisit,
    FieldStatus,
    LocationBatch,
    LocationRead,
    StatusRequest,
    TodayRead,
    VisitDetail,
)

# Pings stamped further ahead than this are a wrong phone clock, not a position.
CLOCK_SKEW = timedelta(minutes=5)


class VisitReassigned(VisitNotFound):
    """The visit was the engineer's but has been given to someone else or withdrawn."""


@dataclass(frozen=True, slots=True)
class Me:
    """The calling engineer, as plain values (safe across savepoint rollbacks)."""

    id: uuid.UUID
    user_id: uuid.UUID
    timezone: str


class EngineerApp:
    """What an engineer may read and do from the app; another engineer's visit is a 404."""

    def __init__(
        self, session: AsyncSession, visits: VisitService, checklists: ChecklistService
    ) -> None:
        self.session = session
        self.visits = visits
        self.work_orders = visits.work_orders
        self.reads = EngineerReads(session)
        self.checklists = checklists

    # -- who and what is mine ---------------------------------------------------------------

    async def me(self, principal: Principal) -> Me | None:
        """The caller's engineer record; None for an engineer user without one."""
        row = (
            await self.session.execute(
                select(Engineer.id, Engineer.timezone).where(Engineer.user_id == principal.user_id)
            )
        ).one_or_none()
        if row is None:
            return None
        return Me(id=row.id, user_id=principal.user_id, timezone=row.timezone)

    async def own_visit(
        self, principal: Principal, visit_id: uuid.UUID, *, lock: bool = False
    ) -> tuple[Me, Visit]:
        """The visit if it is the caller's; `lock` holds it until commit (writes).

        Raises:
            VisitReassigned: it was theirs and is not any more (or was withdrawn).
            VisitNotFound: unknown, or never theirs (the two look the same).
        """
        me = await self.me(principal)
        visit = (
            await self.session.get(
                Visit, visit_id, with_for_update=lock or None, populate_existing=lock
            )
            if me is not None
            else None
        )
        if me is None or visit is None or visit.engineer_id != me.id:
            if me is not None and visit is not None and await self._was_mine(me, visit_id):
                raise VisitReassigned(f"visit {visit_id} is no longer yours")
            raise VisitNotFound(f"visit {visit_id} not found")
        return me, visit

    async def _was_mine(self, me: Me, visit_id: uuid.UUID) -> bool:
        found = await self.session.scalar(
            select(EngineerChange.id)
            .where(EngineerChange.engineer_id == me.id, EngineerChange.visit_id == visit_id)
            .limit(1)
        )
        return found is not None

    async def _render_one(self, me: Me, visit_id: uuid.UUID) -> EngineerVisit:
        rendered = await self.reads.visits(me.id, [visit_id])
        return rendered[0]

    # -- reading ----------------------------------------------------------------------------

    async def today(self, principal: Principal, day: date | None) -> TodayRead:
        """The caller's route of a day (default: today where the engineer is)."""
        me = await self.me(principal)
        if me is None:
            return TodayRead(date=day or utcnow().date(), timezone="UTC", visits=[])
        day = day or local_today(me.timezone, utcnow())
        visits = await self.reads.day(me.id, day, me.timezone)
        return TodayRead(date=day, timezone=me.timezone, visits=visits)

    async def detail(self, principal: Principal, visit_id: uuid.UUID) -> VisitDetail:
        """Everything the engineer needs on site for one of their visits.

        The visit's row is read only where it is the caller's; otherwise `own_visit` says
        why not (reassigned, or not found).
        """
        me = await self.me(principal)
        row = await self.reads.detail_row(me.id, visit_id) if me is not None else None
        if me is None or row is None:
            await self.own_visit(principal, visit_id)
            raise VisitNotFound(f"visit {visit_id} not found")  # gone meanwhile
        run = await self.checklists.run_for_visit(visit_id)
        today = local_today(me.timezone, utcnow())
        history = []
        coverage = None
        if row.equipment_id is not None:
            history = await self.reads.equipment_history(row.equipment_id, but=visit_id)
            coverage = await self.reads.coverage(row.equipment_id, today)
        trail = await self.visits.trail_of(visit_id)
        site_contacts, requester = await self.reads.contacts(row.site_id, row.requester_contact_id)
        return VisitDetail(
            visit=self.reads.render(
                row, self.checklists.summary_of(run) if run is not None else None
            ),
            description=row.description,
            instructions=row.instructions or None,
            site_contacts=site_contacts,
            requester=requester,
            coverage=coverage,
            equipment_history=history,
            checklist=run_read(run, audience="engineer") if run is not None else None,
            comments=await self.reads.comments(
                viewer_id=principal.user_id, work_order_id=row.work_order_id
            ),
            trail=[status_event_read(event) for event in trail],
        )

    async def comments(self, principal: Principal, visit_id: uuid.UUID) -> list[CommentRead]:
        """Comments on the visit's work order (internal ones too: engineers are staff-side)."""
        _, visit = await self.own_visit(principal, visit_id)
        return await self.reads.comments(
            viewer_id=principal.user_id, work_order_id=visit.work_order_id
        )

    async def checklist(self, principal: Principal, visit_id: uuid.UUID) -> RunRead:
        """The visit's checklist to fill.

        Raises:
            ChecklistNotFound: no template applies to this visit.
        """
        await self.own_visit(principal, visit_id)
        run = await self.checklists.run_for_visit(visit_id)
        if run is None:
            raise ChecklistNotFound(f"visit {visit_id} has no checklist")
        return run_read(run, audience="engineer")

    # -- changing ---------------------------------------------------------------------------

    async def report_status(
        self, principal: Principal, visit_id: uuid.UUID, data: StatusRequest
    ) -> EngineerVisit:
        """Move the visit: on the way, on site, done, or could not be done."""
        _check_status_request(data)
        me, _ = await self.own_visit(principal, visit_id, lock=True)
        report = StatusReport(
            status=VisitStatus.CANCELLED
            if data.status is FieldStatus.CANNOT_COMPLETE
            else VisitStatus(data.status.value),
            device_at=data.device_at,
            location=data.location,
            note=data.note,
            labour_minutes=data.labour_minutes,
            client_summary=data.client_summary.strip() if data.client_summary else None,
            signature=_signature(data),
        )
        if data.status is FieldStatus.CANNOT_COMPLETE:
            assert data.reason is not None  # checked above
            await self.visits.report_cannot_complete(
                visit_id, report, reason=data.reason.value, actor=principal
            )
        else:
            await self.visits.report_status(visit_id, report, actor=principal)
        return await self._render_one(me, visit_id)

    async def save_answers(
        self, principal: Principal, visit_id: uuid.UUID, data: AnswersIn
    ) -> RunRead:
        """Save a batch of checklist answers (all or nothing; 422 names a bad item)."""
        await self.own_visit(principal, visit_id, lock=True)
        await self.checklists.save_answers(
            visit_id, [answer.to_input() for answer in data.answers], actor=principal
        )
        run = await self.checklists.run_for_visit(visit_id)
        assert run is not None  # answers were just saved to it
        return run_read(run, audience="engineer")

    async def add_comment(
        self, principal: Principal, visit_id: uuid.UUID, data: CommentCreate
    ) -> CommentRead:
        """Comment on the visit's work order; internal unless marked public."""
        _, visit = await self.own_visit(principal, visit_id)
        comment = await self.work_orders.add_comment(
            visit.work_order_id, data.body, actor=principal, is_internal=not data.is_public
        )
        return comment_read(comment, principal.full_name, viewer_id=principal.user_id)

    async def record_location(self, principal: Principal, batch: LocationBatch) -> LocationRead:
        """Keep the newest ping as the engineer's last location; older ones change nothing."""
        me = await self.me(principal)
        if me is None:
            raise field_error("engineer", "this user has no engineer record")
        horizon = utcnow() + CLOCK_SKEW
        usable = [p for p in batch.points if p.device_at <= horizon]
        is_updated = False
        if usable:
            latest = max(usable, key=lambda p: p.device_at)
            # One conditional UPDATE: concurrent uploads cannot move the position backwards.
            result = await self.session.execute(
                update(Engineer)
                .where(
                    Engineer.id == me.id,
                    or_(
                        Engineer.last_location_at.is_(None),
                        Engineer.last_location_at < latest.device_at,
                    ),
                )
                .values(
                    last_location=to_db_point(GeoPoint(lat=latest.lat, lon=latest.lon)),
                    last_location_at=latest.device_at,
                )
                .returning(Engineer.id)
                .execution_options(synchronize_session=False)
            )
            is_updated = result.scalar_one_or_none() is not None
        row = (
            await self.session.execute(
                select(Engineer.last_location, Engineer.last_location_at)
                .where(Engineer.id == me.id)
                .execution_options(populate_existing=True)
            )
        ).one()
        return LocationRead(
            last_location=from_db_point(row.last_location),
            last_location_at=row.last_location_at,
            is_updated=is_updated,
        )

    # -- the change feed --------------------------------------------------------------------

    async def changes(
        self,
        principal: Principal,
        since: str | None,
        *,
        limit: int = 200,
        retention: timedelta = timedelta(days=30),
    ) -> ChangesRead:
        """What changed for the caller since `since`; without it, the current state.

        The feed keeps `retention` of history (older rows are purged daily). A cursor
        issued before that (less a day for transactions still running when it was issued)
        may point past purged rows, so its holder gets the full state again
        (`is_full_state`), never a feed with holes.

        Rows of a transaction are read only once every older transaction has ended (its
        id is below the snapshot's xmin), ordered by (transaction, row): a transaction
        that commits late still sorts after the cursor, so nothing is skipped. The
        caller's own transaction counts as ended (it sees its own writes).
        """
        me = await self.me(principal)
        horizon = (
            await self.session.execute(
                text(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin, "
                    "pg_current_xact_id_if_assigned()::text::bigint AS own"
                )
            )
        ).one()
        floor: tuple[int, int] = (int(horizon.xmin), 0)
        issued = int(utcnow().timestamp())
        if me is None:
            return ChangesRead(
                visits=[],
                removed_visit_ids=[],
                comments=[],
                next_cursor=encode_cursor(*floor, issued),
                has_more=False,
                is_full_state=since is None,
            )
        visible = [EngineerChange.engineer_id == me.id]
        if horizon.own is None:
            visible.append(EngineerChange.txid < horizon.xmin)
        else:
            visible.append(
                or_(EngineerChange.txid < horizon.xmin, EngineerChange.txid == horizon.own)
            )
        after: tuple[int, int] | None = None
        if since is not None:
            after_txid, after_id, issued_at = decode_cursor(since, (int, int, int), field="since")
            if not (
                isinstance(after_txid, int)
                and isinstance(after_id, int)
                and isinstance(issued_at, int)
            ):
                raise field_error("since", "is not a cursor this server gave out")
            if issued_at >= issued - int((retention - timedelta(days=1)).total_seconds()):
                after = (after_txid, after_id)
        if after is None:
            # The cursor is taken before the state is read: a change between the two is
            # sent again next time rather than lost.
            last = (
                await self.session.execute(
                    select(EngineerChange.txid, EngineerChange.id)
                    .where(*visible)
                    .order_by(EngineerChange.txid.desc(), EngineerChange.id.desc())
                    .limit(1)
                )
            ).one_or_none()
            start = max(floor, (last.txid, last.id)) if last is not None else floor
            return ChangesRead(
                visits=await self.reads.open_visits(me.id),
                removed_visit_ids=[],
                comments=[],
                next_cursor=encode_cursor(*start, issued),
                has_more=False,
                is_full_state=True,
            )
        after_txid, after_id = after
        rows = (
            await self.session.execute(
                select(
                    EngineerChange.txid,
                    EngineerChange.id,
                    EngineerChange.visit_id,
                    EngineerChange.kind,
                    EngineerChange.comment_id,
                )
                .where(
                    *visible,
                    tuple_(EngineerChange.txid, EngineerChange.id) > tuple_(after_txid, after_id),
                )
                .order_by(EngineerChange.txid, EngineerChange.id)
                .limit(limit + 1)
            )
        ).all()
        has_more = len(rows) > limit
        rows = rows[:limit]
        cursor: tuple[int, int] = (after_txid, after_id)
        if rows:
            cursor = max(cursor, (rows[-1].txid, rows[-1].id))
        if not has_more:
            cursor = max(cursor, floor)
        touched = list(dict.fromkeys(r.visit_id for r in rows if r.kind == "visit"))
        commented = {r.comment_id: r.visit_id for r in rows if r.kind == "comment" and r.comment_id}
        all_ids = set(touched) | set(commented.values())
        mine: set[uuid.UUID] = set()
        if all_ids:
            mine = set(
                (
                    await self.session.scalars(
                        select(Visit.id).where(
                            Visit.id.in_(all_ids),
                            Visit.engineer_id == me.id,
                            Visit.status != VisitStatus.CANCELLED,
                        )
                    )
                ).all()
            )
        comment_ids = [c for c, v in commented.items() if v in mine]
        return ChangesRead(
            visits=await self.reads.visits(me.id, [v for v in touched if v in mine]),
            removed_visit_ids=[v for v in touched if v not in mine],
            comments=(
                await self.reads.comments(viewer_id=principal.user_id, comment_ids=comment_ids)
                if comment_ids
                else []
            ),
            next_cursor=encode_cursor(*cursor, issued),
            has_more=has_more,
            is_full_state=False,
        )


def _check_status_request(data: StatusRequest) -> None:
    """Each move carries only what belongs to it."""
    if data.status is FieldStatus.CANNOT_COMPLETE:
        if data.reason is None:
            raise field_error("reason", "is required when the visit cannot be completed")
        if data.reason is CannotCompleteReason.OTHER and not (data.note and data.note.strip()):
            raise field_error("note", "is required when the reason is other")
    elif data.reason is not None:
        raise field_error("reason", "goes only with cannot_complete")
    if data.labour_minutes is not None and data.status is not FieldStatus.COMPLETED:
        raise field_error("labour_minutes", "goes only with completed")
    if data.client_summary is not None and data.status is not FieldStatus.COMPLETED:
        raise field_error("client_summary", "goes only with completed")
    if data.signature is not None and data.status is not FieldStatus.COMPLETED:
        raise field_error("signature", "goes only with completed")
    if (
        data.signature is not None
        and data.signature.signed_at is not None
        and data.signature.signed_at > utcnow() + CLOCK_SKEW
    ):
        raise field_error("signature.signed_at", "is ahead of the server's clock")
    if data.device_at is not None and data.device_at > utcnow() + CLOCK_SKEW:
        raise field_error("device_at", "is ahead of the server's clock; check the phone's time")


def _signature(data: StatusRequest) -> ClientSignature | None:
    """The signature as the visit service records it, timed by the device when not given."""
    if data.signature is None:
        return None
    return ClientSignature(
        photo_id=data.signature.photo_id,
        signer_name=data.signature.signer_name.strip(),
        signed_at=data.signature.signed_at or data.device_at or utcnow(),
    )


async def purge_change_feed(
    session: AsyncSession, *, before: datetime, batch_size: int = 10_000
) -> int:
    """Delete feed rows written before `before`, `batch_size` rows per statement; the count.

    Each statement stays small (bounded locks and WAL per step, the occurred_at index finds
    the rows); committing is the caller's job.
    """
    total = 0
    while True:
        oldest = (
            select(EngineerChange.id)
            .where(EngineerChange.occurred_at < before)
            .order_by(EngineerChange.occurred_at)
            .limit(batch_size)
        )
        result = await session.execute(
            delete(EngineerChange)
            .where(EngineerChange.id.in_(oldest))
            .execution_options(synchronize_session=False)
        )
        deleted = int(getattr(result, "rowcount", 0) or 0)
        total += deleted
        if deleted < batch_size:
            return total
